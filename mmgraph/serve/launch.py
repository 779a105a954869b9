"""Running the HTTP service: the app of a finished run behind uvicorn on a socket mmgraph
opens itself (a bad run or a taken port is a clear error before anything listens)."""

from __future__ import annotations

import socket
from pathlib import Path

import faiss
import uvicorn

from mmgraph.allocator import share_one_heap
from mmgraph.errors import MmgraphError
from mmgraph.serve.app import create_app
from mmgraph.serve.protocol import json_error_protocol

__all__ = ["serve_forever"]


def serve_forever(run: str | Path, host: str, port: int, quiet: bool = False,
                  threads: int = 1) -> None:
    """Serve ``run`` on ``host:port`` until interrupted, FAISS on ``threads`` threads
    (serving does not import torch): the app answers one request at a time, and a request of
    one user is microseconds of work that OpenMP's thread team only slows (5x fewer
    requests/s at concurrency 32 on 2 busy cores with the default team; bench/serve.py
    --soak)."""
    if threads < 1:
        raise MmgraphError(f"mmgraph serve --threads {threads}: give 1 or more.")
    faiss.omp_set_num_threads(threads)
    share_one_heap()  # before the app loads the run and uvicorn starts its threads
    app = create_app(run)  # a bad run is reported before the port opens
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by every connection: a response's header and body writes go out at once
    # instead of the body waiting ~40 ms for the client's delayed ACK (Nagle's algorithm).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        listener.bind((host, port))
    except (OSError, OverflowError) as exc:
        listener.close()
        raise MmgraphError(f"mmgraph serve cannot listen on {host}:{port} "
                           f"({getattr(exc, 'strerror', None) or exc}); pick a free port "
                           f"(--port) or another address (--host).") from exc
    # No access log: a line per request costs more than answering it; /metrics counts them.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning" if quiet else "info",
                                           access_log=False, http=json_error_protocol()))
    server.run(sockets=[listener])
