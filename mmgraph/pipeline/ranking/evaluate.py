"""The ranking metrics: full ranking over every item (the user's train items excluded) for the
teacher, the student through the FAISS index as served, and popularity."""

from __future__ import annotations

import logging

from mmgraph.data.split import split_description
from mmgraph.evaluation.metrics import list_metrics, ranking_metrics
from mmgraph.evaluation.ranking import popularity_scores, topk_items
from mmgraph.index.retrieval import RetrievalIndex
from mmgraph.io import read_arrays, read_tensors
from mmgraph.pipeline.report import NO_HELD_OUT_USERS
from mmgraph.pipeline.runner import StageContext
from mmgraph.runs import IndexedSplit, layout, served_embeddings

__all__ = ["evaluate"]

log = logging.getLogger(__name__)


def evaluate(ctx: StageContext, data: IndexedSplit) -> dict:
    """Metrics by model and part (valid, test), and the protocol that produced them."""
    cfg, run = ctx.cfg, ctx.run
    ev, train = cfg.evaluation, data.parts["train"]
    teacher_emb = read_tensors(run.path(layout.TEACHER_EMBEDDINGS))
    user_vectors, _, model_hash = served_embeddings(run)
    test_vectors = read_arrays(run.path(layout.STUDENT_EMBEDDINGS)).get(
        "test_users")  # a sequential student's: its sequences run through valid
    retrieval = RetrievalIndex.load(run.path(layout.INDEX), expected_model_hash=model_hash)
    retrieval.set_params(**cfg.recommend.index_params)
    popularity = popularity_scores(train, len(data.users))
    metrics: dict[str, dict] = {"teacher": {}, "student": {}, "popularity": {}}
    for part in ("valid", "test"):
        truth = data.parts[part]
        users, k = truth.users_with_items(), max(ev.ks)
        if not len(users):
            log.warning(NO_HELD_OUT_USERS, part, part)
        rankings = {
            "teacher": topk_items(teacher_emb["users"], teacher_emb["items"], users, k,
                                  train, ev.user_batch_size),
            "student": retrieval.search_users(
                test_vectors if part == "test" and test_vectors is not None
                else user_vectors, users, k, train)[0],
            "popularity": topk_items(popularity, None, users, k, train, ev.user_batch_size),
        }
        for model_name, top in rankings.items():
            metrics[model_name][part] = {**ranking_metrics(top, users, truth, ev.ks),
                                         **list_metrics(top, train.item_counts, k)}
    metrics["protocol"] = {
        "split": split_description(cfg.split.kind, cfg.split.valid, cfg.split.test,
                                   cfg.seed, cfg.split.train_share),
        "ranking": "full ranking over all items, the user's train items excluded",
        "lists": f"coverage@{max(ev.ks)}: share of the catalogue in some top-{max(ev.ks)} "
                 f"list; popularity@{max(ev.ks)}: mean training count of listed items",
        "users": {p: int(len(data.parts[p].users_with_items())) for p in ("valid", "test")},
        "validation during training": (
            "every valid user" if data.validation_users(ev.valid_users, cfg.seed) is None
            else f"a seeded sample of {ev.valid_users} valid users"),
    }
    return metrics
