"""Encode an items table into per-modality feature matrices, through the feature cache."""

from __future__ import annotations

import logging
import string
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from encoders.cache import FeatureCache, content_hash
from encoders.categorical import multi_hot
from encoders.registry import create_encoder
from mmgraph.config import EncodersConfig, TextEncoderConfig
from mmgraph.errors import ConfigError

__all__ = ["item_texts", "encode_items"]

log = logging.getLogger(__name__)


def item_texts(items: pd.DataFrame, template: str) -> list[str]:
    """Fill ``template`` (``str.format`` over item columns) for every item; NaN becomes ``""``."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    missing = sorted(fields - set(items.columns))
    if missing:
        raise ConfigError(f"encoders.text.template uses column(s) {missing} that the items table "
                          f"does not have; it has {list(items.columns)}.")
    columns = items[sorted(fields)].astype(object).where(items[sorted(fields)].notna(), "")
    return [template.format(**row) for row in columns.to_dict("records")]


def _encode_text(items: pd.DataFrame, cfg: TextEncoderConfig, cache_root: Path,
                 device: torch.device, progress: bool) -> torch.Tensor:
    texts = item_texts(items, cfg.template)
    encoder = create_encoder("text", model=cfg.model, pooling=cfg.pooling,
                             max_length=cfg.max_length, device=device)
    cache = FeatureCache(cache_root, encoder.name)
    keys = [content_hash(t) for t in texts]
    todo = cache.missing(keys)
    log.info("text: %d items, %d distinct texts to encode (%d cached)", len(texts), len(todo),
             len(set(keys)) - len(todo))
    by_key = dict(zip(keys, texts))
    todo.sort(key=lambda k: len(by_key[k]))  # similar lengths per batch: less padding
    chunk = cfg.batch_size * 16  # persist every 16 batches, so a crash loses little
    with tqdm(total=len(todo), desc="encode text", unit="item", disable=not progress) as bar:
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            vectors = torch.cat([encoder.encode([by_key[k] for k in part[i:i + cfg.batch_size]])
                                 for i in range(0, len(part), cfg.batch_size)])
            cache.add(part, vectors)
            bar.update(len(part))
    return cache.stack(keys)


def encode_items(items: pd.DataFrame, config: EncodersConfig, cache_dir: str | Path,
                 device: torch.device | str = "cpu", progress: bool = True
                 ) -> dict[str, torch.Tensor]:
    """Features per configured modality, each ``[num_items, dim]`` in ``items`` row order."""
    features: dict[str, torch.Tensor] = {}
    if config.text is not None:
        features["text"] = _encode_text(items, config.text, Path(cache_dir),
                                        torch.device(device), progress)
    if config.categorical is not None:
        features["categorical"] = multi_hot(items, config.categorical.columns,
                                            config.categorical.separator)
    return features
