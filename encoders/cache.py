"""On-disk feature cache keyed by (encoder name, content hash).

Vectors are stored in shards (safetensors, written atomically as each chunk finishes), so a
rerun encodes only new or changed content, and a run killed mid-way keeps what it finished.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch
from safetensors import safe_open

from mmgraph.io import write_tensors

__all__ = ["FeatureCache", "content_hash"]


def content_hash(content: str | bytes) -> str:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()[:32]


class FeatureCache:
    """Cached vectors for one encoder, in ``<root>/<slug of encoder name>/shard-*.safetensors``."""

    def __init__(self, root: str | Path, encoder_name: str):
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_name)
        self.folder = Path(root) / f"{slug}-{content_hash(encoder_name)[:8]}"
        self.vectors: dict[str, torch.Tensor] = {}
        for shard in sorted(self.folder.glob("shard-*.safetensors")):
            with safe_open(str(shard), framework="pt") as handle:
                keys = json.loads(handle.metadata()["keys"])
                rows = handle.get_tensor("vectors")
            self.vectors.update(zip(keys, rows))

    def missing(self, keys: list[str]) -> list[str]:
        """Keys (content hashes) not cached yet, each once, in first-seen order."""
        return [k for k in dict.fromkeys(keys) if k not in self.vectors]

    def add(self, keys: list[str], vectors: torch.Tensor) -> None:
        """Store ``vectors [len(keys), dim]`` as one new shard, named by its keys so that
        processes filling one cache side by side (one per rank) never collide."""
        name = f"shard-{content_hash(json.dumps(keys))[:16]}.safetensors"
        write_tensors(self.folder / name, {"vectors": vectors},
                      metadata={"keys": json.dumps(keys)})
        self.vectors.update(zip(keys, vectors))

    def stack(self, keys: list[str]) -> torch.Tensor:
        """Vectors for ``keys`` in order, ``[len(keys), dim]``."""
        return torch.stack([self.vectors[k] for k in keys])
