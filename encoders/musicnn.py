"""musicnn (Pons & Serra, 2019), ported to PyTorch; weights read from the TensorFlow
checkpoints that the PyPI package ``musicnn`` ships (no TensorFlow needed).

Input: log-mel patches ``[B, 187, 96]`` (3 s at 16 kHz, hop 256, 96 mels, ``log10(1 + 10^4 x)``).
Front-end: timbral convs (7×38, 7×67 over time×mel, 204 filters) and temporal convs
(128/64/32×1, 51 filters), each max-pooled over frequency → 561 channels per frame.
Mid-end: three 7-frame convs (64 filters) with residual connections, densely concatenated
→ 753 channels. Back-end: max and mean over time → BN → dense 200 (the embedding) → 50 tags.
Batch norm follows each ReLU, as in the original; epsilon 1e-3 (TF's default).

Shapes: ``forward(x [B, 187, 96])`` → ``(logits [B, 50], embedding [B, 200])``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from encoders.tf_checkpoint import read_tf_checkpoint

__all__ = ["Musicnn", "MSD_TAGS", "MTT_TAGS", "musicnn_checkpoint"]

MSD_TAGS = ["rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance",
            "00s", "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
            "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
            "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
            "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party",
            "country", "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
            "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy"]
MTT_TAGS = ["guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
            "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
            "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
            "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
            "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
            "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral"]

_EPS = 1e-3


def _bn(channels: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(channels, eps=_EPS)


class Musicnn(nn.Module):
    def __init__(self, num_tags: int = 50, n_mels: int = 96):
        super().__init__()
        self.input_bn = nn.BatchNorm2d(1, eps=_EPS)
        self.timbral = nn.ModuleList([nn.Conv2d(1, 204, (7, int(r * n_mels))) for r in (0.4, 0.7)])
        self.timbral_bn = nn.ModuleList([nn.BatchNorm2d(204, eps=_EPS) for _ in range(2)])
        self.temporal = nn.ModuleList([nn.Conv2d(1, 51, (k, 1)) for k in (128, 64, 32)])
        self.temporal_bn = nn.ModuleList([nn.BatchNorm2d(51, eps=_EPS) for _ in range(3)])
        self.mid = nn.ModuleList([nn.Conv1d(561, 64, 7), nn.Conv1d(64, 64, 7),
                                  nn.Conv1d(64, 64, 7)])
        self.mid_bn = nn.ModuleList([_bn(64) for _ in range(3)])
        self.pool_bn = _bn(1506)
        self.dense = nn.Linear(1506, 200)
        self.dense_bn = _bn(200)
        self.out = nn.Linear(200, num_tags)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.input_bn(x.unsqueeze(1))  # [B, 1, T, F]
        frames = []
        padded = F.pad(x, (0, 0, 3, 3))  # 'same' in time for the 7-frame timbral kernels
        for conv, bn in zip(self.timbral, self.timbral_bn):
            frames.append(bn(F.relu(conv(padded))).amax(dim=3))  # [B, 204, T]
        for conv, bn in zip(self.temporal, self.temporal_bn):
            k = conv.kernel_size[0]  # TF 'same': the extra pad of an even kernel goes after
            out = F.relu(conv(F.pad(x, (0, 0, (k - 1) // 2, k // 2))))
            frames.append(bn(out).amax(dim=3))  # [B, 51, T]: BN, then max over mels
        front = torch.cat(frames, dim=1)  # [B, 561, T]
        layers, h = [front], front
        for index, (conv, bn) in enumerate(zip(self.mid, self.mid_bn)):
            out = bn(F.relu(conv(F.pad(h, (3, 3)))))
            h = out if index == 0 else out + h
            layers.append(h)
        mid = torch.cat(layers, dim=1)  # [B, 753, T]
        pooled = torch.stack([mid.amax(dim=2), mid.mean(dim=2)], dim=2).flatten(1)  # interleaved
        embedding = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return self.out(embedding), embedding

    def load_tf_checkpoint(self, prefix: str | Path) -> None:
        """Load musicnn's TensorFlow weights; TF layer names follow creation order."""
        tf = read_tf_checkpoint(prefix)

        def bn(module: nn.Module, index: int) -> None:
            name = "batch_normalization" + (f"_{index}" if index else "")
            for attr, key in (("weight", "gamma"), ("bias", "beta"), ("running_mean",
                              "moving_mean"), ("running_var", "moving_variance")):
                getattr(module, attr).data.copy_(torch.from_numpy(tf[f"{name}/{key}"].copy())
                                                 .view_as(getattr(module, attr)))

        def conv(module: nn.Module, index: int) -> None:
            name = "conv2d" + (f"_{index}" if index else "")
            kernel = tf[f"{name}/kernel"]  # [kh, kw, in, out]
            weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            if module.weight.dim() == 3:  # Conv1d over channels = TF conv over the full width
                weight = weight[:, 0].permute(0, 2, 1)  # [out, kw=in_channels, kh]
            module.weight.data.copy_(weight)
            module.bias.data.copy_(torch.from_numpy(tf[f"{name}/bias"].copy()))

        bn(self.input_bn, 0)
        convs = [*self.timbral, *self.temporal, *self.mid]
        bns = [*self.timbral_bn, *self.temporal_bn, *self.mid_bn]
        for index, (c, b) in enumerate(zip(convs, bns)):
            conv(c, index)
            bn(b, index + 1)
        bn(self.pool_bn, 9)
        for module, name in ((self.dense, "dense"), (self.out, "dense_1")):
            module.weight.data.copy_(torch.from_numpy(tf[f"{name}/kernel"].T.copy()))
            module.bias.data.copy_(torch.from_numpy(tf[f"{name}/bias"].copy()))
        bn(self.dense_bn, 10)


def musicnn_checkpoint(model: str = "MSD_musicnn") -> Path:
    """Checkpoint prefix of a model shipped in the ``musicnn`` package (found without
    importing it: its own imports need TensorFlow)."""
    import importlib.util

    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        from mmgraph.errors import ModelNotFoundError

        raise ModelNotFoundError("musicnn weights come from the PyPI package musicnn: "
                                 "pip install --no-deps musicnn==0.1.0")
    return Path(spec.submodule_search_locations[0]) / model
