"""The page at ``/``: look at what a run recommends, by eye (``static/page.html``, plain HTML
and JavaScript, no build step).

It reads only: pick a user (their training history beside their ranked list, held-out hits
marked), search the catalogue by name, "more like this" for any item (``/similar``), and build
a new user's history by clicking items, folded in after each click
(``/recommend_for_history``). The endpoints it adds, all read-only:

- ``GET /browse/users?limit=100``: user ids to pick from, those with test items first.
- ``POST /browse/user`` ``{"user": id, "k": 10}``: ``history`` (training items, described),
  ``recommendations`` ranked as the evaluation ranks them (training items left out) with
  ``held_out``: ``"test"``, ``"valid"`` or ``null`` per item.
- ``GET /browse/search?q=heat&limit=20``: items whose name contains ``q``.
- ``POST /browse/items`` ``{"ids": [...]}``: items described (name, attributes, image URL).
- ``GET /browse/image/{row}``: an item's picture, from under the run's media root only.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import numpy as np
from fastapi import FastAPI, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from mmgraph.recommender import Recommender
from mmgraph.serve.catalogue import Catalogue
from mmgraph.serve.schema import BrowseUserBody, ItemIdsBody, json_response

__all__ = ["add_page", "PAGE"]

#: The page's file, shipped inside the package.
PAGE = Path(__file__).with_name("static") / "page.html"
MAX_HISTORY = 20  #: most training items shown for a user (their first ones)


def add_page(app: FastAPI, current: Callable[[], Recommender], lock: threading.Lock) -> None:
    """Add ``/`` and the ``/browse/...`` endpoints to ``app``, over the recommender
    ``current()`` returns (it changes on a swap; its catalogue is rebuilt then), answered
    under the service's ``lock``."""
    page = PAGE.read_text(encoding="utf-8")
    built: list = [None, None]  # (recommender, its catalogue): rebuilt when it changes

    def catalogue() -> tuple[Recommender, Catalogue]:
        recommender = current()
        if built[0] is not recommender:
            built[:] = [recommender, Catalogue.of(recommender)]
        return built[0], built[1]

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/browse/users")
    async def users(limit: int = Query(100, ge=1, le=1000)) -> Response:
        with lock:
            recommender, _ = catalogue()
            data = recommender.data
            tested = data.parts["test"].users_with_items()
            rest = np.setdiff1d(np.arange(len(data.users)), tested)
            rows = np.concatenate([tested, rest])[:limit]
            return json_response({"users": data.users.to_ids(rows).tolist(),
                           "with_test_items": int(min(len(tested), limit))})

    @app.post("/browse/user")
    async def user(body: BrowseUserBody) -> Response:
        with lock:
            recommender, items = catalogue()
            data = recommender.data
            row = int(data.users.indices([body.user], "/browse/user",
                                         "Pick one of /browse/users.")[0])
            _, ranked, scores, _ = recommender.ranked([body.user], body.k, "train", "error")
            found = ranked[0] >= 0
            labels, scores = ranked[0][found], scores[0][found]
            held = {part: set(data.parts[part].row(row).tolist()) for part in ("test", "valid")}
            history = data.parts["train"].row(row)
            ids = recommender.index.item_ids
            recommendations = items.describe(ids.to_ids(labels).tolist())
            for entry, label, score in zip(recommendations, labels.tolist(), scores.tolist()):
                entry["score"] = score
                entry["held_out"] = next((p for p, s in held.items() if label in s), None)
            return json_response({"user": body.user, "history_size": len(history),
                           "history": items.describe(ids.to_ids(history[:MAX_HISTORY]).tolist()),
                           "held_out": {p: len(s) for p, s in held.items()},
                           "recommendations": recommendations})

    @app.get("/browse/search")
    async def search(q: str = Query(..., max_length=200),
                     limit: int = Query(20, ge=1, le=200)) -> Response:
        with lock:
            _, items = catalogue()
            return json_response({"items": items.describe(items.search(q, limit))})

    @app.post("/browse/items")
    async def describe(body: ItemIdsBody) -> Response:
        with lock:
            _, items = catalogue()
            return json_response({"items": items.describe(list(body.ids))})

    @app.get("/browse/image/{row}")
    def image(row: int) -> FileResponse:
        with lock:
            _, items = catalogue()
            path = items.image_path(row)
        return FileResponse(path)
