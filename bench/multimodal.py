"""Multimodal demo benchmark (configs/multimodal-demo.yaml), all in one run.

Items carry real fashion-MNIST images, text and (half of them) real sound clips; users are
simulated from a seeded preference model over the items' true class, tone and jingle
(data_prep/fashion_demo.py), and 10% of the items are new arrivals that no training
interaction touches.

1. Per-modality ablation of the teacher (same split, same settings): ID-only, + text, + image,
   + audio, all three (fused into the item embedding; and FREEDOM's way, content only building
   the item–item graph). Test Recall@20/NDCG@20 over the full catalogue (train items excluded),
   and on the new arrivals, from content alone: each user who chose any ranks the new items
   (Recall@20/NDCG@20), next to random and a content-kNN baseline.
   The last ablation row is the demo's own teacher: all three modalities, blended with the
   closed-form graph filter (weight chosen on valid).
2. The student distilled from that teacher, served through the FAISS index, and the same two
   rows with ``teacher: auto`` (the demo config without its teacher section); beside them the
   peers of bench/peers.py's extended table (every one but the time-aware EASE: the demo has
   no timestamps), each tuned on valid, on the same split; L3AE's item graph is built from all
   three modalities' vectors (each L2-normalised, concatenated), the content the teacher sees.
3. Pictures (docs/img/): a PCA of item embeddings coloured by true class, teacher vs student,
   with each model's 10-NN class agreement; a grid of example recommendations with images.

Usage:
    python bench/multimodal.py          # about 30 min on 2 cores
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's advice; before NumPy loads

import matplotlib
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import stats

from common import (KS, cold_metrics, content_knn_scores, random_cold_metrics, run_stages,
                    table)
from peers import GRIDS, TIME_PEERS, blend_ablation, ranked, served_top, tuned_peer
from data_prep.fashion_demo import CLASSES, FashionDemoOptions, Preferences
from mmgraph.config import RunConfig, load_config
from mmgraph.data import UserItems
from mmgraph.evaluation import evaluate_embeddings, topk_items
from mmgraph.io import read_json, read_tensors
from mmgraph.runs import RunDir, load_split
from mmgraph.recommender import Recommender

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

ROOT = Path(__file__).resolve().parents[1]
TEACHER_STAGES = ["split", "encode", "graph", "teacher"]
NO_MEDIA = {"text": None, "image": None, "audio": None}
TEXT = {"model": "sentence-transformers/all-MiniLM-L6-v2", "template": "{description}"}
IMAGE = {"model": "efficientnet-lite0", "column": "image"}
AUDIO = {"model": "musicnn-MSD", "column": "audio"}
#: name → (teacher overrides, encoders); everything else is configs/multimodal-demo.yaml.
LIGHTGCN = {"components": ["lightgcn"]}
ALL_MEDIA = {"text": TEXT, "image": IMAGE, "audio": AUDIO}
ABLATIONS: dict[str, tuple[dict, dict]] = {
    "ID-only LightGCN (no content)": ({**LIGHTGCN, "content": "none"}, NO_MEDIA),
    "+ text": (LIGHTGCN, {**NO_MEDIA, "text": TEXT}),
    "+ image": (LIGHTGCN, {**NO_MEDIA, "image": IMAGE}),
    "+ audio": (LIGHTGCN, {**NO_MEDIA, "audio": AUDIO}),
    "+ text + image + audio": (LIGHTGCN, ALL_MEDIA),
    "+ text + image + audio, content only builds the item graph (FREEDOM)": (
        {**LIGHTGCN, "content": "graph"}, ALL_MEDIA),
    "+ text + image + audio, decision-level fusion (a gated scorer per modality)": (
        {**LIGHTGCN, "fusion_level": "decision"}, ALL_MEDIA),
    "+ text + image + audio, model-level fusion (a LightGCN tower per modality)": (
        {**LIGHTGCN, "fusion_level": "model"}, ALL_MEDIA),
    "+ text + image + audio, blended with the graph filter (the demo's teacher)": ({}, ALL_MEDIA),
}


def config(name: str, runs: Path, sizes: dict, **sections) -> RunConfig:
    data = runs / "data"
    # One feature cache for every variant: each image and clip is encoded once.
    sections["encoders"] = {**sections.get("encoders", {}), "cache_dir": str(runs / "cache")}
    overrides = {"name": name, "runs_root": str(runs), **sections,
                 "data": {"interactions": str(data / "interactions.parquet"),
                          "items": str(data / "items.parquet"), "media_root": str(data / "media"),
                          "prepare_options": sizes}}
    return load_config(ROOT / "configs" / "multimodal-demo.yaml", overrides=overrides)


class NewArrivals:
    """The held-out choices of new items, indexed like ``run``'s split."""

    def __init__(self, run: RunDir, data_dir: Path):
        self.data = load_split(run)
        held = pd.read_parquet(data_dir / "new_arrivals.parquet")
        held = held[held["user_id"].isin(self.data.users.ids)]
        self.truth = UserItems(self.data.users.indices(held["user_id"], "new arrivals"),
                               self.data.items.indices(held["item_id"], "new arrivals"),
                               len(self.data.users), len(self.data.items))
        self.users = self.truth.users_with_items()
        self.items = np.unique(self.data.items.indices(held["item_id"], "new arrivals"))
        self.num_choices = len(held)

    def metrics(self, user_vectors: torch.Tensor, item_vectors: torch.Tensor) -> dict:
        scores = user_vectors[torch.from_numpy(self.users)] @ item_vectors[self.items].T
        return cold_metrics(scores, self.users, self.items, self.truth)


def teacher_row(run: RunDir, arrivals: NewArrivals) -> dict:
    data, state = load_split(run), read_json(run.path("teacher", "state.json"))
    emb = read_tensors(run.path("teacher", "embeddings.safetensors"))
    warm = ranked(topk_items(emb["users"], emb["items"], np.arange(len(data.users)), max(KS),
                             data.parts["train"]), data, "test")
    cold = arrivals.metrics(emb["users"], emb["items"])
    return {"recall@20": warm["recall@20"], "ndcg@20": warm["ndcg@20"],
            "per_user": warm["per_user"], "coverage@20": warm["coverage@20"],
            "popularity@20": warm["popularity@20"],
            "new recall@20": cold["recall@20"], "new ndcg@20": cold["ndcg@20"],
            "s/epoch": read_json(run.path("timings.json"))["teacher"]["seconds_per_epoch"],
            "best epoch": state["best_epoch"]}


def oracle_row(run: RunDir, data_dir: Path, arrivals: NewArrivals, options: dict) -> dict:
    """The simulated preference model itself, noise-free: the best ranking a model could learn
    (the choices also hold Gumbel noise, which no model can predict)."""
    data = load_split(run)
    items = pd.read_parquet(data_dir / "items.parquet")
    preferences = Preferences.load(data_dir / "truth")
    assert (items["item_id"].to_numpy() == data.items.ids.to_numpy()).all()
    utility = torch.from_numpy(preferences.utility(
        data.users.ids.to_numpy(), items, FashionDemoOptions(**options))).float()
    warm = evaluate_embeddings(utility, None, data.parts["test"], data.parts["train"], KS)
    cold = cold_metrics(utility[torch.from_numpy(arrivals.users)][:, arrivals.items],
                        arrivals.users, arrivals.items, arrivals.truth)
    return {"recall@20": warm["recall@20"], "ndcg@20": warm["ndcg@20"],
            "new recall@20": cold["recall@20"], "new ndcg@20": cold["ndcg@20"]}


def class_agreement(vectors: torch.Tensor, labels: np.ndarray, k: int = 10) -> float:
    """Share of each item's ``k`` nearest items (cosine) that have its true class."""
    normed = F.normalize(vectors, dim=1)
    sims = normed @ normed.T
    sims.fill_diagonal_(-2.0)
    nearest = sims.topk(k, dim=1).indices.numpy()
    return float((labels[nearest] == labels[:, None]).mean())


def pca_picture(panels: dict[str, torch.Tensor], labels: np.ndarray, out: Path) -> dict:
    """Scatter the first two principal components of each panel's ``[N, d]`` item vectors."""
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5.4))
    colours = plt.get_cmap("tab10")
    agreement = {}
    for axis, (title, vectors) in zip(axes, panels.items()):
        centred = F.normalize(vectors, dim=1)
        centred = centred - centred.mean(0)
        _, _, basis = torch.pca_lowrank(centred, q=2, center=False)
        points = (centred @ basis).numpy()
        agreement[title] = class_agreement(vectors, labels)
        for c, name in enumerate(CLASSES):
            chosen = labels == c
            axis.scatter(points[chosen, 0], points[chosen, 1], s=4, alpha=0.6,
                         color=colours(c), label=name)
        axis.set_title(f"{title}\n10-NN class agreement {agreement[title]:.2f}")
        axis.set_xticks([])
        axis.set_yticks([])
    axes[-1].legend(markerscale=4, fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    figure.suptitle("Item embeddings (PCA, cosine-normalised), coloured by true class")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return agreement


def recommendation_grid(run: RunDir, data_dir: Path, out: Path, users: int = 4,
                        history: int = 6, k: int = 8) -> None:
    """For a few test users: some train items, then the served top-``k``; a hit in the user's
    test items is framed green."""
    data = load_split(run)
    items = pd.read_parquet(data_dir / "items.parquet").set_index("item_id")
    train, test = data.parts["train"], data.parts["test"]
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.choice(test.users_with_items(), size=users, replace=False))
    recs = Recommender.load(run.root).recommend(list(data.users.to_ids(chosen)), k)
    figure, axes = plt.subplots(users, history + k, figsize=(1.2 * (history + k), 1.55 * users))
    for row, user in enumerate(chosen):
        seen = data.items.to_ids(train.batch_coo(np.array([user]))[1])[:history]
        top = recs[recs["user_id"] == data.users.ids[user]].sort_values("rank")["item_id"]
        hits = set(data.items.to_ids(test.batch_coo(np.array([user]))[1]))
        for col, item in enumerate([*seen, *top]):
            axis = axes[row, col]
            axis.imshow(Image.open(data_dir / "media" / items.at[item, "image"]), cmap="gray")
            axis.set_xticks([])
            axis.set_yticks([])
            jingle = items.at[item, "jingle"]
            axis.set_title(f"{items.at[item, 'class_name'][:9]}\n{items.at[item, 'tone']}"
                           f"{' ' + jingle if jingle else ''}", fontsize=6)
            if col >= history and item in hits:
                for spine in axis.spines.values():
                    spine.set_edgecolor("limegreen")
                    spine.set_linewidth(3)
        axes[row, 0].set_ylabel(f"user {data.users.ids[user]}", fontsize=7)
    axes[0, history // 2].annotate("train history", (0.5, 1.6), xycoords="axes fraction",
                                   ha="center", fontsize=9)
    axes[0, history + k // 2].annotate("student's top-8 via FAISS (green: in the user's test "
                                       "items)", (0.5, 1.6), xycoords="axes fraction",
                                       ha="center", fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-multimodal")
    parser.add_argument("--pictures", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--num-items", type=int, help="default: the config's (3,000)")
    parser.add_argument("--num-users", type=int, help="default: the config's (2,000)")
    args = parser.parse_args()
    sizes = {k: v for k, v in (("num_items", args.num_items), ("num_users", args.num_users))
             if v is not None}
    logging.basicConfig(level=logging.WARNING)
    data_dir = args.runs / "data"

    rows, runs = {}, {}
    for name, (teacher, encoders) in ABLATIONS.items():
        slug = "teacher-" + "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
        cfg = config(slug[:60], args.runs, sizes, teacher=teacher, encoders=encoders)
        runs[name] = run_stages(cfg, TEACHER_STAGES)
        arrivals = NewArrivals(runs[name], data_dir)
        rows[f"teacher, {name}"] = teacher_row(runs[name], arrivals)

    full = runs["+ text + image + audio"]
    features = read_tensors(full.path("features", "features.safetensors"))
    content = torch.cat([F.normalize(v, dim=1) for v in features.values()], dim=1)
    train = arrivals.data.parts["train"]
    cold = {
        "random ranking (mean of 20 seeds)": random_cold_metrics(arrivals.users, arrivals.items,
                                                                 arrivals.truth),
        "content-kNN (all three modalities, user profile)": cold_metrics(
            content_knn_scores(content, train, arrivals.users, arrivals.items), arrivals.users,
            arrivals.items, arrivals.truth),
    }
    for name, metrics in cold.items():
        rows[name] = {"new recall@20": metrics["recall@20"], "new ndcg@20": metrics["ndcg@20"]}

    students = {"the demo's teacher": {}, "teacher: auto": {"teacher": "auto"}}
    for name, sections in students.items():
        slug = "student-all" if not sections else "student-auto"
        run = run_stages(config(slug, args.runs, sizes, **sections),
                         [*TEACHER_STAGES, "student", "index", "evaluate"])
        served = read_tensors(run.path("student", "embeddings.safetensors"))
        if sections:  # the demo's own teacher is already an ablation row
            rows["teacher: auto (no teacher section), blended"] = {
                **teacher_row(run, NewArrivals(run, data_dir)), "best epoch": ""}
        new = NewArrivals(run, data_dir).metrics(served["users"], served["items"])
        warm = ranked(served_top(run, load_split(run)), load_split(run), "test")
        rows[f"student (32-d) from {name}, served via FAISS"] = {
            "recall@20": warm["recall@20"], "ndcg@20": warm["ndcg@20"],
            "per_user": warm["per_user"], "coverage@20": warm["coverage@20"],
            "popularity@20": warm["popularity@20"], "new recall@20": new["recall@20"],
            "new ndcg@20": new["ndcg@20"],
            "s/epoch": read_json(run.path("timings.json"))["student"]["seconds_per_epoch"]}
        if not sections:
            student_run = run
        print(f"Blend of {name} without each component (valid):\n" + blend_ablation(
            [read_json(run.path("teacher", "state.json"))]) + "\n")
    metrics = read_json(student_run.path("metrics.json"))
    rows["popularity"] = {"recall@20": metrics["popularity"]["test"]["recall@20"],
                          "ndcg@20": metrics["popularity"]["test"]["ndcg@20"]}
    split = load_split(student_run)  # the peers are ID-only but L3AE: no new-arrival column
    for name in GRIDS:
        if name not in TIME_PEERS and (row := tuned_peer(
                name, split, content.numpy().astype(np.float64), {})) is not None:
            label = name.replace("MiniLM text graph", "the three modalities' item graph")
            rows[f"peer: {label} ({row['setting']}, tuned on valid)"] = row
    rows["oracle: the simulated preference model, noise-free (ceiling)"] = oracle_row(
        student_run, data_dir, arrivals, config("student-all", args.runs, sizes)
        .data.prepare_options)

    data = load_split(student_run)
    items = pd.read_parquet(data_dir / "items.parquet").set_index("item_id")
    labels = items.loc[data.items.ids, "label"].to_numpy()
    teacher_items = read_tensors(student_run.path("teacher", "embeddings.safetensors"))["items"]
    agreement = pca_picture({"teacher (all modalities, blended)": teacher_items,
                             "student (served, 32-d)": served["items"]}, labels,
                            args.pictures / "multimodal-pca.png")
    recommendation_grid(student_run, data_dir, args.pictures / "multimodal-recs.png")

    print(f"fashion-demo (configs/multimodal-demo.yaml): {len(data.items):,} items, "
          f"{len(data.users):,} users, {len(arrivals.items)} new arrivals chosen "
          f"{arrivals.num_choices:,} times by {len(arrivals.users):,} users; seed 2026; "
          f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print(table(rows, ["recall@20", "ndcg@20", "coverage@20", "popularity@20", "new recall@20",
                       "new ndcg@20", "s/epoch", "best epoch"]))
    best_id = rows["teacher, ID-only LightGCN (no content)"]["ndcg@20"]
    for name in ABLATIONS:
        if name.startswith("+"):
            print(f"teacher {name} vs ID-only, NDCG@20: "
                  f"{rows[f'teacher, {name}']['ndcg@20'] / best_id - 1:+.1%}")
    peer_rows = {name: row for name, row in rows.items() if name.startswith("peer: ")}
    best = max(peer_rows, key=lambda name: peer_rows[name]["ndcg@20"])
    print(f"\nbest peer (test NDCG@20): {best}")
    for name in ("teacher, " + list(ABLATIONS)[-1], *[n for n in rows if n.startswith((
            "teacher: auto", "student ("))]):
        p = stats.ttest_rel(rows[name]["per_user"], rows[best]["per_user"]).pvalue
        print(f"{name}: {rows[name]['ndcg@20'] / rows[best]['ndcg@20']:.3f}x the best peer's "
              f"NDCG@20, paired t-test over test users p = {p:.2g}")
    print("\n10-NN class agreement of item embeddings (chance 0.10): " +
          ", ".join(f"{k}: {v:.3f}" for k, v in agreement.items()))
    print(f"pictures: {args.pictures / 'multimodal-pca.png'}, "
          f"{args.pictures / 'multimodal-recs.png'}")


if __name__ == "__main__":
    main()
