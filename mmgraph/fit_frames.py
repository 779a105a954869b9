"""``mmgraph.fit``: a whole run from DataFrames, in one call, for a notebook.

implicit trains with ``model.fit(user_items)``; here the same call runs every stage of
:func:`mmgraph.run` (split, encode, graph, teacher, student, index, evaluate) on the frames
given, with the quickstart's settings unless told otherwise, and returns the served
:class:`~mmgraph.Recommender`::

    recommender = mmgraph.fit(ratings, movies, teacher={"optim": {"epochs": 50}})
    recommender.metrics["student"]["test"]["ndcg@20"]
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from mmgraph.config import (QUICKSTART_SETTINGS, RunConfig, merge_nested, read_config_file,
                            validate_config)
from mmgraph.errors import ConfigError, DataError
from mmgraph.io import write_parquet
from mmgraph.recommender import Recommender
from mmgraph.runs import RunDir, layout

__all__ = ["fit", "fit_config"]

#: Where a run of :func:`fit` goes under a temporary folder when no ``run_dir`` is given.
_TEMPORARY_RUN = "run"
#: Where the frames given are saved in the run folder.
_SAVED_AS = {"interactions": layout.INPUT_INTERACTIONS, "items": layout.INPUT_ITEMS}


def fit(interactions: pd.DataFrame | str | Path, items: pd.DataFrame | str | Path | None = None,
        *, config: dict | str | Path | RunConfig | None = None,
        run_dir: str | Path | None = None, progress: bool = True,
        **overrides: Any) -> Recommender:
    """Train on ``interactions`` (and the ``items``' content) and return the served
    :class:`~mmgraph.Recommender`, with ``.metrics`` (``metrics.json``) and ``.run_dir``.

    Args:
        interactions: one row per user–item interaction (``user_id``, ``item_id``, optional
            ``rating``, ``timestamp``; other names via ``data={"columns": {...}}``), a frame
            or a table file (Parquet, CSV).
        items: one row per catalogue item (``item_id`` and its content, e.g. ``title``), or
            ``None`` for ID-only training.
        config: the run's settings: a mapping of sections, a YAML file or a
            :class:`~mmgraph.config.RunConfig`; by default the quickstart's
            (configs/quickstart.yaml). Its data tables are replaced by the frames given.
        run_dir: the run folder; a call again with it resumes (stages already done with the
            same data and settings are skipped). By default a new temporary folder.
        progress: progress bars (tqdm.auto: widgets in a notebook).
        overrides: config sections merged over ``config`` (``teacher={"dim": 64}``,
            ``split={"kind": "temporal"}``).

    Frames are saved in the run folder (``inputs/``) and read from there like files, so a
    bad frame raises the command line's :class:`~mmgraph.errors.DataError`, which names
    that file, the column or the rows and the fix.
    """
    from mmgraph.pipeline import run_all  # torch: only when training

    folder = Path(tempfile.mkdtemp(prefix="mmgraph-")) / _TEMPORARY_RUN if run_dir is None \
        else Path(run_dir)
    cfg = fit_config(folder, _table(folder, interactions, "interactions"),
                     None if items is None else _table(folder, items, "items"), config,
                     overrides)
    run_all(cfg, progress)
    return Recommender.load(cfg.run_dir)


def fit_config(run_dir: Path, interactions: Path, items: Path | None,
               config: dict | str | Path | RunConfig | None, overrides: dict) -> RunConfig:
    """The validated config of a :func:`fit` run in ``run_dir`` over these tables: ``config``
    (default: the quickstart's) with ``overrides`` merged, its data tables replaced (and any
    ``data.prepare`` dropped: the tables are given)."""
    if config is None:
        config = QUICKSTART_SETTINGS
    if isinstance(config, RunConfig):
        raw, source = config.model_dump(mode="json", exclude_unset=True), "The RunConfig given"
    elif isinstance(config, dict):
        raw, source = copy.deepcopy(config), "The config mapping given to mmgraph.fit"
    else:
        raw, source = read_config_file(config), f"Config file {config}"
    if not isinstance(raw.get("data", {}), dict):
        raise ConfigError(f"{source} is invalid: data must be a mapping of settings.")
    data = {k: v for k, v in raw.get("data", {}).items()
            if k not in ("interactions", "items", "prepare", "prepare_options")}
    raw["data"] = data
    given = set(overrides.get("data") or {}) & {"interactions", "items"}
    if given:
        raise ConfigError(f"mmgraph.fit reads its tables from its arguments; drop data."
                          f"{sorted(given)[0]} from the overrides and pass the table itself.")
    merge_nested(raw, copy.deepcopy(overrides))
    raw["data"].update(interactions=str(interactions), items=None if items is None
                       else str(items))
    if run_dir.name in ("", ".", ".."):
        raise ConfigError(f"run_dir {str(run_dir)!r} names no folder; give a path such as "
                          f"'runs/my-run'.")
    raw.update(runs_root=str(run_dir.parent), name=run_dir.name)
    return validate_config(raw, source)


def _table(run_dir: Path, table: pd.DataFrame | str | Path, what: str) -> Path:
    """The file of the ``what`` table (``interactions`` or ``items``): a frame is saved in
    the run folder (``inputs/``)."""
    if isinstance(table, (str, Path)):
        return Path(table)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"mmgraph.fit takes pandas DataFrames or table paths, got "
                        f"{type(table).__name__} for {what}.")
    path = RunDir(run_dir).path(_SAVED_AS[what])
    try:
        write_parquet(path, table.reset_index(drop=True))
    except OverflowError as exc:  # Python ints past int64 in an object column
        raise DataError(f"The {what} frame given to mmgraph.fit holds an integer outside the "
                        f"64-bit range ({exc}); ids must fit in int64: renumber them or give "
                        f"them as strings.") from exc
    except (pa.ArrowException, ValueError, TypeError) as exc:  # e.g. a column of mixed types
        raise DataError(f"The {what} frame given to "
                        f"mmgraph.fit cannot be saved as a table ({exc}); give each column one "
                        f"type (ids all numbers or all strings).") from exc
    return path
