"""The run's own sections (``evaluation``, ``recommend``, ``tune``) and :class:`RunConfig`, the
whole validated config with one field per section."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from encoders.config import (EncodersConfig)
from mmgraph.strict import StrictModel, one_or_several
from mmgraph.config.data import DataConfig, SplitConfig
from mmgraph.config.models import GraphConfig, StudentConfig, TeacherConfig

__all__ = ["RATING_METRICS", "EvaluationConfig", "RecommendConfig", "TuneConfig", "RunConfig"]


#: Rating-task metrics, lower is better.
RATING_METRICS = ("rmse", "mae")


class EvaluationConfig(StrictModel):
    ks: tuple[Annotated[int, Field(ge=1, le=10_000)], ...] = Field(
        (10, 20), min_length=1, description="Cut-offs of recall@k and ndcg@k (at most 10,000).")
    early_stopping_metric: str = Field("ndcg@20", description="What validation optimises: "
                                       "recall@k or ndcg@k for a k in ks (maximised), or, "
                                       "for task rating, rmse or mae (minimised).")
    user_batch_size: int = Field(1024, ge=1, description="Users scored per block in ranking "
                                 "(memory: block × items scores).")
    valid_users: int = Field(20_000, ge=1, description="Validation during training (early "
                             "stopping, the teacher's blend) ranks at most this many users, a "
                             "seeded sample, so its cost does not grow with the user count.")

    @model_validator(mode="after")
    def _metric_is_reported(self) -> "EvaluationConfig":
        reported = {f"{m}@{k}" for m in ("recall", "ndcg") for k in self.ks} | set(
            RATING_METRICS)
        if self.early_stopping_metric not in reported:
            raise ValueError(f"early_stopping_metric must be one of {sorted(reported)}")
        return self


class RecommendConfig(StrictModel):
    k: int = Field(20, ge=1, description="Items per user in recommendations.parquet.")
    index_factory: str = Field("Flat", min_length=1, description="FAISS index-factory string "
                               "for the served index: Flat (exact), SQfp16 / SQ8 (2× / 4× "
                               "smaller), HNSW32, IVF256,Flat, ...")
    index_params: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="FAISS search parameters, e.g. {nprobe: 16} or "
        "{efSearch: 128} (positive).")


class TuneConfig(StrictModel):
    """The search of ``teacher: auto`` (:mod:`mmgraph.pipeline.auto`)."""

    budget_s: float = Field(60.0, gt=0, description="Seconds the teacher's search may take on "
                            "this machine: the filters' grids and time scales first (each time "
                            "scale past the first only while two thirds of it are left), then "
                            "LightGCN trains until it stops improving or the first validation "
                            "past the budget's end (it is left out when nothing is left).")
    time_scales: tuple[Annotated[float, Field(gt=0)], ...] = Field(
        (600.0, 3600.0, 86400.0), min_length=1, description="teacher.time_scale candidates, "
        "in the timestamps' unit (seconds for Unix time): the best for the time filter on "
        "validation.")

    _one_or_several = field_validator("time_scales", mode="before")(one_or_several)


class RunConfig(StrictModel):
    name: str = Field(max_length=128, pattern=r"^[A-Za-z0-9._-]+$",
                      description="The run's folder under "
                      "runs_root: letters, digits, '.', '_', '-'; not '.' or '..'.")
    seed: int = Field(2026, ge=0, lt=2**32, description="Seeds Python, NumPy and torch.")
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|(cuda|xpu)(:[0-9]+)?)$",
                        description="auto (CUDA when present), cpu, cuda, cuda:N, mps.")
    runs_root: Path = Field(Path("runs"), description="Folder that holds run folders; the run "
                            "writes to runs_root/name.")
    data: DataConfig
    split: SplitConfig = SplitConfig()
    encoders: EncodersConfig = EncodersConfig()
    graph: GraphConfig = GraphConfig()
    teacher: TeacherConfig = TeacherConfig(auto=True)
    tune: TuneConfig = TuneConfig()
    student: StudentConfig = StudentConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    recommend: RecommendConfig = RecommendConfig()
    task: Literal["ranking", "rating"] = Field(
        "ranking", description="ranking: which items a user interacts with (every interaction "
        "a positive; recall/ndcg). rating: the rating a user gives (graph or ID embeddings plus "
        "biases, MSE; mae/rmse): needs the rating column, teacher.components [lightgcn] and "
        "evaluation.early_stopping_metric rmse or mae; the student learns from true ratings "
        "(student.kd_weight 0), the teacher's predictions (1) or a mix.")
    final_refit: bool = Field(False, description="After evaluation, retrain the tuned teacher "
                              "and student on every interaction (train, valid and test) for "
                              "their best epoch counts, into <run>/refit/: a run folder to "
                              "serve (mmgraph serve --run <run>/refit). `mmgraph refit` does "
                              "it on demand.")

    @field_validator("teacher", mode="before")
    @classmethod
    def _auto_teacher(cls, value: Any) -> Any:
        return {"auto": True} if value == "auto" else value

    @field_validator("name")
    @classmethod
    def _name_stays_inside_runs_root(cls, name: str) -> str:
        if set(name) == {"."}:
            raise ValueError(f"{name!r} would place the run outside runs_root; use a name "
                             f"such as 'quickstart'")
        return name

    @model_validator(mode="after")
    def _task_settings_agree(self) -> "RunConfig":
        rating_metric = self.evaluation.early_stopping_metric in RATING_METRICS
        if self.task == "rating" and self.teacher.auto:
            raise ValueError("teacher: auto (also the default without a teacher section) "
                             "searches the ranking teacher's components; task rating trains "
                             "LightGCN with biases: write a teacher section with "
                             "teacher.components: [lightgcn] and its numbers")
        if self.task == "rating":
            if self.teacher.components != ("lightgcn",):
                raise ValueError("task rating trains the LightGCN teacher with biases: set "
                                 "teacher.components: [lightgcn] (the graph filters rank)")
            if not rating_metric:
                raise ValueError("task rating validates on ratings: set "
                                 "evaluation.early_stopping_metric to rmse or mae")
            if self.student.kind != "id":
                raise ValueError("task rating has an ID student only: set student.kind: id")
        elif rating_metric:
            raise ValueError(f"evaluation.early_stopping_metric "
                             f"{self.evaluation.early_stopping_metric} is a rating metric: set "
                             f"task: rating, or a ranking metric such as ndcg@20")
        return self

    @property
    def run_dir(self) -> Path:
        return self.runs_root / self.name
