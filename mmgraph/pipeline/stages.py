"""The pipeline's stages. Each reads its inputs from the run directory (or the data files),
writes its outputs atomically, and is skipped when already done with the same fingerprint.

split → encode → graph → teacher → student → index → evaluate
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from data_prep import PREPARERS
from mmgraph.config import (FLOAT32_RANGE, RATING_METRICS, OptimConfig, RunConfig, StudentConfig,
                            TeacherConfig, section_hash)
from mmgraph.data.ids import IdMap
from mmgraph.data.split import split_description, split_interactions
from mmgraph.data.tables import (ITEM, RATING, TIMESTAMP, USER, load_interactions, load_items,
                                  require_file)
from mmgraph.distill.coldstart import content_vectors, fit_coldstart_mapper
from mmgraph.distill.soft_labels import teacher_top_scores
from mmgraph.distill.warm_start import start_from_teacher
from mmgraph.errors import ConfigError, DataError
from mmgraph.evaluation.metrics import list_metrics, ranking_metrics
from mmgraph.evaluation.ranking import (evaluate_embeddings, evaluate_weighted_sums,
                                        popularity_scores, topk_items)
from mmgraph.graph.adjacency import BipartiteAdjacency, bipartite_adjacency, item_adjacency
from mmgraph.graph.build import INTERACTS, SIMILAR, build_item_graph, load_graph, save_graph
from mmgraph.index.foldin import FOLDIN_USERS, FoldIn, tune_foldin
from mmgraph.index.retrieval import RetrievalIndex
from mmgraph.io import (file_sha256, read_arrays, read_json, read_parquet, read_tensors,
                        write_json, write_parquet, write_tensors)
from mmgraph.lock import exclusive_writer
from mmgraph.models.blend import blend_embeddings, choose_blend, score_stds
from mmgraph.models.spectral import spectral_start, time_weighted_cooccurrence, tuned_filter
from mmgraph.models.sequential import SequentialStudent, latest_sequences
from mmgraph.models.student import IDStudent, low_rank_factors
from mmgraph.models.teacher import MultimodalTeacher
from mmgraph.pipeline import rating
from mmgraph.pipeline.artifacts import (SPLITS, IndexedSplit, load_split, recommendation_frame,
                                        record_served_files, served_embeddings)
from mmgraph.pipeline.auto import (Budget, auto_key, auto_start, resolved_config,
                                   resolved_teacher)
from mmgraph.pipeline.report import NO_HELD_OUT_USERS
from mmgraph.pipeline.rundir import RunDir
from mmgraph.runtime import pick_device, seed_everything
from mmgraph.training.checkpoint import Checkpoint
from mmgraph.training.distributed import barrier, distributed_context
from mmgraph.training.loop import BatchLoss, FitResult, batch_for_steps, fit
from mmgraph.training.objectives import (sequential_distillation, student_distillation,
                                         teacher_ranking_loss, teacher_whole_data_loss)

__all__ = ["prepare_data", "split", "encode", "graph", "teacher", "student", "index",
           "evaluate", "STAGES", "run_all"]

log = logging.getLogger(__name__)


def _once(cfg: RunConfig, run: RunDir, stage: str, fingerprint: str, outputs: list[str],
          work: Callable[[], None], every_rank: bool = False) -> None:
    """Run ``work`` unless the stage is done with this fingerprint and its outputs exist.

    Under torch.distributed (torchrun), rank 0 alone runs the stage unless ``every_rank``
    (training: each rank trains on its share, rank 0 writes), and the others wait for it.
    """
    ctx = distributed_context(pick_device(cfg.device))
    done = run.is_done(stage, fingerprint, [Path(p) for p in outputs])
    barrier(ctx)  # every rank decides before rank 0 may change the answer
    if done:
        log.info("%s: up to date, skipped", stage)
        return
    log.info("%s: running%s", stage, f" on {ctx.world_size} processes" if every_rank
             and ctx.enabled else "")
    before = run.files() if ctx.is_main else None
    if every_rank or ctx.is_main:
        work()
    if ctx.is_main:
        run.mark_done(stage, fingerprint, before)
    barrier(ctx)


def prepare_data(cfg: RunConfig) -> None:
    """Build the input tables with data_prep when the config names a known dataset."""
    data = cfg.data
    if data.prepare is None:
        return
    folder = data.interactions.parent
    stamp = {"dataset": data.prepare, "options": data.prepare_options}
    stamp_path = folder / "prepared.json"
    built = data.interactions.is_file() and (data.items is None or data.items.is_file())
    if built and (not stamp_path.is_file() or read_json(stamp_path) == stamp):
        return
    inter_path, items_path = PREPARERS[data.prepare](folder, **data.prepare_options)
    if inter_path != data.interactions or (data.items and items_path != data.items):
        raise ConfigError(f"data.prepare '{data.prepare}' writes {inter_path} and {items_path}; "
                          f"point data.interactions and data.items at those files.")
    write_json(stamp_path, stamp)
    log.info("prepared %s into %s", data.prepare, folder)


def _load_items_table(cfg: RunConfig) -> pd.DataFrame | None:
    return load_items(cfg.data.items, cfg.data.columns.item) if cfg.data.items else None


def _positives(interactions: pd.DataFrame, cfg: RunConfig) -> pd.DataFrame:
    """The interactions that count as positives: all, or those rated at least
    ``data.rating_threshold``."""
    threshold = cfg.data.rating_threshold
    if threshold is None:
        return interactions
    if RATING not in interactions:
        raise DataError(f"data.rating_threshold {threshold} keeps interactions by rating, but "
                        f"{cfg.data.interactions} has no rating column here. Name it in "
                        f"data.columns.rating, or set data.rating_threshold: null.")
    kept = interactions[interactions[RATING] >= threshold].reset_index(drop=True)
    if kept.empty:
        raise DataError(f"No interaction of {cfg.data.interactions} is rated at least "
                        f"{threshold} (data.rating_threshold; ratings range "
                        f"{interactions[RATING].min()}–{interactions[RATING].max()}).")
    log.info("split: %d of %d interactions rated at least %s kept as positives", len(kept),
             len(interactions), threshold)
    return kept


def split(cfg: RunConfig, run: RunDir, progress: bool = True) -> None:
    """Validate the tables, fix the id maps and save the seeded per-user split."""
    ctx = distributed_context(pick_device(cfg.device))
    if ctx.is_main:
        prepare_data(cfg)
    barrier(ctx)
    files = [cfg.data.interactions] + ([cfg.data.items] if cfg.data.items else [])
    for path in files:
        require_file(path)
    fingerprint = section_hash(cfg.data, cfg.split, cfg.seed, *map(file_sha256, files))

    def work() -> None:
        interactions = _positives(load_interactions(cfg.data.interactions, cfg.data.columns),
                                  cfg)
        items_table = _load_items_table(cfg)
        item_ids = (items_table[ITEM].to_numpy() if items_table is not None
                    else np.sort(interactions[ITEM].unique()))
        items = IdMap(item_ids, ITEM)
        items.indices(interactions[ITEM], str(cfg.data.interactions),  # every item is known
                      f"Add them to {cfg.data.items} or drop those rows.")
        parts = split_interactions(interactions, cfg.split.kind, cfg.split.valid,
                                   cfg.split.test, cfg.seed, str(cfg.data.interactions),
                                   cfg.split.train_share)
        users = IdMap(np.sort(parts["train"][USER].unique()), USER)  # users with a history
        users.save(run.path("ids", "users.parquet"))
        items.save(run.path("ids", "items.parquet"))
        for name, frame in parts.items():
            write_parquet(run.path("splits", f"{name}.parquet"), frame)
        log.info("split: %s", {name: len(frame) for name, frame in parts.items()})

    _once(cfg, run, "split", fingerprint, [f"splits/{n}.parquet" for n in SPLITS], work)


def _media_stamp(cfg: RunConfig) -> str:
    """Size and modification time of every media file the items table names, so that an
    edited image or clip re-runs the encode stage (its cache then re-encodes just that file)."""
    columns = [c.column for c in (cfg.encoders.image, cfg.encoders.audio) if c is not None]
    if not columns or cfg.data.media_root is None:
        return ""
    items, stamps = _load_items_table(cfg), []
    for column in columns:
        for value in items.get(column, pd.Series(dtype=object)).dropna():
            path = cfg.data.media_root / str(value)
            stat = path.stat() if path.is_file() else None
            stamps.append(f"{value}:{stat.st_size}:{stat.st_mtime_ns}" if stat else f"{value}:-")
    return section_hash(*stamps)


def encode(cfg: RunConfig, run: RunDir, progress: bool = True) -> None:
    """Encode item content with the configured pretrained encoders (cached)."""
    from encoders.items import ItemFeatures, encode_items  # transformers: import when needed

    wanted = cfg.data.items is not None and cfg.teacher.content != "none"
    sources = [file_sha256(cfg.data.items), _media_stamp(cfg)] if wanted else []
    fingerprint = section_hash(cfg.encoders if wanted else None, run.fingerprint("split"),
                               *sources)

    def work() -> None:
        encoded, ctx = ItemFeatures(), distributed_context()
        cache = cfg.encoders.cache_dir or run.path("features", "cache")
        if wanted and ctx.enabled:  # each rank encodes its share into the shared cache
            encode_items(_load_items_table(cfg), cfg.encoders, cache, cfg.data.media_root,
                         pick_device(cfg.device), progress, (ctx.rank, ctx.world_size))
            barrier(ctx)
        if not ctx.is_main:
            return
        if wanted:  # after the ranks, every vector is cached: this only assembles and reports
            encoded = encode_items(_load_items_table(cfg), cfg.encoders, cache,
                                   cfg.data.media_root, pick_device(cfg.device), progress)
        write_tensors(run.path("features", "masks.safetensors"),
                      {k: v.to(torch.uint8) for k, v in encoded.masks.items()})
        write_tensors(run.path("features", "features.safetensors"), encoded.features)

    _once(cfg, run, "encode", fingerprint, ["features/features.safetensors"], work,
          every_rank=True)


def _features(run: RunDir) -> dict[str, torch.Tensor]:
    return read_tensors(run.path("features", "features.safetensors"))


def _train_pairs_and(run: RunDir, data: IndexedSplit, column: str, source: Path,
                     needed_by: str, part: str = "train") -> tuple[torch.Tensor, pd.DataFrame]:
    """Training pairs ``[2, E]`` and the train split (with its ``column`` ``[E]``), or those of
    another ``part`` of the split; a :class:`ConfigError` saying that ``needed_by`` needs
    ``column`` when ``source`` lacks it."""
    path = run.path("splits", f"{part}.parquet")
    train = read_parquet(path)
    if column not in train:
        raise ConfigError(f"{needed_by} needs the interactions' {column}s, but {source} has no "
                          f"{column} column; set data.columns.{column} or change {needed_by}.")
    pairs = torch.from_numpy(np.stack([data.users.indices(train[USER], str(path)),
                                       data.items.indices(train[ITEM], str(path))]))
    return pairs, train


def _rated_train_pairs(run: RunDir, data: IndexedSplit, source: Path
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pairs ``[2, E]`` and their ratings ``[E]`` (for rating-weighted edges); ratings
    that cannot weigh an edge are a :class:`DataError` naming pairs of ``source``."""
    pairs, train = _train_pairs_and(run, data, RATING, source, "graph.interaction_weight 'rating'")
    ratings = train[RATING].to_numpy(np.float64)
    tiny, largest = FLOAT32_RANGE  # the edge weights are float32
    bad = np.flatnonzero(~((ratings >= tiny) & (ratings <= largest)))  # NaN fails both
    if len(bad):
        examples = ", ".join(f"user {train[USER].iloc[r]!r} item {train[ITEM].iloc[r]!r}: "
                             f"{float(ratings[r])!r}" for r in bad[:3])
        raise DataError(f"graph.interaction_weight is 'rating', so ratings are edge weights and "
                        f"must be finite and positive ({tiny:.3g} to {largest:.3g}); {len(bad)} "
                        f"are not ({examples}). Fix or drop those rows of {source}, or set "
                        f"graph.interaction_weight: none.")
    return pairs, torch.from_numpy(ratings.astype(np.float32))


def graph(cfg: RunConfig, run: RunDir, progress: bool = True) -> None:
    """Build the user–item + item–item kNN graph."""
    fingerprint = section_hash(cfg.graph, run.fingerprint("split"), run.fingerprint("encode"))

    def work() -> None:
        data = load_split(run)
        pairs, weight = data.train_pairs, None
        if cfg.graph.interaction_weight == "rating":
            pairs, weight = _rated_train_pairs(run, data, cfg.data.interactions)
        masks = {m: v.bool() for m, v in read_tensors(run.path("features",
                                                               "masks.safetensors")).items()}
        built = build_item_graph(pairs, len(data.users), len(data.items), _features(run),
                                 cfg.graph.knn_k, weight, masks, cfg.graph.knn_exact_items)
        save_graph(built, run.path("graph"))
        log.info("graph: %s", read_json(run.path("graph", "graph.json"))["num_edges"])

    _once(cfg, run, "graph", fingerprint, ["graph/graph.safetensors"], work)


def _fit_and_save(run: RunDir, name: str, model: torch.nn.Module, loss: BatchLoss,
                  examples: tuple[torch.Tensor, ...], validate: Callable[[], dict[str, float]],
                  optim: OptimConfig, metric: str, generator: torch.Generator,
                  fingerprint: str, progress: bool, seed: int, extra: dict | None = None,
                  maximize: bool = True, deadline: float | None = None) -> FitResult | None:
    """Train with checkpoints in ``<name>/checkpoint/``; write ``<name>/model.safetensors`` and
    ``<name>/state.json`` (config, best epoch and score, history) and the seconds per epoch
    to ``timings.json``, then drop the checkpoint; return the fit's result (``None`` on ranks
    other than 0). Under torch.distributed every rank trains; rank 0 writes. ``deadline``: see
    :func:`mmgraph.training.loop.fit`."""
    checkpoint, ctx = Checkpoint(run.path(name, "checkpoint"), fingerprint), distributed_context()
    result = fit(model, loss, examples, validate, optim, metric, generator, name, progress,
                 checkpoint, ctx, seed, maximize, deadline)
    if not ctx.is_main:
        return None
    write_tensors(run.path(name, "model.safetensors"), model.state_dict())
    write_json(run.path(name, "state.json"), {
        "config": optim.model_dump(mode="json"), **(extra or {}),
        "best_epoch": result.best_epoch, f"valid_{metric}": result.best_score,
        "history": result.history})
    run.record_timing(name, seconds_per_epoch=result.seconds_per_epoch)
    shutil.rmtree(checkpoint.folder, ignore_errors=True)  # outputs written: no longer needed
    return result


def lightgcn_inputs(cfg: RunConfig, run: RunDir, data: IndexedSplit, built, device
                    ) -> tuple[MultimodalTeacher, BipartiteAdjacency, dict[str, torch.Tensor],
                               torch.Tensor | None]:
    """The LightGCN teacher of ``cfg.teacher`` and what it propagates over: the user–item
    adjacency, the fused content features (``{}`` unless content is fused) and the item–item
    adjacency (``None`` without one)."""
    tcfg = cfg.teacher
    features = ({k: v.to(device) for k, v in _features(run).items()}
                if tcfg.content == "fused" else {})
    adjacency = bipartite_adjacency(built[INTERACTS].edge_index, len(data.users),
                                    len(data.items),
                                    built[INTERACTS].get("edge_weight")).to(device)
    item_adj = None
    if tcfg.item_graph and tcfg.content != "none" and SIMILAR in built.edge_types:
        item_adj = item_adjacency(built[SIMILAR].edge_index, built[SIMILAR].edge_weight,
                                  len(data.items)).to(device)
    model = MultimodalTeacher(len(data.users), len(data.items), tcfg.dim, tcfg.layers,
                              {k: v.shape[1] for k, v in features.items()}, tcfg.fusion,
                              tcfg.item_layers, tcfg.fusion_level)
    if tcfg.init == "spectral":
        users, items = spectral_start(data.train_pairs, len(data.users), len(data.items),
                                      tcfg.dim, seed=cfg.seed)
        with torch.no_grad():
            model.user_embedding.weight.copy_(users)
            model.item_embedding.weight.copy_(items)
    return model.to(device), adjacency, features, item_adj


def _train_lightgcn(cfg: RunConfig, run: RunDir, data: IndexedSplit, built, device,
                    fingerprint: str, progress: bool, valid_users: np.ndarray | None,
                    deadline: float | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, int] | None:
    """Train the LightGCN component (content fused into items and/or propagated over the
    item–item graph), validating on ``valid_users``, until early stopping or the first
    validation past ``deadline``; returns its user and item embeddings, its content tower's
    output (``None`` without fused content) and the epochs run, or ``None`` on ranks other
    than 0."""
    tcfg, metric = cfg.teacher, cfg.evaluation.early_stopping_metric
    seed_everything(cfg.seed)  # the same start whatever ran before it
    model, adjacency, features, item_adj = lightgcn_inputs(cfg, run, data, built, device)
    generator = torch.Generator().manual_seed(cfg.seed + distributed_context().rank)

    def validate() -> dict[str, float]:
        with torch.no_grad():
            users, items = model(adjacency, features, item_adj)
        return evaluate_embeddings(users.cpu(), items.cpu(), data.parts["valid"],
                                   data.parts["train"], cfg.evaluation.ks,
                                   cfg.evaluation.user_batch_size, valid_users)

    edges = data.train_pairs.shape[1]
    if tcfg.loss == "whole":  # one full-batch step per epoch
        loss = teacher_whole_data_loss(model, adjacency, features, item_adj, edges,
                                       tcfg.unobserved_weight, tcfg.reg)
        batch = edges
    else:
        loss = teacher_ranking_loss(model, adjacency, features, item_adj, data.parts["train"],
                                    tcfg.reg, generator, tcfg.loss, tcfg.num_negatives,
                                    tcfg.softmax_temperature)
        batch = batch_for_steps(edges, tcfg.batch_size, tcfg.propagations_per_epoch)
    result = _fit_and_save(run, "teacher", model, loss, tuple(data.train_pairs), validate,
                           tcfg.model_copy(update={"batch_size": batch}), metric, generator,
                           fingerprint, progress, cfg.seed,
                           {"modalities": sorted(features), "batch_size": batch},
                           deadline=deadline)
    if result is None:
        return None
    with torch.no_grad():
        users, items = model(adjacency, features, item_adj)
        content = model.content_vector(features)
    return (users.cpu(), items.cpu(), None if content is None else content.cpu(),
            result.history[-1]["epoch"])


def _tuned_filters(cfg: RunConfig, run: RunDir, start: TeacherConfig, data: IndexedSplit, built,
                   validation: Callable[[tuple[torch.Tensor, torch.Tensor]], float],
                   filter_settings: dict[str, dict[str, float]] | None,
                   time_scales: tuple[float, ...], budget: Budget | None
                   ) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], dict[str, float],
                              dict[str, object], float]:
    """The graph filters of ``start.components``, each at the setting validation ranks best
    (``filter_settings`` fixes it instead): over co-occurrence and over time-weighted
    co-occurrence at each of ``time_scales`` (past the first, only while two thirds of
    ``budget`` are left). Returns their embeddings, best validation scores, the state to
    record and the chosen time scale."""
    metric = cfg.evaluation.early_stopping_metric
    content_graph = None
    if start.content != "none" and SIMILAR in built.edge_types:
        content_graph = (built[SIMILAR].edge_index, built[SIMILAR].edge_weight)
    options = start.filter.model_dump(exclude={"degree_exponent", "ridge", "content_weight"})
    parts, scores, state, chosen_scale = {}, {}, {}, start.time_scale

    def tuned(name: str, cooccurrence: torch.Tensor | None):
        grid = ((start.filter.degree_exponent, start.filter.ridge, start.filter.content_weight)
                if filter_settings is None else
                ((filter_settings[name]["degree_exponent"],), (filter_settings[name]["ridge"],),
                 (filter_settings[name].get("content_weight", 0.0),)))  # older runs: 0
        return tuned_filter(data.train_pairs, len(data.users), len(data.items), validation,
                            *grid, content_graph=content_graph, seed=cfg.seed,
                            cooccurrence=cooccurrence, **options)

    def record(name: str, found) -> None:
        parts[name], settings, chosen = found
        scores[name] = max(settings.values())  # already validated: the best kept
        state[f"valid_{metric}_by_{name}_setting"] = settings
        state[f"{name}_setting"] = chosen

    if "filter" in start.components:
        record("filter", tuned("filter", None))  # None: R^T R
    if "time_filter" in start.components:
        pairs, train = _train_pairs_and(run, data, TIMESTAMP, cfg.data.interactions,
                                        "teacher.components time_filter")
        times = torch.tensor(train[TIMESTAMP].to_numpy(np.float64))
        by_scale, best = {}, None
        for scale in time_scales:
            if best is not None and budget is not None and budget.left() < budget.seconds * 2 / 3:
                break
            found = tuned("time_filter", time_weighted_cooccurrence(
                pairs, times, len(data.items), scale, start.time_window))
            by_scale[f"{scale:g}"] = max(found[1].values())
            if best is None or by_scale[f"{scale:g}"] > max(best[1].values()):
                best, chosen_scale = found, scale
        record("time_filter", best)
        if len(time_scales) > 1:
            state[f"valid_{metric}_by_time_scale"] = by_scale
    return parts, scores, state, chosen_scale


def _has_timestamps(run: RunDir) -> bool:
    return TIMESTAMP in pq.read_schema(run.path("splits", "train.parquet")).names


def teacher(cfg: RunConfig, run: RunDir, progress: bool = True,
            filter_settings: dict[str, dict[str, float]] | None = None) -> None:
    """Build the teacher from its components (``teacher.components``): the trained LightGCN,
    the closed-form graph filter over item co-occurrence and/or over time-weighted
    co-occurrence, blended by weights chosen on validation (see :mod:`mmgraph.models.blend`).
    Saves the blended user/item embeddings (the student's soft labels come from these) and, in
    ``state.json``, every component's validation metric and chosen filter setting.
    ``filter_settings`` (``{component: {"degree_exponent", "ridge", "content_weight"}}``, e.g. a
    tuned run's, for a refit) replaces the config's grids. With ``teacher.auto`` the settings
    the section leaves unset are searched within ``tune.budget_s`` (:mod:`mmgraph.pipeline.auto`)
    and the run's ``config.yaml`` then holds what was chosen."""
    tcfg, metric = cfg.teacher, cfg.evaluation.early_stopping_metric
    fingerprint = section_hash(tcfg, cfg.tune if tcfg.auto else None, cfg.evaluation, cfg.seed,
                               run.fingerprint("graph"), repr(filter_settings))
    outputs = ["teacher/state.json", "teacher/embeddings.safetensors"]
    if "lightgcn" in tcfg.components and not tcfg.auto:
        outputs.append("teacher/model.safetensors")

    def work() -> None:
        seed_everything(cfg.seed)
        data, built = load_split(run), load_graph(run.path("graph"))
        if cfg.task == "rating":
            rating.train_teacher(cfg, run, data, built, pick_device(cfg.device), fingerprint,
                                 progress)
            return
        budget = Budget(cfg.tune.budget_s) if tcfg.auto else None
        if tcfg.auto and distributed_context().enabled:
            raise ConfigError("teacher: auto times its search on one process; under torchrun "
                              "set the teacher's numbers (a single-process run's config.yaml "
                              "holds the ones auto chose)")
        start = auto_start(tcfg, _has_timestamps(run)) if tcfg.auto else tcfg
        time_scales = (cfg.tune.time_scales if tcfg.auto and "time_scale"
                       not in tcfg.model_fields_set else (start.time_scale,))
        lightgcn_cfg = cfg.model_copy(update={"teacher": start})
        valid_users = data.validation_users(cfg.evaluation.valid_users, cfg.seed)

        def validations(components: list[tuple[torch.Tensor, torch.Tensor]],
                        weightings: list[list[float]]) -> list[float]:
            return [m[metric] for m in evaluate_weighted_sums(
                components, weightings, data.parts["valid"], data.parts["train"],
                cfg.evaluation.ks, cfg.evaluation.user_batch_size, valid_users)]

        def validation(embeddings: tuple[torch.Tensor, torch.Tensor]) -> float:
            return validations([embeddings], [[1.0]])[0]

        def train_lightgcn(deadline: float | None = None):
            return _train_lightgcn(lightgcn_cfg, run, data, built, pick_device(cfg.device),
                                   fingerprint, progress, valid_users, deadline)

        trained, search = None, {}
        if "lightgcn" in start.components and not tcfg.auto:  # every rank trains
            trained = train_lightgcn()
            if trained is None:  # not rank 0: rank 0 builds the rest
                return
        if not distributed_context().is_main:
            return
        filters, scores, extra_state, time_scale = _tuned_filters(
            cfg, run, start, data, built, validation, filter_settings, time_scales, budget)
        if "lightgcn" in start.components and budget is not None:
            if budget.left() > 0:
                trained = train_lightgcn(budget.deadline)
            else:
                log.warning("teacher: auto's budget (tune.budget_s %gs) went to the filters; "
                            "LightGCN is left out (raise tune.budget_s to train it)",
                            budget.seconds)
        parts, extra = {}, {}
        if trained is not None:
            parts["lightgcn"] = trained[:2]
            scores["lightgcn"] = validation(parts["lightgcn"])
        parts.update(filters)
        parts = {name: parts[name] for name in start.components if name in parts}
        scores = {name: scores[name] for name in parts}

        weights, stds, tried = {name: 1.0 for name in parts}, score_stds(parts, cfg.seed), {}
        if isinstance(start.blend, dict):
            total = sum(start.blend.values())
            weights = {name: weight / total for name, weight in start.blend.items()}
        elif isinstance(start.blend, float):
            weights = {"lightgcn": start.blend, "filter": 1 - start.blend}
        elif len(parts) > 1:
            weights, tried = choose_blend(parts, validations, stds)
        if trained is not None and trained[2] is not None and (
                budget is None or weights.get("lightgcn", 0) > 0):  # auto drops weight 0
            extra["content"] = trained[2]  # the content tower, input of the cold-start mapper
        users, items = blend_embeddings(parts, weights, stds)
        if budget is not None:
            resolved = resolved_teacher(start, weights, time_scale,
                                        None if trained is None else trained[3])
            search = {"auto_key": auto_key(cfg), "resolved_teacher": resolved.model_dump(
                mode="json"), "auto_seconds": {"budget": budget.seconds,
                                               "spent": budget.spent()}}
        write_tensors(run.path("teacher", "embeddings.safetensors"),
                      {"users": users, "items": items, **extra})
        state_path = run.path("teacher", "state.json")
        state = read_json(state_path) if "lightgcn" in parts else {}
        write_json(state_path, {**state, **extra_state, **search, "components": list(parts),
                                "weights": weights,
                                f"valid_{metric}_by_component": scores,
                                f"valid_{metric}_by_blend": tried,
                                f"valid_{metric}_blended": validation((users, items))})
        log.info("teacher: valid %s %s, blended with weights %s", metric, scores, weights)

    _once(cfg, run, "teacher", fingerprint, outputs, work, every_rank=True)
    if tcfg.auto and distributed_context().is_main:
        run.write_config(resolved_config(cfg, run))


def student(cfg: RunConfig, run: RunDir, progress: bool = True) -> None:
    """Distill the student (``student.kind``: ID embeddings, or a sequential transformer over
    each user's latest items) from the frozen teacher; then place items with no training
    interactions (cold) from their content with the cold-start mapper. Writes the served
    vectors to ``student/embeddings.safetensors``."""
    scfg, metric = cfg.student, cfg.evaluation.early_stopping_metric
    fingerprint = section_hash(scfg, cfg.evaluation, cfg.seed, run.fingerprint("teacher"))

    def work() -> None:
        seed_everything(cfg.seed)
        device = pick_device(cfg.device)
        data = load_split(run)
        frozen = read_tensors(run.path("teacher", "embeddings.safetensors"))
        cold = data.parts["train"].item_counts == 0
        if cfg.task == "rating":
            users, items = rating.train_student(cfg, run, data, frozen, device, fingerprint,
                                                progress)
            if distributed_context().is_main:
                _place_cold_items(run, items, frozen, cold, scfg, cfg.seed)
                write_tensors(run.path("student", "embeddings.safetensors"),
                              {"users": users, "items": items})
            return
        generator = torch.Generator().manual_seed(cfg.seed + distributed_context().rank)
        teacher_topk = None
        depth = max(scfg.kd_topk if scfg.kd_weight > 0 else 0,
                    scfg.rd_topk if scfg.rd_weight > 0 else 0)
        if depth > 0:  # the teacher's top unseen items: soft-label candidates, RD targets
            top = topk_items(frozen["users"], frozen["items"], np.arange(len(data.users)),
                             depth, data.parts["train"], cfg.evaluation.user_batch_size)
            teacher_topk = torch.from_numpy(top).to(device)
        teacher_users, teacher_items = frozen["users"].to(device), frozen["items"].to(device)
        unit = None  # each user's soft-label unit, once for the start and the loss
        if teacher_topk is not None and scfg.kd_weight > 0 and scfg.kd_topk > 0:
            unit = teacher_top_scores(teacher_users, teacher_items,
                                      teacher_topk[:, :scfg.kd_topk])
        valid_users = data.validation_users(cfg.evaluation.valid_users, cfg.seed)
        if scfg.kind == "sequential":
            pairs, train = _train_pairs_and(run, data, TIMESTAMP, cfg.data.interactions,
                                            "student.kind sequential")
            sequences = latest_sequences(pairs[0].numpy(), pairs[1].numpy(),
                                         train[TIMESTAMP].to_numpy(), len(data.users),
                                         scfg.max_length)
            model = SequentialStudent(len(data.items), scfg.dim, scfg.max_length, scfg.layers,
                                      scfg.heads, scfg.dropout).to(device)
            if scfg.init == "teacher":
                users = frozen["users"] if unit is None else frozen["users"] / unit[1].cpu()[
                    :, None]
                model.start_items_from(low_rank_factors(users, frozen["items"], scfg.dim)[1]
                                       .to(device))

            def served() -> tuple[torch.Tensor, torch.Tensor]:
                return model.user_vectors(sequences), model.items.detach().cpu()

            loss = sequential_distillation(model, sequences, teacher_users, teacher_items,
                                           data.parts["train"], scfg, generator, teacher_topk,
                                           unit)
        else:
            teacher_dim = frozen["items"].shape[1] if scfg.needs_projection else None
            model = IDStudent(len(data.users), len(data.items), scfg.dim, teacher_dim
                              ).to(device)
            if scfg.init == "teacher":
                start_from_teacher(model, frozen["users"], frozen["items"],
                                   None if unit is None else unit[1])

            def served() -> tuple[torch.Tensor, torch.Tensor]:
                return tuple(t.detach().cpu() for t in model())

            loss = student_distillation(model, teacher_users, teacher_items,
                                        data.parts["train"], scfg, generator, teacher_topk,
                                        unit)

        def validate() -> dict[str, float]:
            return evaluate_embeddings(*served(), data.parts["valid"], data.parts["train"],
                                       cfg.evaluation.ks, cfg.evaluation.user_batch_size,
                                       valid_users)

        train_users = torch.from_numpy(data.parts["train"].users_with_items())
        batch = batch_for_steps(len(train_users), scfg.batch_size, scfg.steps_per_epoch)
        _fit_and_save(run, "student", model, loss, (train_users,), validate,
                      scfg.model_copy(update={"batch_size": batch}), metric, generator,
                      fingerprint, progress, cfg.seed, {"batch_size": batch})
        if not distributed_context().is_main:
            return
        users, items = served()
        _place_cold_items(run, items, frozen, cold, scfg, cfg.seed)
        extra = {}
        if scfg.kind == "sequential":  # the test ranks from the history up to the test items
            extra["test_users"] = model.user_vectors(_sequences_through_valid(
                run, data, cfg, pairs, train))
        write_tensors(run.path("student", "embeddings.safetensors"),
                      {"users": users, "items": items, **extra})

    _once(cfg, run, "student", fingerprint,
          ["student/model.safetensors", "student/embeddings.safetensors"], work, every_rank=True)


def _sequences_through_valid(run: RunDir, data: IndexedSplit, cfg: RunConfig,
                             train_pairs: torch.Tensor, train: pd.DataFrame) -> torch.Tensor:
    """Each user's latest ``student.max_length`` items over train and valid, ``[U, L]``: what
    a sequential model reads to predict the test items (SASRec's protocol: the validation
    interaction precedes the test one in the sequence), while validation reads train only."""
    pairs, valid = _train_pairs_and(run, data, TIMESTAMP, cfg.data.interactions,
                                    "student.kind sequential", part="valid")
    both = torch.cat([train_pairs, pairs], dim=1).numpy()
    times = np.concatenate([train[TIMESTAMP].to_numpy(), valid[TIMESTAMP].to_numpy()])
    return latest_sequences(both[0], both[1], times, len(data.users), cfg.student.max_length)


def _place_cold_items(run: RunDir, items: torch.Tensor, teacher_outputs: dict[str, torch.Tensor],
                      cold: np.ndarray, scfg: StudentConfig, seed: int) -> None:
    """Fit the cold-start mapper on the warm items and save it to
    ``student/coldstart.safetensors`` (it also places items added later from their content:
    :meth:`mmgraph.recommender.Recommender.add_items`); overwrite the rows of cold items in
    ``items [I, d_s]`` with its output. No-op without content."""
    content = content_vectors({k: v.cpu() for k, v in teacher_outputs.items()}, _features(run))
    cold_rows = torch.from_numpy(cold)
    if content is None or scfg.coldstart_steps == 0 or bool(cold_rows.all()):
        return
    mapper = fit_coldstart_mapper(content, items, ~cold_rows, scfg.coldstart_steps, seed=seed)
    write_tensors(run.path("student", "coldstart.safetensors"), mapper.state_dict())
    if bool(cold_rows.any()):
        with torch.no_grad():
            items[cold_rows] = mapper(content[cold_rows])
        log.info("student: %d cold items placed from their content", int(cold_rows.sum()))


def index(cfg: RunConfig, run: RunDir, progress: bool = True,
          foldin: dict | None = None) -> None:
    """FAISS index over the student's items; top-K recommendations for every test user; the
    fold-in settings chosen on validation (``index/foldin.json``), or ``foldin`` as given
    (a tuned run's, for a refit)."""
    fingerprint = section_hash(cfg.recommend, cfg.evaluation, cfg.seed,
                               run.fingerprint("student"), repr(foldin))

    def work() -> None:
        data = load_split(run)
        user_vectors, item_vectors, model_hash = served_embeddings(run)
        if foldin is None:
            _tune_foldin(cfg, run, data, item_vectors)
        else:
            write_json(run.path("index", "foldin.json"), foldin)
        retrieval = RetrievalIndex.build(item_vectors, data.items, "ip",
                                         cfg.recommend.index_factory, model_hash)
        retrieval.set_params(**cfg.recommend.index_params)
        retrieval.save(run.path("index"))
        users = data.parts["test"].users_with_items()
        if not len(users):
            log.warning("recommendations.parquet holds the test users' top-%d and no user has "
                        "a test item, so it is empty; `mmgraph recommend` serves any user",
                        cfg.recommend.k)
        items, scores = retrieval.search_users(user_vectors, users, cfg.recommend.k,
                                               data.parts["train"])
        unseen = retrieval.index.ntotal - data.parts["train"].counts[users]
        short = int(((items < 0).sum(1) > np.maximum(items.shape[1] - unseen, 0)).sum())
        if short:  # an approximate index (IVF, HNSW) may find fewer than k unseen items
            log.warning("the index found fewer than %d unseen items for %d of %d test users "
                        "(recommend.index_factory %r): raise its search breadth in "
                        "recommend.index_params (nprobe, efSearch)", items.shape[1], short,
                        len(users), cfg.recommend.index_factory)
        write_parquet(run.path("recommendations.parquet"),
                      recommendation_frame(users, items, scores, data.users,
                                           retrieval.item_ids))
        record_served_files(run)

    _once(cfg, run, "index", fingerprint, ["index/index.faiss", "index/served_files.json",
                                           "index/foldin.json", "recommendations.parquet"],
          work)


def _tune_foldin(cfg: RunConfig, run: RunDir, data: IndexedSplit, items: np.ndarray) -> None:
    """Choose the fold-in settings on validation: the valid users' training histories, folded
    in against the served item vectors, rank their valid items (a seeded sample of at most
    ``FOLDIN_USERS``: 15 settings, each a ranking of the sample); writes the choice and every
    setting's score."""
    metric, train, valid = cfg.evaluation.early_stopping_metric, data.parts["train"], \
        data.parts["valid"]
    if metric in RATING_METRICS:  # a rating run: its served lists rank by predicted rating
        metric = f"ndcg@{max(cfg.evaluation.ks)}"
    users = data.validation_users(min(cfg.evaluation.valid_users, FOLDIN_USERS), cfg.seed)
    users = valid.users_with_items() if users is None else users
    if not len(users):
        write_json(run.path("index", "foldin.json"), FoldIn().to_dict())
        return

    item_table = torch.tensor(items)  # a copy: the served vectors are mapped read-only

    def score(vectors: np.ndarray) -> float:
        full = np.zeros((len(data.users), items.shape[1]), np.float32)
        full[users] = vectors
        return evaluate_embeddings(torch.from_numpy(full), item_table, valid, train,
                                   cfg.evaluation.ks, cfg.evaluation.user_batch_size,
                                   users)[metric]

    best, scores = tune_foldin(items, [train.row(u) for u in users], score)
    write_json(run.path("index", "foldin.json"),
               {**best.to_dict(), f"valid_{metric}_by_setting": scores})
    log.info("index: fold-in %s, valid %s %.4f", best, metric, max(scores.values()))


def evaluate(cfg: RunConfig, run: RunDir, progress: bool = True) -> dict:
    """Full-ranking metrics on valid and test for teacher, student (through the FAISS index,
    as served) and popularity; written to ``metrics.json``."""
    fingerprint = section_hash(cfg.evaluation, run.fingerprint("teacher"),
                               run.fingerprint("index"))

    def work() -> None:
        data = load_split(run)
        if cfg.task == "rating":
            write_json(run.path("metrics.json"), rating.evaluate(run, data, cfg))
            return
        ev, train = cfg.evaluation, data.parts["train"]
        teacher_emb = read_tensors(run.path("teacher", "embeddings.safetensors"))
        user_vectors, _, model_hash = served_embeddings(run)
        test_vectors = read_arrays(run.path("student", "embeddings.safetensors")).get(
            "test_users")  # a sequential student's: its sequences run through valid
        retrieval = RetrievalIndex.load(run.path("index"), expected_model_hash=model_hash)
        retrieval.set_params(**cfg.recommend.index_params)
        popularity = popularity_scores(train, len(data.users))
        metrics: dict[str, dict] = {"teacher": {}, "student": {}, "popularity": {}}
        for part in ("valid", "test"):
            truth = data.parts[part]
            users, k = truth.users_with_items(), max(ev.ks)
            if not len(users):
                log.warning(NO_HELD_OUT_USERS, part, part)
            rankings = {
                "teacher": topk_items(teacher_emb["users"], teacher_emb["items"], users, k,
                                      train, ev.user_batch_size),
                "student": retrieval.search_users(
                    test_vectors if part == "test" and test_vectors is not None
                    else user_vectors, users, k, train)[0],
                "popularity": topk_items(popularity, None, users, k, train, ev.user_batch_size),
            }
            for model_name, top in rankings.items():
                metrics[model_name][part] = {**ranking_metrics(top, users, truth, ev.ks),
                                             **list_metrics(top, train.item_counts, k)}
        metrics["protocol"] = {
            "split": split_description(cfg.split.kind, cfg.split.valid, cfg.split.test,
                                       cfg.seed, cfg.split.train_share),
            "ranking": "full ranking over all items, the user's train items excluded",
            "lists": f"coverage@{max(ev.ks)}: share of the catalogue in some top-{max(ev.ks)} "
                     f"list; popularity@{max(ev.ks)}: mean training count of listed items",
            "users": {p: int(len(data.parts[p].users_with_items())) for p in ("valid", "test")},
            "validation during training": (
                "every valid user" if data.validation_users(ev.valid_users, cfg.seed) is None
                else f"a seeded sample of {ev.valid_users} valid users"),
        }
        write_json(run.path("metrics.json"), metrics)

    _once(cfg, run, "evaluate", fingerprint, ["metrics.json"], work)
    return read_json(run.path("metrics.json"))


#: Stage name → function, in pipeline order (the CLI's subcommands use these names).
STAGES: dict[str, Callable[..., object]] = {
    "split": split, "encode": encode, "graph": graph, "teacher": teacher, "student": student,
    "index": index, "evaluate": evaluate,
}


def run_all(cfg: RunConfig, progress: bool = True) -> dict:
    """Every stage in order, holding the run directory's writer lock (on rank 0, which alone
    writes); returns the metrics."""
    run = RunDir(cfg.run_dir)
    is_main = distributed_context(pick_device(cfg.device)).is_main
    with exclusive_writer(run.root) if is_main else contextlib.nullcontext():
        if is_main:
            if removed := run.remove_stray_temp_files():
                log.info("removed %d temporary file(s) left by an interrupted run", removed)
            run.write_config(resolved_config(cfg, run))
        for stage in STAGES.values():
            result = stage(cfg, run, progress)
        if cfg.final_refit:
            from mmgraph.pipeline.refit import refit

            refit(cfg, run, progress)
    return result
