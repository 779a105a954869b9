"""Text encoder: any Hugging Face transformer, mean (or CLS) pooled and L2-normalised."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

from encoders.base import Encoder
from encoders.hub import load_pretrained

__all__ = ["HFTextEncoder", "mean_pool"]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average token states over real tokens. ``hidden [B, T, H]``, ``mask [B, T]`` → ``[B, H]``."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


class HFTextEncoder(Encoder):
    """Sentence embeddings from a Hugging Face encoder (e.g. all-MiniLM-L6-v2, 384-d).

    Args:
        model: hub name or local folder.
        pooling: ``"mean"`` over the attention mask (sentence-transformers' recipe) or ``"cls"``.
        max_length: tokens kept per text.
    """

    modality = "text"

    def __init__(self, model: str, pooling: str = "mean", max_length: int = 128,
                 device: torch.device | str = "cpu"):
        self.tokenizer, network = load_pretrained(model, "text", AutoTokenizer, AutoModel)
        self.model = network.to(device).eval()
        self.pooling, self.max_length, self.device = pooling, max_length, torch.device(device)
        self.dim = int(self.model.config.hidden_size)
        self.name = f"{model}|{pooling}|{max_length}"

    @torch.inference_mode()
    def encode(self, batch: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(batch), padding=True, truncation=True,
                                max_length=self.max_length, return_tensors="pt").to(self.device)
        hidden = self.model(**tokens).last_hidden_state
        pooled = hidden[:, 0] if self.pooling == "cls" else mean_pool(hidden,
                                                                       tokens["attention_mask"])
        return F.normalize(pooled.float(), dim=-1).cpu()
