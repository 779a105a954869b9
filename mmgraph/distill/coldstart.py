r"""Cold-start items: place items that have content but no interactions in the student's space.

A small MLP :math:`g` maps an item's content vector :math:`c_i` (the teacher's content tower
output, i.e. its fusion of the frozen encoder features; or the L2-normalised features side by
side when the teacher has no content tower) to the student's item embedding. It is fitted on
the warm items, whose student embeddings are known, by
:math:`\min_g \frac{1}{|W|}\sum_{i\in W}\|g(c_i) - q_i\|^2` (the DropoutNet/"Heater" style of
content→CF mapping), then applied to cold items, which then join the FAISS index with no
retraining of the student.

Shapes: ``content [num_items, d_c]`` → ``[num_items, d_s]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmgraph.models.reloadable import Reloadable

__all__ = ["ColdStartMapper", "content_vectors", "fit_coldstart_mapper"]


class ColdStartMapper(Reloadable):
    """Two-layer MLP from content vectors ``[N, d_c]`` to student item embeddings ``[N, d_s]``."""

    def __init__(self, content_dim: int, student_dim: int, hidden: int = 256):
        super().__init__()
        self.config = {"content_dim": content_dim, "student_dim": student_dim, "hidden": hidden}
        self.net = nn.Sequential(nn.Linear(content_dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, student_dim))

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return self.net(content)


def content_vectors(teacher_outputs: dict[str, torch.Tensor],
                    features: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """The mapper's input per item: the teacher's content tower output ``teacher_outputs
    ["content"]`` when it has one, else the normalised encoder features concatenated in
    modality order; ``None`` without any content."""
    if "content" in teacher_outputs:
        return teacher_outputs["content"]
    if not features:
        return None
    return torch.cat([F.normalize(features[m].float(), dim=1) for m in sorted(features)], dim=1)


def fit_coldstart_mapper(content: torch.Tensor, student_items: torch.Tensor,
                         warm: torch.Tensor, steps: int = 500, lr: float = 0.003,
                         weight_decay: float = 1e-4, seed: int = 0,
                         max_items: int = 20_000, start: ColdStartMapper | None = None
                         ) -> ColdStartMapper:
    """Fit the mapper on the ``warm [num_items]`` (bool) rows: ``content [I, d_c]`` →
    ``student_items [I, d_s]`` (frozen), full-batch AdamW for ``steps`` steps; past
    ``max_items`` warm items, on a seeded sample of that many (each step stays bounded).
    ``start``: a fitted mapper of the same sizes to continue from (an update's, whose warm
    items moved little), instead of a random one."""
    if not bool(warm.any()):
        raise ValueError("no warm items to fit the cold-start mapper on")
    torch.manual_seed(seed)
    mapper = ColdStartMapper(content.shape[1], student_items.shape[1]).to(content.device)
    if start is not None:
        if start.config != mapper.config:
            raise ValueError(f"the mapper to continue from maps {start.config}, not "
                             f"{mapper.config}")
        mapper.load_state_dict(start.state_dict())
    optimizer = torch.optim.AdamW(mapper.parameters(), lr=lr, weight_decay=weight_decay)
    rows = torch.nonzero(warm.to(content.device)).squeeze(1)
    if len(rows) > max_items:
        rows = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed)
                                   )[:max_items].to(rows.device)]
    inputs, targets = content[rows].detach(), student_items[rows].detach()
    for _ in range(steps):
        loss = (mapper(inputs) - targets).pow(2).sum(-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return mapper.eval()
