"""A finished ID-only run on a small seeded random user × item matrix, for the tests that serve,
refit, update or fuzz one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmgraph.config import load_config
from mmgraph.pipeline import run_all


def finished_run(folder: Path, name: str, shape: tuple[int, int], density: float, teacher: str,
                 student: str, timestamps: bool = False, extra: str = ""
                 ) -> tuple[Path, pd.DataFrame]:
    """Run every stage on the interactions where a seeded uniform draw over ``shape`` (users ×
    items) is below ``density`` (with random timestamps if asked), ID-only, seed 1, the
    ``teacher`` and ``student`` sections as YAML flow mappings and ``extra`` top-level YAML
    lines; returns the run folder ``folder/runs/name`` and the interactions."""
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random(shape) < density)
    frame = pd.DataFrame({"user_id": users, "item_id": items})
    if timestamps:
        frame["timestamp"] = rng.integers(0, 10_000, len(users))
    frame.to_parquet(folder / "inter.parquet")
    (folder / "c.yaml").write_text(
        f"name: {name}\nruns_root: {folder / 'runs'}\nseed: 1\n{extra}"
        f"data: {{interactions: {folder / 'inter.parquet'}}}\nencoders: {{text: null}}\n"
        f"teacher: {teacher}\nstudent: {student}\n")
    run_all(load_config(folder / "c.yaml"), progress=False)
    return folder / "runs" / name, frame
