"""Build, save and load the recommendation graph as a torch_geometric ``HeteroData``.

Edge types:
- ``('user', 'interacts', 'item')``: training interactions, deduplicated, optionally weighted;
- ``('item', 'similar_<modality>', 'item')``: cosine kNN per content modality;
- ``('item', 'similar', 'item')``: kNN over all modalities fused (concatenated, normalised).

Graphs are stored as safetensors + JSON: loading never executes code (unlike pickle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch_geometric.data import HeteroData
from torch_geometric.utils import coalesce

from mmgraph.data.ids import IdMap
from mmgraph.data.tables import ITEM, USER
from mmgraph.errors import DataError
from mmgraph.graph.knn import knn_graph
from mmgraph.io import read_json, read_tensors, write_json, write_tensors
from mmgraph.runs import layout

__all__ = ["build_item_graph", "save_graph", "load_graph", "INTERACTS", "SIMILAR"]

INTERACTS = ("user", "interacts", "item")
SIMILAR = ("item", "similar", "item")


def build_item_graph(user_item: torch.Tensor | pd.DataFrame, num_users: int | None = None,
                     num_items: int | None = None,
                     features: dict[str, torch.Tensor] | None = None, k: int = 10,
                     interaction_weight: torch.Tensor | None = None,
                     masks: dict[str, torch.Tensor] | None = None,
                     exact_items: int = 50_000, item_ids: Sequence | None = None) -> HeteroData:
    """Graph of users and items from interactions plus content kNN graphs.

    Args:
        user_item: ``[2, E]`` (user index, item index) training interactions, with
            ``num_users`` and ``num_items``; or a DataFrame with ``user_id`` and ``item_id``
            columns of original ids (then ``graph["user"].ids`` and ``graph["item"].ids``,
            :class:`~mmgraph.data.ids.IdMap` objects, map node indices back to them).
        features: modality → ``[num_items, d_m]`` features; none gives a user–item graph only.
            With a DataFrame, rows follow ``item_ids`` (every item of the frame among them),
            or the items' first appearance in the frame without it.
        k: neighbours per item in each kNN graph.
        interaction_weight: optional ``[E]`` edge weights (e.g. ratings); duplicates keep the
            largest.
        masks: modality → ``[num_items]`` bool, items that have that modality's media; items
            without it get no edges in that modality's kNN graph.
        exact_items: past this many items the kNN search is approximate (FAISS HNSW).
    """
    if isinstance(user_item, pd.DataFrame):
        users, items, user_item = _indexed(user_item, item_ids)
        graph = build_item_graph(user_item, len(users), len(items), features, k,
                                 interaction_weight, masks, exact_items)
        graph["user"].ids, graph["item"].ids = users, items
        return graph
    if num_users is None or num_items is None:
        raise TypeError("build_item_graph: a [2, E] tensor of indices needs num_users and "
                        "num_items (or pass a DataFrame of user_id, item_id).")
    graph = HeteroData()
    graph["user"].num_nodes = num_users
    graph["item"].num_nodes = num_items
    store = graph[INTERACTS]
    edge_index, edge_weight = coalesce(user_item.long(), interaction_weight,
                                       max(num_users, num_items), reduce="max")
    store.edge_index = edge_index
    if edge_weight is not None:
        store.edge_weight = edge_weight
    features, masks = features or {}, masks or {}
    for modality, matrix in features.items():
        store = graph["item", f"similar_{modality}", "item"]
        store.edge_index, store.edge_weight = knn_graph(matrix, k, mask=masks.get(modality),
                                                        exact_items=exact_items)
    if features:
        fused = torch.cat([F.normalize(m.float(), dim=-1) for m in features.values()], dim=1)
        any_content = None if set(features) - set(masks) else torch.stack(
            [masks[m] for m in features]).any(0)
        graph[SIMILAR].edge_index, graph[SIMILAR].edge_weight = knn_graph(
            fused, k, mask=any_content, exact_items=exact_items)
    return graph


def _indexed(interactions: pd.DataFrame, item_ids: Sequence | None
             ) -> tuple[IdMap, IdMap, torch.Tensor]:
    """User and item id maps of ``interactions`` (items: ``item_ids`` when given) and its
    ``[2, E]`` index pairs."""
    missing = [column for column in (USER, ITEM) if column not in interactions.columns]
    if missing:
        raise DataError(f"build_item_graph: the interactions frame has no {missing} column; "
                        f"it has {list(interactions.columns)}.")
    users = IdMap(pd.unique(interactions[USER]), USER)
    items = IdMap(pd.unique(interactions[ITEM]) if item_ids is None else list(item_ids), ITEM)
    pairs = np.stack([users.indices(interactions[USER], "build_item_graph"),
                      items.indices(interactions[ITEM], "build_item_graph",
                                    "Every interacted item must be among item_ids.")])
    return users, items, torch.from_numpy(pairs)


def _key(edge_type: tuple[str, str, str]) -> str:
    return "__".join(edge_type)


def save_graph(graph: HeteroData, folder: str | Path) -> None:
    folder = Path(folder)
    tensors, edge_types = {}, []
    for edge_type in graph.edge_types:
        edge_types.append(list(edge_type))
        for attr in ("edge_index", "edge_weight"):
            if attr in graph[edge_type]:
                tensors[f"{_key(edge_type)}.{attr}"] = graph[edge_type][attr]
    write_tensors(folder / layout.GRAPH_TENSORS_NAME, tensors)
    write_json(folder / layout.GRAPH_META_NAME, {
        "num_nodes": {t: int(graph[t].num_nodes) for t in graph.node_types},
        "edge_types": edge_types,
        "num_edges": {_key(t): int(graph[t].num_edges) for t in graph.edge_types},
    })


def load_graph(folder: str | Path) -> HeteroData:
    folder = Path(folder)
    meta = read_json(folder / layout.GRAPH_META_NAME)
    tensors = read_tensors(folder / layout.GRAPH_TENSORS_NAME)
    graph = HeteroData()
    for node_type, count in meta["num_nodes"].items():
        graph[node_type].num_nodes = count
    for edge_type in map(tuple, meta["edge_types"]):
        for attr in ("edge_index", "edge_weight"):
            name = f"{_key(edge_type)}.{attr}"
            if name in tensors:
                graph[edge_type][attr] = tensors[name]
    return graph
