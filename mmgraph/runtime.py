"""Process-wide runtime choices: seeding and device selection."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything", "pick_device"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so that a run is repeatable on the same machine."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(requested: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU; anything else is passed to torch."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)
