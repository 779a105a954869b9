"""`mmgraph serve`: a finished run served over HTTP (FastAPI + uvicorn, the ``serve`` extra)."""

from mmgraph.serve.app import create_app
from mmgraph.serve.schema import MAX_BODY_BYTES, MAX_IDS, MAX_K

__all__ = ["create_app", "MAX_BODY_BYTES", "MAX_K", "MAX_IDS"]
