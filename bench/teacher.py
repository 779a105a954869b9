"""Teacher benchmark on the fixed MovieLens-100K split, all models in one run, plus a scale run.

Models (test metrics, full ranking, train items excluded; valid split for early stopping):
- popularity;
- PyG's own ``torch_geometric.nn.models.LightGCN`` with the recipe of PyG's
  ``examples/lightgcn.py`` (64-d, 2 layers, Adam 1e-3, batch 8192, one uniform negative,
  ``recommendation_loss``), early-stopped on validation NDCG@20 like ours; and the same PyG
  model and loss with our settings (3 layers, lr 5e-3, batch 2048), like for like;
- our ID-only LightGCN (the teacher with content off), also with negatives drawn uniformly over
  all items as PyG's recipe draws them (ours draws among the user's unseen items);
- our multimodal teacher: MiniLM text + genres/year multi-hot, for each fusion variant, and
  FREEDOM's design (content only builds the item–item graph; ID embeddings propagate over it).

Besides all test users, NDCG@20 is reported on the sparsest quarter of them (fewest training
interactions), where content has the most to add.

Usage:
    python bench/teacher.py                   # ml-100k table (about 45 min on 2 cores)
    python bench/teacher.py --scale           # also epoch time / peak memory at 100k..1M
    python bench/teacher.py --scale-only      # only that
    python bench/teacher.py --negatives-only  # ours ID-only: unseen vs uniform negatives
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch_geometric.nn.models import LightGCN

from common import table
from data_prep.movielens import prepare_ml100k
from mmgraph.config import load_config, merge_nested
from mmgraph.evaluation import evaluate_embeddings, popularity_scores
from mmgraph.io import file_sha256, read_json, read_tensors
from mmgraph.pipeline import STAGES
from mmgraph.runs import RunDir, load_split

ROOT = Path(__file__).resolve().parents[1]
KS = (10, 20)
#: This benchmark measures LightGCN alone (without the graph filter the quickstart blends in),
#: with the settings its table states: 64-d, lr 5e-3, batch 2048.
LIGHTGCN_ALONE = {"components": ["lightgcn"], "dim": 64,
                  "optim": {"lr": 0.005, "batch_size": 2048}}


def test_metrics(user_emb: torch.Tensor, item_emb: torch.Tensor | None, data) -> dict:
    """Test metrics over all users, plus NDCG@20 of the sparsest quarter of users."""
    counts = data.parts["train"].counts
    sparse = np.flatnonzero(counts <= np.quantile(counts, 0.25))
    every = evaluate_embeddings(user_emb, item_emb, data.parts["test"], data.parts["train"], KS)
    slice_ = evaluate_embeddings(user_emb, item_emb, data.parts["test"], data.parts["train"],
                                 (20,), users=sparse)
    return {**every, "ndcg@20 sparse": slice_["ndcg@20"]}


def our_teacher(name: str, tables: tuple[Path, Path], runs: Path, teacher: dict,
                encoders: dict | None = None) -> dict:
    overrides = {"name": name, "runs_root": str(runs), "teacher": copy.deepcopy(LIGHTGCN_ALONE),
                 "data": {"interactions": str(tables[0]), "items": str(tables[1])}}
    merge_nested(overrides["teacher"], teacher)
    if encoders is not None:
        overrides["encoders"] = encoders
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", overrides=overrides)
    run = RunDir(cfg.run_dir)
    for stage in ("split", "encode", "graph", "teacher"):
        STAGES[stage](cfg, run, progress=False)
    data, state = load_split(run), read_json(run.path("teacher", "state.json"))
    emb = read_tensors(run.path("teacher", "embeddings.safetensors"))
    return {**test_metrics(emb["users"], emb["items"], data),
            "s/epoch": read_json(run.path("timings.json"))["teacher"]["seconds_per_epoch"],
            "best epoch": state["best_epoch"],
            "split": file_sha256(run.path("splits", "test.parquet"))}


def pyg_lightgcn(run: RunDir, seed: int, max_epochs: int, lr: float = 0.001,
                 num_layers: int = 2, batch_size: int = 8192, eval_every: int = 10,
                 patience: int = 5) -> dict:
    """PyG's LightGCN, trained as in PyG's examples/lightgcn.py (by default with its settings:
    lr 1e-3, 2 layers, batch 8192), on our split."""
    torch.manual_seed(seed)
    data = load_split(run)
    num_users, num_items = len(data.users), len(data.items)
    pairs = data.train_pairs
    label_index = torch.stack([pairs[0], pairs[1] + num_users])
    edge_index = torch.cat([label_index, label_index.flip(0)], dim=1)
    model = LightGCN(num_nodes=num_users + num_items, embedding_dim=64, num_layers=num_layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    best, best_state, best_epoch, stale, seconds = -1.0, None, 0, 0, 0.0

    def evaluate(part: str) -> dict[str, float]:
        with torch.no_grad():
            emb = model.get_embedding(edge_index)
        if part == "test":
            return test_metrics(emb[:num_users], emb[num_users:], data)
        return evaluate_embeddings(emb[:num_users], emb[num_users:], data.parts[part],
                                   data.parts["train"], KS)

    for epoch in range(1, max_epochs + 1):
        started = time.perf_counter()
        for index in torch.randperm(label_index.shape[1]).split(batch_size):
            positive = label_index[:, index]
            negative = torch.stack([positive[0], torch.randint(num_users, num_users + num_items,
                                                               (index.numel(),))])
            labels = torch.cat([positive, negative], dim=1)
            pos_rank, neg_rank = model(edge_index, labels).chunk(2)
            loss = model.recommendation_loss(pos_rank, neg_rank, node_id=labels.unique())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds += time.perf_counter() - started
        if epoch % eval_every == 0:
            score = evaluate("valid")["ndcg@20"]
            if score > best:
                best, best_epoch, stale = score, epoch, 0
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
            if stale >= patience:
                break
    model.load_state_dict(best_state)
    return {**evaluate("test"), "s/epoch": seconds / epoch, "best epoch": best_epoch}


def ours_uniform_negatives(run: RunDir, seed: int = 2026) -> dict:
    """Our ID-only teacher (quickstart settings) with negatives drawn uniformly over all items,
    as PyG's recipe draws them, instead of among the user's unseen items."""
    from mmgraph.config import TeacherConfig
    from mmgraph.data import UserItems
    from mmgraph.graph import bipartite_adjacency
    from mmgraph.models import MultimodalTeacher
    from mmgraph.training import fit, teacher_ranking_loss

    cfg = load_config(ROOT / "configs" / "quickstart.yaml").teacher
    given = cfg.model_dump()
    merge_nested(given, {**LIGHTGCN_ALONE, "content": "none"})
    cfg = TeacherConfig.model_validate(given)
    torch.manual_seed(seed)
    data = load_split(run)
    num_users, num_items = len(data.users), len(data.items)
    adjacency = bipartite_adjacency(data.train_pairs, num_users, num_items)
    model = MultimodalTeacher(num_users, num_items, cfg.dim, cfg.layers, {})
    nothing_seen = UserItems(np.empty(0, np.int64), np.empty(0, np.int64), num_users, num_items)
    generator = torch.Generator().manual_seed(seed)
    loss = teacher_ranking_loss(model, adjacency, {}, None, nothing_seen, cfg.optim.reg, generator)

    def validate() -> dict[str, float]:
        with torch.no_grad():
            users, items = model(adjacency, {}, None)
        return evaluate_embeddings(users, items, data.parts["valid"], data.parts["train"], KS)

    result = fit(model, loss, tuple(data.train_pairs), validate, cfg.optim, "ndcg@20", generator,
                 "uniform negatives", progress=False)
    with torch.no_grad():
        users, items = model(adjacency, {}, None)
    return {**test_metrics(users, items, data), "s/epoch": result.seconds_per_epoch,
            "best epoch": result.best_epoch}


def popularity(run: RunDir) -> dict:
    data = load_split(run)
    scores = popularity_scores(data.parts["train"], len(data.users))
    return test_metrics(scores, None, data)


def scale_worker(num_interactions: int) -> None:
    """One teacher epoch (ID-only and with 64-d content) on a generated graph; prints JSON."""
    sys.path.insert(0, str(ROOT / "bench"))
    from propagation import power_law_graph

    from mmgraph.config import TeacherConfig
    from mmgraph.data import UserItems
    from mmgraph.graph import bipartite_adjacency, item_adjacency, knn_graph
    from mmgraph.models import MultimodalTeacher, spectral_filter
    from mmgraph.training import teacher_ranking_loss

    num_users, num_items = 10_000, 20_000
    pairs = power_law_graph(num_users, num_items, num_interactions, seed=0)
    seen = UserItems(pairs[0].numpy(), pairs[1].numpy(), num_users, num_items)
    adjacency = bipartite_adjacency(pairs, num_users, num_items)
    features = {"text": torch.nn.functional.normalize(torch.randn(num_items, 64), dim=1)}
    item_adj = item_adjacency(*knn_graph(features["text"], 10), num_items)
    cfg = TeacherConfig()
    # As the teacher stage batches: at most propagations_per_epoch full propagations an epoch.
    batch_size = max(cfg.optim.batch_size,
                     math.ceil(pairs.shape[1] / cfg.optim.propagations_per_epoch))
    result = {"interactions": int(pairs.shape[1]), "batch": batch_size}
    started = time.perf_counter()
    spectral_filter(pairs, num_users, num_items, rank=cfg.filter.rank,
                    dense_items=cfg.filter.dense_items)
    result["filter s"] = time.perf_counter() - started
    for label, feats, adj in (("id-only", {}, None), ("content", features, item_adj)):
        model = MultimodalTeacher(num_users, num_items, cfg.dim, cfg.layers,
                                  {k: v.shape[1] for k, v in feats.items()})
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr)
        generator = torch.Generator().manual_seed(0)
        loss_fn = teacher_ranking_loss(model, adjacency, feats, adj, seen, cfg.optim.reg,
                                       generator)
        started = time.perf_counter()
        for batch in torch.randperm(pairs.shape[1], generator=generator).split(batch_size):
            loss = loss_fn(pairs[0][batch], pairs[1][batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        result[f"{label} s/epoch"] = time.perf_counter() - started
    result["peak RSS GiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-teacher")
    parser.add_argument("--pyg-max-epochs", type=int, default=1500)
    parser.add_argument("--scale", action="store_true")
    parser.add_argument("--scale-only", action="store_true", help="only the scale table")
    parser.add_argument("--scale-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--negatives-only", action="store_true",
                        help="only ours ID-only with unseen vs uniform negatives")
    args = parser.parse_args()
    if args.scale_worker:
        scale_worker(args.scale_worker)
        return
    logging.basicConfig(level=logging.WARNING)
    if args.scale_only:
        scale_table()
        return
    tables = prepare_ml100k(args.runs / "data")
    text = {"text": {"template": "{title} ({year}). Genres: {genres}"}}
    both = {**text, "categorical": {"columns": ["genres", "year"]}}
    rows: dict[str, dict] = {}
    rows["ours, ID-only LightGCN"] = our_teacher("id-only", tables, args.runs,
                                                 {"content": "none"})
    reference = RunDir(args.runs / "id-only")
    rows["ours, ID-only, negatives uniform over all items (as PyG's recipe)"] = (
        ours_uniform_negatives(reference))
    if args.negatives_only:
        rows["ours, ID-only LightGCN"].pop("split")
        print(table(rows, ["recall@10", "recall@20", "ndcg@10", "ndcg@20", "ndcg@20 sparse",
                           "s/epoch", "best epoch"]))
        return
    rows["popularity"] = popularity(reference)
    rows["PyG LightGCN (examples/lightgcn.py recipe)"] = pyg_lightgcn(
        reference, seed=2026, max_epochs=args.pyg_max_epochs)
    rows["PyG LightGCN, our settings (3 layers, lr 5e-3, batch 2048)"] = pyg_lightgcn(
        reference, seed=2026, max_epochs=args.pyg_max_epochs, lr=0.005, num_layers=3,
        batch_size=2048, eval_every=5, patience=4)
    for fusion in ("sum", "concat_mlp", "attention", "gated"):
        rows[f"ours, text+genres/year, {fusion}"] = our_teacher(
            f"mm-{fusion}", tables, args.runs, {"fusion": fusion}, both)
    rows["ours, text only, sum"] = our_teacher("mm-text", tables, args.runs, {}, text)
    rows["ours, text builds item graph only (FREEDOM)"] = our_teacher(
        "mm-text-graph", tables, args.runs, {"content": "graph"}, text)
    splits = {row.pop("split") for row in rows.values() if "split" in row}
    assert len(splits) == 1, "variants must share one split"
    print(f"ml-100k, seed 2026, test split; {platform.machine()}, {torch.get_num_threads()} "
          f"threads, torch {torch.__version__}\n")
    print(table(rows, ["recall@10", "recall@20", "ndcg@10", "ndcg@20", "ndcg@20 sparse",
                       "s/epoch", "best epoch"]))
    ours = rows["ours, ID-only LightGCN"]
    pyg_rows = {n: r for n, r in rows.items() if n.startswith("PyG")}
    id_best = max(r["ndcg@20"] for r in [ours, *pyg_rows.values()])
    print()
    for name, row in pyg_rows.items():
        print(f"ours ID-only vs {name}, NDCG@20: {ours['ndcg@20'] / row['ndcg@20'] - 1:+.1%}")
    best_mm = max((r["ndcg@20"], n) for n, r in rows.items() if "text" in n)
    print(f"best multimodal ({best_mm[1]}) vs best ID-only: {best_mm[0] / id_best - 1:+.1%} "
          f"(sparsest quarter of users: "
          f"{rows[best_mm[1]]['ndcg@20 sparse'] / ours['ndcg@20 sparse'] - 1:+.1%} vs ours "
          f"ID-only)")
    if args.scale:
        scale_table()


def scale_table() -> None:
    """Epoch time and filter time at 100k..1M generated interactions, a fresh process each."""
    print("\n| interactions | batch | ID-only s/epoch | with content s/epoch | filter s "
          "| peak RSS GiB |\n|---|---|---|---|---|---|")
    for size in (100_000, 300_000, 1_000_000):
        out = subprocess.run([sys.executable, __file__, "--scale-worker", str(size)],
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {r['interactions']:,} | {r['batch']:,} | {r['id-only s/epoch']:.1f} | "
              f"{r['content s/epoch']:.1f} | {r['filter s']:.1f} | {r['peak RSS GiB']:.2f} |")


if __name__ == "__main__":
    main()
