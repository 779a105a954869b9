"""The index stage: the FAISS index over the student's items, every test user's top-k, and the
fold-in settings for users met after training, chosen on validation."""

from __future__ import annotations

import logging

import numpy as np
import torch

from mmgraph.config import RATING_METRICS, section_hash
from mmgraph.evaluation.ranking import evaluate_embeddings
from mmgraph.index.foldin import FOLDIN_USERS, FoldIn, tune_foldin
from mmgraph.index.retrieval import RetrievalIndex
from mmgraph.io import write_json, write_parquet
from mmgraph.pipeline.runner import StageContext, reads, run_stage
from mmgraph.runs import (IndexedSplit, layout, load_split, recommendation_frame,
                         record_served_files, served_embeddings)

__all__ = ["index"]

log = logging.getLogger(__name__)


@reads("recommend", "evaluation", "seed")
def index(ctx: StageContext, foldin: dict | None = None) -> None:
    """FAISS index over the student's items; top-K recommendations for every test user; the
    fold-in settings chosen on validation (``index/foldin.json``), or ``foldin`` as given
    (a tuned run's, for a refit)."""
    cfg, run = ctx.cfg, ctx.run
    fingerprint = section_hash(cfg.recommend, cfg.evaluation, cfg.seed,
                               run.fingerprint("student"), repr(foldin))

    def work() -> None:
        data = load_split(run)
        user_vectors, item_vectors, model_hash = served_embeddings(run)
        if foldin is None:
            _tune_foldin(ctx, data, item_vectors)
        else:
            write_json(run.path(layout.FOLDIN), foldin)
        retrieval = RetrievalIndex.build(item_vectors, data.items, "ip",
                                         cfg.recommend.index_factory, model_hash)
        retrieval.set_params(**cfg.recommend.index_params)
        retrieval.save(run.path(layout.INDEX))
        users = data.parts["test"].users_with_items()
        if not len(users):
            log.warning("recommendations.parquet holds the test users' top-%d and no user has "
                        "a test item, so it is empty; `mmgraph recommend` serves any user",
                        cfg.recommend.k)
        items, scores = retrieval.search_users(user_vectors, users, cfg.recommend.k,
                                               data.parts["train"])
        unseen = retrieval.index.ntotal - data.parts["train"].counts[users]
        short = int(((items < 0).sum(1) > np.maximum(items.shape[1] - unseen, 0)).sum())
        if short:  # an approximate index (IVF, HNSW) may find fewer than k unseen items
            log.warning("the index found fewer than %d unseen items for %d of %d test users "
                        "(recommend.index_factory %r): raise its search breadth in "
                        "recommend.index_params (nprobe, efSearch)", items.shape[1], short,
                        len(users), cfg.recommend.index_factory)
        write_parquet(run.path(layout.RECOMMENDATIONS),
                      recommendation_frame(users, items, scores, data.users,
                                           retrieval.item_ids))
        record_served_files(run)

    run_stage(ctx, "index", fingerprint, [layout.INDEX_FAISS, layout.SERVED_FILES_RECORD,
                                          layout.FOLDIN, layout.RECOMMENDATIONS], work)


def _tune_foldin(ctx: StageContext, data: IndexedSplit, items: np.ndarray) -> None:
    """Choose the fold-in settings on validation: the valid users' training histories, folded
    in against the served item vectors, rank their valid items (a seeded sample of at most
    ``FOLDIN_USERS``: 15 settings, each a ranking of the sample); writes the choice and every
    setting's score."""
    cfg, run = ctx.cfg, ctx.run
    metric, train, valid = cfg.evaluation.early_stopping_metric, data.parts["train"], \
        data.parts["valid"]
    if metric in RATING_METRICS:  # a rating run: its served lists rank by predicted rating
        metric = f"ndcg@{max(cfg.evaluation.ks)}"
    users = data.validation_users(min(cfg.evaluation.valid_users, FOLDIN_USERS), cfg.seed)
    users = valid.users_with_items() if users is None else users
    if not len(users):
        write_json(run.path(layout.FOLDIN), FoldIn().to_dict())
        return

    item_table = torch.tensor(items)  # a copy: the served vectors are mapped read-only

    def score(vectors: np.ndarray) -> float:
        full = np.zeros((len(data.users), items.shape[1]), np.float32)
        full[users] = vectors
        return evaluate_embeddings(torch.from_numpy(full), item_table, valid, train,
                                   cfg.evaluation.ks, cfg.evaluation.user_batch_size,
                                   users)[metric]

    best, scores = tune_foldin(items, [train.row(u) for u in users], score)
    write_json(run.path(layout.FOLDIN), {**best.to_dict(), f"valid_{metric}_by_setting": scores})
    log.info("index: fold-in %s, valid %s %.4f", best, metric, max(scores.values()))
