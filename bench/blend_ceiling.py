"""How far can blending take the teacher on ml-100k? The quickstart teacher's two components
(LightGCN + text, the graph filter) and the two strongest peers (EASE, iALS from ``implicit``,
at their tuned settings from ``bench/peers.py``) blended with every weight vector on a 0.1
grid; each score matrix is divided by its standard deviation first, as the teacher's blend
does.

Prints the blends that valid ranks best (what a tuned ensemble would pick, test once) and the
**oracle**: the best test NDCG@20 over every weight vector, weights picked on test. The oracle
is not a result anyone may claim; it bounds what any blend of these four models can reach on
this split.

Usage (after ``mmgraph quickstart``, which leaves ``runs/quickstart``):
    python bench/blend_ceiling.py [--run runs/quickstart]
"""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's advice; before NumPy loads

import numpy as np

from mmgraph.io import read_json, read_tensors
from mmgraph.models.spectral import interaction_matrix
from mmgraph.runs import RunDir, load_split
from peers import ease, evaluate_scores, ials

ROOT = Path(__file__).resolve().parents[1]


def teacher_components(run: RunDir) -> dict[str, np.ndarray]:
    """The blended teacher's components as dense ``[U, I]`` scores: its embeddings are the
    components side by side (``mmgraph.models.blend``), LightGCN's ``dim`` columns first."""
    tensors = read_tensors(run.path("teacher", "embeddings.safetensors"))
    dim = read_json(run.path("teacher", "state.json"))["config"]["dim"]
    users, items = tensors["users"].numpy(), tensors["items"].numpy()
    return {"lightgcn": users[:, :dim] @ items[:, :dim].T,
            "filter": users[:, dim:] @ items[:, dim:].T}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "quickstart")
    args = parser.parse_args()
    run = RunDir(args.run)
    data = load_split(run)
    train = interaction_matrix(data.train_pairs, len(data.users), len(data.items))
    scores = {**teacher_components(run),
              "EASE": ease(train, 200.0),  # bench/peers.py's tuned settings
              "iALS": ials(train, factors=256, regularization=30.0, alpha=3.0)}
    scores = {name: s / s.std() for name, s in scores.items()}
    names = list(scores)
    for name in names:
        print(f"{name}: valid {evaluate_scores(scores[name], data, 'valid')['ndcg@20']:.4f}, "
              f"test {evaluate_scores(scores[name], data, 'test')['ndcg@20']:.4f}")
    rows = []
    for weights in itertools.product([w / 10 for w in range(11)], repeat=len(names)):
        if abs(sum(weights) - 1) > 1e-9:
            continue
        blend = sum(w * scores[n] for w, n in zip(weights, names) if w)
        rows.append((evaluate_scores(blend, data, "valid")["ndcg@20"],
                     evaluate_scores(blend, data, "test")["ndcg@20"], weights))
    print(f"{len(rows)} weight vectors over {names}")
    for valid, test, weights in sorted(rows)[-3:]:
        print(f"best on valid: weights {weights}: valid {valid:.4f}, test {test:.4f}")
    valid, test, weights = max(rows, key=lambda row: row[1])
    print(f"oracle (weights picked on test): weights {weights}: test {test:.4f}")


if __name__ == "__main__":
    main()
