"""Media files of items: paths confined to a media root, and one error type for bad media."""

from __future__ import annotations

from pathlib import Path

from mmgraph.errors import DataError

__all__ = ["MediaError", "resolve_media_path"]


class MediaError(DataError):
    """One item's media file is missing, unreadable or not of its modality."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


def resolve_media_path(root: str | Path, relative: str | Path) -> Path:
    """``root / relative`` resolved; a path that leaves ``root`` (``../``, absolute paths,
    symlinks pointing outside) is refused, so an items table cannot read arbitrary files."""
    base = Path(root).resolve()
    if not str(relative).strip():
        raise MediaError(relative, "empty path")
    if "\x00" in str(relative):  # no file name holds one; the OS call would raise ValueError
        raise MediaError(repr(str(relative)), "holds a NUL character: not a file path")
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise MediaError(relative, f"resolves outside the media root {base}; media paths must "
                                   f"stay inside it")
    if not target.is_file():
        raise MediaError(target, "file not found")
    return target
