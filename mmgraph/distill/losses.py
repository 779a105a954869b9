r"""Training and distillation losses.

- BPR (Rendle et al., UAI 2009): :math:`-\frac{1}{B}\sum \log\sigma(s_{ui} - s_{uj})`.
- Sampled softmax (e.g. Wu et al., "On the effectiveness of sampled softmax loss for item
  recommendation", TOIS 2024): cross-entropy of the positive against sampled negatives,
  :math:`-\log \frac{e^{s_{ui}/\tau}}{e^{s_{ui}/\tau} + \sum_j e^{s_{uj}/\tau}}`.
- Soft-label KD (Hinton et al., 2015): over a user's candidate items,
  :math:`T^2\,\mathrm{KL}(\mathrm{softmax}(t/T)\,\|\,\mathrm{softmax}(s/T))`; the :math:`T^2`
  keeps gradient scale independent of the temperature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["bpr_loss", "sampled_softmax_loss", "soft_label_kd_loss"]


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Mean BPR loss of positive vs negative scores, both ``[B]`` (or broadcastable)."""
    return -F.logsigmoid(positive - negative).mean()


def sampled_softmax_loss(positive: torch.Tensor, negatives: torch.Tensor,
                         temperature: float = 1.0) -> torch.Tensor:
    """Mean cross-entropy of ``positive [B]`` against ``negatives [B, C]`` at ``temperature``."""
    logits = torch.cat([positive[:, None], negatives], dim=1) / temperature
    return -F.log_softmax(logits, dim=1)[:, 0].mean()


def soft_label_kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                       temperature: float) -> torch.Tensor:
    """Temperature-scaled KL from teacher to student score distributions, ``[B, C]`` each;
    averaged over the batch."""
    teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    student = F.log_softmax(student_logits / temperature, dim=-1)
    kl = F.kl_div(student, teacher, log_target=True, reduction="batchmean")
    return kl * temperature ** 2
