"""One writer per folder: an advisory lock that every command writing a run or export folder
holds while it writes, so two processes never interleave their artifacts.

The lock is ``<folder>/.mmgraph.lock`` (an OS file lock through ``filelock``: it dies with its
process, so a killed run never leaves a stale lock); ``<folder>/.mmgraph.lock.json`` names the
holder (pid, host, command, start time) for the error a second writer gets. Taking the lock
again inside the same process (the CLI, then :func:`mmgraph.pipeline.run_all`) nests.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from mmgraph.errors import RunDirError

__all__ = ["exclusive_writer", "LOCK_NAME"]

LOCK_NAME = ".mmgraph.lock"
_held: dict[Path, int] = {}  # folders this process holds, and how deeply nested


def _holder(folder: Path) -> str:
    try:
        info = json.loads((folder / f"{LOCK_NAME}.json").read_text(encoding="utf-8"))
        return (f"process {info['pid']} on {info['host']} (`{info['command']}`, since "
                f"{info['since']})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def exclusive_writer(folder: str | Path) -> Iterator[None]:
    """Hold ``folder``'s writer lock for the block; if another process holds it, raise
    :class:`RunDirError` at once, naming that process."""
    folder = Path(folder).resolve()
    if folder in _held:
        _held[folder] += 1
        try:
            yield
        finally:
            _held[folder] -= 1
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, FileNotFoundError) as exc:
        raise RunDirError(f"Cannot create the folder {folder} ({exc.strerror}: {exc.filename}): "
                          f"a file is in the way or the path cannot hold folders. Choose "
                          f"another runs_root, name or --out.") from exc
    lock = FileLock(folder / LOCK_NAME, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunDirError(f"{folder} is being written by {_holder(folder)}. Wait for it to "
                          f"finish (or stop it), then rerun; two writers would mix their "
                          f"files.") from None
    info_path = folder / f"{LOCK_NAME}.json"
    _held[folder] = 1
    try:
        # O_NOFOLLOW: a symbolic link planted here is refused (ELOOP), never written through
        with os.fdopen(os.open(info_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                               0o644), "w", encoding="utf-8") as info:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                       "command": " ".join(["mmgraph", *sys.argv[1:]]) if sys.argv else "python",
                       "since": time.strftime("%Y-%m-%d %H:%M:%S")}, info)
        yield
    finally:
        del _held[folder]
        info_path.unlink(missing_ok=True)
        lock.release()
