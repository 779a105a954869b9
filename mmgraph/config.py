"""Typed, validated run configuration (YAML → pydantic). Each stage receives only its section.

Unknown keys and out-of-range values are errors that name the key path, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from data_prep import DATASETS, DatasetName
from encoders.config import (AudioEncoderConfig, CategoricalEncoderConfig, EncodersConfig,
                             ImageEncoderConfig, TextEncoderConfig)
from mmgraph.errors import ConfigError
from mmgraph.strict import FLOAT32_RANGE, StrictModel

__all__ = [
    "FLOAT32_RANGE",
    "RATING_METRICS",
    "ColumnsConfig",
    "DataConfig",
    "SplitConfig",
    "TextEncoderConfig",
    "CategoricalEncoderConfig",
    "ImageEncoderConfig",
    "AudioEncoderConfig",
    "EncodersConfig",
    "GraphConfig",
    "OptimConfig",
    "FilterConfig",
    "TeacherConfig",
    "StudentConfig",
    "EvaluationConfig",
    "RecommendConfig",
    "RunConfig",
    "load_config",
    "merge_nested",
    "section_hash",
]


def _one_or_several(value: Any) -> Any:
    """A grid written as one number is a grid of one."""
    return (value,) if isinstance(value, (int, float)) else value


class ColumnsConfig(StrictModel):
    """Names of the columns in the user's interactions/items tables."""

    user: str = Field("user_id", description="User id column of the interactions table.")
    item: str = Field("item_id", description="Item id column of both tables.")
    rating: str | None = Field("rating", description="Rating column, used by "
                               "graph.interaction_weight: rating. Left at its default, it is "
                               "read when the table has it; named here, it must exist.")
    timestamp: str | None = Field("timestamp", description="Time column (numbers, e.g. Unix "
                                  "seconds), needed by the time_filter component. Left at its "
                                  "default, it is read when the table has it.")


class DataConfig(StrictModel):
    interactions: Path = Field(description="Table of user–item interactions (Parquet, CSV or "
                               "TSV), one row per interaction.")
    items: Path | None = Field(None, description="Table of items and their content columns "
                               "(text, media paths, attributes); items absent from the "
                               "interactions are cold and placed from their content.")
    columns: ColumnsConfig = ColumnsConfig()
    media_root: Path | None = Field(None, description="Folder that item media paths are "
                                                      "relative to (they cannot leave it).")
    rating_threshold: float | None = Field(
        None, description="Keep only interactions rated at least this (e.g. 4 on a 1–5 scale) "
        "as positives; the rest are dropped before the split. null: every interaction is a "
        "positive. Needs the rating column.")
    prepare: DatasetName | None = Field(
        None, description="Build the tables with data_prep when they do not exist yet (or "
                          "were built with other prepare_options).")
    prepare_options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the prepared dataset (e.g. sizes).")

    @model_validator(mode="after")
    def _check_prepare_options(self) -> "DataConfig":
        if not self.prepare_options:
            return self
        options = DATASETS[self.prepare].options() if self.prepare else None
        if options is None:
            raise ValueError(f"prepare_options are given but data.prepare {self.prepare!r} "
                             f"takes none")
        try:
            options.model_validate(self.prepare_options)
        except ValidationError as exc:
            raise ValueError("prepare_options: " + "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()))
        return self


class SplitConfig(StrictModel):
    """How interactions are split into train/valid/test (docs/evaluation.md: what each kind
    leaks)."""

    kind: Literal["random", "temporal_per_user", "temporal_global"] = Field(
        "random", description="random: each user's interactions shuffled and cut; "
        "temporal_per_user: each user's latest interactions held out (leave-last-out); "
        "temporal_global: one cut in time for everyone (nothing of the future leaks). The "
        "temporal kinds need timestamps (data.columns.timestamp).")
    valid: float | int = Field(0.1, ge=0, description="Held out for validation (early "
                               "stopping, tuning): a share below 0.5 (of each user's "
                               "interactions; of all of them for temporal_global), or an "
                               "integer count per user (1: the user's last one).")
    test: float | int = Field(0.1, gt=0, description="Held out for the reported test metrics: "
                              "a share below 0.5 or an integer count per user, as valid.")
    train_share: float = Field(1.0, gt=0, le=1, description="Each user keeps this seeded "
                               "random share of their training interactions (at least one); "
                               "valid and test unchanged. Below 1: the sparse regime, to "
                               "measure what content adds where interactions are few.")

    @model_validator(mode="after")
    def _shares_or_counts(self) -> "SplitConfig":
        for name in ("valid", "test"):
            value = getattr(self, name)
            if isinstance(value, float) and value >= 0.5:
                raise ValueError(f"split.{name} {value} is a share and must be below 0.5 (an "
                                 f"integer such as 1 counts interactions per user)")
            if isinstance(value, int) and self.kind == "temporal_global":
                raise ValueError(f"split.{name} is a count ({value}), but temporal_global cuts "
                                 f"at one time for every user: give a share such as 0.1")
        return self


class GraphConfig(StrictModel):
    knn_k: int = Field(10, ge=1, description="Neighbours per item in the item–item kNN graph.")
    knn_exact_items: int = Field(50_000, ge=1, description="Up to this many items the kNN "
                                 "search is exact (FAISS Flat); past it, FAISS HNSW.")
    interaction_weight: Literal["none", "rating"] = Field(
        "none", description="Weight user–item edges by the interaction's rating.")


class OptimConfig(StrictModel):
    lr: float = Field(1e-3, gt=0, description="Adam's learning rate.")
    reg: float = Field(1e-4, ge=0, description="L2 penalty on the batch's ego embeddings.")
    batch_size: int = Field(2048, ge=1, description="Training interactions per batch.")
    epochs: int = Field(200, ge=1, description="At most this many epochs (early stopping "
                        "usually ends sooner; a stopped run resumes from its checkpoint).")
    eval_every: int = Field(5, ge=1, description="Epochs between validations (and "
                            "checkpoints).")
    patience: int = Field(5, ge=1, description="Evaluations without improvement before stopping.")
    min_improvement: float = Field(0.0, ge=0, description="Relative gain in the validation "
                                   "metric that counts as an improvement for patience (the "
                                   "best weights are kept either way): 0.002 stops a long "
                                   "tail of 0.1% gains.")


class FilterConfig(StrictModel):
    """The teacher's closed-form graph filter (:mod:`mmgraph.models.spectral`)."""

    degree_exponent: tuple[Annotated[float, Field(ge=0, le=1)], ...] = Field(
        (0.2, 0.5), min_length=1, description="b in R D^-b: how much popular items are damped "
        "(0 = raw co-occurrence). Several values: the best on validation (one decomposition "
        "each).")
    ridge: tuple[Annotated[float, Field(gt=0)], ...] = Field(
        (0.005, 0.01, 0.02, 0.05, 0.1, 0.2), min_length=1, description="Ridge strength "
        "relative to the largest eigenvalue of the item–item graph (smaller = sharper "
        "filter). Several values: the best on validation (they share the decomposition).")
    content_weight: tuple[Annotated[float, Field(ge=0)], ...] = Field(
        (0.0,), min_length=1, description="beta: weight of the content kNN graph blended into "
        "the item–item graph, relative to its largest eigenvalue (0 = interactions only). "
        "Several values (e.g. [0, 0.001, 0.003, 0.01]): the best for the filter alone on "
        "validation (one decomposition each per degree exponent); only 0 without item "
        "content.")
    rank: int = Field(256, ge=1, description="Eigenpairs kept past dense_items items.")
    dense_items: int = Field(8192, ge=1, description="Up to this many items the item–item "
                             "graph is decomposed densely and exactly; past it, the top rank "
                             "eigenpairs by subspace iteration on the sparse graph (never a "
                             "dense items × items).")

    _one_or_several = field_validator("degree_exponent", "ridge", "content_weight",
                                      mode="before")(_one_or_several)


class TeacherConfig(OptimConfig):
    auto: bool = Field(False, description="Choose the settings this section does not set on "
                       "the run's validation split within tune.budget_s (written `teacher: "
                       "auto`, and the default when a config has no teacher section): see "
                       "mmgraph/pipeline/auto.py. The run's config.yaml then holds the chosen "
                       "values (auto off), so rerunning it is exact.")
    components: tuple[Literal["lightgcn", "filter", "time_filter"], ...] = Field(
        ("lightgcn", "filter"), min_length=1, description="Scorers the teacher blends: the "
        "trained LightGCN (with content), the closed-form graph filter over co-occurrence, and "
        "the same filter over time-weighted co-occurrence (items a user chose close together "
        "in time; needs timestamps).")
    blend: float | Literal["auto"] | dict[str, Annotated[float, Field(ge=0)]] = Field(
        "auto", description="How the components' std-normalised scores are weighted. auto: the "
        "weights (steps of 0.1, summing to 1) that validation ranks best; a number: "
        "LightGCN's share against the filter (those two components only); a mapping: every "
        "component's weight (e.g. {lightgcn: 0.3, filter: 0.1, time_filter: 0.6}).")
    filter: FilterConfig = FilterConfig()
    time_scale: float = Field(3600.0, gt=0, description="time_filter: tau in exp(-|t_a - t_b| "
                              "/ tau), in the timestamps' unit (seconds for Unix time).")
    time_window: int = Field(1000, ge=1, description="time_filter: pairs at most this many "
                             "interactions apart in a user's time order.")
    dim: int = Field(64, ge=1, description="LightGCN's embedding width.")
    layers: int = Field(3, ge=0, le=64, description="LightGCN propagation layers over the "
                        "user–item graph.")
    propagations_per_epoch: int = Field(
        40, ge=1, description="At most this many full-graph propagations (batches) per epoch: "
        "past batch_size × this many interactions the batch grows with the data, so an epoch "
        "costs time linear in the interactions.")
    content: Literal["fused", "graph", "none"] = Field(
        "fused", description="fused: content joins the items' layer-0 embeddings; graph: content "
        "only builds the item–item graph that ID embeddings propagate over (FREEDOM); none: "
        "ID-only LightGCN.")
    loss: Literal["bpr", "softmax", "whole"] = Field(
        "bpr", description="bpr: one sampled unseen negative per interaction; softmax: "
        "sampled softmax over num_negatives; whole: iALS's squared loss over every user–item "
        "pair (no sampling; each epoch is one full-batch step, batch_size is not used, and reg "
        "weighs every ego row per training interaction).")
    unobserved_weight: float = Field(0.5, gt=0, description="whole loss: weight of every "
                                     "user–item pair's pull to 0 against 1 for an interaction.")
    num_negatives: int = Field(64, ge=1, description="Sampled negatives per user (softmax).")
    softmax_temperature: float = Field(0.2, gt=0, description="Temperature of the softmax "
                                       "loss.")
    fusion: Literal["sum", "concat_mlp", "attention", "gated"] = Field(
        "sum", description="How content modalities and the ID embedding are fused (content: "
        "fused): see mmgraph/models/fusion.py.")
    fusion_level: Literal["feature", "decision", "model"] = Field(
        "feature", description="Where modalities meet (content: fused): feature: one fused "
        "item embedding before the graph; decision: one gated scorer per modality beside the "
        "ID graph's; model: an independent LightGCN tower per modality (MMGCN). See "
        "mmgraph/models/teacher.py.")
    init: Literal["random", "spectral"] = Field(
        "random", description="LightGCN's ID tables at the start: random: normal(0, 0.1); "
        "spectral: the top-dim singular directions of the degree-normalised interaction "
        "matrix (a start near the graph's low-pass optimum), scaled to the random start's "
        "spread. See mmgraph/models/spectral.py (spectral_start).")
    item_graph: bool = Field(True, description="Propagate over the item–item kNN graph too.")
    item_layers: int = Field(1, ge=1, le=64, description="Propagation steps over the item–item "
                             "graph.")

    @model_validator(mode="after")
    def _graph_mode_has_graph(self) -> "TeacherConfig":
        if len(set(self.components)) != len(self.components):
            raise ValueError("teacher.components lists a component twice")
        if isinstance(self.blend, dict) and (set(self.blend) != set(self.components)
                                             or not sum(self.blend.values()) > 0):
            raise ValueError(f"teacher.blend as a mapping needs one weight per component "
                             f"{list(self.components)}, not all zero; got {self.blend}")
        if isinstance(self.blend, float) and not 0 <= self.blend <= 1:
            raise ValueError("teacher.blend must be 'auto' or a number from 0 to 1")
        if isinstance(self.blend, float) and set(self.components) != {"lightgcn", "filter"}:
            raise ValueError("teacher.blend as a number is LightGCN's share against the filter: "
                             "it needs components [lightgcn, filter]; use 'auto' otherwise")
        if self.fusion_level != "feature" and self.content != "fused":
            raise ValueError(f"teacher.fusion_level {self.fusion_level} fuses the modalities' "
                             f"own scorers or towers: it needs teacher.content: fused")
        if self.content == "graph" and not self.item_graph:
            raise ValueError("teacher.content 'graph' needs teacher.item_graph: true (the "
                             "item–item graph is where its content goes)")
        return self


class StudentConfig(OptimConfig):
    batch_size: int = Field(256, ge=1, description="Users per batch: the soft labels are one "
                            "list per user, so an epoch is one pass over the training users.")
    steps_per_epoch: int = Field(
        100, ge=1, description="At most this many batches per epoch: past batch_size × this "
        "many training users the batch grows with the users (each user's row is still updated "
        "once per epoch). Steps are sparse (SparseAdam: a step costs its batch's rows), and a "
        "bounded step count also bounds the per-step overheads.")
    dim: int = Field(32, ge=1, description="The served embedding width.")
    kind: Literal["id", "sequential"] = Field(
        "id", description="id: user and item ID tables (matrix factorisation); sequential: a "
        "SASRec-style causal transformer over each user's latest items (in time order: needs "
        "timestamps), whose last state is the served user vector.")
    max_length: int = Field(50, ge=2, description="sequential: the latest items read per "
                            "user.")
    layers: int = Field(2, ge=1, le=64, description="sequential: transformer blocks.")
    heads: int = Field(2, ge=1, description="sequential: attention heads (dim must be a "
                       "multiple).")
    dropout: float = Field(0.2, ge=0, lt=1, description="sequential: dropout on inputs and "
                           "in every block.")
    init: Literal["teacher", "random"] = Field(
        "teacher", description="ID student: 'teacher': start from the best rank-dim "
        "factorisation of the teacher's scores, each user's divided by that user's soft-label "
        "unit (so the start already matches the soft labels); sequential student: its item "
        "table starts from that factorisation's item side, scaled to the random start's "
        "spread; 'random': normal(0, 0.1).")
    temperature: float = Field(1.0, gt=0, description="Soft-label temperature, on each "
                               "user's teacher scores divided by their std over the user's "
                               "top kd_topk.")
    kd_weight: float = Field(0.5, ge=0, le=1, description="0 = BPR only, 1 = distillation only.")
    kd_topk: int = Field(100, ge=0, description="The teacher's top unseen items per user "
                         "among the soft-label candidates.")
    kd_candidates: int = Field(100, ge=1, description="Items drawn uniformly (shared by a "
                               "batch) that stand for the rest of the catalogue in the soft "
                               "labels.")
    rd_weight: float = Field(0.0, ge=0, description="Ranking distillation of the teacher's top-K.")
    rd_topk: int = Field(10, ge=1, description="The teacher's top items distilled by ranking "
                         "distillation.")
    rd_decay: float = Field(5.0, gt=0, description="Position weights exp(-rank / rd_decay).")
    contrastive_weight: float = Field(0.0, ge=0, description="InfoNCE student→teacher alignment.")
    contrastive_temperature: float = Field(0.2, gt=0, description="InfoNCE temperature.")
    hint_weight: float = Field(0.0, ge=0, description="MSE of projected student to teacher.")
    coldstart_steps: int = Field(500, ge=0, description="Cold-start mapper training steps.")

    @property
    def needs_projection(self) -> bool:
        return self.contrastive_weight > 0 or self.hint_weight > 0

    @model_validator(mode="after")
    def _sequential_terms(self) -> "StudentConfig":
        if self.kind == "sequential":
            if self.needs_projection or self.rd_weight > 0:
                raise ValueError("student.kind sequential learns from next items and soft "
                                 "labels only: set rd_weight, contrastive_weight and "
                                 "hint_weight to 0")
            if self.dim % self.heads:
                raise ValueError(f"student.dim {self.dim} must be a multiple of student.heads "
                                 f"{self.heads}")
        return self


#: Rating-task metrics, lower is better.
RATING_METRICS = ("rmse", "mae")


class EvaluationConfig(StrictModel):
    ks: tuple[Annotated[int, Field(ge=1)], ...] = Field(
        (10, 20), min_length=1, description="Cut-offs of recall@k and ndcg@k.")
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

    _one_or_several = field_validator("time_scales", mode="before")(_one_or_several)


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


#: Config keys that hold paths: relative values written in a config file are read from the
#: file's folder (so a config works from any current directory).
PATH_KEYS = (("data", "interactions"), ("data", "items"), ("data", "media_root"),
             ("runs_root",), ("encoders", "cache_dir"))
#: Keys that hold a hub model name or a local folder: a folder written ``./x`` or ``../x``
#: (or absolute) is read from the config file's folder too; anything else is a hub name.
MODEL_KEYS = (("encoders", "text", "model"), ("encoders", "image", "model"),
              ("encoders", "audio", "model"))


def resolve_paths(raw: dict, folder: Path) -> None:
    """Rewrite, in place, the relative paths of a config file's ``raw`` mapping as paths from
    ``folder`` (the file's folder), expressed relative to the current directory when they can
    be (so run fingerprints do not depend on where the checkout lives)."""
    for keys in PATH_KEYS + MODEL_KEYS:
        parent = raw
        for key in keys[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        value = parent.get(keys[-1]) if isinstance(parent, dict) else None
        if not isinstance(value, str) or Path(value).is_absolute():
            continue
        if keys in MODEL_KEYS and not value.startswith(("./", "../")):
            continue  # a hub name
        target = os.path.normpath(folder / value)
        try:
            parent[keys[-1]] = os.path.relpath(target)
        except ValueError:  # another drive (Windows): keep it absolute
            parent[keys[-1]] = os.path.abspath(target)


def load_config(path: str | Path, overrides: dict | None = None) -> RunConfig:
    """Read and validate a YAML run config; ``overrides`` (nested dict) win over the file.
    Relative paths in the file are read from its folder (:data:`PATH_KEYS`); paths in
    ``overrides`` from the current directory."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist. Pass --config with a YAML file "
                          f"such as configs/quickstart.yaml.")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Config file {path} is not UTF-8 text ({exc}); save it as UTF-8."
                          ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {path} must hold a mapping of sections, got "
                          f"{type(raw).__name__}.")
    resolve_paths(raw, path.parent)
    merge_nested(raw, overrides or {})
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors())
        raise ConfigError(f"Config file {path} is invalid: {problems}. Fix these keys "
                          f"(unknown keys are not allowed).") from exc


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (plain
    YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found the key {key!r} twice; keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def merge_nested(base: dict, extra: dict) -> None:
    """Merge ``extra`` into ``base`` in place: nested mappings merge, anything else replaces."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_nested(base[key], value)
        else:
            base[key] = value


def section_hash(*sections: BaseModel | str | int | None) -> str:
    """Stable short hash of config sections and upstream fingerprints (for stage skipping)."""
    digest = hashlib.sha256()
    for section in sections:
        text = section.model_dump_json() if isinstance(section, BaseModel) else repr(section)
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
