"""The run format: a run folder's layout (:mod:`mmgraph.runs.layout`), its bookkeeping
(:class:`RunDir`: finished stages, written files, the config) and the readers of its artifacts.

Serving and export read runs through this package and never through :mod:`mmgraph.pipeline`,
which writes them. Only :mod:`mmgraph.runs.new_items` (content → vectors for items added
later) needs torch, and nothing imports it until items are added.
"""

from mmgraph.runs import layout
from mmgraph.runs.artifacts import (SERVED_FILES, IndexedSplit, load_split, recommendation_frame,
                                   record_served_files, served_embeddings, verify_served_files)
from mmgraph.runs.resolved import auto_key, resolved_config
from mmgraph.runs.rundir import ARTIFACT_FOLDERS, RunDir, refuse_run_artifact_folder

__all__ = ["layout", "RunDir", "ARTIFACT_FOLDERS", "refuse_run_artifact_folder", "IndexedSplit",
           "load_split", "served_embeddings", "recommendation_frame", "SERVED_FILES",
           "record_served_files", "verify_served_files", "auto_key", "resolved_config"]
