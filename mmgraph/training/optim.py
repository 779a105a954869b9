"""The training loop's optimiser: Adam, with embedding tables that have sparse gradients
(``nn.Embedding(sparse=True)``, the student's ID tables) under SparseAdam, so that a step costs
the rows in the batch rather than the whole table.

SparseAdam is "lazy" Adam: a row's moments and value change only in the steps whose batch uses
that row (as in TensorFlow's LazyAdam and fastText-style embedding training). With dense Adam,
every step touches every row of a ``[U + I, d]`` table, so an epoch of a fixed number of steps
over a catalogue ten times as large cost a hundred times as much (docs/scaling.md).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["make_optimizer", "MixedAdam"]


class MixedAdam:
    """Adam over the dense parameters and SparseAdam over the sparse-gradient tables, with one
    optimiser's interface (``zero_grad``, ``step``, ``state_dict``, ``load_state_dict``) so the
    loop and its checkpoints do not tell them apart. The state dict numbers the parameters
    dense first, then sparse, like one optimiser with two parameter groups."""

    def __init__(self, dense: list[nn.Parameter], sparse: list[nn.Parameter], lr: float):
        self.parts: list[torch.optim.Optimizer] = []
        if dense:
            self.parts.append(torch.optim.Adam(dense, lr=lr))
        if sparse:
            self.parts.append(torch.optim.SparseAdam(sparse, lr=lr))

    def zero_grad(self) -> None:
        for part in self.parts:
            part.zero_grad()

    def step(self) -> None:
        for part in self.parts:
            part.step()

    def state_dict(self) -> dict[str, Any]:
        state, groups, offset = {}, [], 0
        for part in self.parts:
            inner = part.state_dict()
            state.update({offset + index: value for index, value in inner["state"].items()})
            for group in inner["param_groups"]:
                groups.append({**group, "params": [offset + i for i in group["params"]]})
            offset += sum(len(group["params"]) for group in inner["param_groups"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        groups = iter(saved["param_groups"])
        for part in self.parts:
            mine = [next(groups) for _ in part.param_groups]
            offset = min(i for group in mine for i in group["params"])
            part.load_state_dict({
                "state": {int(index) - offset: value for index, value in saved["state"].items()
                          if any(int(index) in group["params"] for group in mine)},
                "param_groups": [{**group, "params": [i - offset for i in group["params"]]}
                                 for group in mine]})


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer | MixedAdam:
    """Plain Adam when no parameter has sparse gradients; otherwise :class:`MixedAdam`."""
    sparse_ids = {id(module.weight) for module in model.modules()
                  if isinstance(module, nn.Embedding) and module.sparse}
    params = [p for p in model.parameters() if p.requires_grad]
    if not sparse_ids:
        return torch.optim.Adam(params, lr=lr)
    return MixedAdam([p for p in params if id(p) not in sparse_ids],
                     [p for p in params if id(p) in sparse_ids], lr)
