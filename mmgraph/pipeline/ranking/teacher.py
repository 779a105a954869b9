"""The ranking teacher: its components (LightGCN, the graph filters over co-occurrence and over
time-weighted co-occurrence) blended by weights chosen on validation; with ``teacher: auto``
the settings the section leaves unset are searched within ``tune.budget_s``
(:mod:`mmgraph.pipeline.auto`)."""

from __future__ import annotations

import functools
import logging
from typing import Callable, NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from mmgraph.config import TeacherConfig
from mmgraph.data.tables import TIMESTAMP
from mmgraph.errors import ConfigError
from mmgraph.evaluation.ranking import evaluate_weighted_sums
from mmgraph.graph.build import SIMILAR
from mmgraph.io import atomic_path, read_json, write_json, write_tensors
from mmgraph.models.blend import blend_embeddings, choose_blend, score_stds
from mmgraph.models.filter_search import PLAIN, fixed_filter, setting_key, tuned_filter
from mmgraph.models.reloadable import config_path
from mmgraph.models.temporal import recency_history, time_weighted_cooccurrence
from mmgraph.pipeline.auto import Budget, auto_start, fusion_levels, resolved_teacher
from mmgraph.pipeline.inputs import features as run_features
from mmgraph.pipeline.inputs import has_timestamps, pairs_with_column
from mmgraph.pipeline.lightgcn import TrainedLightGCN, train_lightgcn
from mmgraph.pipeline.runner import StageContext
from mmgraph.pipeline.shards import UserShard
from mmgraph.pipeline.warm import WarmStart
from mmgraph.runs import IndexedSplit, RunDir, auto_key, layout

__all__ = ["train_teacher"]

log = logging.getLogger(__name__)

Embeddings = tuple[torch.Tensor, torch.Tensor]


class _Filters(NamedTuple):
    """The teacher's graph filters: their embeddings, best validation scores, the state to
    record, the eigenvectors of those decomposed iteratively (``[I, k]``, an update's start)
    and the chosen time scale."""

    parts: dict[str, Embeddings]
    scores: dict[str, float]
    state: dict[str, object]
    bases: dict[str, torch.Tensor]
    time_scale: float


def _tuned_filters(ctx: StageContext, start: TeacherConfig, data: IndexedSplit,
                   built: HeteroData, validation: Callable[[Embeddings], float],
                   filter_settings: dict[str, dict[str, float]] | None,
                   time_scales: tuple[float, ...], budget: Budget | None,
                   warm: WarmStart | None = None) -> _Filters:
    """The graph filters of ``start.components``, each at the setting validation ranks best
    (``filter_settings`` fixes it instead, and ``warm``'s eigenvectors start its
    decomposition): over co-occurrence and over time-weighted co-occurrence at each of
    ``time_scales`` (past the first, with a ``budget``, only while two thirds of it are
    left), searched as :mod:`mmgraph.models.filter_search` says (the recency-weighted user
    rows only with timestamps). Under torch.distributed every rank decomposes from its shard
    of the users (:class:`~mmgraph.pipeline.shards.UserShard`) and rank 0 validates; the
    embeddings returned hold every user."""
    cfg = ctx.cfg
    metric = cfg.evaluation.early_stopping_metric
    content_graph = None
    if start.content != "none" and SIMILAR in built.edge_types:
        content_graph = (built[SIMILAR].edge_index, built[SIMILAR].edge_weight)
    parts, scores, state, bases, chosen_scale = {}, {}, {}, {}, time_scales[0]
    timed = has_timestamps(ctx.run)
    shard = UserShard.of(len(data.users), ctx.dist)
    pairs = shard.local(data.train_pairs)[0]

    def sharded_validation(embeddings: Embeddings) -> float:
        """``validation`` of a filter whose user rows are this rank's: rank 0 scores every
        user's, and every rank follows its verdict."""
        users = shard.gather(embeddings[0])
        return shard.agree(validation((users, embeddings[1])) if ctx.dist.is_main else 0.0)

    @functools.cache
    def timed_pairs() -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's training pairs ``[2, E_r]`` and their timestamps ``[E_r]`` (read once,
        when needed; the error that names the missing column without them)."""
        every, train = pairs_with_column(ctx.run, data, TIMESTAMP, cfg.data.interactions,
                                         "teacher.components time_filter")
        return shard.local(every, torch.tensor(train[TIMESTAMP].to_numpy(np.float64)))

    @functools.cache
    def history(half_life: float) -> sp.csr_matrix:
        return recency_history(*timed_pairs(), len(shard.users), len(data.items), half_life)

    def tuned(name: str, cooccurrence: sp.spmatrix | None):
        grid = start.filter
        shared = {"content_graph": content_graph, "seed": cfg.seed, "cooccurrence": cooccurrence,
                  "rank": grid.rank, "dense_items": grid.dense_items, "reduce": shard.reduce}
        if filter_settings is not None:  # a tuned run's choice, e.g. for its refit
            setting = {**PLAIN, **filter_settings[name]}  # older runs: PLAIN's keys
            half_life = setting["history_half_life"]
            embeddings, basis = fixed_filter(
                pairs, len(shard.users), len(data.items), setting,
                None if half_life is None else history(half_life),
                None if warm is None else warm.filter_start(name, data.items), **shared)
            return (embeddings, {setting_key(setting): sharded_validation(embeddings)}, setting,
                    basis)
        histories = {half_life: history(half_life) for half_life in grid.history_half_life
                     if timed}
        ideals = [(rank, weight) for rank in grid.ideal_rank for weight in grid.ideal_weight]
        return tuned_filter(pairs, len(shard.users), len(data.items), sharded_validation,
                            grid.degree_exponent, grid.ridge, grid.content_weight, histories,
                            grid.user_exponent, ideals, **shared)

    def record(name: str, found) -> None:
        (users, items), settings, chosen, basis = found
        parts[name] = (shard.gather(users), items)
        scores[name] = max(settings.values())  # already validated: the best kept
        state[f"valid_{metric}_by_{name}_setting"] = settings
        state[f"{name}_setting"] = chosen
        if basis.iterative:  # an update's decomposition starts from it
            bases[name] = torch.from_numpy(basis.vectors.astype(np.float32))

    if "filter" in start.components:
        record("filter", tuned("filter", None))  # None: R^T R
    if "time_filter" in start.components:
        time_pairs, times = timed_pairs()
        by_scale, best = {}, None
        for scale in time_scales:
            if best is not None and budget is not None and budget.left() < budget.seconds * 2 / 3:
                break
            found = tuned("time_filter", time_weighted_cooccurrence(
                time_pairs, times, len(data.items), scale, start.time_window))
            by_scale[f"{scale:g}"] = max(found[1].values())
            if best is None or by_scale[f"{scale:g}"] > max(best[1].values()):
                best, chosen_scale = found, scale
        record("time_filter", best)
        state["time_scale"] = chosen_scale
        if len(time_scales) > 1:
            state[f"valid_{metric}_by_time_scale"] = by_scale
    return _Filters(parts, scores, state, bases, chosen_scale)


def _blend_weights(start: TeacherConfig, parts: dict[str, Embeddings], stds: dict[str, float],
                   validations: Callable) -> tuple[dict[str, float], dict]:
    """The blend's weights: as the section sets them, or chosen on validation (with every
    weighting tried and its score)."""
    if isinstance(start.blend, dict):
        total = sum(start.blend.values())
        return {name: weight / total for name, weight in start.blend.items()}, {}
    if isinstance(start.blend, float):
        return {"lightgcn": start.blend, "filter": 1 - start.blend}, {}
    if len(parts) > 1:
        return choose_blend(parts, validations, stds)
    return {name: 1.0 for name in parts}, {}


class _FitFiles:
    """What a LightGCN fit wrote to ``run`` (weights, architecture, state, seconds per epoch),
    held to put back when a candidate trained before the last one wins."""

    def __init__(self, run: RunDir):
        weights = run.path(layout.model_file("teacher", "model"))
        self.files = {path: path.read_bytes() for path in (
            weights, config_path(weights), run.path(layout.model_file("teacher", "state")))}
        self.timing = read_json(run.path(layout.TIMINGS))["teacher"]

    def restore(self, run: RunDir) -> None:
        for path, content in self.files.items():
            with atomic_path(path) as temporary:
                temporary.write_bytes(content)
        run.record_timing("teacher", **self.timing)


def _auto_lightgcn(ctx: StageContext, levels: tuple[str, ...], data: IndexedSplit,
                   built: HeteroData, fingerprint: str, valid_users: np.ndarray,
                   budget: Budget, validation: Callable[[Embeddings], float]
                   ) -> tuple[TrainedLightGCN | None, str, dict[str, float]]:
    """``teacher: auto``'s LightGCN: trained at each fusion level of ``levels`` in turn while
    ``budget`` is left, the best on validation kept (its files are the run's). Returns it
    (``None`` when the filters spent the budget), its level and every level's validation."""
    best, best_level, scores, kept = None, levels[0], {}, None
    for position, level in enumerate(levels):
        if budget.left() <= 0:
            if best is None:
                log.warning("teacher: auto's budget (tune.budget_s %gs) went to the filters; "
                            "LightGCN is left out (raise tune.budget_s to train it)",
                            budget.seconds)
            break
        trained = train_lightgcn(
            ctx.with_sections(teacher=ctx.cfg.teacher.model_copy(update={"fusion_level": level})),
            data, built, fingerprint if len(levels) == 1 else f"{fingerprint}:{level}",
            valid_users, budget.deadline)
        scores[level] = validation((trained.users, trained.items))
        if best is None or scores[level] > scores[best_level]:
            best, best_level = trained, level
            kept = _FitFiles(ctx.run) if position < len(levels) - 1 else None
        elif kept is not None:
            kept.restore(ctx.run)
            kept = None
    if len(scores) > 1:
        log.info("teacher: auto's LightGCN valid by fusion level %s: %s kept", scores,
                 best_level)
    return best, best_level, scores


def train_teacher(ctx: StageContext, data: IndexedSplit, built: HeteroData, fingerprint: str,
                  filter_settings: dict[str, dict[str, float]] | None = None,
                  warm: WarmStart | None = None) -> None:
    """Build the teacher from its components (``teacher.components``) and write
    ``teacher/embeddings.safetensors`` (the blended users and items, from which the student's
    soft labels come) and, in ``teacher/state.json``, every component's validation metric,
    chosen filter setting and blend weight. ``filter_settings`` (``{component:
    {"degree_exponent", "ridge", "content_weight"}}``, e.g. a tuned run's, for a refit)
    replaces the config's grids; ``warm``'s trained LightGCN starts this one."""
    cfg, run = ctx.cfg, ctx.run
    tcfg, metric = cfg.teacher, cfg.evaluation.early_stopping_metric
    budget = Budget(cfg.tune.budget_s) if tcfg.auto else None
    if tcfg.auto and ctx.dist.enabled:
        raise ConfigError("teacher: auto times its search on one process; under torchrun "
                          "set the teacher's numbers (a single-process run's config.yaml "
                          "holds the ones auto chose)")
    start = auto_start(tcfg, has_timestamps(run)) if tcfg.auto else tcfg
    time_scales = (cfg.tune.time_scales if tcfg.auto and "time_scale" not in
                   tcfg.model_fields_set else start.time_scales)
    lightgcn_ctx = ctx.with_sections(teacher=start)
    valid_users = data.validation_users(cfg.evaluation.valid_users, cfg.seed)

    def validations(components: list[Embeddings], weightings: list[list[float]]) -> list[float]:
        return [m[metric] for m in evaluate_weighted_sums(
            components, weightings, data.parts["valid"], data.parts["train"],
            cfg.evaluation.ks, cfg.evaluation.user_batch_size, valid_users)]

    def validation(embeddings: Embeddings) -> float:
        return validations([embeddings], [[1.0]])[0]

    trained: TrainedLightGCN | None = None
    if "lightgcn" in start.components and not tcfg.auto:  # every rank trains (None but on 0)
        trained = train_lightgcn(lightgcn_ctx, data, built, fingerprint, valid_users,
                                 warm=warm)
    # every rank decomposes the filters from its users; rank 0 builds the rest
    filters, scores, extra_state, bases, time_scale = _tuned_filters(
        ctx, start, data, built, validation, filter_settings, time_scales, budget, warm)
    if not ctx.dist.is_main:
        return
    fusion_level = start.fusion_level
    if "lightgcn" in start.components and budget is not None:
        trained, fusion_level, by_level = _auto_lightgcn(
            lightgcn_ctx, fusion_levels(tcfg, len(run_features(run))), data, built,
            fingerprint, valid_users, budget, validation)
        if len(by_level) > 1:
            extra_state[f"valid_{metric}_by_fusion_level"] = by_level
    parts: dict[str, Embeddings] = {}
    if trained is not None:
        parts["lightgcn"] = (trained.users, trained.items)
        scores["lightgcn"] = validation(parts["lightgcn"])
    parts.update(filters)
    parts = {name: parts[name] for name in start.components if name in parts}
    scores = {name: scores[name] for name in parts}

    stds = score_stds(parts, cfg.seed)
    weights, tried = _blend_weights(start, parts, stds, validations)
    extra, search = {}, {}
    if trained is not None and trained.content is not None and (
            budget is None or weights.get("lightgcn", 0) > 0):  # auto drops weight 0
        extra["content"] = trained.content  # the content tower, input of the cold-start mapper
    users, items = blend_embeddings(parts, weights, stds)
    if budget is not None:
        resolved = resolved_teacher(start, weights, time_scale,
                                    None if trained is None else trained.epochs, fusion_level)
        search = {"auto_key": auto_key(cfg), "resolved_teacher": resolved.model_dump(
            mode="json"), "auto_seconds": {"budget": budget.seconds, "spent": budget.spent()}}
    write_tensors(run.path(layout.TEACHER_EMBEDDINGS), {"users": users, "items": items, **extra})
    bases = {name: basis for name, basis in bases.items() if weights.get(name, 0) > 0}
    if bases:
        write_tensors(run.path(layout.TEACHER_FILTER_BASES), bases)
    else:  # a stale one from an earlier attempt would start a later update
        run.path(layout.TEACHER_FILTER_BASES).unlink(missing_ok=True)
    state_path = run.path(layout.TEACHER_STATE)
    state = read_json(state_path) if "lightgcn" in parts else {}
    write_json(state_path, {**state, **extra_state, **search, "components": list(parts),
                            "weights": weights, f"valid_{metric}_by_component": scores,
                            f"valid_{metric}_by_blend": tried,
                            f"valid_{metric}_blended": validation((users, items))})
    log.info("teacher: valid %s %s, blended with weights %s", metric, scores, weights)
