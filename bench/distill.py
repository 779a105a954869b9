"""Distillation and cold-start benchmarks on MovieLens-100K, each in one run.

1. Distillation ablation on the fixed split (configs/quickstart.yaml, seed 2026): one teacher,
   then students that differ only in their losses (and in how the served index stores the
   vectors): test NDCG@20/Recall@20, served parameters, bytes per item in the index, users/s
   scored (top-20 of all items, train items excluded, all users).
2. Cold-start items: 10% of the items (seeded) lose every interaction; the pipeline runs on
   the rest, the cold-start mapper places those items from their text alone, and each user who
   rated any of them ranks the cold items: Recall@20/NDCG@20 against random and a content-kNN
   baseline (cosine of the item's MiniLM text to the mean of the user's train items).

Usage:
    python bench/distill.py          # about 15 min on 2 cores
"""

from __future__ import annotations

import argparse
import logging
import platform
import shutil
import time
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import torch
from common import cold_metrics, content_knn_scores, random_cold_metrics, run_stages

from data_prep.movielens import prepare_ml100k
from mmgraph.config import RunConfig, load_config
from mmgraph.data import UserItems
from mmgraph.evaluation import topk_items
from mmgraph.index import RetrievalIndex
from mmgraph.io import read_json, read_tensors
from mmgraph.pipeline import STAGES
from mmgraph.runs import RunDir, load_split

ROOT = Path(__file__).resolve().parents[1]
NONE = {"kd_weight": 0.0, "rd_weight": 0.0, "contrastive_weight": 0.0, "hint_weight": 0.0}
SOFT = {**NONE, "kd_weight": 0.5, "temperature": 2.0}
ALL = {**SOFT, "rd_weight": 0.5, "contrastive_weight": 0.1, "hint_weight": 0.1}  # = quickstart

#: name → (student overrides, recommend overrides); the rest of the student config is the
#: quickstart's (32-d, lr 5e-3, batch 2048, early stopping).
VARIANTS: dict[str, tuple[dict, dict]] = {
    "student, BPR only (no distillation)": (NONE, {}),
    "student, soft labels only (KD weight 1)": ({**NONE, "kd_weight": 1.0}, {}),
    "student, BPR + soft labels": (SOFT, {}),
    "student, BPR + ranking distillation": ({**NONE, "rd_weight": 0.5}, {}),
    "student, BPR + contrastive": ({**NONE, "contrastive_weight": 0.1}, {}),
    "student, BPR + hint": ({**NONE, "hint_weight": 0.1}, {}),
    "student, all losses": (ALL, {}),
    "student, all losses, served float16 (SQfp16)": (ALL, {"index_factory": "SQfp16"}),
    "student, all losses, served int8 (SQ8)": (ALL, {"index_factory": "SQ8"}),
}


def config(name: str, runs: Path, tables: tuple[Path, Path], **sections) -> RunConfig:
    overrides = {"name": name, "runs_root": str(runs),
                 "data": {"interactions": str(tables[0]), "items": str(tables[1])}, **sections}
    return load_config(ROOT / "configs" / "quickstart.yaml", overrides=overrides)


def users_per_second(score_all_users, repeats: int = 3) -> float:
    """Median throughput of ``score_all_users() -> number of users``."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        count = score_all_users()
        rates.append(count / (time.perf_counter() - started))
    return float(np.median(rates))


def bytes_per_item(index: faiss.Index) -> int:
    """Bytes one item's vector takes in the index (its code size)."""
    return faiss.downcast_index(faiss.downcast_index(index).index).code_size


def distillation_table(runs: Path, tables: tuple[Path, Path]) -> None:
    base = run_stages(config("teacher", runs, tables), ["split", "encode", "graph", "teacher"])
    data = load_split(base)
    users = np.arange(len(data.users))
    train = data.parts["train"]
    teacher = read_tensors(base.path("teacher", "embeddings.safetensors"))
    rows = {}
    for name, (student, recommend) in VARIANTS.items():
        slug = "".join(c if c.isalnum() else "-" for c in name.lower())[:60]
        if not RunDir(runs / slug).root.exists():
            shutil.copytree(base.root, runs / slug)
        cfg = config(slug, runs, tables, student=student, recommend=recommend)
        run = run_stages(cfg, ["split", "encode", "graph", "teacher", "student", "index",
                               "evaluate"])
        metrics = read_json(run.path("metrics.json"))
        served = read_tensors(run.path("student", "embeddings.safetensors"))
        index = RetrievalIndex.load(run.path("index"))
        vectors = served["users"].numpy()
        rows[name] = {
            **metrics["student"]["test"],
            "served params": served["users"].numel() + served["items"].numel(),
            "bytes/item": bytes_per_item(index.index),
            "users/s": users_per_second(
                lambda: len(index.search_users(vectors, users, 20, train)[0])),
            "best epoch": read_json(run.path("student", "state.json"))["best_epoch"],
        }
        if "teacher" not in rows:  # the same teacher under every variant
            rows["teacher"] = {
                **metrics["teacher"]["test"],
                "served params": teacher["users"].numel() + teacher["items"].numel(),
                "bytes/item": teacher["items"].shape[1] * 4,
                "users/s": users_per_second(lambda: len(topk_items(
                    teacher["users"], teacher["items"], users, 20, train))),
            }
    print(f"ml-100k, seed 2026, test split, {len(users)} users scored; {platform.machine()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, faiss "
          f"{faiss.__version__}\n")
    columns = ["recall@20", "ndcg@20", "served params", "bytes/item", "users/s", "best epoch"]
    print("| model | " + " | ".join(columns) + " |\n" + "|---" * (len(columns) + 1) + "|")
    order = ["teacher", *VARIANTS]
    for name in order:
        row = rows[name]
        cells = [f"{row[c]:.4f}" if c in ("recall@20", "ndcg@20") else
                 f"{row[c]:,.0f}" if c in row else "" for c in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")
    reference = rows["teacher"]
    for name in ("student, BPR + soft labels", "student, all losses"):
        print(f"\n{name}: {rows[name]['ndcg@20'] / reference['ndcg@20']:.1%} of the teacher's "
              f"NDCG@20; {rows[name]['ndcg@20'] / rows[order[1]]['ndcg@20'] - 1:+.1%} vs "
              f"BPR only")
    small = rows["student, all losses, served float16 (SQfp16)"]
    print(f"student served float16: {reference['bytes/item'] / small['bytes/item']:.0f}× fewer "
          f"bytes per item than the teacher, {small['ndcg@20'] / reference['ndcg@20']:.1%} of "
          f"its NDCG@20")


def coldstart_table(runs: Path, tables: tuple[Path, Path], fraction: float = 0.1) -> None:
    interactions = pd.read_parquet(tables[0])
    rng = np.random.default_rng(2026)
    items = np.sort(interactions["item_id"].unique())
    cold_ids = rng.choice(items, size=int(round(fraction * len(items))), replace=False)
    is_cold = interactions["item_id"].isin(cold_ids)
    folder = runs / "coldstart-data"
    folder.mkdir(parents=True, exist_ok=True)
    interactions[~is_cold].to_parquet(folder / "interactions.parquet", index=False)
    cold_tables = (folder / "interactions.parquet", tables[1])
    cfg = config("coldstart", runs, cold_tables)  # the quickstart config: all losses
    run = run_stages(cfg, list(STAGES))
    data = load_split(run)
    held = interactions[is_cold & interactions["user_id"].isin(data.users.ids)]
    truth = UserItems(data.users.indices(held["user_id"], "cold"),
                      data.items.indices(held["item_id"], "cold"), len(data.users),
                      len(data.items))
    users = truth.users_with_items()
    candidates = np.sort(data.items.indices(pd.Series(cold_ids), "cold"))
    served = read_tensors(run.path("student", "embeddings.safetensors"))
    teacher = read_tensors(run.path("teacher", "embeddings.safetensors"))
    features = read_tensors(run.path("features", "features.safetensors"))["text"]
    index_users = torch.from_numpy(users)
    rows = {
        "random (mean of 20 seeds)": random_cold_metrics(users, candidates, truth),
        "content-kNN (MiniLM text, user profile)": cold_metrics(
            content_knn_scores(features, data.parts["train"], users, candidates), users,
            candidates, truth),
        "teacher (content in its item embedding, untrained ID)": cold_metrics(
            teacher["users"][index_users] @ teacher["items"][candidates].T, users, candidates,
            truth),
        "student + cold-start mapper (served)": cold_metrics(
            served["users"][index_users] @ served["items"][candidates].T, users, candidates,
            truth),
    }
    print(f"\nCold start: {len(cold_ids)} of {len(items)} items ({fraction:.0%}, seed 2026) "
          f"held out of training entirely; {len(users)} users rank the {len(candidates)} cold "
          f"items ({len(held)} held-out interactions)\n")
    print("| method | recall@20 | ndcg@20 |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['recall@20']:.4f} | {row['ndcg@20']:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-distill")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tables = prepare_ml100k(args.runs / "data")
    distillation_table(args.runs, tables)
    coldstart_table(args.runs, tables)


if __name__ == "__main__":
    main()
