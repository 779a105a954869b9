"""The run directory: where each stage writes, and which stages are finished.

``stages.json`` records each finished stage's fingerprint (a hash of its config section and its
inputs' fingerprints). A stage whose fingerprint is unchanged and whose outputs exist is skipped
on rerun, so an interrupted run resumes at the first unfinished stage.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mmgraph.config import RunConfig
from mmgraph.errors import RunDirError
from mmgraph.io import TEMP_SUFFIX, atomic_path, read_json, write_json

__all__ = ["RunDir", "ARTIFACT_FOLDERS", "refuse_run_artifact_folder"]

#: The folders a run's stages write (besides its top-level files).
ARTIFACT_FOLDERS = ("splits", "ids", "features", "graph", "teacher", "student", "index")


def refuse_run_artifact_folder(folder: str | Path, option: str) -> None:
    """Raise :class:`RunDirError` if ``folder`` is a run directory (it holds ``stages.json``)
    or lies inside one's artifact folders: writing there would overwrite the run's files."""
    folder = Path(folder).resolve()
    for parent in (folder, *folder.parents):
        if (parent / "stages.json").is_file():
            inside = folder.relative_to(parent).parts
            if not inside or inside[0] in ARTIFACT_FOLDERS:
                raise RunDirError(f"{option} {folder} would write into the run directory "
                                  f"{parent}'s own files; choose a folder outside it (or a "
                                  f"new sub-folder such as {parent / 'exports'}).")


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def _stages(self) -> dict[str, str]:
        file = self.path("stages.json")
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
        return (self._stages().get(stage) == fingerprint
                and all(self.path(str(p)).exists() for p in outputs))

    def mark_done(self, stage: str, fingerprint: str) -> None:
        stages = self._stages()
        stages[stage] = fingerprint
        write_json(self.path("stages.json"), stages)

    def remove_stray_temp_files(self) -> int:
        """Delete temporary files that a killed process left (never a finished artifact: those
        are renamed into place); returns how many."""
        strays = list(self.root.rglob(f".*{TEMP_SUFFIX}")) if self.root.is_dir() else []
        for stray in strays:
            stray.unlink(missing_ok=True)
        return len(strays)

    def read_config(self) -> RunConfig | None:
        """The config this run last ran with (``config.yaml``), or ``None`` without one."""
        path = self.path("config.yaml")
        if not path.is_file():
            return None
        try:
            return RunConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, ValueError) as exc:
            raise RunDirError(f"{path} is not a valid run config ({exc}); rerun `mmgraph "
                              f"run` to rewrite it.") from exc

    def write_config(self, config: RunConfig) -> None:
        with atomic_path(self.path("config.yaml")) as tmp:
            tmp.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
                           encoding="utf-8")
