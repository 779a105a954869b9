"""Shared fixtures: offline mode, tiny seeded tables, and a slice of the real ml-100k."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # a missing hub model must fail at once, never hit DNS
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs ``-n auto``), one thread per worker: the workers
    already fill the cores, and two multi-threaded torch workers on two cores spin against each
    other (the quickstart test took 3× as long). Set before the workers start; they, and the
    processes tests spawn, inherit it."""
    if getattr(config.option, "numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(name, "1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Test files holding a ``slow`` test first, each file's tests kept together (module
    fixtures are built once): the longest work starts first and the parallel workers finish
    together (the quickstart test alone is a quarter of the suite). ``make test`` keeps this
    order (``--dist loadfile --no-loadscope-reorder``)."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


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
