"""Shared fixtures: offline mode, tiny seeded tables, and a slice of the real ml-100k."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # a missing hub model must fail at once, never hit DNS
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def tiny_interactions() -> pd.DataFrame:
    """40 users × 30 items, 8–15 interactions each, seeded; ratings and timestamps included."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(40):
        for item in rng.choice(30, size=rng.integers(8, 16), replace=False):
            rows.append((user, int(item), float(rng.integers(1, 6)), int(rng.integers(1e9))))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


@pytest.fixture(scope="session")
def ml100k_tables(tmp_path_factory) -> tuple[Path, Path]:
    """The real ml-100k tables, prepared once per test session by data_prep."""
    from data_prep.movielens import prepare_ml100k

    return prepare_ml100k(tmp_path_factory.mktemp("ml-100k"))


@pytest.fixture(scope="session")
def ml100k_slice(ml100k_tables, tmp_path_factory) -> tuple[Path, Path]:
    """The first 120 users of ml-100k, the items they rated and 30 items none of them rated
    (cold-start items: content only), as Parquet like the quickstart's tables (integer ids:
    the README's examples run on it)."""
    interactions = pd.read_parquet(ml100k_tables[0])
    items = pd.read_parquet(ml100k_tables[1])
    interactions = interactions[interactions["user_id"] <= 120]
    rated = items["item_id"].isin(interactions["item_id"])
    items = pd.concat([items[rated], items[~rated].head(30)])
    folder = tmp_path_factory.mktemp("ml-100k-slice")
    interactions.to_parquet(folder / "interactions.parquet", index=False)
    items.to_parquet(folder / "items.parquet", index=False)
    return folder / "interactions.parquet", folder / "items.parquet"
