"""The rating task (``task: rating``): the teacher, student and evaluation stages' work.

The split, encoders, graph, index and export stages are the ranking pipeline's; these replace
what the teacher, student and evaluate stages train and measure:

- **teacher**: LightGCN (content fused as configured, over the same graphs) plus a global
  mean and user/item biases (:mod:`mmgraph.models.rating`), fitted to the training ratings by
  mean squared error, early-stopped on the valid RMSE or MAE.
- **student**: ID tables plus biases (``student.dim``), fitted to the true ratings (hard
  labels, ``student.kd_weight`` 0), to the teacher's predictions (soft labels, 1: on the
  batch's rated pairs and as many unrated pairs drawn at random, where only the teacher can
  teach), or to a mix: ``(1 - w) * MSE(true) + w * MSE(teacher)``.
- **evaluate**: MAE and RMSE of teacher, student and the training mean on valid and test.

Both models save augmented embeddings whose dot products are the predicted ratings, so the
index stage ranks a user's items by predicted rating and serves them as usual.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from typing import Callable

from torch_geometric.data import HeteroData

from mmgraph.data.split import split_description
from mmgraph.data.tables import ITEM, RATING, USER
from mmgraph.errors import ConfigError, DataError
from mmgraph.io import read_json, read_tensors, write_json, write_tensors
from mmgraph.models.rating import Biases, augmented, predicted_ratings
from mmgraph.models.student import IDStudent
from mmgraph.pipeline.fitting import fit_and_save
from mmgraph.pipeline.lightgcn import lightgcn_inputs
from mmgraph.pipeline.runner import StageContext
from mmgraph.runs import IndexedSplit, RunDir, layout
from mmgraph.training.loop import batch_for_steps

__all__ = ["rated_pairs", "rating_errors", "train_teacher", "train_student", "evaluate"]


def rated_pairs(run: RunDir, data: IndexedSplit, part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A split part's pairs ``[2, E]`` (indices) and ratings ``[E]`` (float32)."""
    path = run.path(layout.split_part(part))
    frame = pd.read_parquet(path)
    if RATING not in frame:
        raise DataError(f"task rating predicts ratings, but {path} has none: name the rating "
                        f"column in data.columns.rating (and rerun the split stage).")
    ratings = frame[RATING].to_numpy(np.float64)
    if not np.isfinite(ratings).all():
        raise DataError(f"{path} holds ratings that are not finite numbers; fix the "
                        f"interactions table's rating column.")
    pairs = np.stack([data.users.indices(frame[USER], str(path)),
                      data.items.indices(frame[ITEM], str(path))])
    return torch.from_numpy(pairs), torch.from_numpy(ratings.astype(np.float32))


def rating_errors(users: torch.Tensor, items: torch.Tensor, pairs: torch.Tensor,
                  ratings: torch.Tensor) -> dict[str, float]:
    """MAE and RMSE of the augmented embeddings' predictions on ``pairs`` (0.0 without any)."""
    if not len(ratings):
        return {"mae": 0.0, "rmse": 0.0}
    error = predicted_ratings(users, items, pairs) - ratings
    return {"mae": float(error.abs().mean()), "rmse": float(error.pow(2).mean().sqrt())}


def train_teacher(ctx: StageContext, data: IndexedSplit, built: HeteroData, fingerprint: str,
                  filter_settings: dict | None = None, warm: object | None = None) -> None:
    """Fit the rating teacher (module docstring); write ``teacher/`` like the ranking one
    (``filter_settings``: unused, the rating teacher has no filter; ``warm``: refused, an
    update of a rating run is not supported)."""
    if warm is not None:
        raise ConfigError("mmgraph update continues ranking runs; a rating run (task: "
                          "rating) is retrained with `mmgraph run` on its grown table.")
    cfg, run, device = ctx.cfg, ctx.run, ctx.device
    tcfg, metric = cfg.teacher, cfg.evaluation.early_stopping_metric
    optim = tcfg.optim
    # data parallel under torchrun: the rating loss is not sharded by user
    model, adjacency, features, item_adj, _ = lightgcn_inputs(ctx, data, built, by_user=False)
    pairs, ratings = rated_pairs(run, data, "train")
    model.biases = Biases(len(data.users), len(data.items), float(ratings.mean())).to(device)
    valid_pairs, valid_ratings = rated_pairs(run, data, "valid")

    def served() -> tuple[torch.Tensor, torch.Tensor]:
        users, items = model(adjacency, features, item_adj)
        return augmented(users, items, model.biases)

    def loss(users: torch.Tensor, items: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        users, items, targets = users.to(device), items.to(device), targets.to(device)
        user_out, item_out = model(adjacency, features, item_adj)
        predicted = (user_out[users] * item_out[items]).sum(-1) + model.biases(users, items)
        penalty = model.ego_norms(users, items, features) + model.biases.norms(users, items)
        return (predicted - targets).pow(2).mean() + optim.reg * penalty / (2 * len(users))

    def validate() -> dict[str, float]:
        with torch.no_grad():
            return rating_errors(*(t.cpu() for t in served()), valid_pairs, valid_ratings)

    batch = batch_for_steps(len(ratings), optim.batch_size, optim.propagations_per_epoch)
    generator = torch.Generator().manual_seed(cfg.seed)
    fit_and_save(ctx, "teacher", model, loss, (pairs[0], pairs[1], ratings), validate,
                 optim.model_copy(update={"batch_size": batch}), metric, generator, fingerprint,
                 {"modalities": sorted(features), "batch_size": batch}, maximize=False)
    if not ctx.dist.is_main:
        return
    with torch.no_grad():
        users, items = (t.cpu() for t in served())
        content = model.content_vector(features)
        content = None if content is None else content.cpu()
    write_tensors(run.path(layout.TEACHER_EMBEDDINGS),
                  {"users": users, "items": items,
                   **({} if content is None else {"content": content})})
    state_path = run.path(layout.TEACHER_STATE)
    state = read_json(state_path)
    score = rating_errors(users, items, valid_pairs, valid_ratings)[metric]
    write_json(state_path, {**state, "components": ["lightgcn"], "weights": {"lightgcn": 1.0},
                            f"valid_{metric}_by_component": {"lightgcn": score}})


def train_student(ctx: StageContext, data: IndexedSplit, frozen: dict[str, torch.Tensor],
                  fingerprint: str, place_cold: Callable[[torch.Tensor], None],
                  warm: object | None = None) -> dict[str, torch.Tensor] | None:
    """Fit the rating student (module docstring) to the teacher's augmented ``frozen`` users
    and items; returns its own augmented ``users`` and ``items`` (the cold items' rows placed
    by ``place_cold``), ``None`` on ranks other than 0."""
    cfg, run, device = ctx.cfg, ctx.run, ctx.device
    scfg, metric = cfg.student, cfg.evaluation.early_stopping_metric
    optim = scfg.optim
    teacher_users, teacher_items = frozen["users"].to(device), frozen["items"].to(device)
    pairs, ratings = rated_pairs(run, data, "train")
    valid_pairs, valid_ratings = rated_pairs(run, data, "valid")
    model = IDStudent(len(data.users), len(data.items), scfg.dim).to(device)
    model.biases = Biases(len(data.users), len(data.items), float(ratings.mean()),
                          sparse=True).to(device)
    generator = torch.Generator().manual_seed(cfg.seed)
    num_items = len(data.items)

    def predict(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return ((model.user_embedding(users) * model.item_embedding(items)).sum(-1)
                + model.biases(users, items))

    def loss(users: torch.Tensor, items: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        users, items, targets = users.to(device), items.to(device), targets.to(device)
        predicted = predict(users, items)
        total = (1 - scfg.kd_weight) * (predicted - targets).pow(2).mean()
        if scfg.kd_weight > 0:
            unrated = torch.randint(num_items, (len(users),), generator=generator).to(device)
            both_users, both_items = torch.cat([users, users]), torch.cat([items, unrated])
            with torch.no_grad():
                taught = (teacher_users[both_users] * teacher_items[both_items]).sum(-1)
            soft = torch.cat([predicted, predict(users, unrated)]) - taught
            total = total + scfg.kd_weight * soft.pow(2).mean()
        penalty = (model.user_embedding(users).pow(2).sum()
                   + model.item_embedding(items).pow(2).sum() + model.biases.norms(users, items))
        return total + optim.reg * penalty / (2 * len(users))

    def served() -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(t.detach().cpu() for t in augmented(*model(), model.biases))

    def validate() -> dict[str, float]:
        with torch.no_grad():
            return rating_errors(*served(), valid_pairs, valid_ratings)

    batch = batch_for_steps(len(ratings), optim.batch_size, optim.steps_per_epoch)
    fit_and_save(ctx, "student", model, loss, (pairs[0], pairs[1], ratings), validate,
                 optim.model_copy(update={"batch_size": batch}), metric, generator, fingerprint,
                 {"batch_size": batch}, maximize=False)
    if not ctx.dist.is_main:
        return None
    with torch.no_grad():
        users, items = (t.detach() for t in served())
    place_cold(items)
    return {"users": users, "items": items}


def evaluate(ctx: StageContext, data: IndexedSplit) -> dict:
    """MAE/RMSE of teacher, student and the training mean on valid and test."""
    cfg, run = ctx.cfg, ctx.run
    teacher = read_tensors(run.path(layout.TEACHER_EMBEDDINGS))
    student = read_tensors(run.path(layout.STUDENT_EMBEDDINGS))
    _, train_ratings = rated_pairs(run, data, "train")
    mean = float(train_ratings.mean())
    metrics: dict[str, dict] = {"teacher": {}, "student": {}, "training mean": {}}
    counts = {}
    for part in ("valid", "test"):
        pairs, ratings = rated_pairs(run, data, part)
        counts[part] = len(ratings)
        metrics["teacher"][part] = rating_errors(teacher["users"], teacher["items"], pairs,
                                                 ratings)
        metrics["student"][part] = rating_errors(student["users"], student["items"], pairs,
                                                 ratings)
        error = ratings - mean
        metrics["training mean"][part] = {
            "mae": float(error.abs().mean()) if len(error) else 0.0,
            "rmse": float(error.pow(2).mean().sqrt()) if len(error) else 0.0}
    metrics["protocol"] = {
        "task": "rating: predicted ratings of the held-out (user, item) pairs, MAE and RMSE",
        "split": split_description(cfg.split.kind, cfg.split.valid, cfg.split.test, cfg.seed,
                                  cfg.split.train_share),
        "pairs": counts}
    return metrics
