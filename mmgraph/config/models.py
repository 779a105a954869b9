"""The model sections: ``graph``, ``teacher`` (its components, the filters' grids, LightGCN's
architecture) and ``student`` (its kind, size and distillation losses), each with its
``optim`` section (how it is trained).

Config format 2 (today's) separates the two; a version-1 section, with the optimisation
settings beside the architecture, is read as format 2 with a FutureWarning that names the keys
to move."""

from __future__ import annotations

import warnings
from typing import Annotated, Any, Callable, Literal

from pydantic import Field, field_validator, model_validator

from mmgraph.strict import StrictModel, one_or_several

__all__ = ["GraphConfig", "OptimConfig", "TeacherOptimConfig", "StudentOptimConfig",
           "FilterConfig", "TeacherConfig", "StudentConfig"]

#: A positive number of the config.
_Positive = Annotated[float, Field(gt=0)]


class GraphConfig(StrictModel):
    knn_k: int = Field(10, ge=1, description="Neighbours per item in the item–item kNN graph.")
    knn_exact_items: int = Field(50_000, ge=1, description="Up to this many items the kNN "
                                 "search is exact (FAISS Flat); past it, FAISS HNSW.")
    interaction_weight: Literal["none", "rating"] = Field(
        "none", description="Weight user–item edges by the interaction's rating.")


class OptimConfig(StrictModel):
    """How a model is trained (its ``optim`` section): the optimiser, batches, epochs and early
    stopping. What the model is (its architecture) lives in the model's own section."""

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


class TeacherOptimConfig(OptimConfig):
    """``teacher.optim``: how LightGCN is trained."""

    propagations_per_epoch: int = Field(
        40, ge=1, description="At most this many full-graph propagations (batches) per epoch: "
        "past batch_size × this many interactions the batch grows with the data, so an epoch "
        "costs time linear in the interactions.")


class StudentOptimConfig(OptimConfig):
    """``student.optim``: how the student is trained."""

    batch_size: int = Field(256, ge=1, description="Users per batch: the soft labels are one "
                            "list per user, so an epoch is one pass over the training users.")
    steps_per_epoch: int = Field(
        100, ge=1, description="At most this many batches per epoch: past batch_size × this "
        "many training users the batch grows with the users (each user's row is still updated "
        "once per epoch). Steps are sparse (SparseAdam: a step costs its batch's rows), and a "
        "bounded step count also bounds the per-step overheads.")


def _optim_keys_moved(section: str, fields: frozenset[str]) -> Callable[[Any], Any]:
    """A ``model_validator(mode="before")`` that reads a version-1 section, whose optimisation
    settings sat beside the architecture (``teacher: {dim: 64, lr: 0.01}``), as today's
    (``teacher: {dim: 64, optim: {lr: 0.01}}``), with a FutureWarning naming the keys moved."""

    def migrate(value: Any) -> Any:
        if not isinstance(value, dict) or not (moved := sorted(fields & set(value))):
            return value
        optim = value.get("optim", {})
        if not isinstance(optim, dict):
            return value  # the section's own validation names the problem
        if clash := [key for key in moved if key in optim]:
            raise ValueError(f"{section}.{clash[0]} is given twice, beside the section and in "
                             f"{section}.optim; keep the one in {section}.optim")
        warnings.warn(
            f"config: {', '.join(f'{section}.{key}' for key in moved)} now live(s) under "
            f"{section}.optim (config format 2: how a model is trained is its own section); "
            f"read as {section}.optim.{moved[0]} and so on. Move them there: "
            f"{section}: {{..., optim: {{{', '.join(f'{key}: ...' for key in moved)}}}}}.",
            FutureWarning, stacklevel=2)
        rest = {key: item for key, item in value.items() if key not in fields}
        return {**rest, "optim": {**optim, **{key: value[key] for key in moved}}}

    return migrate


class FilterConfig(StrictModel):
    """The teacher's closed-form graph filter (:mod:`mmgraph.models.spectral`)."""

    degree_exponent: tuple[Annotated[float, Field(ge=0, le=1)], ...] = Field(
        (0.2, 0.5), min_length=1, description="b in R D^-b: how much popular items are damped "
        "(0 = raw co-occurrence). Several values: the best on validation (one decomposition "
        "each).")
    user_exponent: tuple[Annotated[float, Field(ge=0, le=1)], ...] = Field(
        (0.0, 0.5), min_length=1, description="c: the co-occurrence graph counts each user's "
        "pairs with weight deg(u)^-2c (0 = every user alike; 0.5 = GF-CF's normalisation), so "
        "heavy users weigh less. Several values: the best on validation (one decomposition "
        "each); the time filter's graph takes only 0.")
    ridge: tuple[Annotated[float, Field(gt=0)], ...] = Field(
        (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 1.0), min_length=1, description="Ridge strength "
        "relative to the largest eigenvalue of the item–item graph (smaller = sharper "
        "filter). Several values: the best on validation (they share the decomposition).")
    ideal_rank: tuple[Annotated[int, Field(ge=1)], ...] = Field(
        (8, 32), description="k of GF-CF's ideal low-pass: the response is scaled to 1 at the "
        "top eigenvalue and ideal_weight is added on the top k directions. Each value (with "
        "each weight and every ridge) is tried beside no ideal pass at the best "
        "decomposition, the best on validation kept ([] = none).")
    ideal_weight: tuple[Annotated[float, Field(gt=0)], ...] = Field(
        (0.3, 1.0), min_length=1, description="alpha of the ideal low-pass, for each "
        "ideal_rank.")
    content_weight: tuple[Annotated[float, Field(ge=0)], ...] = Field(
        (0.0,), min_length=1, description="beta: weight of the content kNN graph blended into "
        "the item–item graph, relative to its largest eigenvalue (0 = interactions only). "
        "Several values (e.g. [0, 0.001, 0.003, 0.01]): the best for the filter alone on "
        "validation (one decomposition each per degree exponent); only 0 without item "
        "content.")
    history_half_life: tuple[Annotated[float, Field(gt=0)], ...] = Field(
        (5.0, 10.0, 20.0, 40.0), description="h: a user's k-th latest training item weighs "
        "2^(-k/h) in the filters' user rows instead of 1: what a user chose last says most "
        "about what they choose next (a temporal split). Each value is tried beside the plain "
        "rows at the chosen decomposition, ridge and ideal pass, the best on validation kept "
        "([] = plain rows only; only those without timestamps). See mmgraph/models/temporal.py "
        "(recency_history).")
    rank: int = Field(256, ge=1, description="Eigenpairs kept past dense_items items.")
    dense_items: int = Field(8192, ge=1, description="Up to this many items the item–item "
                             "graph is decomposed densely and exactly; past it, exactly from "
                             "the users' side when there are at most this many users (the "
                             "co-occurrence graph without content: its rank is at most the "
                             "users'), else the top rank eigenpairs by subspace iteration on "
                             "the sparse graph (never a dense items × items).")

    _one_or_several = field_validator("degree_exponent", "user_exponent", "ridge",
                                      "ideal_rank", "ideal_weight", "content_weight",
                                      "history_half_life", mode="before")(one_or_several)


class TeacherConfig(StrictModel):
    """What the teacher is: its components, the filters' grids and LightGCN's architecture;
    how LightGCN is trained is ``teacher.optim``."""

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
    time_scale: _Positive | Annotated[tuple[_Positive, ...], Field(min_length=1)] = Field(
        3600.0, description="time_filter: tau in exp(-|t_a - t_b| / tau), in the timestamps' "
        "unit (seconds for Unix time); a list: each tried, the best on validation kept (recorded "
        "in teacher/state.json and kept by the refit).")
    time_window: int = Field(1000, ge=1, description="time_filter: pairs at most this many "
                             "interactions apart in a user's time order.")
    dim: int = Field(64, ge=1, description="LightGCN's embedding width.")
    layers: int = Field(3, ge=0, le=64, description="LightGCN propagation layers over the "
                        "user–item graph.")
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
    optim: TeacherOptimConfig = TeacherOptimConfig()

    @property
    def time_scales(self) -> tuple[float, ...]:
        """``time_scale`` as the candidates it names (one or several)."""
        return self.time_scale if isinstance(self.time_scale, tuple) else (self.time_scale,)

    _version_1 = model_validator(mode="before")(
        _optim_keys_moved("teacher", frozenset(TeacherOptimConfig.model_fields)))

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


class StudentConfig(StrictModel):
    """What the student is (kind, size) and what it distills; how it is trained is
    ``student.optim``."""

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
    item_norm_exponent: Annotated[float, Field(ge=0, le=1)] | Literal["auto"] = Field(
        "auto", description="ID student: its served item vectors are divided by their norm to "
        "this power (0: the trained vectors; 1: cosine ranking), which lifts less popular "
        "items (mmgraph/distill/item_norms.py). auto: chosen on validation, the smallest that "
        "makes the student's top-K lists cover as much of the catalogue as the teacher's "
        "within 2% of its accuracy; a sequential student serves its vectors as trained.")
    match_teacher_exposure: bool | Literal["auto"] = Field(
        "auto", description="ID student: scale each served item vector so that the item "
        "appears in about as many users' top-K lists as in the teacher's, before the norm "
        "exponent (mmgraph/distill/item_norms.py). auto: only when item_norm_exponent is auto "
        "and no exponent alone covers as much of the catalogue as the teacher within 2% of "
        "the accuracy, and then chosen on validation like the exponent.")
    optim: StudentOptimConfig = StudentOptimConfig()

    _version_1 = model_validator(mode="before")(
        _optim_keys_moved("student", frozenset(StudentOptimConfig.model_fields)))

    @property
    def needs_projection(self) -> bool:
        return self.contrastive_weight > 0 or self.hint_weight > 0

    @model_validator(mode="after")
    def _sequential_terms(self) -> "StudentConfig":
        if self.kind == "sequential":
            if self.item_norm_exponent not in ("auto", 0) or self.match_teacher_exposure is True:
                raise ValueError("student.item_norm_exponent and match_teacher_exposure rescale "
                                 "an ID student's items; a sequential student serves them as "
                                 "trained: leave them out")
            if self.needs_projection or self.rd_weight > 0:
                raise ValueError("student.kind sequential learns from next items and soft "
                                 "labels only: set rd_weight, contrastive_weight and "
                                 "hint_weight to 0")
            if self.dim % self.heads:
                raise ValueError(f"student.dim {self.dim} must be a multiple of student.heads "
                                 f"{self.heads}")
        return self
