"""The ranking student: ID embeddings (or a sequential transformer over each user's latest
items) distilled from the frozen teacher's embeddings."""

from __future__ import annotations

import functools
import logging
from typing import Callable

import numpy as np
import pandas as pd
import torch

from mmgraph.data.tables import TIMESTAMP
from mmgraph.distill.item_norms import (choose_item_scaling, exposure, match_exposure,
                                        rescale_items, scaling_name)
from mmgraph.distill.soft_labels import teacher_top_scores
from mmgraph.distill.warm_start import start_from_teacher
from mmgraph.evaluation.ranking import evaluate_embeddings, topk_items
from mmgraph.errors import ConfigError, DataError
from mmgraph.evaluation.metrics import list_metrics, ranking_metrics
from mmgraph.io import read_json, write_json
from mmgraph.models.sequential import SequentialStudent, latest_sequences
from mmgraph.models.student import IDStudent, low_rank_factors
from mmgraph.pipeline.fitting import fit_and_save
from mmgraph.pipeline.inputs import pairs_with_column
from mmgraph.pipeline.runner import StageContext
from mmgraph.pipeline.shards import UserShard
from mmgraph.pipeline.warm import WarmStart
from mmgraph.runs import IndexedSplit, layout
from mmgraph.training.distributed import Distributed
from mmgraph.training.loop import batch_for_steps
from mmgraph.training.objectives import sequential_distillation, student_distillation

__all__ = ["train_student"]

log = logging.getLogger(__name__)

Vectors = dict[str, torch.Tensor]


def train_student(ctx: StageContext, data: IndexedSplit, frozen: Vectors, fingerprint: str,
                  place_cold: Callable[[torch.Tensor], None], warm: WarmStart | None = None
                  ) -> Vectors | None:
    """Distill the student of ``student.kind`` from the teacher's ``frozen`` users and items
    (an ID student with ``init: random`` from ``warm``'s trained one where it knows the users
    and items, when given; with ``init: teacher`` from this teacher's factorisation, which an
    update's replay scored higher than the previous student: ``mmgraph.pipeline.update``);
    returns its served ``users [U, d_s]`` and ``items [I, d_s]`` with the cold items'
    rows placed by ``place_cold`` (in place; a sequential student's item table is that tensor,
    so its ``test_users``, read from sequences through valid, see the placed vectors too);
    ``None`` on ranks other than 0."""
    cfg, device = ctx.cfg, ctx.device
    scfg, metric = cfg.student, cfg.evaluation.early_stopping_metric
    generator = torch.Generator().manual_seed(cfg.seed + ctx.dist.rank)
    # under torchrun the ID student is sharded by user: each rank its users' soft labels,
    # interactions and rows (the sequential student has no user table: data parallel)
    shard = UserShard.of(len(data.users), ctx.dist if scfg.kind == "id" else Distributed())
    mine, seen = slice(shard.users.start, shard.users.stop), shard.user_items(data)
    teacher_topk = None
    depth = max(scfg.kd_topk if scfg.kd_weight > 0 else 0,
                scfg.rd_topk if scfg.rd_weight > 0 else 0)
    if depth > 0:  # the teacher's top unseen items: soft-label candidates, RD targets
        top = topk_items(frozen["users"], frozen["items"], np.arange(len(data.users))[mine],
                         depth, data.parts["train"], cfg.evaluation.user_batch_size)
        teacher_topk = torch.from_numpy(top).to(device)
    teacher_users, teacher_items = frozen["users"][mine].to(device), frozen["items"].to(device)
    unit = None  # each user's soft-label unit, once for the start and the loss
    if teacher_topk is not None and scfg.kd_weight > 0 and scfg.kd_topk > 0:
        unit = teacher_top_scores(teacher_users, teacher_items, teacher_topk[:, :scfg.kd_topk])
    valid_users = data.validation_users(cfg.evaluation.valid_users, cfg.seed)
    if scfg.kind == "sequential" and warm is not None:
        raise ConfigError("mmgraph update continues the ID student; a sequential student "
                          "(student.kind: sequential) is retrained with `mmgraph run`.")
    if scfg.kind == "sequential":
        pairs, train = pairs_with_column(ctx.run, data, TIMESTAMP, cfg.data.interactions,
                                         "student.kind sequential")
        sequences = latest_sequences(pairs[0].numpy(), pairs[1].numpy(),
                                     train[TIMESTAMP].to_numpy(), len(data.users),
                                     scfg.max_length)
        if scfg.kd_weight == 0 and not bool(((sequences[:, 1:] > 0)
                                             & (sequences[:, :-1] > 0)).any()):
            raise DataError("student.kind sequential with kd_weight 0 learns which item comes "
                            "next, but no user has two training interactions here (each "
                            "keeps one after the split); give users longer histories, or "
                            "set student.kd_weight above 0 to learn from the teacher.")
        model = SequentialStudent(len(data.items), scfg.dim, scfg.max_length, scfg.layers,
                                  scfg.heads, scfg.dropout).to(device)
        if scfg.init == "teacher":
            users = frozen["users"] if unit is None else frozen["users"] / unit[1].cpu()[:, None]
            model.start_items_from(low_rank_factors(users, frozen["items"], scfg.dim)[1]
                                   .to(device))

        def served() -> tuple[torch.Tensor, torch.Tensor]:
            return model.user_vectors(sequences), model.items.detach().cpu()

        loss = sequential_distillation(model, sequences, teacher_users, teacher_items,
                                       data.parts["train"], scfg, generator, teacher_topk, unit)
    else:
        teacher_dim = frozen["items"].shape[1] if scfg.needs_projection else None
        model = IDStudent(len(data.users), len(data.items), scfg.dim, teacher_dim).to(device)
        if scfg.init == "teacher":  # every user's start, as in one process
            start_from_teacher(model, frozen["users"], frozen["items"],
                               None if unit is None else shard.gather(unit[1]))
        if warm is not None and scfg.init == "random":  # else the updated teacher's start
            warm.start(model, layout.STUDENT_MODEL, data)
        shard.own_rows(model)

        def served() -> tuple[torch.Tensor, torch.Tensor]:
            users, items = (t.detach().cpu() for t in model())
            return shard.gather(users), items

        distillation = student_distillation(model, teacher_users, teacher_items, seen, scfg,
                                            generator, teacher_topk, unit)

        def loss(users: torch.Tensor) -> torch.Tensor:  # this rank's share of the batch's
            return distillation(users) / shard.ctx.world_size

    def validate() -> dict[str, float]:
        return evaluate_embeddings(*served(), data.parts["valid"], data.parts["train"],
                                   cfg.evaluation.ks, cfg.evaluation.user_batch_size,
                                   valid_users)

    train_users = torch.from_numpy(seen.users_with_items())
    optim = scfg.optim
    batch = batch_for_steps(len(data.parts["train"].users_with_items()), optim.batch_size,
                            optim.steps_per_epoch)
    sharded, trained = shard.training(model, served)
    fit_and_save(ctx, "student", model, loss, (train_users,), validate,
                 optim.model_copy(update={"batch_size": batch}), metric, generator, fingerprint,
                 {"batch_size": batch}, sharded=sharded)
    if not ctx.dist.is_main:
        return None
    users, items = trained()
    if scfg.kind == "id":
        items = _rescaled_items(ctx, data, users, items, frozen, valid_users)
    place_cold(items)
    vectors = {"users": users, "items": items}
    if scfg.kind == "sequential":  # the test ranks from the history up to the test items
        vectors["test_users"] = model.user_vectors(_sequences_through_valid(ctx, data, pairs,
                                                                            train))
    return vectors


def _rescaled_items(ctx: StageContext, data: IndexedSplit, users: torch.Tensor,
                    items: torch.Tensor, frozen: Vectors, valid_users: np.ndarray | None
                    ) -> torch.Tensor:
    """The trained ``items [I, d_s]`` as served (:mod:`mmgraph.distill.item_norms`): scaled to
    the teacher's exposure when ``student.match_teacher_exposure`` says so, then divided by
    their norms to ``student.item_norm_exponent`` (``auto``: both chosen on the validation
    users against the teacher's coverage of the catalogue); the choice and its search added
    to ``student/state.json``."""
    scfg, ev, train = ctx.cfg.student, ctx.cfg.evaluation, data.parts["train"]
    k, batch = max(ev.ks), ev.user_batch_size
    exponent, matching = scfg.item_norm_exponent, scfg.match_teacher_exposure
    scored = data.parts["valid"].users_with_items() if valid_users is None else valid_users
    if exponent == "auto" and not len(scored):
        exponent = 0.0  # nothing to choose on
    @functools.cache
    def exposure_matched() -> torch.Tensor:
        """``items`` matched to the teacher's exposure, fitted on first use on training users
        (a refit, which has no valid, matches alike)."""
        sample = data.validation_users(ev.valid_users, ctx.cfg.seed, "train")
        among = train.users_with_items() if sample is None else sample

        def student_lists(table: torch.Tensor) -> np.ndarray:
            return topk_items(users, table, among, k, train, batch)

        teacher = topk_items(frozen["users"], frozen["items"], among, k, train, batch)
        return match_exposure(items, student_lists, exposure(teacher, len(items)))

    record: dict = {}
    if exponent == "auto":
        name = f"coverage@{k}"

        def lists(user_table: torch.Tensor, item_table: torch.Tensor) -> np.ndarray:
            return topk_items(user_table, item_table, scored, k, train, batch)

        target = list_metrics(lists(frozen["users"], frozen["items"]), train.item_counts,
                              k)[name]

        def score(candidate: float, is_matched: bool) -> tuple[float, float]:
            top = lists(users, rescale_items(exposure_matched() if is_matched else items,
                                             candidate))
            return (ranking_metrics(top, scored, data.parts["valid"],
                                    ev.ks)[ev.early_stopping_metric],
                    list_metrics(top, train.item_counts, k)[name])

        exponent, matching, scores = choose_item_scaling(score, target, matching is not False)
        record["item_norm_search"] = {f"teacher_valid_{name}": target,
                                      f"valid_{ev.early_stopping_metric}_and_{name}": scores}
        chosen = scores[scaling_name(exponent, matching)]
        log.info("student: item norm exponent %s%s (valid %s %.4f against the teacher's %.4f)",
                 exponent, ", exposure matched" if matching else "", name,
                 chosen["coverage"], target)
    matching = matching is True
    path = ctx.run.path(layout.STUDENT_STATE)
    write_json(path, {**read_json(path), "item_norm_exponent": exponent,
                      "match_teacher_exposure": matching, **record})
    return rescale_items(exposure_matched() if matching else items, exponent)


def _sequences_through_valid(ctx: StageContext, data: IndexedSplit, train_pairs: torch.Tensor,
                             train: pd.DataFrame) -> torch.Tensor:
    """Each user's latest ``student.max_length`` items over train and valid, ``[U, L]``: what
    a sequential model reads to predict the test items (SASRec's protocol: the validation
    interaction precedes the test one in the sequence), while validation reads train only."""
    cfg = ctx.cfg
    pairs, valid = pairs_with_column(ctx.run, data, TIMESTAMP, cfg.data.interactions,
                                     "student.kind sequential", part="valid")
    both = torch.cat([train_pairs, pairs], dim=1).numpy()
    times = np.concatenate([train[TIMESTAMP].to_numpy(), valid[TIMESTAMP].to_numpy()])
    return latest_sequences(both[0], both[1], times, len(data.users), cfg.student.max_length)
