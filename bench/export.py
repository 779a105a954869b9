"""Export benchmark: rows/s of ``export_embeddings`` per format, and a kill-and-resume check.

Generated 1M × 64 float32 item vectors (integer ids), shards of 100k rows, median of 3 fresh
exports per format; then a real export process is SIGKILLed while it writes shards, rerun, and
the result compared with the vectors (and the count of shards the rerun reused).

Usage:
    python bench/export.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mmgraph.export import export_embeddings, read_embeddings

WORKER = """
import sys, numpy as np
from mmgraph.export import export_embeddings
rows, dim, fmt = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
vectors = np.random.default_rng(0).normal(size=(rows, dim)).astype(np.float32)
export_embeddings({"items": (np.arange(rows), vectors)}, sys.argv[1], ["items"], fmt,
                  shard_rows=rows // 20, model_hash="bench", progress=False)
"""


def rows_per_second(vectors: np.ndarray, fmt: str, shard_rows: int, folder: Path) -> float:
    times = []
    for _ in range(3):
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        export_embeddings({"items": (np.arange(len(vectors)), vectors)}, folder, ["items"], fmt,
                          shard_rows=shard_rows, model_hash="bench", progress=False)
        times.append(time.perf_counter() - started)
    return len(vectors) / float(np.median(times))


def kill_and_resume(folder: Path, rows: int, dim: int, fmt: str) -> str:
    command = [sys.executable, "-c", WORKER, str(folder), str(rows), str(dim), fmt]
    process = subprocess.Popen(command)
    while not (folder / "manifest.partial.json").exists():
        time.sleep(0.01)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(json.loads((folder / "manifest.partial.json").read_text())["shards"])
    subprocess.run(command, check=True)
    ids, vectors = read_embeddings(folder, "items")
    expected = np.random.default_rng(0).normal(size=(rows, dim)).astype(np.float32)
    same = np.array_equal(ids, np.arange(rows)) and np.array_equal(vectors, expected)
    stray = list(folder.glob("*/.*.tmp"))
    return (f"killed after {finished} of 20 shards; the rerun reused them and finished; "
            f"read back equal to the source: {same}; stray temporary files: {len(stray)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args()
    vectors = np.random.default_rng(0).normal(size=(args.rows, args.dim)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{args.rows:,} × {args.dim} float32, shards of {args.rows // 10:,} rows, median "
              f"of 3\n\n| format | rows/s | MB/s |\n|---|---|---|")
        for fmt in ("parquet", "npy"):
            rate = rows_per_second(vectors, fmt, args.rows // 10, Path(tmp) / fmt)
            print(f"| {fmt} | {rate:,.0f} | {rate * args.dim * 4 / 1e6:,.0f} |")
        print("\nkill and resume (parquet): "
              + kill_and_resume(Path(tmp) / "killed", args.rows, args.dim, "parquet"))


if __name__ == "__main__":
    main()
