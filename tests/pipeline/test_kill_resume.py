"""Crash safety of a whole run: SIGKILL `mmgraph run` at seeded random moments, many times;
every rerun resumes, never reads a half-written file, and the final outputs equal an unbroken
run's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.test_cli import NARROW_FILTER

MMGRAPH = str(Path(sys.executable).parent / "mmgraph")


def _config(folder: Path, name: str) -> Path:
    config = {"name": name, "seed": 5, "runs_root": str(folder / "runs"),
              "data": {"interactions": str(folder / "inter.csv"),
                       "items": str(folder / "items.csv")},
              "encoders": {"text": None, "categorical": {"columns": ["genre"]}},
              "teacher": {"dim": 16, "optim": {"epochs": 40, "eval_every": 2, "patience": 50},
                          "filter": NARROW_FILTER},
              "student": {"dim": 8, "rd_weight": 0.5, "hint_weight": 0.1,
                          "optim": {"epochs": 40, "eval_every": 2, "patience": 50}}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_run_killed_at_random_moments_resumes_to_the_unbroken_result(tmp_path,
                                                                     tiny_interactions):
    tiny_interactions.to_csv(tmp_path / "inter.csv", index=False)
    items = pd.DataFrame({"item_id": range(30), "genre": [f"g{i % 4}" for i in range(30)]})
    items.to_csv(tmp_path / "items.csv", index=False)
    started = time.monotonic()
    subprocess.run([MMGRAPH, "-q", "run", "--config", str(_config(tmp_path, "clean"))],
                   check=True, capture_output=True)
    duration = time.monotonic() - started

    config = _config(tmp_path, "killed")
    rng = np.random.default_rng(0)
    kills = 0
    # Within the first 60% of an unbroken run: a machine busier during the clean run than
    # now (a shorter run) must still see the kills land before the end.
    for delay in rng.uniform(0.3, 0.6 * duration, size=8):
        process = subprocess.Popen([MMGRAPH, "-q", "run", "--config", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        if process.poll() is not None:  # finished before the kill: every stage is done
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert kills >= 3, "the run finished before most kills: nothing was tested"
    final = subprocess.run([MMGRAPH, "-q", "run", "--config", str(config)], capture_output=True,
                           text=True)
    assert final.returncode == 0, final.stderr

    clean, killed = tmp_path / "runs" / "clean", tmp_path / "runs" / "killed"
    assert (json.loads((killed / "metrics.json").read_text())
            == json.loads((clean / "metrics.json").read_text()))
    pd.testing.assert_frame_equal(pd.read_parquet(killed / "recommendations.parquet"),
                                  pd.read_parquet(clean / "recommendations.parquet"))
    assert not list(killed.rglob(".*.tmp")), "stray temporary files survived the rerun"
