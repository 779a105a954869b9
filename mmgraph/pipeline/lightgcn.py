"""The LightGCN component of the teacher: its model and graphs from the run, and its training
(content fused into items and/or propagated over the item–item graph)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch_geometric.data import HeteroData

from mmgraph.evaluation.ranking import evaluate_embeddings
from mmgraph.graph.adjacency import BipartiteAdjacency, bipartite_adjacency, item_adjacency
from mmgraph.graph.build import INTERACTS, SIMILAR
from mmgraph.models.spectral import spectral_start
from mmgraph.models.teacher import MultimodalTeacher
from mmgraph.pipeline.fitting import fit_and_save
from mmgraph.pipeline.inputs import features as run_features
from mmgraph.pipeline.runner import StageContext
from mmgraph.pipeline.shards import UserShard
from mmgraph.pipeline.warm import WarmStart
from mmgraph.runs import IndexedSplit, layout
from mmgraph.runtime import seed_everything
from mmgraph.training.distributed import Distributed, all_reduce
from mmgraph.training.loop import batch_for_steps
from mmgraph.training.teacher_objectives import teacher_ranking_loss, teacher_whole_data_loss

__all__ = ["LightGCNInputs", "lightgcn_inputs", "TrainedLightGCN", "train_lightgcn"]


class LightGCNInputs(NamedTuple):
    """The teacher and what it propagates over: the user–item adjacency, the fused content
    features (``{}`` unless content is fused) and the item–item adjacency (``None`` without
    one); under torchrun the model's user rows and the adjacency are ``shard``'s users'."""

    model: MultimodalTeacher
    adjacency: BipartiteAdjacency
    features: dict[str, torch.Tensor]
    item_adjacency: torch.Tensor | None
    shard: UserShard


class TrainedLightGCN(NamedTuple):
    """A trained LightGCN's users ``[U, d]`` and items ``[I, d]``, its content tower's output
    ``[I, d]`` (``None`` without fused content) and the epochs it ran."""

    users: torch.Tensor
    items: torch.Tensor
    content: torch.Tensor | None
    epochs: int


def lightgcn_inputs(ctx: StageContext, data: IndexedSplit, built: HeteroData,
                    warm: WarmStart | None = None, by_user: bool = True) -> LightGCNInputs:
    """The LightGCN teacher of ``ctx.cfg.teacher`` (spectrally started if so configured, then
    from ``warm``'s trained teacher where it knows the users and items) and its graphs, on
    ``ctx.device``. Under torchrun and ``by_user``, sharded by user: this rank's users'
    interactions and user rows (of the same start as one process's), items whole; else every
    rank holds the whole graph (data parallel)."""
    tcfg, device = ctx.cfg.teacher, ctx.device
    features = ({k: v.to(device) for k, v in run_features(ctx.run).items()}
                if tcfg.content == "fused" else {})
    shard = UserShard.of(len(data.users), ctx.dist if by_user else Distributed())
    weight = built[INTERACTS].get("edge_weight")
    pairs, *weights = shard.local(built[INTERACTS].edge_index,
                                  *([] if weight is None else [weight]))
    adjacency = bipartite_adjacency(pairs, len(shard.users), len(data.items),
                                    weights[0] if weights else None,
                                    all_reduce if shard.ctx.enabled else None).to(device)
    item_adj = None
    if tcfg.item_graph and tcfg.content != "none" and SIMILAR in built.edge_types:
        item_adj = item_adjacency(built[SIMILAR].edge_index, built[SIMILAR].edge_weight,
                                  len(data.items)).to(device)
    model = MultimodalTeacher(len(data.users), len(data.items), tcfg.dim, tcfg.layers,
                              {k: v.shape[1] for k, v in features.items()}, tcfg.fusion,
                              tcfg.item_layers, tcfg.fusion_level)
    if tcfg.init == "spectral":
        users, items = spectral_start(data.train_pairs, len(data.users), len(data.items),
                                      tcfg.dim, seed=ctx.cfg.seed)
        with torch.no_grad():
            model.user_embedding.weight.copy_(users)
            model.item_embedding.weight.copy_(items)
    if warm is not None:
        warm.start(model, layout.TEACHER_MODEL, data)
    shard.own_rows(model)
    return LightGCNInputs(model.to(device), adjacency, features, item_adj, shard)


def train_lightgcn(ctx: StageContext, data: IndexedSplit, built: HeteroData, fingerprint: str,
                   valid_users: np.ndarray | None, deadline: float | None = None,
                   warm: WarmStart | None = None) -> TrainedLightGCN | None:
    """Train the LightGCN component of ``ctx.cfg.teacher`` (from ``warm``'s, when given),
    validating on ``valid_users``, until early stopping or the first validation past
    ``deadline``; ``None`` on ranks other than 0."""
    cfg = ctx.cfg
    tcfg, metric = cfg.teacher, cfg.evaluation.early_stopping_metric
    seed_everything(cfg.seed)  # the same start whatever ran before it
    model, adjacency, features, item_adj, shard = lightgcn_inputs(ctx, data, built, warm)
    generator = torch.Generator().manual_seed(cfg.seed + ctx.dist.rank)

    def embeddings() -> tuple[torch.Tensor, torch.Tensor]:
        """Every user's and item's propagated rows (sharded: the users' gathered)."""
        with torch.no_grad():
            users, items = model(adjacency, features, item_adj)
        return shard.gather(users.cpu()), items.cpu()

    def validate() -> dict[str, float]:  # sharded: every rank alike, on every user's rows
        return evaluate_embeddings(*embeddings(), data.parts["valid"], data.parts["train"],
                                   cfg.evaluation.ks, cfg.evaluation.user_batch_size,
                                   valid_users)

    pairs = shard.local(data.train_pairs)[0]
    seen = shard.user_items(data)
    edges, replicas = data.train_pairs.shape[1], ctx.dist.world_size
    if tcfg.loss == "whole":  # one full-batch step per epoch
        loss = teacher_whole_data_loss(model, adjacency, features, item_adj, pairs.shape[1],
                                       tcfg.unobserved_weight, tcfg.optim.reg, edges, replicas)
        batch = edges
    else:
        loss = teacher_ranking_loss(model, adjacency, features, item_adj, seen, tcfg.optim.reg,
                                    generator, tcfg.loss, tcfg.num_negatives,
                                    tcfg.softmax_temperature, replicas)
        batch = batch_for_steps(edges, tcfg.optim.batch_size,
                                tcfg.optim.propagations_per_epoch)
    sharded, trained = shard.training(model, embeddings)
    result = fit_and_save(ctx, "teacher", model, loss, tuple(pairs), validate,
                          tcfg.optim.model_copy(update={"batch_size": batch}), metric, generator,
                          fingerprint, {"modalities": sorted(features), "batch_size": batch},
                          deadline=deadline, sharded=sharded)
    if result is None:
        return None
    users, items = trained()
    with torch.no_grad():
        content = model.content_vector(features)
    return TrainedLightGCN(users, items, None if content is None else content.cpu(),
                           result.history[-1]["epoch"])
