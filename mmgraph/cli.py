"""``mmgraph`` command line: one subcommand per pipeline stage, plus ``run`` and ``quickstart``.

User mistakes (bad files, configs, run directories) print one paragraph and exit with code 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import re
import signal
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from data_prep import DATASETS
from mmgraph.allocator import keep_freed_memory
from mmgraph.cli_parser import QUICKSTART_CONFIG, STAGE_NAMES, build_parser
from mmgraph.errors import MmgraphError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["main", "entry_point", "build_parser", "STAGE_NAMES"]

#: Library warnings that say nothing actionable to a user of the CLI.
_QUIET_WARNINGS = (r"Sparse CSR tensor support is in beta", r"Sparse invariant checks",
                   r"`torch.jit.script` is deprecated")


def _quickstart_config(given: Path | None) -> Path:
    if given is not None:
        return given
    if QUICKSTART_CONFIG.is_file():
        return QUICKSTART_CONFIG
    from mmgraph.config import QUICKSTART_SETTINGS

    return QUICKSTART_SETTINGS


def _parse_ids(values: list[str], known) -> list:
    """User or item ids arrive as strings; in a run whose ids (``known``, an IdMap) are
    integers, only plain decimal digits are one (``1_0``, `` 7`` or ``+7`` are not 10 or 7)."""
    if known.ids.dtype.kind in "iu":
        malformed = [v for v in values if not re.fullmatch(r"-?[0-9]+", v)]
        if malformed:
            raise MmgraphError(f"{known.name} values in this run are integers written in "
                               f"digits; got {malformed}.")
        return [int(v) for v in values]
    return values


def _because(recommender, user, item, shown: int = 3) -> str:
    """The ``shown`` history items adding most to ``item``'s score for ``user``, by name, with
    their share of it."""
    explanation = recommender.explain(user, item, shown)
    because = recommender.describe(explanation.because)
    names = because["title"] if "title" in because else because["item_id"]
    return ", ".join(f"{name} ({share:.0%})" for name, share in zip(names, because["share"]))


def _serve(args: argparse.Namespace) -> None:
    """Run the HTTP service until interrupted."""
    try:
        from mmgraph.serve.launch import serve_forever
    except ImportError as exc:
        raise MmgraphError(f"mmgraph serve needs the serve extra ({exc.name} is missing): "
                           f"pip install 'mmgraph[serve]'.") from exc
    serve_forever(args.run, args.host, args.port, args.quiet, args.threads)


def _export(args: argparse.Namespace, progress: bool, console: Console) -> dict | None:
    """Export (this rank's share, when RANK/WORLD_SIZE say there are several); returns the
    merged manifest, or None on a rank that leaves the merge to another step."""
    from mmgraph.errors import ConfigError
    from mmgraph.export import export_embeddings, merge_export_manifests, run_embeddings
    from mmgraph.training.distributed import barrier, distributed_context

    if args.merge:
        return merge_export_manifests(args.out)
    if args.run is None:
        raise ConfigError("mmgraph export needs --run DIR (or --merge to join ranks' parts).")
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    tables, model_hash = run_embeddings(args.run, args.model)
    manifest = export_embeddings(tables, args.out, args.what, args.format, args.shard_rows,
                                 args.dtype, model_hash, progress and rank == 0, rank, world)
    if world == 1:
        return manifest
    if "MASTER_ADDR" not in os.environ:  # a job array: no process group to wait on
        console.print(f"rank {rank}/{world}: shards written; when every rank is done run "
                      f"`mmgraph export --merge --out {args.out}`")
        return None
    ctx = distributed_context()
    barrier(ctx)
    return merge_export_manifests(args.out) if ctx.is_main else None


def _dispatch(args: argparse.Namespace, console: Console) -> None:
    from mmgraph.config import load_config
    from mmgraph.lock import exclusive_writer

    progress = not args.quiet
    # Under torchrun (or a job array) every rank runs the command; rank 0 alone writes shared
    # files, holds the folder's writer lock, shows progress and prints.
    main_rank = int(os.environ.get("RANK", "0")) == 0
    if args.command == "prepare":
        with exclusive_writer(args.out):
            for path in DATASETS[args.dataset].preparer()(args.out):
                console.print(f"wrote {path}")
        return
    if args.command == "recommend":
        from mmgraph.recommender import Recommender

        recommender = Recommender.load(args.run)
        if args.history:
            if args.explain:
                raise MmgraphError("--explain explains a user's items: use it with --user.")
            history = _parse_ids(args.history, recommender.index.item_ids)
            served = recommender.recommend_for_history(history, args.k)
        else:
            users = _parse_ids(args.user, recommender.data.users)
            served = recommender.recommend(users, args.k, args.exclude, args.unknown)
        served = recommender.describe(served)
        if args.explain:
            served["because you liked"] = [
                _because(recommender, user, item) if source != "popular" else "(popular)"
                for user, item, source in zip(served["user_id"], served["item_id"],
                                              served["source"])]
        console.out(served.to_string(index=False), highlight=False)  # titles are not markup
        return
    if args.command == "serve":
        _serve(args)
        return
    if args.command == "update":
        from mmgraph.pipeline.update import update

        target = update(args.run, args.interactions, args.share, progress, items=args.items)
        if main_rank:
            console.print(f"Generation (serve it, or /admin/swap {{\"run\": "
                          f"\"{target.root.name}\"}}): {target.root}")
        return
    if args.command == "report":
        from mmgraph.runs import RunDir, layout
        from mmgraph.runs.report import write_report

        path = RunDir(args.run).path(layout.REPORT)
        if not path.is_file():  # a run made before runs wrote their report
            with exclusive_writer(args.run):
                path = write_report(args.run)
        console.out(str(path), highlight=False)
        return
    if args.command == "export":
        from mmgraph.runs import refuse_run_artifact_folder

        refuse_run_artifact_folder(args.out, "mmgraph export --out")
        # Ranks of one export write their own shards side by side: rank 0 holds the lock.
        with exclusive_writer(args.out) if main_rank else contextlib.nullcontext():
            manifest = _export(args, progress, console)
        if manifest is None:
            return
        for table, info in manifest["tables"].items():
            console.print(f"{table}: {info['rows']} rows × {info['dim']} in "
                          f"{len(info['shards'])} shard(s)")
        console.print(f"wrote {args.out / 'manifest.json'}")
        return
    config_path = _quickstart_config(args.config) if args.command == "quickstart" else args.config
    cfg = load_config(config_path)
    # Every rank runs the stages (see mmgraph.training.distributed).
    with exclusive_writer(cfg.run_dir) if main_rank else contextlib.nullcontext():
        _run_stages(args, cfg, progress and main_rank, main_rank, console)


def _run_stages(args: argparse.Namespace, cfg, progress: bool, main_rank: bool,
                console: Console) -> None:
    from mmgraph.pipeline import STAGES, run_all
    from mmgraph.pipeline.report import print_examples, print_metrics
    from mmgraph.runs import RunDir, resolved_config

    run = RunDir(cfg.run_dir)
    if args.command in ("run", "quickstart"):
        metrics = run_all(cfg, progress)
        if main_rank:
            print_metrics(metrics, console)
            print_examples(cfg, run, console)
            console.print(f"Run directory: {run.root}")
        return
    if args.command == "refit":
        from mmgraph.pipeline.refit import refit

        target = refit(cfg, run, progress)
        if main_rank:
            console.print(f"Refit run directory (serve it): {target.root}")
        return
    if main_rank:
        run.write_config(resolved_config(cfg, run))
    result = STAGES[args.command](cfg, run, progress)
    if args.command == "evaluate" and main_rank:
        print_metrics(result, console)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a wrong argument (2, already reported)
        return int(exc.code or 0)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader logs every import
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    keep_freed_memory()  # large tensors reuse freed heap pages instead of fresh mmap'ed ones
    for message in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    try:
        from rich.console import Console

        _dispatch(args, Console())
        if "torch.distributed" in sys.modules:  # a torchrun job: every rank leaves together
            from mmgraph.training.distributed import leave_process_group

            leave_process_group()
    except MmgraphError as exc:
        if args.debug:
            raise
        print(f"{_error_label()} {exc}", file=sys.stderr)  # unwrapped: paths, ids stay whole
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted; rerun the same command to resume.", file=sys.stderr)
        return 130
    except OSError as exc:
        if args.debug or exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        where = exc.filename2 or exc.filename or "a file"  # a rename: its target, not the temp
        print(f"{_error_label()} {exc.strerror} ({where}): {_ENVIRONMENT_ERRNOS[exc.errno]}",
              file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:
        peer_lost = _peer_lost(exc)
        if args.debug or not (peer_lost or _out_of_memory(exc)):
            raise
        if peer_lost:
            print(f"{_error_label()} another process of the job stopped while this one "
                  f"waited on it: its error is above (or it was killed). Fix that and rerun the "
                  f"same command: finished stages are kept.", file=sys.stderr)
            return 2
        print(f"{_error_label()} out of memory ({_last_words(exc)}): lower the sizes in the "
              f"config (teacher.dim, student.dim, batch sizes, graph.knn_k, kd_topk) or free "
              f"memory, and rerun the same command: finished stages are kept.", file=sys.stderr)
        return 2
    return 0


def _world_size() -> int:
    """The processes of this job (torchrun's ``WORLD_SIZE``; 1 when unset or not a number)."""
    world = os.environ.get("WORLD_SIZE", "1")
    return int(world) if world.isdigit() else 1


def _error_label() -> str:
    """``error:``, naming the rank in a job of several processes (torchrun's ``RANK``): each
    rank reports its own error, and one rank may fail alone."""
    if _world_size() > 1:
        return f"error (rank {os.environ.get('RANK', '?')} of {_world_size()}):"
    return "error:"


def _last_words(exc: BaseException) -> str:
    """The end of ``exc``'s message (where torch puts the reason), or its type's name."""
    return " ".join(str(exc).split()[-12:]) or type(exc).__name__


def _peer_lost(exc: BaseException) -> bool:
    """A collective that failed because another rank of the job is gone (it raised an error
    of its own, or was killed): gloo's "closed/reset by peer", torch's DistError."""
    torch = sys.modules.get("torch")
    if _world_size() <= 1 or torch is None:
        return False
    return isinstance(exc, torch.distributed.DistError) or "by peer" in str(exc)


def _out_of_memory(exc: BaseException) -> bool:
    """Python's MemoryError, torch's OutOfMemoryError, or its CPU allocator's refusal."""
    torch = sys.modules.get("torch")
    return (isinstance(exc, MemoryError)
            or (torch is not None and isinstance(exc, torch.OutOfMemoryError))
            or "can't allocate memory" in str(exc))


#: Problems of the machine, not of mmgraph: the CLI says what to do instead of a traceback.
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "the disk is full; free space (or set runs_root elsewhere) and rerun the same "
                  "command: finished stages are kept.",
    errno.EDQUOT: "the disk quota is exhausted; free space and rerun the same command.",
    errno.EACCES: "permission denied; choose a folder you may write to (runs_root, --out) or "
                  "fix its permissions.",
    errno.EPERM: "operation not permitted; choose a folder you may write to or fix its "
                 "permissions.",
    errno.EROFS: "the file system is read-only; set runs_root (or --out) to a writable folder.",
    errno.EISDIR: "a folder is where mmgraph reads or writes a file; move it away and rerun "
                  "the same command.",
    errno.ENOTDIR: "a file is where mmgraph expects a folder; move it away and rerun the same "
                   "command.",
    errno.EEXIST: "a file is where mmgraph creates a folder; move it away and rerun the same "
                  "command.",
    errno.ELOOP: "a symbolic link is where mmgraph writes a file of its own (it never follows "
                 "one there); remove the link and rerun the same command.",
    errno.ENAMETOOLONG: "a file name or path is too long for this file system; choose a "
                        "shorter name, runs_root or --out.",
    errno.EFBIG: "the file is larger than this file system or a file-size limit (ulimit -f) "
                 "allows; raise the limit or write elsewhere (runs_root, --out).",
}


def entry_point() -> None:
    """The ``mmgraph`` program: :func:`main`, then exit with its code. Once main returns the
    work is done and only the interpreter's teardown (torch, FAISS: up to a second) is left, so
    a Ctrl-C then is ignored instead of turning a finished command into a killed one."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    entry_point()
