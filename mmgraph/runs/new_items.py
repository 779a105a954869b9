"""Serve items a run has never seen from their content alone: the run's own encoders, the
teacher's content tower and the student's cold-start mapper, applied to a table of new items.

This is the path the student stage takes for items without interactions, run after training:
the items table's content columns are encoded with the run's encoder settings (categorical
attributes in the run's own vocabulary: a token the run never saw is left out), fused by the
teacher's trained content tower (or L2-normalised side by side when the teacher has none, as
the mapper was fitted), and mapped into the served space by the mapper fitted on the warm
items (:mod:`mmgraph.distill.coldstart`).

Shapes: ``items`` ``[n rows]`` → vectors ``[n, d_s]`` (float32), in ``items`` row order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from mmgraph.config import RunConfig
from mmgraph.data.tables import ITEM, load_items
from mmgraph.errors import DataError, RunDirError
from mmgraph.runs import layout
from mmgraph.runs.rundir import RunDir

__all__ = ["vectors_from_content"]


def vectors_from_content(run: RunDir, items: pd.DataFrame, progress: bool = False
                         ) -> np.ndarray:
    """Served item vectors ``[n, d_s]`` of the new ``items`` (``item_id`` plus the content
    columns the run's encoders read), computed as the run placed its own cold items."""
    from mmgraph.distill.coldstart import ColdStartMapper, content_vectors
    from mmgraph.io import read_arrays
    from mmgraph.runs.resolved import resolved_config

    cfg = run.read_config()
    cfg = cfg and resolved_config(cfg, run)
    mapper_path = run.path(layout.COLDSTART_MAPPER)
    if cfg is None or not mapper_path.is_file():
        raise RunDirError(f"{run.root} has no cold-start mapper (student/coldstart."
                          f"safetensors): its run had no item content, or ran before mappers "
                          f"were always saved; rerun its student stage to place new items.")
    features = _encode(cfg, run, items, progress)
    known = read_arrays(run.path(layout.FEATURES))  # mapped: widths only
    widths = {name: matrix.shape[1] for name, matrix in features.items()}
    expected = {name: matrix.shape[1] for name, matrix in known.items()}
    if widths != expected:
        raise DataError(f"the new items' features (widths {widths}) differ from the run's "
                        f"({expected}): give the content columns the run's items table has.")
    outputs = {}
    tcfg = cfg.teacher  # a trained LightGCN with fused content has the content tower
    if "lightgcn" in tcfg.components and tcfg.content == "fused" and features:
        teacher = _trained_teacher(run)
        with torch.no_grad():
            outputs["content"] = teacher.content_vector(features)
    content = content_vectors(outputs, features)
    mapper = ColdStartMapper.from_pretrained(mapper_path)
    with torch.no_grad():
        return mapper(content).numpy().astype(np.float32)


def _trained_teacher(run: RunDir):
    """The run's LightGCN teacher with its trained weights (for its content tower); a rating
    teacher's biases, attached after construction, are not needed."""
    from mmgraph.models.teacher import MultimodalTeacher

    return MultimodalTeacher.from_pretrained(run.path(layout.TEACHER_MODEL),
                                             ignore_prefixes=("biases.",))


def _encode(cfg: RunConfig, run: RunDir, items: pd.DataFrame, progress: bool
            ) -> dict[str, torch.Tensor]:
    """The run's modalities for ``items``; categorical attributes in the run's vocabulary."""
    from encoders.categorical import multi_hot, vocabulary
    from encoders.items import encode_items

    if ITEM not in items.columns:
        raise DataError(f"new items need an {ITEM} column; got columns {list(items.columns)}")
    encoders = cfg.encoders.model_copy(update={"categorical": None})
    cache = cfg.encoders.cache_dir or run.path(layout.FEATURE_CACHE)
    features = encode_items(items, encoders, cache, cfg.data.media_root, "cpu",
                            progress).features
    categorical = cfg.encoders.categorical
    if categorical is not None:
        if cfg.data.items is None:
            raise DataError("the run encoded categorical attributes, but its config names no "
                            "items table to read their vocabulary from")
        table = load_items(cfg.data.items, cfg.data.columns.item)
        fitted = vocabulary(table, categorical.columns, categorical.separator)
        features["categorical"] = multi_hot(items, categorical.columns, categorical.separator,
                                            fitted)
    return features
