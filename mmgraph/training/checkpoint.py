"""Training checkpoints: model, best weights, optimizer and sampler RNG state, so that a killed
run resumes exactly where its last evaluation left it.

Stored as ``checkpoint-<epoch>.safetensors`` (every tensor) + ``checkpoint.json`` (counters,
history, optimizer hyper-parameters and plain-number state, the fingerprint of the config that
made it, the name of its tensors file). No pickle. Each file is written to a temporary name and
renamed; the tensors file is new for every save and the JSON, written last, names it, so a kill
at any point leaves the previous JSON with the previous tensors (never a newer file paired with
an older one); older tensors files are deleted after the JSON is in place. A different
fingerprint (another config or other inputs) is ignored and overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmgraph.io import read_json, read_tensors, write_json, write_tensors
from mmgraph.runs import layout

__all__ = ["Checkpoint"]


class Checkpoint:
    def __init__(self, folder: str | Path, fingerprint: str):
        self.folder, self.fingerprint = Path(folder), fingerprint

    def save(self, model: nn.Module, optimizer: torch.optim.Optimizer,
             best_state: dict[str, torch.Tensor] | None, generator: torch.Generator,
             progress: dict[str, Any]) -> None:
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        tensors.update({f"best.{k}": v for k, v in (best_state or {}).items()})
        optim, scalars = optimizer.state_dict(), {}
        for index, state in optim["state"].items():
            tensors.update({f"optim.{index}.{k}": v for k, v in state.items()
                            if isinstance(v, torch.Tensor)})
            scalars[str(index)] = {k: v for k, v in state.items()
                                   if not isinstance(v, torch.Tensor)}  # e.g. SparseAdam's step
        tensors["rng"] = generator.get_state()
        tensors_name = layout.checkpoint_tensors(progress["epoch"])
        write_tensors(self.folder / tensors_name, tensors)
        write_json(self.folder / layout.CHECKPOINT_META, {
            "fingerprint": self.fingerprint, "tensors": tensors_name,
            "param_groups": optim["param_groups"], "optimizer_scalars": scalars, **progress})
        for stale in self.folder.glob(layout.CHECKPOINT_TENSORS_GLOB):
            if stale.name != tensors_name:
                stale.unlink()

    def epoch(self) -> int | None:
        """The epoch of the matching checkpoint here (``None``: none), without loading it."""
        meta_path = self.folder / layout.CHECKPOINT_META
        if not meta_path.is_file():
            return None
        meta = read_json(meta_path)
        return meta.get("epoch") if meta.get("fingerprint") == self.fingerprint else None

    def load(self, model: nn.Module, optimizer: torch.optim.Optimizer,
             generator: torch.Generator) -> tuple[dict[str, Any], dict | None] | None:
        """Restore into ``model``/``optimizer``/``generator``; returns ``(progress, best_state)``,
        or ``None`` when there is no matching checkpoint."""
        meta_path = self.folder / layout.CHECKPOINT_META
        if not meta_path.is_file():
            return None
        meta = read_json(meta_path)
        if meta.pop("fingerprint") != self.fingerprint or "tensors" not in meta:
            return None
        tensors = read_tensors(self.folder / Path(meta.pop("tensors")).name)
        groups: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            section, _, rest = key.partition(".")
            groups.setdefault(section, {})[rest] = value
        model.load_state_dict(groups["model"])
        state: dict[int, dict[str, Any]] = {int(index): dict(values) for index, values
                                            in meta.pop("optimizer_scalars", {}).items()}
        for key, value in groups.get("optim", {}).items():
            index, _, name = key.partition(".")
            state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
        generator.set_state(tensors["rng"])
        return meta, groups.get("best")
