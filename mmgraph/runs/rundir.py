"""The run directory: where each stage writes, and which stages are finished.

``stages.json`` records each finished stage's fingerprint (a hash of its config section and its
inputs' fingerprints); ``outputs.json`` the size and sha256 of every file the stage wrote. A
stage whose fingerprint is unchanged and whose files are as it wrote them is skipped on rerun, so
an interrupted run resumes at the first unfinished stage, and a file changed since (truncated,
replaced by another run's, deleted) makes its stage run again instead of being read as if it
were the stage's own. Measured times (seconds per epoch) go to ``timings.json``, the one file
two runs of the same config do not share byte for byte.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml

from mmgraph.config import RunConfig
from mmgraph.errors import RunDirError
from mmgraph.io import TEMP_SUFFIX, atomic_path, file_sha256, read_json, write_json
from mmgraph.runs import layout

log = logging.getLogger(__name__)

__all__ = ["RunDir", "ARTIFACT_FOLDERS", "refuse_run_artifact_folder"]

#: The folders a run's stages write (besides its top-level files).
ARTIFACT_FOLDERS = tuple(dict.fromkeys(Path(a.path).parts[0] for a in layout.RUN_FORMAT
                                       if len(Path(a.path).parts) > 1))


def refuse_run_artifact_folder(folder: str | Path, option: str) -> None:
    """Raise :class:`RunDirError` if ``folder`` is a run directory (it holds ``stages.json``)
    or lies inside one's artifact folders: writing there would overwrite the run's files."""
    folder = Path(folder).resolve()
    for parent in (folder, *folder.parents):
        if (parent / layout.STAGES).is_file():
            inside = folder.relative_to(parent).parts
            if not inside or inside[0] in ARTIFACT_FOLDERS:
                raise RunDirError(f"{option} {folder} would write into the run directory "
                                  f"{parent}'s own files; choose a folder outside it (or a "
                                  f"new sub-folder such as {parent / 'exports'}).")


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, *parts: str | os.PathLike) -> Path:
        """A path inside the run folder: ``run.path(layout.TEACHER_STATE)``."""
        return self.root.joinpath(*parts)

    def _stages(self) -> dict[str, str]:
        file = self.path(layout.STAGES)
        stages = read_json(file) if file.is_file() else {}
        if not isinstance(stages, dict) or not all(isinstance(v, str) for v in stages.values()):
            raise RunDirError(f"{file} should map stage names to fingerprints; it was edited. "
                              f"Delete it and rerun `mmgraph run` (finished stages rerun).")
        return stages

    def fingerprint(self, stage: str) -> str:
        """Fingerprint of a finished stage; a clear error if it has not run in this folder."""
        found = self._stages().get(stage)
        if found is None:
            raise RunDirError(f"Run directory {self.root} has no finished '{stage}' stage: run "
                              f"`mmgraph {stage} --config ...` (or `mmgraph run`) first.")
        return found

    def is_done(self, stage: str, fingerprint: str, outputs: list[Path]) -> bool:
        """Whether ``stage`` finished with ``fingerprint``, its ``outputs`` exist and every
        file it wrote is as it wrote it (a changed one is logged: the stage runs again)."""
        if self._stages().get(stage) != fingerprint or not all(
                self.path(str(p)).exists() for p in outputs):
            return False
        for name, stamp in self._written().get(stage, {}).items():
            if not _unchanged(self.path(name), stamp):
                log.warning("%s: %s changed since the stage wrote it; running the stage again",
                            stage, self.path(name))
                return False
        return True

    def changed_files(self, stage: str) -> list[Path]:
        """The files ``stage`` wrote that are no longer as it wrote them (size or sha256), or
        are gone: what reading its outputs now would silently get wrong."""
        return [self.path(name) for name, stamp in self._written().get(stage, {}).items()
                if not _unchanged(self.path(name), stamp)]

    def files(self) -> dict[str, tuple[int, int]]:
        """``(size, mtime_ns)`` of the run's artifact files by relative path, to tell which
        files a stage wrote (shared caches, checkpoints and bookkeeping left out)."""
        stamps = {}
        for path in self.root.rglob("*") if self.root.is_dir() else ():
            relative = path.relative_to(self.root)
            if _artifact(relative) and path.is_file():
                stat = path.stat()
                stamps[str(relative)] = (stat.st_size, stat.st_mtime_ns)
        return stamps

    def mark_done(self, stage: str, fingerprint: str,
                  before: dict[str, tuple[int, int]] | None = None) -> None:
        """Record ``stage`` as finished; with ``before`` (:meth:`files` before it ran), also
        the size and sha256 of every file it wrote since, in ``outputs.json`` (written first:
        a kill in between leaves the stage unfinished, never finished without its record)."""
        if before is not None:
            written = self._written()
            written[stage] = {name: {"size": size, "sha256": file_sha256(self.path(name))}
                              for name, (size, mtime) in self.files().items()
                              if before.get(name) != (size, mtime)}
            write_json(self.path(layout.OUTPUTS), written)
        stages = self._stages()
        stages[stage] = fingerprint
        write_json(self.path(layout.STAGES), stages)

    def record_timing(self, stage: str, **seconds: float) -> None:
        """Add measured times of ``stage`` to ``timings.json`` (kept apart from the results:
        they differ from one run to the next)."""
        file = self.path(layout.TIMINGS)
        timings = read_json(file) if file.is_file() else {}
        timings = timings if isinstance(timings, dict) else {}
        timings[stage] = seconds
        write_json(file, timings)

    def _written(self) -> dict[str, dict[str, dict]]:
        file = self.path(layout.OUTPUTS)
        written = read_json(file) if file.is_file() else {}
        if not isinstance(written, dict) or not all(
                isinstance(files, dict) and all(isinstance(stamp, dict) and
                                                {"size", "sha256"} <= set(stamp)
                                                for stamp in files.values())
                for files in written.values()):
            raise RunDirError(f"{file} should map stages to the files they wrote; it was "
                              f"edited. Delete it (and stages.json) and rerun `mmgraph run`.")
        return written

    def remove_stray_temp_files(self) -> int:
        """Delete (and log) temporary files that a killed process left (never a finished
        artifact: those are renamed into place); returns how many. Every writer of a run
        (``mmgraph run``, ``mmgraph update``) calls it once it holds the folder's lock."""
        strays = list(self.root.rglob(f".*{TEMP_SUFFIX}")) if self.root.is_dir() else []
        for stray in strays:
            stray.unlink(missing_ok=True)
        if strays:
            log.info("removed %d temporary file(s) left by an interrupted run in %s",
                     len(strays), self.root)
        return len(strays)

    def read_config(self) -> RunConfig | None:
        """The config this run last ran with (``config.yaml``), or ``None`` without one."""
        path = self.path(layout.CONFIG)
        if not path.is_file():
            return None
        try:
            return RunConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, ValueError) as exc:
            raise RunDirError(f"{path} is not a valid run config ({exc}); rerun `mmgraph "
                              f"run` to rewrite it.") from exc

    def write_config(self, config: RunConfig) -> None:
        """Write ``config`` as ``config.yaml``, every value spelled out except the data
        columns left at their defaults (those are read only when the table has them; written
        out, they would be required on a rerun)."""
        raw = config.model_dump(mode="json")
        raw["data"]["columns"] = config.data.columns.model_dump(mode="json", exclude_unset=True)
        with atomic_path(self.path(layout.CONFIG)) as tmp:
            tmp.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


#: Files of a run folder that no stage owns: bookkeeping (an update's record too), the writer
#: lock, the input tables mmgraph.fit saved, shared caches (other runs may add to them) and
#: training checkpoints (deleted when the stage ends).
_NOT_ARTIFACTS = tuple(a.path for a in (layout.STAGES, layout.OUTPUTS, layout.TIMINGS,
                                          layout.CONFIG, layout.UPDATE_RECORD)) + (
    Path(layout.INPUT_INTERACTIONS.path).parts[0],)


def _artifact(relative: Path) -> bool:
    return (relative.parts[0] not in _NOT_ARTIFACTS and not relative.name.startswith(".")
            and "cache" not in relative.parts[:-1]
            and layout.CHECKPOINT_FOLDER not in relative.parts[:-1]
            and relative.parts[0] != layout.REFIT.path)


def _unchanged(path: Path, stamp: dict) -> bool:
    """``path`` still holds what ``stamp`` recorded: the same size and sha256."""
    try:
        return path.stat().st_size == stamp["size"] and file_sha256(path) == stamp["sha256"]
    except OSError:  # gone, or a folder in its place
        return False
