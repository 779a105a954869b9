r"""Training and distillation losses.

- BPR (Rendle et al., UAI 2009): :math:`-\frac{1}{B}\sum \log\sigma(s_{ui} - s_{uj})`.
- Sampled softmax (e.g. Wu et al., "On the effectiveness of sampled softmax loss for item
  recommendation", TOIS 2024): cross-entropy of the positive against sampled negatives,
  :math:`-\log \frac{e^{s_{ui}/\tau}}{e^{s_{ui}/\tau} + \sum_j e^{s_{uj}/\tau}}`.
- Soft-label KD (Hinton et al., 2015): over a user's candidate items,
  :math:`T^2\,\mathrm{KL}(\mathrm{softmax}(t/T)\,\|\,\mathrm{softmax}(s/T))`; the :math:`T^2`
  keeps gradient scale independent of the temperature. Hard+soft mixing is
  :math:`(1-\alpha)\,\mathrm{BPR} + \alpha\,\mathrm{KD}` (see
  :func:`mmgraph.training.student_distillation`).
  Over a large catalogue the candidates are each user's top-M items by the teacher plus
  :math:`N` items drawn uniformly from the rest; each drawn item stands for :math:`(I-M)/N`
  items, so its logit gets :math:`+\log\frac{I-M}{N}` in both distributions (the logQ
  correction of sampled softmax, Bengio & Senecal 2008), an unbiased stand-in for the full
  softmax over the catalogue.
- Ranking distillation (Tang & Wang, "Ranking Distillation", KDD 2018): the teacher's top-K
  unseen items of a user are treated as positives with position weights
  :math:`w_r \propto e^{-r/\lambda}` (rank :math:`r = 1..K`, normalised to sum to 1):
  :math:`-\sum_r w_r \log\sigma(s_{u,\pi_r})`.
- Contrastive alignment (InfoNCE; van den Oord et al., 2018, as used for KD by Tian et al.,
  "Contrastive Representation Distillation", ICLR 2020): student embeddings pass through a
  learned projection :math:`W`; for a batch of entities, with :math:`c_{bc} = \cos(W s_b, t_c)`,
  :math:`-\frac{1}{B}\sum_b \log \frac{e^{c_{bb}/\tau}}{\sum_c e^{c_{bc}/\tau}}`.
- Hint loss (Romero et al., "FitNets", ICLR 2015): :math:`\frac{1}{B}\sum_b \|W s_b - t_b\|^2`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["bpr_loss", "sampled_softmax_loss", "soft_label_kd_loss", "rank_weights",
           "ranking_distillation_loss", "info_nce_loss", "hint_loss"]


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Mean BPR loss of positive vs negative scores, both ``[B]`` (or broadcastable)."""
    return -F.logsigmoid(positive - negative).mean()


def sampled_softmax_loss(positive: torch.Tensor, negatives: torch.Tensor,
                         temperature: float = 1.0) -> torch.Tensor:
    """Mean cross-entropy of ``positive [B]`` against ``negatives [B, C]`` at ``temperature``."""
    logits = torch.cat([positive[:, None], negatives], dim=1) / temperature
    return -F.log_softmax(logits, dim=1)[:, 0].mean()


def soft_label_kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                       temperature: float, log_weights: torch.Tensor | None = None,
                       valid: torch.Tensor | None = None) -> torch.Tensor:
    """Temperature-scaled KL from teacher to student score distributions, ``[B, C]`` each;
    averaged over the batch.

    ``log_weights`` (broadcast to ``[B, C]``) is added after the temperature: the log of how
    many items each candidate stands for (sampled candidates). Candidates where ``valid
    [B, C]`` is false take no part in either distribution.
    """
    teacher, student = teacher_logits / temperature, student_logits / temperature
    if log_weights is not None:
        teacher, student = teacher + log_weights, student + log_weights
    if valid is not None:  # a large finite negative: exp gives 0 and the KL term stays finite
        teacher, student = teacher.masked_fill(~valid, -1e9), student.masked_fill(~valid, -1e9)
    teacher = F.log_softmax(teacher, dim=-1)
    student = F.log_softmax(student, dim=-1)
    kl = F.kl_div(student, teacher, log_target=True, reduction="batchmean")
    return kl * temperature ** 2


def rank_weights(k: int, decay: float) -> torch.Tensor:
    """Ranking distillation's position weights ``[k]``: ``exp(-r / decay)`` for ranks
    ``r = 1..k``, normalised to sum to 1."""
    weights = torch.exp(-torch.arange(1, k + 1, dtype=torch.float32) / decay)
    return weights / weights.sum()


def ranking_distillation_loss(student_scores: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Position-weighted log-likelihood of the teacher's top-K items as positives:
    ``student_scores [B, K]`` on each user's teacher top-K (rank order), ``weights [K]``."""
    return -(F.logsigmoid(student_scores) * weights).sum(-1).mean()


def info_nce_loss(projected: torch.Tensor, teacher: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """InfoNCE of projected student rows ``[B, d_t]`` against teacher rows ``[B, d_t]``: row
    ``b``'s positive is teacher row ``b``, the batch's other rows are its negatives."""
    logits = F.normalize(projected, dim=-1) @ F.normalize(teacher, dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


def hint_loss(projected: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between projected student rows and teacher rows, ``[B, d_t]``."""
    return (projected - teacher).pow(2).sum(-1).mean()
