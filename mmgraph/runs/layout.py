"""The run folder's format: every file a run writes, named once.

A run folder (``runs/<name>/``) holds one folder per stage's outputs plus bookkeeping at its
top. Each :class:`Artifact` is a path relative to the run folder, the stage that writes it and
what it holds; :data:`RUN_FORMAT` lists them in pipeline order (docs/architecture.md shows the
table, and a test keeps the two in step). Components that own a folder of their own (the saved
graph, the FAISS index, a training checkpoint, an export) name their files here too, relative
to that folder, so that the whole format is readable in this one module.

This module imports nothing of mmgraph: every layer may read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Artifact", "RUN_FORMAT", "GRAPH_TENSORS_NAME", "GRAPH_META_NAME", "INDEX_FAISS_NAME",
           "INDEX_ITEM_IDS_NAME", "INDEX_REMOVED_NAME", "INDEX_MANIFEST_NAME", "SPLIT_PARTS",
           "split_part", "model_file", "CONFIG", "STAGES", "OUTPUTS", "TIMINGS",
           "INPUT_INTERACTIONS", "INPUT_ITEMS", "METRICS", "REPORT", "UPDATE_RECORD",
           "RECOMMENDATIONS", "USER_IDS", "ITEM_IDS", "FEATURES", "FEATURE_MASKS", "FEATURE_CACHE",
           "GRAPH", "GRAPH_TENSORS", "GRAPH_META", "TEACHER_STATE", "TEACHER_MODEL",
           "TEACHER_EMBEDDINGS", "TEACHER_FILTER_BASES", "STUDENT_STATE", "STUDENT_MODEL",
           "STUDENT_EMBEDDINGS", "COLDSTART_MAPPER", "COLDSTART_MAPPER_CONFIG",
           "TEACHER_MODEL_CONFIG", "STUDENT_MODEL_CONFIG", "INDEX", "INDEX_FAISS",
           "INDEX_ITEM_IDS", "INDEX_REMOVED", "INDEX_MANIFEST", "FOLDIN", "SERVED_FILES_RECORD",
           "REFIT", "CHECKPOINT_FOLDER", "CHECKPOINT_META", "checkpoint_tensors",
           "CHECKPOINT_TENSORS_GLOB", "EXPORT_MANIFEST", "EXPORT_PARTIAL_MANIFEST",
           "export_rank_manifest", "EXPORT_RANK_MANIFEST_GLOB", "export_shard_files",
           "PREPARED_STAMP"]


@dataclass(frozen=True)
class Artifact(os.PathLike):
    """A file (or folder) of the run format: ``path`` relative to its folder (POSIX), the
    ``stage`` that writes it, and ``what`` it holds. Usable wherever a path part is:
    ``run.path(TEACHER_STATE)``."""

    path: str
    stage: str
    what: str

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path


# The graph folder's files (:func:`mmgraph.graph.build.save_graph`), relative to it.
GRAPH_TENSORS_NAME = "graph.safetensors"
GRAPH_META_NAME = "graph.json"
# The FAISS index folder's files (:meth:`mmgraph.index.retrieval.RetrievalIndex.save`).
INDEX_FAISS_NAME = "index.faiss"
INDEX_ITEM_IDS_NAME = "item_ids.parquet"
INDEX_REMOVED_NAME = "removed.parquet"
INDEX_MANIFEST_NAME = "manifest.json"

CONFIG = Artifact("config.yaml", "run", "the config the run last ran with, every value "
                  "spelled out (teacher: auto replaced by what it chose)")
STAGES = Artifact("stages.json", "run", "finished stage → fingerprint (config section and "
                  "inputs' hash): what a rerun skips")
OUTPUTS = Artifact("outputs.json", "run", "stage → size and sha256 of every file it wrote: "
                   "a changed file reruns its stage")
TIMINGS = Artifact("timings.json", "run", "measured seconds per epoch (the one file two runs "
                   "of a config do not share byte for byte)")
INPUT_INTERACTIONS = Artifact("inputs/interactions.parquet", "fit", "the interactions frame "
                              "given to mmgraph.fit: the run's data.interactions")
INPUT_ITEMS = Artifact("inputs/items.parquet", "fit", "the items frame given to mmgraph.fit, "
                       "or an update's catalogue grown by its new items: the run's data.items")
USER_IDS = Artifact("ids/users.parquet", "split", "user id → row index (users with a "
                    "training history)")
ITEM_IDS = Artifact("ids/items.parquet", "split", "item id → row index (the whole catalogue)")
SPLIT_PARTS = ("train", "valid", "test")
_SPLITS = {part: Artifact(f"splits/{part}.parquet", "split", f"the {part} interactions "
                          f"(original ids)") for part in SPLIT_PARTS}
FEATURES = Artifact("features/features.safetensors", "encode", "modality → item content "
                    "vectors [I, d_m]")
FEATURE_MASKS = Artifact("features/masks.safetensors", "encode", "modality → [I] uint8, 1 "
                         "where the item has that content")
FEATURE_CACHE = Artifact("features/cache", "encode", "encoder outputs by content hash "
                         "(shared by reruns; encoders.cache_dir moves it)")
GRAPH = Artifact("graph", "graph", "the user–item and item–item kNN graph folder")
GRAPH_TENSORS = Artifact(f"graph/{GRAPH_TENSORS_NAME}", "graph", "edge_index / edge_weight "
                         "per edge type")
GRAPH_META = Artifact(f"graph/{GRAPH_META_NAME}", "graph", "node and edge counts, edge types")
TEACHER_MODEL = Artifact("teacher/model.safetensors", "teacher", "the trained LightGCN's "
                         "weights (when LightGCN is a component)")
TEACHER_MODEL_CONFIG = Artifact("teacher/model.json", "teacher", "the LightGCN's class and "
                                "constructor arguments: it reloads itself (from_pretrained)")
TEACHER_STATE = Artifact("teacher/state.json", "teacher", "components, blend weights, every "
                         "setting's validation score, auto's search")
TEACHER_EMBEDDINGS = Artifact("teacher/embeddings.safetensors", "teacher", "blended users "
                              "[U, d] and items [I, d] (and content [I, d] for cold start)")
TEACHER_FILTER_BASES = Artifact("teacher/filter_bases.safetensors", "teacher", "the top "
                                "eigenvectors [I, k] of each filter decomposed by subspace "
                                "iteration (past filter.dense_items): an update's start")
STUDENT_MODEL = Artifact("student/model.safetensors", "student", "the distilled student's "
                         "weights")
STUDENT_MODEL_CONFIG = Artifact("student/model.json", "student", "the student's class and "
                                "constructor arguments")
STUDENT_STATE = Artifact("student/state.json", "student", "optimisation settings, best "
                         "epoch, validation history")
STUDENT_EMBEDDINGS = Artifact("student/embeddings.safetensors", "student", "served users "
                              "[U, d_s] and items [I, d_s] (cold items placed from content)")
COLDSTART_MAPPER = Artifact("student/coldstart.safetensors", "student", "content → served "
                            "vector mapper (places items added later)")
COLDSTART_MAPPER_CONFIG = Artifact("student/coldstart.json", "student", "the mapper's "
                                   "sizes (content_dim, student_dim, hidden)")
INDEX = Artifact("index", "index", "the FAISS index folder")
INDEX_FAISS = Artifact(f"index/{INDEX_FAISS_NAME}", "index", "FAISS index over the student's "
                       "items")
INDEX_ITEM_IDS = Artifact(f"index/{INDEX_ITEM_IDS_NAME}", "index", "index label → item id "
                          "(grows when items are added)")
INDEX_REMOVED = Artifact(f"index/{INDEX_REMOVED_NAME}", "index", "[labels] bool: items "
                         "removed from serving")
INDEX_MANIFEST = Artifact(f"index/{INDEX_MANIFEST_NAME}", "index", "dim, metric, factory, "
                          "model hash and sha256 of the index files")
FOLDIN = Artifact("index/foldin.json", "index", "fold-in settings for new users, chosen on "
                  "validation")
SERVED_FILES_RECORD = Artifact("index/served_files.json", "index", "sha256 of the run files a "
                               "server reads: a changed one is refused")
RECOMMENDATIONS = Artifact("recommendations.parquet", "index", "every test user's top-k "
                           "(user_id, item_id, rank, score)")
METRICS = Artifact("metrics.json", "evaluate", "valid and test metrics of teacher, student "
                   "(as served) and popularity; the protocol")
REPORT = Artifact("report.html", "evaluate", "the training report: metrics, validation curves, "
                  "the teacher's blend (`mmgraph report --run`)")
UPDATE_RECORD = Artifact("update.json", "update", "a generation's origin (mmgraph update): its "
                         "family, number, the run it continues and its new interactions' sha256")
REFIT = Artifact("refit", "refit", "a run of its own: the tuned choices refitted on every "
                 "interaction (final_refit, `mmgraph refit`)")

#: Every artifact in pipeline order: the run format's table.
RUN_FORMAT: tuple[Artifact, ...] = (
    CONFIG, STAGES, OUTPUTS, TIMINGS, INPUT_INTERACTIONS, INPUT_ITEMS, USER_IDS, ITEM_IDS,
    *_SPLITS.values(), FEATURES, FEATURE_MASKS, FEATURE_CACHE, GRAPH_TENSORS, GRAPH_META,
    TEACHER_MODEL, TEACHER_MODEL_CONFIG, TEACHER_STATE, TEACHER_EMBEDDINGS, TEACHER_FILTER_BASES,
    STUDENT_MODEL, STUDENT_MODEL_CONFIG, STUDENT_STATE, STUDENT_EMBEDDINGS, COLDSTART_MAPPER,
    COLDSTART_MAPPER_CONFIG, INDEX_FAISS, INDEX_ITEM_IDS, INDEX_REMOVED, INDEX_MANIFEST, FOLDIN,
    SERVED_FILES_RECORD, RECOMMENDATIONS, METRICS, REPORT, UPDATE_RECORD, REFIT)

_MODEL_FILES = {("teacher", "model"): TEACHER_MODEL, ("teacher", "state"): TEACHER_STATE,
                ("teacher", "embeddings"): TEACHER_EMBEDDINGS,
                ("student", "model"): STUDENT_MODEL, ("student", "state"): STUDENT_STATE,
                ("student", "embeddings"): STUDENT_EMBEDDINGS}


def split_part(part: str) -> Artifact:
    """The saved ``part`` (``train``, ``valid`` or ``test``) of the split."""
    return _SPLITS[part]


def model_file(model: str, kind: str) -> Artifact:
    """``model``'s (``teacher`` or ``student``) ``kind`` file: ``model``, ``state`` or
    ``embeddings``."""
    return _MODEL_FILES[model, kind]


# A training checkpoint's folder (<model>/checkpoint/, deleted when the stage ends) and files.
CHECKPOINT_FOLDER = "checkpoint"
CHECKPOINT_META = "checkpoint.json"
CHECKPOINT_TENSORS_GLOB = "checkpoint*.safetensors"


def checkpoint_tensors(epoch: int) -> str:
    """The checkpoint's tensors file after ``epoch``."""
    return f"checkpoint-{epoch}.safetensors"


# An export folder (`mmgraph export`: user-chosen, outside the run's artifact folders).
EXPORT_MANIFEST = "manifest.json"
EXPORT_PARTIAL_MANIFEST = "manifest.partial.json"
EXPORT_RANK_MANIFEST_GLOB = "manifest.rank-*.json"


def export_rank_manifest(rank: int) -> str:
    """The manifest one rank of a distributed export writes."""
    return f"manifest.rank-{rank:05d}.json"


def export_shard_files(name: str, fmt: str) -> tuple[str, ...]:
    """The files of export shard ``name`` in format ``parquet`` (ids and vectors in one
    table) or ``npy`` (the ids table, then the ``[n, d]`` array)."""
    return (f"{name}.parquet",) if fmt == "parquet" else (f"{name}.ids.parquet", f"{name}.npy")


#: Beside a prepared dataset's tables (data_prep): which dataset and options built them.
PREPARED_STAMP = "prepared.json"
