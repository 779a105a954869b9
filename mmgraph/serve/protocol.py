"""The HTTP/1.1 protocol uvicorn runs, with the one answer it writes itself in JSON: a request
its parser refuses (a negative or malformed Content-Length, a broken header line) gets the
service's ``{"error": ...}`` body instead of uvicorn's plain-text 400.

uvicorn answers those before the app sees the request, through its protocol classes'
``send_400_response``; this module overrides that method in the class uvicorn would pick
(httptools when installed, h11 otherwise) and is handed to ``uvicorn.Config(http=...)``."""

from __future__ import annotations

import json

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BAD_REQUEST", "json_error_protocol"]

#: The error a request the HTTP parser refuses gets.
BAD_REQUEST = ("the request is not valid HTTP/1.1 (a malformed request line or header, or a "
               "negative or non-numeric Content-Length); send a well-formed request.")
_BODY = json.dumps({"error": BAD_REQUEST}).encode()
_HEAD = (b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
         b"content-length: " + str(len(_BODY)).encode() + b"\r\nconnection: close\r\n\r\n")


def _send_json_400(self, msg: str) -> None:
    """Write the JSON 400 and close the connection (``msg``, uvicorn's text, is logged by it
    already)."""
    self.transport.write(_HEAD + _BODY)
    self.transport.close()


def json_error_protocol() -> type:
    """The protocol class for ``uvicorn.Config(http=...)``: uvicorn's own (httptools, or h11
    without it) answering parser errors with :data:`BAD_REQUEST` in JSON."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    except ImportError:  # uvicorn without its httptools extra
        base = H11Protocol
    return type("JSONErrorProtocol", (base,), {"send_400_response": _send_json_400,
                                               "__doc__": json_error_protocol.__doc__})
