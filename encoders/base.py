"""The one interface every modality encoder implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import torch

__all__ = ["Encoder"]


class Encoder(ABC):
    """Turns a batch of raw inputs into L2-normalised float32 vectors.

    Shapes: ``encode(batch)`` returns ``[len(batch), dim]``.
    ``name`` identifies the model and its preprocessing; it keys the feature cache, so two
    encoders that could give different vectors must have different names.
    """

    modality: str
    name: str
    dim: int

    @abstractmethod
    def encode(self, batch: Sequence[Any]) -> torch.Tensor:
        """Encode one batch of raw inputs."""
