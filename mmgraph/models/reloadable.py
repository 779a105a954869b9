"""Models that reload themselves: the constructor's arguments written as JSON beside the weights
(``model.safetensors`` + ``model.json``, as transformers keeps ``config.json`` beside its
weights), so that a saved model is rebuilt from its own files, never guessed from the shapes
of its state dict.

A subclass sets :attr:`Reloadable.config` in its ``__init__`` to the arguments that rebuild it
(JSON values only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from mmgraph.errors import RunDirError
from mmgraph.io import read_json, read_tensors, write_json, write_tensors

__all__ = ["Reloadable", "config_path"]

Model = TypeVar("Model", bound="Reloadable")


def config_path(weights: str | Path) -> Path:
    """Where the architecture of the weights file ``weights`` is written: beside it, ``.json``."""
    return Path(weights).with_suffix(".json")


class Reloadable(nn.Module):
    """An ``nn.Module`` saved with its architecture: :meth:`save_pretrained` and
    :meth:`from_pretrained` round-trip it through two files."""

    config: dict[str, Any]

    def user_tables(self) -> list[nn.Embedding]:
        """The tables with a row per user (none here): what training sharded by user splits
        over the ranks."""
        return []

    def replace_user_rows(self, weights: list[torch.Tensor]) -> None:
        """New rows ``[U', dim]`` for the tables of :meth:`user_tables` (in their order): a
        rank's shard of the users for training sharded by user, every user's again to save
        (the optimiser must be built after)."""
        for table, weight in zip(self.user_tables(), weights, strict=True):
            table.weight = nn.Parameter(weight)
            table.num_embeddings = len(weight)
        self.config["num_users"] = len(weights[0])

    def save_pretrained(self, weights: str | Path) -> None:
        """Write the weights to ``weights`` (safetensors) and the class and ``config`` beside
        them (:func:`config_path`)."""
        write_json(config_path(weights), {"class": type(self).__name__, "config": self.config})
        write_tensors(weights, self.state_dict())

    @classmethod
    def from_pretrained(cls: type[Model], weights: str | Path,
                        ignore_prefixes: tuple[str, ...] = ()) -> Model:
        """The model :meth:`save_pretrained` wrote to ``weights``, in eval mode; state entries
        starting with ``ignore_prefixes`` (parts attached after construction, such as a rating
        model's biases) are left out."""
        path = config_path(weights)
        if not path.is_file():
            raise RunDirError(f"{path} is missing: {weights} was written before models saved "
                              f"their architecture beside their weights. Rerun the stage that "
                              f"wrote it (`mmgraph run` reruns it: the file is one of its "
                              f"outputs).")
        saved = read_json(path)
        saved = saved if isinstance(saved, dict) else {}
        if saved.get("class") != cls.__name__ or not isinstance(saved.get("config"), dict):
            raise RunDirError(f"{path} does not describe a model of class {cls.__name__} (it says "
                              f"{saved.get('class')!r}); it was edited or belongs to another "
                              f"model. Rerun the stage that wrote {weights}.")
        model = cls(**saved["config"])
        state = {key: value for key, value in read_tensors(weights).items()
                 if not key.startswith(ignore_prefixes)}
        model.load_state_dict(state)
        return model.eval()
