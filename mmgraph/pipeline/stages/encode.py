"""The encode stage: item content through the configured pretrained encoders (cached)."""

from __future__ import annotations

import pandas as pd
import torch

from mmgraph.config import DataConfig, EncodersConfig, section_hash
from mmgraph.io import file_sha256, write_tensors
from mmgraph.pipeline.inputs import load_items_table
from mmgraph.pipeline.runner import StageContext, reads, run_stage
from mmgraph.runs import layout
from mmgraph.training.distributed import barrier

__all__ = ["encode"]


def _media_stamp(data: DataConfig, encoders: EncodersConfig) -> str:
    """Size and modification time of every media file the items table names, so that an
    edited image or clip re-runs the encode stage (its cache then re-encodes just that file)."""
    columns = [c.column for c in (encoders.image, encoders.audio) if c is not None]
    if not columns or data.media_root is None:
        return ""
    items, stamps = load_items_table(data), []
    for column in columns:
        for value in items.get(column, pd.Series(dtype=object)).dropna():
            path = data.media_root / str(value)
            stat = path.stat() if path.is_file() else None
            stamps.append(f"{value}:{stat.st_size}:{stat.st_mtime_ns}" if stat else f"{value}:-")
    return section_hash(*stamps)


@reads("data", "encoders", "teacher")
def encode(ctx: StageContext) -> None:
    """Encode item content with the configured pretrained encoders (cached); under torchrun
    each rank encodes its share into the shared cache and rank 0 assembles the features."""
    from encoders.items import ItemFeatures, encode_items  # transformers: import when needed

    cfg, run, dist = ctx.cfg, ctx.run, ctx.dist
    wanted = cfg.data.items is not None and cfg.teacher.content != "none"
    sources = [file_sha256(cfg.data.items), _media_stamp(cfg.data, cfg.encoders)] if wanted else []
    fingerprint = section_hash(cfg.encoders if wanted else None, run.fingerprint("split"),
                               *sources)

    def work() -> None:
        encoded = ItemFeatures()
        cache = cfg.encoders.cache_dir or run.path(layout.FEATURE_CACHE)
        if wanted and dist.enabled:  # each rank encodes its share into the shared cache
            encode_items(load_items_table(cfg.data), cfg.encoders, cache, cfg.data.media_root,
                         ctx.device, ctx.progress, (dist.rank, dist.world_size))
            barrier(dist)
        if not dist.is_main:
            return
        if wanted:  # after the ranks, every vector is cached: this only assembles and reports
            encoded = encode_items(load_items_table(cfg.data), cfg.encoders, cache,
                                   cfg.data.media_root, ctx.device, ctx.progress)
        write_tensors(run.path(layout.FEATURE_MASKS),
                      {k: v.to(torch.uint8) for k, v in encoded.masks.items()})
        write_tensors(run.path(layout.FEATURES), encoded.features)

    run_stage(ctx, "encode", fingerprint, [layout.FEATURES], work, every_rank=True)
