"""The HTTP service's shapes: its request bodies (strict: an unknown key or a wrong type is a
422 naming it), their limits, and its JSON responses."""

from __future__ import annotations

import json
from typing import Annotated, Literal, Union

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MAX_BODY_BYTES", "MAX_K", "MAX_IDS", "Id", "Ids", "K", "RecommendBody",
           "HistoryBody", "UpdateBody", "SimilarBody", "AddItemsBody", "ItemIdsBody",
           "BrowseUserBody", "ExplainBody", "SwapBody", "json_response"]

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


class ItemIdsBody(_Body):
    ids: Ids


class SwapBody(_Body):
    run: Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]


class ExplainBody(_Body):
    user: Id
    item: Id
    k: K = 5


class BrowseUserBody(_Body):
    user: Id
    k: K = 10


def json_response(content, status: int = 200) -> Response:
    """``content`` as a JSON response, without FastAPI's response-model validation pass."""
    return Response(json.dumps(content, separators=(",", ":")).encode(), status,
                    media_type="application/json")
