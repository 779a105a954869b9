"""Encoding split over ranks: each rank fills the shared cache with its share, then one call
assembles the same features as a single process."""

import pandas as pd
import torch

from encoders import encode_items
from encoders.text import HFTextEncoder
from mmgraph.config import EncodersConfig


def test_ranks_fill_one_cache_then_assembly_encodes_nothing(tmp_path, monkeypatch):
    items = pd.DataFrame({"item_id": range(9), "title": [f"film number {i}" for i in range(9)]})
    config = EncodersConfig()
    single = encode_items(items, config, tmp_path / "single", progress=False)

    encoded = []
    original = HFTextEncoder.encode
    monkeypatch.setattr(HFTextEncoder, "encode",
                        lambda self, batch: encoded.append(list(batch)) or original(self, batch))
    for rank in range(2):
        share = encode_items(items, config, tmp_path / "shared", progress=False,
                             shard=(rank, 2))
        assert share.features == {}
    per_rank = [sum(len(b) for b in encoded[:1]), sum(len(b) for b in encoded[1:])]
    assert per_rank == [5, 4]  # disjoint halves of the 9 texts
    encoded.clear()
    assembled = encode_items(items, config, tmp_path / "shared", progress=False)
    assert encoded == []
    assert torch.allclose(assembled.features["text"], single.features["text"], atol=1e-5)
