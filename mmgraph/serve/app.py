"""A finished run's :class:`~mmgraph.recommender.Recommender` as an HTTP JSON service (FastAPI).

Endpoints (JSON bodies; errors are ``{"error": "..."}`` with a 4xx status):

- ``GET /health``: the served run, its user and item counts.
- ``POST /recommend`` ``{"users": [...], "k": 10, "exclude": "interacted", "unknown":
  "popular"}``: per user ``{"user_id", "source", "items": [{"item_id", "score"}]}``.
- ``POST /recommend_for_history`` ``{"items": [...], "k": 10}``: fold-in for a new user.
- ``POST /update`` ``{"user": id, "items": [...]}``: fold the items into that user's history.
- ``POST /similar`` ``{"item": id, "k": 10}``: more like this (cosine).
- ``POST /explain`` ``{"user": id, "item": id, "k": 5}``: the user's history items adding most
  to that item's score (:meth:`~mmgraph.recommender.Recommender.explain`).
- ``POST /items`` ``{"ids": [...], "vectors": [[...]]}`` adds items, ``DELETE /items``
  ``{"ids": [...]}`` removes them; both at once, no retraining.
- ``POST /admin/swap`` ``{"run": "name"}``: serve another run of the same runs folder; requests
  under way finish on the old one, none is dropped.
- ``GET /metrics``: request counts and latency histograms, Prometheus text format.
- ``GET /``: a page to look at what the run recommends (:mod:`mmgraph.serve.page`, which adds
  the read-only ``/browse/...`` endpoints it uses).

Requests are answered one at a time by the recommender (a lock), so an added item or a swap is
never seen half done.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest

from mmgraph.allocator import release_freed_memory
from mmgraph.errors import DataError, MmgraphError
from mmgraph.recommender import Recommender
from mmgraph.serve.page import add_page
from mmgraph.serve.schema import (MAX_BODY_BYTES, AddItemsBody, ExplainBody, HistoryBody,
                                  ItemIdsBody, RecommendBody, SimilarBody, SwapBody, UpdateBody,
                                  json_response)

__all__ = ["create_app"]

def _items(frame: pd.DataFrame) -> list[dict]:
    return [{"item_id": item, "score": float(score)}
            for item, score in zip(frame["item_id"].tolist(), frame["score"].tolist())]


class _Measured:
    """Pure ASGI middleware (no per-request task or stream, unlike ``@app.middleware``): refuses
    POST/DELETE bodies without a Content-Length or past :data:`MAX_BODY_BYTES`, and counts every
    request and its latency by route."""

    def __init__(self, app, requests: Counter, latency: Histogram):
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        refusal = None
        if scope["method"] in ("POST", "DELETE") and length is None:
            refusal = json_response({"error": "send a Content-Length header"}, 411)
        elif length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            refusal = json_response(
                {"error": f"request bodies are limited to {MAX_BODY_BYTES} bytes"}, 413)

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, sending)
        else:
            await self.app(scope, receive, sending)
        route = scope.get("route")
        endpoint = route.path if route is not None else "unmatched"
        self.requests.labels(endpoint, str(status[0])).inc()
        self.latency.labels(endpoint).observe(time.perf_counter() - started)


def create_app(run_dir: str | Path) -> FastAPI:
    """The service over the finished run in ``run_dir`` (loaded now: a bad run fails here, not
    at the first request). Swaps load runs beside it (same parent folder) by name only.

    The quick endpoints (recommend, fold-in, similar, health) run on the event loop; adding or
    removing items and loading a run to swap to run in the thread pool, so the loop keeps
    answering while they work."""
    run_dir = Path(run_dir).resolve()
    served = {"run": run_dir, "recommender": Recommender.load(run_dir)}
    lock = threading.Lock()
    registry = CollectorRegistry()
    requests = Counter("mmgraph_requests", "HTTP requests by endpoint and status",
                       ["endpoint", "status"], registry=registry)
    latency = Histogram("mmgraph_request_seconds", "Request latency by endpoint", ["endpoint"],
                        registry=registry, buckets=(.001, .0025, .005, .01, .025, .05, .1, .25,
                                                    .5, 1, 2.5))
    app = FastAPI(title="mmgraph", description=__doc__.split("\n\n")[0])
    app.add_middleware(_Measured, requests=requests, latency=latency)

    @app.exception_handler(MmgraphError)
    async def bad_input(request: Request, exc: MmgraphError):
        return json_response({"error": str(exc)}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException):
        """FastAPI's own refusals (an unparsable body, an unknown path or method) in the
        service's shape: ``{"error": ...}``."""
        return json_response({"error": f"{exc.detail} ({request.method} {request.url.path})"},
                     exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}"
                             for e in exc.errors()[:5])
        return json_response({"error": f"malformed request: {problems}"}, 422)

    def recommender() -> Recommender:
        return served["recommender"]

    @app.get("/health")
    async def health() -> Response:
        with lock:
            current = recommender()
            return json_response({"status": "ok", "run": served["run"].name,
                          "users": len(current.data.users), "items": len(current.index)})

    @app.post("/recommend")
    async def recommend(body: RecommendBody) -> Response:
        users = list(dict.fromkeys(body.users))  # each once, in the order asked
        with lock:
            current = recommender()
            _, items, scores, sources = current.ranked(users, body.k, body.exclude,
                                                       body.unknown)
            item_ids = current.index.item_ids
        answers = []
        for user, row, row_scores, source in zip(users, items, scores, sources.tolist()):
            found = row >= 0
            answers.append({"user_id": user,
                            "source": source if found.any() else None,  # all seen: no items
                            "items": [{"item_id": item, "score": score} for item, score in zip(
                                item_ids.to_ids(row[found]).tolist(),
                                row_scores[found].tolist())]})
        return json_response({"recommendations": answers})

    @app.post("/recommend_for_history")
    async def recommend_for_history(body: HistoryBody) -> Response:
        with lock:
            return json_response({"items": _items(recommender().recommend_for_history(body.items,
                                                                              body.k))})

    @app.post("/update")
    async def update(body: UpdateBody) -> Response:
        with lock:
            recommender().update(body.user, body.items)
        return json_response({"updated": body.user})

    @app.post("/similar")
    async def similar(body: SimilarBody) -> Response:
        with lock:
            return json_response({"items": _items(recommender().similar_items(body.item, body.k))})

    @app.post("/explain")
    async def explain(body: ExplainBody) -> Response:
        with lock:
            answer = recommender().explain(body.user, body.item, body.k)
        because = answer.because
        return json_response({
            "user_id": body.user, "item_id": body.item, "score": answer.score,
            "history_score": answer.history_score,
            "because": [{"item_id": item, "contribution": contribution, "share": share}
                        for item, contribution, share in zip(
                            because["item_id"].tolist(), because["contribution"].tolist(),
                            because["share"].tolist())]})

    @app.post("/items")
    def add_items(body: AddItemsBody) -> Response:
        if len({len(row) for row in body.vectors}) > 1:
            raise DataError("vectors: every row must have the same length (the index's "
                            "dimension).")
        vectors = np.asarray(body.vectors, np.float64)  # the index checks float32's range
        with lock:
            recommender().index.add(vectors, body.ids)
        return json_response({"added": len(body.ids)})

    @app.delete("/items")
    def remove_items(body: ItemIdsBody) -> Response:
        with lock:
            recommender().index.remove(body.ids)
        return json_response({"removed": len(body.ids)})

    @app.post("/admin/swap")
    def swap(body: SwapBody) -> Response:
        target = run_dir.parent / body.run
        loaded = Recommender.load(target)  # outside the lock: requests keep being answered
        with lock:
            served.update(run=target, recommender=loaded)
        release_freed_memory()  # the old run's pages, which the allocator would keep
        return json_response({"serving": body.run})

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    add_page(app, recommender, lock)
    return app
