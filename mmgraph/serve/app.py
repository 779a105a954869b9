"""A finished run's :class:`~mmgraph.recommender.Recommender` as an HTTP JSON service (FastAPI).

Endpoints (JSON bodies; errors are ``{"error": "..."}`` with a 4xx status):

- ``GET /health``: the served run, its user and item counts.
- ``POST /recommend`` ``{"users": [...], "k": 10, "exclude": "interacted", "unknown":
  "popular"}``: per user ``{"user_id", "source", "items": [{"item_id", "score"}]}``.
- ``POST /recommend_for_history`` ``{"items": [...], "k": 10}``: fold-in for a new user.
- ``POST /update`` ``{"user": id, "items": [...]}``: fold the items into that user's history.
- ``POST /similar`` ``{"item": id, "k": 10}``: more like this (cosine).
- ``POST /items`` ``{"ids": [...], "vectors": [[...]]}`` adds items, ``DELETE /items``
  ``{"ids": [...]}`` removes them; both at once, no retraining.
- ``POST /admin/swap`` ``{"run": "name"}``: serve another run of the same runs folder; requests
  under way finish on the old one, none is dropped.
- ``GET /metrics``: request counts and latency histograms, Prometheus text format.

Requests are answered one at a time by the recommender (a lock; HTTP parsing and JSON encoding
run alongside), so an added item or a swap is never seen half done.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest
from pydantic import BaseModel, ConfigDict, Field

from mmgraph.errors import DataError, MmgraphError
from mmgraph.recommender import Recommender

__all__ = ["create_app", "MAX_BODY_BYTES", "MAX_K", "MAX_IDS"]

MAX_BODY_BYTES = 1_000_000  #: larger request bodies are refused (413)
MAX_K = 1_000  #: most items per answer
MAX_IDS = 1_000  #: most users, history items or added items per request

Id = Union[int, str]
Ids = Annotated[list[Id], Field(min_length=1, max_length=MAX_IDS)]
K = Annotated[int, Field(ge=1, le=MAX_K)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RecommendBody(_Body):
    users: Ids
    k: K = 10
    exclude: Literal["interacted", "train"] = "interacted"
    unknown: Literal["popular", "error"] = "popular"


class HistoryBody(_Body):
    items: Ids
    k: K = 10


class UpdateBody(_Body):
    user: Id
    items: Ids


class SimilarBody(_Body):
    item: Id
    k: K = 10


class AddItemsBody(_Body):
    ids: Ids
    vectors: Annotated[list[list[float]], Field(min_length=1, max_length=MAX_IDS)]


class RemoveItemsBody(_Body):
    ids: Ids


class SwapBody(_Body):
    run: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]


def _items(frame: pd.DataFrame) -> list[dict]:
    return [{"item_id": item, "score": float(score)}
            for item, score in zip(frame["item_id"].tolist(), frame["score"].tolist())]


def create_app(run_dir: str | Path) -> FastAPI:
    """The service over the finished run in ``run_dir`` (loaded now: a bad run fails here, not
    at the first request). Swaps load runs beside it (same parent folder) by name only."""
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

    @app.middleware("http")
    async def bounded_and_measured(request: Request, call_next):
        started = time.perf_counter()
        length = request.headers.get("content-length")
        if request.method in ("POST", "DELETE") and length is None:
            response = JSONResponse({"error": "send a Content-Length header"}, 411)
        elif length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            response = JSONResponse({"error": f"request bodies are limited to "
                                              f"{MAX_BODY_BYTES} bytes"}, 413)
        else:
            response = await call_next(request)
        route = request.scope.get("route")
        endpoint = route.path if route is not None else "unmatched"
        requests.labels(endpoint, str(response.status_code)).inc()
        latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(MmgraphError)
    async def bad_input(request: Request, exc: MmgraphError):
        return JSONResponse({"error": str(exc)}, 422)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}"
                             for e in exc.errors()[:5])
        return JSONResponse({"error": f"malformed request: {problems}"}, 422)

    def recommender() -> Recommender:
        return served["recommender"]

    @app.get("/health")
    def health() -> dict:
        with lock:
            current = recommender()
            return {"status": "ok", "run": served["run"].name,
                    "users": len(current.data.users), "items": len(current.index)}

    @app.post("/recommend")
    def recommend(body: RecommendBody) -> dict:
        users = list(dict.fromkeys(body.users))  # each once, in the order asked
        with lock:
            frame = recommender().recommend(users, body.k, body.exclude, body.unknown)
        answers = {user: {"user_id": user, "source": None, "items": []} for user in users}
        for user, item, score, source in zip(*(frame[c].tolist() for c in (
                "user_id", "item_id", "score", "source"))):
            answers[user]["source"] = source  # None only for a user who has seen everything
            answers[user]["items"].append({"item_id": item, "score": score})
        return {"recommendations": list(answers.values())}

    @app.post("/recommend_for_history")
    def recommend_for_history(body: HistoryBody) -> dict:
        with lock:
            return {"items": _items(recommender().recommend_for_history(body.items, body.k))}

    @app.post("/update")
    def update(body: UpdateBody) -> dict:
        with lock:
            recommender().update(body.user, body.items)
        return {"updated": body.user}

    @app.post("/similar")
    def similar(body: SimilarBody) -> dict:
        with lock:
            return {"items": _items(recommender().similar_items(body.item, body.k))}

    @app.post("/items")
    def add_items(body: AddItemsBody) -> dict:
        if len({len(row) for row in body.vectors}) > 1:
            raise DataError("vectors: every row must have the same length (the index's "
                            "dimension).")
        vectors = np.asarray(body.vectors, np.float32)
        with lock:
            recommender().index.add(vectors, body.ids)
        return {"added": len(body.ids)}

    @app.delete("/items")
    def remove_items(body: RemoveItemsBody) -> dict:
        with lock:
            recommender().index.remove(body.ids)
        return {"removed": len(body.ids)}

    @app.post("/admin/swap")
    def swap(body: SwapBody) -> dict:
        target = run_dir.parent / body.run
        loaded = Recommender.load(target)  # outside the lock: requests keep being answered
        with lock:
            served.update(run=target, recommender=loaded)
        return {"serving": body.run}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
