"""Encode an items table into per-modality feature matrices, through the feature cache.

Text comes from a template over item columns; images and audio from paths under the media
root (an empty cell means the item has no media of that kind: a zero row, masked); categorical
attributes become multi-hot vectors.
Every vector is cached by (encoder name, content hash): a rerun encodes only new or changed
content, and shards are written as they finish, so a killed run keeps its progress.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from encoders.base import Encoder
from encoders.cache import FeatureCache, content_hash
from encoders.categorical import multi_hot
from encoders.media import MediaError, resolve_media_path
from encoders.registry import create_encoder
from encoders.templates import item_texts
from encoders.config import EncodersConfig
from mmgraph.errors import ConfigError, DataError
from mmgraph.io import file_sha256

__all__ = ["ItemFeatures", "encode_items"]

log = logging.getLogger(__name__)


@dataclass
class ItemFeatures:
    """``features[m]``: ``[num_items, d_m]``; ``masks[m]``: ``[num_items]`` bool, False where an
    item's media could not be encoded and its row is zeros (only modalities with media)."""

    features: dict[str, torch.Tensor] = field(default_factory=dict)
    masks: dict[str, torch.Tensor] = field(default_factory=dict)


def encode_into_cache(encoder: Encoder, keys: list[str], inputs: dict[str, Any],
                      cache: FeatureCache, batch_size: int, progress: bool,
                      shard: tuple[int, int] | None = None) -> dict[str, str]:
    """Encode the inputs of uncached keys in batches (with ``shard=(rank, world)``, only those
    among every world-th key from the rank-th: a split that does not depend on what other ranks
    have cached meanwhile); returns ``{key: reason}`` for inputs that failed (a failing batch is
    retried item by item to find them)."""
    rank, world = shard or (0, 1)
    todo = cache.missing(list(dict.fromkeys(keys))[rank::world])
    failures: dict[str, str] = {}
    chunk = batch_size * 16  # persist every 16 batches
    with tqdm(total=len(todo), desc=f"encode {encoder.modality}", unit="item",
              disable=not progress) as bar:
        for start in range(0, len(todo), chunk):
            done_keys, vectors = [], []
            for offset in range(start, min(start + chunk, len(todo)), batch_size):
                batch = todo[offset:offset + batch_size]
                try:
                    vectors.append(encoder.encode([inputs[k] for k in batch]))
                    done_keys.extend(batch)
                except MediaError as exc:
                    if len(batch) == 1:
                        failures[batch[0]] = exc.reason
                    else:
                        encoded = _encode_one_by_one(encoder, batch, inputs, failures)
                        done_keys.extend(encoded)
                        vectors.extend(encoded.values())
                bar.update(len(batch))
            if done_keys:
                cache.add(done_keys, torch.cat(vectors))
    return failures


def _encode_one_by_one(encoder: Encoder, batch: list[str], inputs: dict[str, Any],
                       failures: dict[str, str]) -> dict[str, torch.Tensor]:
    """Encode each input alone; record the reason of each that fails in ``failures``."""
    encoded = {}
    for key in batch:
        try:
            encoded[key] = encoder.encode([inputs[key]])
        except MediaError as exc:
            failures[key] = exc.reason
    return encoded


def _encode_media(items: pd.DataFrame, column: str, encoder: Encoder, media_root: Path | None,
                  cache_root: Path, batch_size: int, policy: str, progress: bool,
                  shard: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    if column not in items.columns:
        raise ConfigError(f"encoders.{encoder.modality}.column is '{column}', which the items "
                          f"table does not have; it has {list(items.columns)}.")
    if media_root is None:
        raise ConfigError(f"encoders.{encoder.modality} needs data.media_root: the folder that "
                          f"the '{column}' paths are relative to.")
    problems: dict[int, tuple[str, str]] = {}
    keys: dict[int, str] = {}
    inputs: dict[str, Path] = {}
    absent = 0
    for row, value in enumerate(items[column]):
        relative = "" if pd.isna(value) else str(value)
        if not relative.strip():  # the item has no media of this modality: masked, no error
            absent += 1
            continue
        try:
            path = resolve_media_path(media_root, relative)
            key = file_sha256(path)[:32]
        except MediaError as exc:
            problems[row] = (relative, exc.reason)
            continue
        keys[row], inputs[key] = key, path
    cache = FeatureCache(cache_root, encoder.name)
    failures = encode_into_cache(encoder, list(keys.values()), inputs, cache, batch_size, progress,
                              shard)
    if shard is not None:  # filling the cache only: rank 0 reports problems afterwards
        return torch.empty(0), torch.empty(0)
    for row, key in list(keys.items()):
        if key in failures:
            problems[row] = (str(items[column].iloc[row]), failures[key])
            del keys[row]
    if problems:
        ids = items["item_id"].tolist()
        report = "; ".join(f"item {ids[r]!r}: {path!r} ({reason})"
                           for r, (path, reason) in sorted(problems.items())[:10])
        more = f" and {len(problems) - 10} more" if len(problems) > 10 else ""
        if policy == "fail":
            raise DataError(f"{len(problems)} item(s) have {encoder.modality} media that cannot "
                            f"be encoded: {report}{more}. Fix or remove those paths, or set "
                            f"encoders.on_media_error: zero to encode them as zero vectors.")
        log.warning("%s: %d item(s) get zero vectors: %s%s", encoder.modality, len(problems),
                    report, more)
    if absent:
        log.info("%s: %d of %d item(s) have none (zero vectors, masked)", encoder.modality,
                 absent, len(items))
    matrix = torch.zeros(len(items), encoder.dim)
    mask = torch.zeros(len(items), dtype=torch.bool)
    if keys:
        rows = torch.tensor(list(keys))
        matrix[rows] = cache.stack(list(keys.values()))
        mask[rows] = True
    return matrix, mask


def encode_items(items: pd.DataFrame, config: EncodersConfig, cache_dir: str | Path | None = None,
                 media_root: str | Path | None = None, device: torch.device | str = "cpu",
                 progress: bool = True, shard: tuple[int, int] | None = None) -> ItemFeatures:
    """Features per configured modality, each ``[num_items, d]`` in ``items`` row order.

    Args:
        items: the items table (``item_id`` plus the content columns ``config`` names).
        config: an :class:`encoders.config.EncodersConfig`, e.g.
            ``EncodersConfig(text={"template": "{title}"}, categorical={"columns": ["genre"]})``.
        cache_dir: the feature cache's folder (content already encoded there is not encoded
            again); ``None`` uses a temporary one.
        media_root: the folder the image/audio columns' relative paths are under.

    With ``shard=(rank, world_size)``, only put this rank's share of the content not cached yet
    into the cache and return no features: ranks encode side by side, then one call without
    ``shard`` assembles the matrices from the cache (this is how the encode stage runs under
    torchrun or any scheduler that sets RANK/WORLD_SIZE).
    """
    if cache_dir is None:
        with tempfile.TemporaryDirectory() as scratch:
            return encode_items(items, config, scratch, media_root, device, progress, shard)
    out, cache_root = ItemFeatures(), Path(cache_dir)
    media_root = Path(media_root) if media_root is not None else None
    if config.text is not None:
        cfg = config.text
        texts = item_texts(items, cfg.template)
        log.info("text: template %r renders items as, e.g., %s", cfg.template,
                 "; ".join(repr(text) for text in texts[:3]))
        encoder = create_encoder("text", model=cfg.model, pooling=cfg.pooling,
                                 max_length=cfg.max_length, device=device)
        cache = FeatureCache(cache_root, encoder.name)
        keys = [content_hash(t) for t in texts]
        by_key = dict(zip(keys, texts))
        todo_sorted = sorted(dict.fromkeys(keys), key=lambda k: len(by_key[k]))  # less padding
        encode_into_cache(encoder, todo_sorted, by_key, cache, cfg.batch_size, progress, shard)
        if shard is None:
            out.features["text"] = cache.stack(keys)
    for modality, cfg in (("image", config.image), ("audio", config.audio)):
        if cfg is None:
            continue
        # The section's fields other than where inputs come from are the encoder's arguments.
        encoder = create_encoder(modality, device=device,
                                 **cfg.model_dump(exclude={"column", "batch_size"}))
        matrix, mask = _encode_media(items, cfg.column, encoder, media_root, cache_root,
                                     cfg.batch_size, config.on_media_error, progress, shard)
        if shard is None:
            out.features[modality], out.masks[modality] = matrix, mask
    if config.categorical is not None and shard is None:
        out.features["categorical"] = multi_hot(items, config.categorical.columns,
                                                config.categorical.separator)
    return out
