"""Reading earlier stages' artifacts back from a run directory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from mmgraph.data.ids import IdMap
from mmgraph.data.tables import ITEM, USER
from mmgraph.data.user_items import UserItems
from mmgraph.errors import RunDirError
from mmgraph.io import file_sha256, read_tensors
from mmgraph.pipeline.rundir import RunDir

__all__ = ["IndexedSplit", "load_split", "served_embeddings", "recommendation_frame", "SPLITS"]

SPLITS = ("train", "valid", "test")


@dataclass
class IndexedSplit:
    """The saved split with internal indices: id maps and per-user item sets per part."""

    users: IdMap
    items: IdMap
    parts: dict[str, UserItems]

    @property
    def train_pairs(self) -> torch.Tensor:
        """Training interactions as ``[2, E]`` (user index, item index)."""
        train = self.parts["train"]
        users = np.repeat(np.arange(train.num_users), train.counts)
        return torch.from_numpy(np.stack([users, train.indices]))

    def validation_users(self, limit: int, seed: int) -> np.ndarray | None:
        """Users ranked by validation during training: every user with valid items (``None``),
        or a seeded sample of ``limit`` of them (sorted) when there are more."""
        users = self.parts["valid"].users_with_items()
        if len(users) <= limit:
            return None
        return np.sort(np.random.default_rng(seed).choice(users, limit, replace=False))


def load_split(run: RunDir) -> IndexedSplit:
    """Id maps and train/valid/test item sets from ``ids/`` and ``splits/``."""
    run.fingerprint("split")
    users = IdMap.load(run.path("ids", "users.parquet"))
    items = IdMap.load(run.path("ids", "items.parquet"))
    parts = {}
    for name in SPLITS:
        path = run.path("splits", f"{name}.parquet")
        if not path.is_file():
            raise RunDirError(f"{path} is missing: rerun `mmgraph split`.")
        frame = pd.read_parquet(path, columns=[USER, ITEM])
        parts[name] = UserItems(users.indices(frame[USER], str(path)),
                                items.indices(frame[ITEM], str(path)), len(users), len(items))
    return IndexedSplit(users, items, parts)


def served_embeddings(run: RunDir, model: str = "student"
                      ) -> tuple[np.ndarray, np.ndarray, str]:
    """A finished ``model``'s (``student`` or ``teacher``) user ``[U, d]`` and item ``[I, d]``
    vectors as served, and the hash of the file they came from (the index's model hash)."""
    run.fingerprint(model)  # a clear error unless that stage finished
    path = run.path(model, "embeddings.safetensors")
    tensors = read_tensors(path)
    return tensors["users"].numpy(), tensors["items"].numpy(), file_sha256(path)


def recommendation_frame(users: np.ndarray, items: np.ndarray, scores: np.ndarray,
                         data: IndexedSplit) -> pd.DataFrame:
    """``user_id, item_id, rank, score`` rows (original ids) from search results: ``users [B]``
    internal indices, ``items``/``scores [B, k]``; empty slots (``-1``) are dropped."""
    rows, ranks = np.nonzero(items >= 0)
    return pd.DataFrame({USER: data.users.to_ids(users[rows]),
                         ITEM: data.items.to_ids(items[rows, ranks]),
                         "rank": ranks + 1, "score": scores[rows, ranks].astype(np.float32)})
