"""On-disk feature cache keyed by (encoder name, content hash).

Vectors are stored in shards (safetensors, written atomically as each chunk finishes), so a
rerun encodes only new or changed content, and a run killed mid-way keeps what it finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from mmgraph.io import write_tensors

__all__ = ["FeatureCache", "content_hash"]

log = logging.getLogger(__name__)


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
            self.vectors.update(_read_shard(shard))

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


def _read_shard(shard: Path) -> dict[str, torch.Tensor]:
    """One shard's ``{key: [dim] vector}``. A shard that cannot be read (truncated, not
    safetensors, keys and rows that disagree) is set aside as ``*.corrupt`` with a warning, and
    its content is encoded again: a damaged cache costs time, never a wrong vector."""
    try:
        with safe_open(str(shard), framework="pt") as handle:
            keys = json.loads((handle.metadata() or {})["keys"])
            rows = handle.get_tensor("vectors")
        if not (isinstance(keys, list) and rows.ndim == 2 and len(keys) == len(rows)):
            raise ValueError(f"{len(keys)} keys for rows of shape {tuple(rows.shape)}")
    except FileNotFoundError:  # another process set it aside meanwhile
        return {}
    except (OSError, SafetensorError, ValueError, KeyError, TypeError) as exc:
        log.warning("feature cache shard %s cannot be read (%s); set aside as %s.corrupt, its "
                    "content will be encoded again", shard, exc, shard.name)
        try:
            shard.replace(shard.with_name(shard.name + ".corrupt"))
        except OSError:
            pass  # e.g. a read-only cache: it is skipped all the same
        return {}
    return dict(zip(keys, rows))
