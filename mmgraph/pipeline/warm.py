"""Warm starts: a finished run's trained teacher (LightGCN), its filters' eigenvectors,
cold-start mapper and (with ``student.init: random``) student start a new run's, so that an
update continues from where the models were instead of from nothing
(:mod:`mmgraph.pipeline.update`).

Rows are matched by id: every user and item the source run knows starts from its trained row,
new ones as the config's ``init`` says; every other weight (the content tower) is copied as
it is, and a weight of another shape is a :class:`ConfigError` (the architecture changed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mmgraph.data.ids import IdMap
from mmgraph.distill.coldstart import ColdStartMapper
from mmgraph.errors import ConfigError
from mmgraph.io import read_arrays, read_tensors
from mmgraph.runs import IndexedSplit, RunDir, layout

__all__ = ["WarmStart"]

#: The ID tables of the teacher and the student, and which id map their rows follow.
_TABLES = {"user_embedding.weight": layout.USER_IDS, "item_embedding.weight": layout.ITEM_IDS}


@dataclass(frozen=True)
class WarmStart:
    """The finished run in ``source`` whose models start this run's."""

    source: RunDir

    def fingerprint(self, stage: str) -> str:
        """The source stage's fingerprint: part of the warm-started stage's own, so that a
        retrained source makes it run again."""
        return self.source.fingerprint(stage)

    def start(self, model: nn.Module, weights: layout.Artifact, data: IndexedSplit) -> int:
        """Copy the source's trained ``weights`` (its teacher or student model file) into
        ``model``, whose rows follow ``data``'s id maps; returns how many table rows came
        from the source."""
        trained = read_tensors(self.source.path(weights))
        state = model.state_dict()
        copied = 0
        for name, tensor in trained.items():
            if name not in state:
                raise ConfigError(f"{self.source.path(weights)} holds {name!r}, which this "
                                  f"run's model does not have: its architecture changed since "
                                  f"that run, so it cannot start this one.")
            if name in _TABLES:
                ours = data.users if _TABLES[name] is layout.USER_IDS else data.items
                count, rows = self._rows(_TABLES[name], ours)
                known = rows >= 0
                if tensor.shape[1:] != state[name].shape[1:] or len(tensor) != count:
                    raise ConfigError(f"{self.source.path(weights)}: {name} is "
                                      f"{tuple(tensor.shape)}, this run's "
                                      f"{tuple(state[name].shape)}; the dimension changed, so "
                                      f"it cannot start this one.")
                state[name][torch.from_numpy(rows[known])] = tensor[torch.from_numpy(known)].to(
                    state[name])
                copied += int(known.sum())
            elif tensor.shape == state[name].shape:
                state[name] = tensor.to(state[name])
            else:
                raise ConfigError(f"{self.source.path(weights)}: {name} is "
                                  f"{tuple(tensor.shape)}, this run's "
                                  f"{tuple(state[name].shape)}; the architecture changed, so "
                                  f"it cannot start this one.")
        model.load_state_dict(state)
        return copied

    def filter_start(self, component: str, items: IdMap) -> np.ndarray | None:
        """The source's eigenvectors of filter ``component`` (``[I, k]``, in ``items``' order:
        rows matched by id, new items zero), where this run's subspace iteration begins;
        ``None`` when the source decomposed it exactly (it saved none)."""
        path = self.source.path(layout.TEACHER_FILTER_BASES)
        vectors = read_arrays(path).get(component) if path.is_file() else None
        if vectors is None:
            return None
        count, rows = self._rows(layout.ITEM_IDS, items)
        if len(vectors) != count:
            raise ConfigError(f"{path}: {component} has {len(vectors)} rows for the run's "
                              f"{count} items; the run's files do not match.")
        known = rows >= 0
        start = np.zeros((len(items), vectors.shape[1]), np.float32)
        start[rows[known]] = vectors[known]
        return start

    def _rows(self, ids: layout.Artifact, ours: IdMap) -> tuple[int, np.ndarray]:
        """How many rows the source's tables following its id map ``ids`` have, and each
        one's row in ``ours`` (``-1``: an id this run does not have)."""
        theirs = IdMap.load(self.source.path(ids))
        return len(theirs), ours.positions(theirs.ids, str(self.source.path(ids)))

    def coldstart_mapper(self) -> ColdStartMapper | None:
        """The source's fitted cold-start mapper (content → student), ``None`` when it has
        none (no content, or ``student.coldstart_steps`` 0)."""
        path = self.source.path(layout.COLDSTART_MAPPER)
        return ColdStartMapper.from_pretrained(path) if path.is_file() else None
