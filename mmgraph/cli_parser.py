"""The ``mmgraph`` command line's grammar: every subcommand and its arguments (argparse), kept
apart from what the commands do (:mod:`mmgraph.cli`) and light to import (``--help`` loads
neither torch nor the pipeline)."""

from __future__ import annotations

import argparse
from pathlib import Path

from data_prep import DATASETS

__all__ = ["build_parser", "STAGE_NAMES", "QUICKSTART_CONFIG"]

QUICKSTART_CONFIG = Path("configs") / "quickstart.yaml"

#: The pipeline's stages in order; equal to ``mmgraph.pipeline.STAGES`` (kept here so that
#: ``mmgraph --help`` does not import torch).
STAGE_NAMES = ("split", "encode", "graph", "teacher", "student", "index", "evaluate")

class _Parser(argparse.ArgumentParser):
    """argparse, with a wrong argument reported like every other user mistake: one paragraph
    starting ``error:`` (and where to read the usage), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}. See `{self.prog} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mmgraph", description="Graph-based multimodal recommendation: encode item content, "
        "train a GNN teacher, distill an ID student, retrieve with FAISS.")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info logs")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prepare = commands.add_parser("prepare", help="turn a known raw dataset into mmgraph tables")
    prepare.add_argument("dataset", choices=list(DATASETS))
    prepare.add_argument("--out", type=Path, required=True, help="folder for the two tables")

    helps = {"split": "validate the tables and save the seeded train/valid/test split",
             "encode": "encode item content with pretrained encoders (cached)",
             "graph": "build the user–item + item–item kNN graph",
             "teacher": "train the multimodal graph teacher",
             "student": "distill the ID-embedding student from the teacher",
             "index": "build the FAISS index and write recommendations.parquet",
             "evaluate": "compute metrics.json and print the metrics table",
             "run": "run every stage in order (finished stages are skipped)",
             "refit": "retrain the tuned teacher and student on every interaction into "
                      "RUN/refit, a run folder to serve"}
    for name in [*STAGE_NAMES, "run", "refit"]:
        sub = commands.add_parser(name, help=helps[name])
        sub.add_argument("--config", type=Path, required=True, help="YAML run config")

    quick = commands.add_parser("quickstart", help="run the embedded MovieLens-100K default")
    quick.add_argument("--config", type=Path, default=None,
                       help=f"default: {QUICKSTART_CONFIG} of this checkout")

    recommend = commands.add_parser("recommend", help="top-k items for users of a finished run")
    recommend.add_argument("--run", type=Path, required=True, help="run directory")
    who = recommend.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", nargs="+", help="user id(s)")
    who.add_argument("--history", nargs="+", metavar="ITEM",
                     help="item ids a user chose: serve that user by fold-in (no retraining)")
    recommend.add_argument("-k", type=int, default=10)
    recommend.add_argument("--exclude", choices=("interacted", "train"), default="interacted",
                           help="items left out: every item the user interacted with (default, "
                                "for serving) or only the training split's (as evaluated)")
    recommend.add_argument("--unknown", choices=("popular", "error"), default="popular",
                           help="users the run does not know: serve the most popular items "
                                "(default; their rows say source 'popular') or fail")
    recommend.add_argument("--explain", action="store_true",
                           help="with --user: after each item, the user's history items that "
                                "add most to its score (because you liked ...)")

    serve = commands.add_parser("serve", help="serve a finished run over HTTP (JSON), and a "
                                "page to look at it at /",
                                description="Endpoints: /recommend, /recommend_for_history, "
                                            "/update, /similar, /items, /admin/swap, /health, "
                                            "/metrics; / is a page to look at what the run "
                                            "recommends (needs the serve extra: pip install "
                                            "'mmgraph[serve]').")
    serve.add_argument("--run", type=Path, required=True, help="run directory")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--threads", type=int, default=1, help="threads FAISS uses within one "
                       "request (requests are answered one at a time): 1 suits "
                       "many small requests; more for requests of thousands of users")

    update = commands.add_parser(
        "update", help="fold new interactions into a finished run: a new generation beside it",
        description="Writes RUN.1 (then .2, ...) beside the run: every interaction it knew "
                    "plus the new ones, its filters recomputed, LightGCN continued from its "
                    "weights and the student distilled from the updated teacher, each for a "
                    "share of the run's epochs, a new index. The "
                    "run itself is not changed; the same command again resumes.")
    update.add_argument("--run", type=Path, required=True, help="the finished run to continue")
    update.add_argument("--interactions", type=Path, required=True,
                        help="table of new interactions, the run's columns")
    update.add_argument("--items", type=Path,
                        help="table of new items (the items table's columns), for a run with "
                             "content")
    update.add_argument("--share", type=float, default=0.25,
                        help="share of the run's chosen epochs to train (default 0.25)")

    report = commands.add_parser("report", help="print the path of a run's training report "
                                 "(report.html: metrics, validation curves, the blend)")
    report.add_argument("--run", type=Path, required=True, help="run directory")

    export = commands.add_parser(
        "export", help="write a run's embeddings as sharded files",
        description="With RANK/WORLD_SIZE set (torchrun, a job array), each rank writes its "
                    "share of the shards; under torchrun rank 0 then merges the manifests, "
                    "otherwise run `mmgraph export --merge --out DIR` once every rank is done.")
    export.add_argument("--run", type=Path, help="run directory (required unless --merge)")
    export.add_argument("--merge", action="store_true",
                        help="join the ranks' manifests into manifest.json")
    export.add_argument("--out", type=Path, required=True, help="output folder (resumable)")
    export.add_argument("--model", choices=["student", "teacher"], default="student")
    export.add_argument("--what", nargs="+", choices=["users", "items"],
                        default=["users", "items"])
    export.add_argument("--format", choices=["parquet", "npy"], default="parquet")
    export.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    export.add_argument("--shard-rows", type=int, default=100_000)
    return parser
