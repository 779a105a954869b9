"""Reading a run's artifacts back: the indexed split, the served embeddings, and the
integrity record of the files a server reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mmgraph.data.ids import IdMap
from mmgraph.data.tables import ITEM, USER
from mmgraph.data.user_items import UserItems
from mmgraph.errors import RunDirError
from mmgraph.io import file_sha256, read_arrays, read_json, read_parquet, write_json
from mmgraph.runs import layout
from mmgraph.runs.rundir import RunDir

if TYPE_CHECKING:  # imported where used: serving starts without torch
    import torch

__all__ = ["IndexedSplit", "load_split", "served_embeddings", "recommendation_frame",
           "SERVED_FILES", "record_served_files", "verify_served_files"]


@dataclass
class IndexedSplit:
    """The saved split with internal indices: id maps and per-user item sets per part."""

    users: IdMap
    items: IdMap
    parts: dict[str, UserItems]

    @property
    def train_pairs(self) -> torch.Tensor:
        """Training interactions as ``[2, E]`` (user index, item index)."""
        import torch

        train = self.parts["train"]
        users = np.repeat(np.arange(train.num_users), train.counts)
        return torch.from_numpy(np.stack([users, train.indices]))

    def interacted(self) -> UserItems:
        """Every user's items in any part (train, valid and test): what serving never repeats
        (evaluation excludes only train, so that valid and test items can be found)."""
        parts = list(self.parts.values())
        users = np.concatenate([np.repeat(np.arange(p.num_users), p.counts) for p in parts])
        return UserItems(users, np.concatenate([p.indices for p in parts]), len(self.users),
                         len(self.items))

    def validation_users(self, limit: int, seed: int, part: str = "valid"
                         ) -> np.ndarray | None:
        """Users ranked by validation during training: every user with items in ``part``
        (``None``), or a seeded sample of ``limit`` of them (sorted) when there are more."""
        users = self.parts[part].users_with_items()
        if len(users) <= limit:
            return None
        return np.sort(np.random.default_rng(seed).choice(users, limit, replace=False))


def load_split(run: RunDir) -> IndexedSplit:
    """Id maps and train/valid/test item sets from ``ids/`` and ``splits/``."""
    run.fingerprint("split")
    users = IdMap.load(run.path(layout.USER_IDS))
    items = IdMap.load(run.path(layout.ITEM_IDS))
    parts = {}
    for name in layout.SPLIT_PARTS:
        path = run.path(layout.split_part(name))
        frame = read_parquet(path, columns=[USER, ITEM])
        parts[name] = UserItems(users.indices(frame[USER], str(path)),
                                items.indices(frame[ITEM], str(path)), len(users), len(items))
    return IndexedSplit(users, items, parts)


def served_embeddings(run: RunDir, model: str = "student", digests: dict[str, str] | None = None
                      ) -> tuple[np.ndarray, np.ndarray, str]:
    """A finished ``model``'s (``student`` or ``teacher``) user ``[U, d]`` and item ``[I, d]``
    vectors as served, and the hash of the file they came from (the index's model hash;
    taken from ``digests``, :func:`verify_served_files`'s answer, when it holds the file)."""
    run.fingerprint(model)  # a clear error unless that stage finished
    name = layout.model_file(model, "embeddings").path
    arrays = read_arrays(run.path(name))
    digest = (digests or {}).get(name) or file_sha256(run.path(name))
    return arrays["users"], arrays["items"], digest


def recommendation_frame(users: np.ndarray, items: np.ndarray, scores: np.ndarray,
                         user_ids: IdMap, item_ids: IdMap) -> pd.DataFrame:
    """``user_id, item_id, rank, score`` rows (original ids) from search results: ``users [B]``
    indices of ``user_ids``, ``items``/``scores [B, k]`` labels of ``item_ids`` (the index's
    own id map, which grows when items are added); empty slots (``-1``) are dropped."""
    rows, ranks = np.nonzero(items >= 0)
    return pd.DataFrame({USER: user_ids.to_ids(users[rows]),
                         ITEM: item_ids.to_ids(items[rows, ranks]),
                         "rank": ranks + 1, "score": scores[rows, ranks].astype(np.float32)})


#: The run files a server reads besides the index (which checks its own files), relative to
#: the run directory; the index stage records their sha256 in ``index/served_files.json``.
SERVED_FILES = tuple(a.path for a in (layout.USER_IDS, layout.ITEM_IDS,
                                      layout.split_part("train"), layout.STUDENT_EMBEDDINGS,
                                      layout.FOLDIN))


def record_served_files(run: RunDir) -> None:
    """Write the sha256 of every :data:`SERVED_FILES` entry to ``index/served_files.json``."""
    write_json(run.path(layout.SERVED_FILES_RECORD),
               {name: file_sha256(run.path(name)) for name in SERVED_FILES})


def verify_served_files(run: RunDir, names: tuple[str, ...] = SERVED_FILES
                        ) -> dict[str, str]:
    """Raise :class:`RunDirError` naming each of ``names`` that changed (or vanished) since the
    index stage recorded it: ids reordered or embeddings swapped would otherwise serve other
    users' answers. Returns the sha256 of each checked file (each file is hashed once). A run
    without an index stage has nothing recorded to check (``{}``)."""
    path = run.path(layout.SERVED_FILES_RECORD)
    if not path.is_file():
        return {}
    recorded = read_json(path)
    if not isinstance(recorded, dict) or not set(names) <= set(recorded):
        raise RunDirError(f"{path} should map each of {list(names)} to its sha256 digest; "
                          f"rerun `mmgraph index` (or `mmgraph run`).")
    digests = {name: file_sha256(run.path(name)) for name in names if run.path(name).is_file()}
    changed = [name for name in names if digests.get(name) != recorded[name]]
    if changed:
        raise RunDirError(f"{', '.join(str(run.path(n)) for n in changed)} changed since the "
                          f"index of {run.root} was built (sha256 differs), so served answers "
                          f"could belong to other users or items. Restore the file(s), or "
                          f"rerun the stages from the one that writes them (`mmgraph run`).")
    return digests
