"""Training on several processes (torch.distributed, gloo on CPU) matches one process."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from mmgraph.graph.adjacency import bipartite_adjacency, lightgcn_propagate
from mmgraph.models.student import IDStudent
from mmgraph.models.spectral import filter_basis
from mmgraph.models.temporal import time_weighted_cooccurrence
from mmgraph.training.distributed import (Distributed, ShardedTraining, rank_batches,
                                         sum_over_ranks, user_shard, wrap_loss)


def test_rank_batches_split_every_global_batch_over_the_ranks():
    ranks = [list(rank_batches(103, 20, epoch=3, seed=7, ctx=Distributed(r, 2),
                               generator=torch.Generator())) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1])  # same number of steps on every rank (DDP needs it)
    assert all(len(b) <= 10 for batches in ranks for b in batches)
    covered = torch.cat([b for batches in ranks for b in batches])
    assert set(covered.tolist()) == set(range(103)) and len(covered) == 104  # one pad
    again = list(rank_batches(103, 20, 3, 7, Distributed(0, 2), torch.Generator()))
    assert all(torch.equal(a, b) for a, b in zip(again, ranks[0]))
    other_epoch = list(rank_batches(103, 20, 4, 7, Distributed(0, 2), torch.Generator()))
    assert not torch.equal(other_epoch[0], ranks[0][0])
    single = list(rank_batches(50, 20, 1, 7, Distributed(), torch.Generator().manual_seed(1)))
    assert torch.equal(torch.cat(single), torch.randperm(50, generator=torch.Generator()
                                                                  .manual_seed(1)))
    generator = torch.Generator().manual_seed(1)
    assert list(rank_batches(50, 50, 1, 7, Distributed(), generator)) == [slice(None)]
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(1).get_state())


def _mf_loss(model: IDStudent):
    def loss(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        scores = (model.user_embedding(users) * model.item_embedding(items)).sum(-1)
        return torch.nn.functional.softplus(-scores).mean()
    return loss


def _ddp_gradients(rank: int, store: str, users, items, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = IDStudent(6, 8, dim=4)
    step = wrap_loss(model, _mf_loss(model), Distributed(rank, 2))
    half = slice(rank * 4, rank * 4 + 4)
    step(users[half], items[half]).backward()
    if rank == 0:
        torch.save({k: p.grad.to_dense() for k, p in model.named_parameters()}, out)
    dist.destroy_process_group()


def test_ddp_gradient_equals_the_full_batch_gradient(tmp_path):
    users, items = torch.tensor([0, 1, 2, 3, 4, 5, 0, 1]), torch.tensor([1, 2, 3, 4, 5, 6, 7, 0])
    mp.spawn(_ddp_gradients, args=(str(tmp_path / "store"), users, items,
                                   str(tmp_path / "g.pt")), nprocs=2)
    torch.manual_seed(0)
    model = IDStudent(6, 8, dim=4)
    _mf_loss(model)(users, items).backward()
    ddp = torch.load(tmp_path / "g.pt", weights_only=True)
    for name, param in model.named_parameters():
        assert param.grad.is_sparse  # the ID tables' gradients stay sparse through DDP
        assert torch.allclose(ddp[name], param.grad.to_dense(), atol=1e-6), name


def _sharded_student_gradients(rank: int, store: str, users, items, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = IDStudent(6, 8, dim=4)
    mine = user_shard(6, Distributed(rank, 2))
    model.replace_user_rows([model.user_embedding.weight.detach()[mine.start:mine.stop].clone()])
    sharded = ShardedTraining(Distributed(rank, 2), (model.item_embedding.weight,), lambda: None)
    local = (users >= mine.start) & (users < mine.stop)
    # this rank's share of the mean over every example: its examples' sum / all examples
    (_mf_loss(model)(users[local] - mine.start, items[local]) * local.sum() / len(users)
     ).backward()
    sharded.sum_gradients()
    assert model.item_embedding.weight.grad.is_sparse  # for SparseAdam
    torch.save({k: p.grad.to_dense() for k, p in model.named_parameters()}, f"{out}.{rank}")
    dist.destroy_process_group()


def test_sharded_student_gradients_equal_one_process(tmp_path):
    """Issue 35, the student sharded by user: each rank's user rows get their gradient from its
    own examples, the (sparse) item table's is summed over the ranks; both equal one process's,
    and the item gradient stays row-sparse for SparseAdam."""
    users, items = torch.tensor([0, 1, 2, 3, 4, 5, 0, 4]), torch.tensor([1, 2, 3, 4, 5, 6, 7, 0])
    mp.spawn(_sharded_student_gradients, args=(str(tmp_path / "store"), users, items,
                                               str(tmp_path / "g")), nprocs=2)
    torch.manual_seed(0)
    model = IDStudent(6, 8, dim=4)
    _mf_loss(model)(users, items).backward()
    shards = [torch.load(f"{tmp_path / 'g'}.{rank}", weights_only=True) for rank in range(2)]
    assert torch.allclose(torch.cat([s["user_embedding.weight"] for s in shards]),
                          model.user_embedding.weight.grad.to_dense(), atol=1e-6)
    for shard in shards:
        assert torch.allclose(shard["item_embedding.weight"],
                              model.item_embedding.weight.grad.to_dense(), atol=1e-6)


def test_user_shards_cover_every_user_once():
    shards = [user_shard(11, Distributed(r, 3)) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 3]
    assert [u for s in shards for u in s] == list(range(11))
    assert user_shard(5, Distributed()) == range(5)


#: (options of filter_basis, with a time-weighted graph?): the dense solver, the subspace
#: iteration, the iteration with a content graph blended in, a given (time-weighted) graph.
_SHARDED_CASES = [({"dense_items": 100}, False), ({"dense_items": 10, "rank": 12}, False),
                  ({"dense_items": 10, "rank": 12, "content_weight": 0.5}, False),
                  ({"dense_items": 10, "rank": 12}, True), ({"dense_items": 100}, True)]


def _graph_for_shards():
    generator = torch.Generator().manual_seed(0)
    dense = torch.rand(40, 24, generator=generator) < 0.3
    dense[torch.arange(40), torch.arange(40) % 24] = True  # every user and item seen
    pairs = dense.nonzero().T.contiguous()
    times = torch.randint(0, 5_000, (pairs.shape[1],), generator=generator).double()
    content = (torch.tensor([[i for i in range(24) for _ in range(2)],
                             [(i + d) % 24 for i in range(24) for d in (1, 2)]]),
               torch.ones(48))
    return pairs, times, content


def _filter_scores(pairs, times, content, num_users, options, timed, reduce=None):
    """The filter's scores ``[num_users, 24]`` of the users in ``pairs`` (numbered from 0)."""
    options = dict(options)
    if "content_weight" in options:
        options["content_graph"] = content
    if timed:
        options["cooccurrence"] = time_weighted_cooccurrence(pairs, times, 24, 600.0)
    users, items = filter_basis(pairs, num_users, 24, 0.3, seed=5, reduce=reduce,
                                **options).embeddings(0.1)
    return users @ items.T


def _sharded_filters(rank: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    ctx = Distributed(rank, 2)
    pairs, times, content = _graph_for_shards()
    mine = user_shard(40, ctx)
    local = (pairs[0] >= mine.start) & (pairs[0] < mine.stop)
    shard = torch.stack([pairs[0][local] - mine.start, pairs[1][local]])
    scores = [_filter_scores(shard, times[local], content, len(mine), options, timed,
                             sum_over_ranks(ctx)) for options, timed in _SHARDED_CASES]
    torch.save(scores, f"{out}.{rank}")
    dist.destroy_process_group()


def test_a_filter_sharded_by_users_scores_as_one_process(tmp_path):
    """Issue 35: each rank holds half the users' interactions and sums the graph's products
    over the ranks; the scores of every user equal one process's on the whole graph."""
    mp.spawn(_sharded_filters, args=(str(tmp_path / "store"), str(tmp_path / "s")), nprocs=2)
    pairs, times, content = _graph_for_shards()
    shards = [torch.load(f"{tmp_path / 's'}.{rank}", weights_only=True) for rank in range(2)]
    for case, (options, timed) in enumerate(_SHARDED_CASES):
        whole = _filter_scores(pairs, times, content, 40, options, timed)
        sharded = torch.cat([shards[0][case], shards[1][case]])
        assert torch.allclose(sharded, whole, atol=2e-4 * float(whole.abs().max())), case


def _propagated(pairs, weight, num_users, users, items, out_users, out_items, sum_items=None):
    """LightGCN's 3-layer mean from ego ``users``/``items`` (leaves, gradients kept) and the
    loss ``<users', out_users> + <items', out_items>``, backpropagated."""
    adjacency = bipartite_adjacency(pairs, num_users, 24, weight, sum_items)
    users_out, items_out = lightgcn_propagate(adjacency, users, items, 3)
    ((users_out * out_users).sum() + (items_out * out_items).sum()).backward()
    return users_out.detach(), items_out.detach()


def _propagation_case():
    pairs, _, _ = _graph_for_shards()
    generator = torch.Generator().manual_seed(1)
    weight = torch.rand(pairs.shape[1], generator=generator) + 0.5
    return pairs, weight, *(torch.randn(n, 8, generator=generator) for n in (40, 24, 40, 24))


def _sharded_propagation(rank: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    ctx = Distributed(rank, 2)
    pairs, weight, users, items, out_users, out_items = _propagation_case()
    mine = user_shard(40, ctx)
    local = (pairs[0] >= mine.start) & (pairs[0] < mine.stop)
    shard = torch.stack([pairs[0][local] - mine.start, pairs[1][local]])
    users = users[mine.start:mine.stop].clone().requires_grad_()
    items = items.clone().requires_grad_()
    # each rank's loss: its users' rows, and half the items' term (the ranks' losses sum to one)
    users_out, items_out = _propagated(shard, weight[local], len(mine), users, items,
                                       out_users[mine.start:mine.stop], out_items / 2,
                                       dist.all_reduce)
    torch.save([users_out, items_out, users.grad, sum_over_ranks(ctx)(items.grad)],
               f"{out}.{rank}")
    dist.destroy_process_group()


def test_lightgcn_sharded_by_users_propagates_and_backpropagates_as_one_process(tmp_path):
    """Issue 35: each rank holds half the users' interactions and their ego rows, items are
    replicated and their propagated rows summed over the ranks (one all-reduce per layer, one
    per layer of the backward); the users' and items' outputs, the users' gradients and the
    items' gradients summed over the ranks equal one process's on the whole graph."""
    mp.spawn(_sharded_propagation, args=(str(tmp_path / "store"), str(tmp_path / "p")),
             nprocs=2)
    pairs, weight, users, items, out_users, out_items = _propagation_case()
    users.requires_grad_(), items.requires_grad_()
    whole_users, whole_items = _propagated(pairs, weight, 40, users, items, out_users, out_items)
    shards = [torch.load(f"{tmp_path / 'p'}.{rank}", weights_only=True) for rank in range(2)]
    assert torch.allclose(torch.cat([s[0] for s in shards]), whole_users, atol=1e-5)
    assert torch.allclose(torch.cat([s[2] for s in shards]), users.grad, atol=1e-5)
    for rank in range(2):
        assert torch.allclose(shards[rank][1], whole_items, atol=1e-5)
        assert torch.allclose(shards[rank][3], items.grad, atol=1e-5)


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", "-m", "mmgraph.cli", "-q", *args],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_torchrun_two_processes_match_one_within_tolerance(ml100k_slice, tmp_path):
    """The whole pipeline under `torchrun --nproc_per_node=2` (LightGCN sharded by user, the
    student trained with DDP) against one process: test NDCG@20 within 0.02 absolute
    (docs/scaling.md)."""
    from tests.test_cli import mmgraph, write_config

    config = write_config(tmp_path, *ml100k_slice, encoders={"text": None},
                          teacher={"content": "none", "dim": 32,
                                   "optim": {"epochs": 12, "eval_every": 4, "lr": 0.01}})
    single = mmgraph("run", "--config", str(config))
    assert single.returncode == 0, single.stderr
    raw = config.read_text().replace("name: e2e", "name: e2e-ddp")
    (tmp_path / "ddp.yaml").write_text(raw)
    double = _torchrun("run", "--config", str(tmp_path / "ddp.yaml"))
    assert double.returncode == 0, double.stderr[-3000:]
    runs = tmp_path / "runs"
    one = json.loads((runs / "e2e" / "metrics.json").read_text())
    two = json.loads((runs / "e2e-ddp" / "metrics.json").read_text())
    for model in ("teacher", "student"):
        a, b = one[model]["test"]["ndcg@20"], two[model]["test"]["ndcg@20"]
        assert abs(a - b) <= 0.02, (model, a, b)
    history = json.loads((runs / "e2e-ddp" / "teacher" / "state.json").read_text())["history"]
    assert history[-1]["loss"] < history[0]["loss"]  # it trained
    assert not (runs / "e2e-ddp" / "teacher" / "checkpoint").exists()


@pytest.mark.slow
def test_torchrun_encode_shards_items_over_ranks(tiny_interactions, tmp_path):
    """`mmgraph encode` on 2 processes: both ranks encode (the shared cache has shards from
    both), and the features equal a single process's."""
    from safetensors.torch import load_file

    from tests.test_cli import mmgraph, write_config

    tiny_interactions.to_csv(tmp_path / "inter.csv", index=False)
    items = tiny_interactions[["item_id"]].drop_duplicates().assign(
        title=lambda f: "a film about " + f["item_id"].astype(str), year=1990, genres="Drama")
    items.to_csv(tmp_path / "items.csv", index=False)
    config = write_config(tmp_path, tmp_path / "inter.csv", tmp_path / "items.csv")
    for command in (["split"], ["encode"]):
        assert (r := _torchrun(*command, "--config", str(config))).returncode == 0, r.stderr
    run = tmp_path / "runs" / "e2e"
    shards = list((run / "features" / "cache").rglob("shard-*.safetensors"))
    assert len(shards) == 2  # one per rank
    two = load_file(run / "features" / "features.safetensors")["text"]
    (tmp_path / "runs").rename(tmp_path / "runs-ddp")
    for command in ("split", "encode"):
        assert mmgraph(command, "--config", str(config)).returncode == 0
    one = load_file(run / "features" / "features.safetensors")["text"]
    assert two.shape == (len(items), 384) and torch.allclose(one, two, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["table", "config"])
def test_bad_input_under_torchrun_is_a_clear_error_from_each_rank(tiny_interactions, tmp_path,
                                                                   bad):
    """A table with a non-numeric rating, or a config with an unknown key, under `torchrun
    --nproc_per_node=2` (issue 36): the job fails with mmgraph's one-line error naming the
    file and the row or key, labelled with the rank that raised it, no traceback of mmgraph's
    own, and nothing of the run written past its config."""
    from tests.test_cli import write_config

    table = tiny_interactions.astype({"rating": object})
    if bad == "table":
        table.loc[7, "rating"] = "five"
    table.to_csv(tmp_path / "inter.csv", index=False)
    config = write_config(tmp_path, tmp_path / "inter.csv", None, encoders={"text": None})
    if bad == "config":
        config.write_text(config.read_text().replace("dim: 32", "dimm: 32"))
    result = _torchrun("run", "--config", str(config))
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error (rank ")]
    assert errors, result.stderr[-3000:]
    names = ((str(tmp_path / "inter.csv"), "'rating'", "data row(s) 8 ") if bad == "table"
             else (str(config), "teacher.dimm"))
    named = [line for line in errors if all(name in line for name in names)]
    assert named, errors
    for line in errors:  # each rank: the error itself, or that the rank raising it stopped
        assert re.fullmatch(r"error \(rank [01] of 2\): .+", line)
        assert line in named or "another process of the job stopped" in line, line
    assert not re.search(r'File "[^"]*/mmgraph/', result.stderr)  # only torchrun's own report
    run = tmp_path / "runs" / "e2e"
    assert not run.exists() or {p.name for p in run.iterdir()} <= {"config.yaml", ".mmgraph.lock"}


def _copy_run(config: Path, name: str) -> Path:
    """A copy of ``config``'s run as it is now under ``name/`` beside it, and a config
    (``name.yaml``) pointing at it."""
    runs, copy = config.parent / "runs", config.parent / name
    shutil.copytree(runs / "e2e", copy / "e2e")
    (config.parent / f"{name}.yaml").write_text(config.read_text().replace(str(runs), str(copy)))
    return config.parent / f"{name}.yaml"


def _teacher_in_one_process_and_under_torchrun(ml100k_slice, tmp_path: Path, teacher: dict
                                               ) -> tuple[Path, Path]:
    """The teacher section ``teacher`` on ml100k_slice: split, encode and graph once, then
    the teacher stage in one process and, on a copy, under torchrun; the two runs roots."""
    from tests.test_cli import mmgraph, write_config

    config = write_config(tmp_path, ml100k_slice[0], None, encoders={"text": None},
                          teacher=teacher)
    for stage in ("split", "encode", "graph"):
        assert (r := mmgraph(stage, "--config", str(config))).returncode == 0, r.stderr
    copy = _copy_run(config, "ddp")  # the same split and graph
    assert (r := mmgraph("teacher", "--config", str(config))).returncode == 0, r.stderr
    assert (r := _torchrun("teacher", "--config", str(copy))).returncode == 0, r.stderr[-3000:]
    return tmp_path / "runs", tmp_path / "ddp"


@pytest.mark.slow
def test_torchrun_shards_the_filters_by_user_and_matches_one_process(ml100k_slice, tmp_path):
    """The teacher's filters under `torchrun --nproc_per_node=2`: each rank decomposes from half
    the users (their products summed over the ranks), rank 0 validates the grid; the settings
    chosen and every user's scores equal one process's (issue 35)."""
    from tests.test_cli import NARROW_FILTER

    teacher = {"components": ["filter", "time_filter"], "time_scale": [600, 3600],
               "filter": {**NARROW_FILTER, "ridge": [0.02, 0.2], "history_half_life": [10],
                          "dense_items": 100, "rank": 24}}
    runs = _teacher_in_one_process_and_under_torchrun(ml100k_slice, tmp_path, teacher)
    one, two = (json.loads((root / "e2e" / "teacher" / "state.json").read_text())
                for root in runs)
    for key in ("filter_setting", "time_filter_setting", "time_scale", "weights"):
        assert one[key] == two[key], key
    scores = []
    for root in runs:
        tables = load_file(root / "e2e" / "teacher" / "embeddings.safetensors")
        scores.append(tables["users"] @ tables["items"].T)
    assert torch.allclose(scores[0], scores[1], atol=1e-4 * float(scores[0].abs().max()))


@pytest.mark.slow
def test_torchrun_shards_lightgcn_by_user_and_trains_as_one_process(ml100k_slice, tmp_path):
    """LightGCN under `torchrun --nproc_per_node=2`, sharded by user (issue 35): each rank
    holds half the users' interactions and user rows, item rows are summed over the ranks at
    every layer and their gradients after every step. With the whole-data loss (full batch,
    nothing sampled) every step is one process's step: the same epochs, the same embeddings to
    float tolerance, and the saved model holds every user again; no checkpoint is left."""
    teacher = {"components": ["lightgcn"], "content": "none", "dim": 16, "loss": "whole",
               "optim": {"epochs": 6, "eval_every": 3, "lr": 0.01}}
    runs = _teacher_in_one_process_and_under_torchrun(ml100k_slice, tmp_path, teacher)
    one, two = (json.loads((root / "e2e" / "teacher" / "state.json").read_text())
                for root in runs)
    assert one["best_epoch"] == two["best_epoch"]
    tables = [load_file(root / "e2e" / "teacher" / "embeddings.safetensors")
              for root in runs]
    scores = [t["users"] @ t["items"].T for t in tables]
    assert torch.allclose(scores[0], scores[1], atol=1e-3 * float(scores[0].abs().max()))
    models = [load_file(root / "e2e" / "teacher" / "model.safetensors")
              for root in runs]
    assert models[1]["user_embedding.weight"].shape == models[0]["user_embedding.weight"].shape
    assert torch.allclose(models[0]["user_embedding.weight"], models[1]["user_embedding.weight"],
                          atol=1e-3)
    assert not (runs[1] / "e2e" / "teacher" / "checkpoint").exists()
    # what each epoch handed to the collectives (issue 35's communication model): per layer
    # one [I, d] float32 all-reduce forward and one backward, the item table's gradient, and
    # the two int64 counts of the epoch's batches; one process records none
    items, dim, layers = models[0]["item_embedding.weight"].shape + (3,)
    model = (2 * layers + 1) * items * dim * 4 + 2 * 8
    assert [r["payload_bytes"] for r in two["history"]] == [model] * len(two["history"])
    assert all("payload_bytes" not in r for r in one["history"])


def _rank_pids(launcher: int) -> dict[int, int]:
    """The worker processes under a torchrun ``launcher`` pid: RANK → pid (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # gone, or not ours to read
        rank = [v[5:] for v in environ if v.startswith(b"RANK=")]
        if rank and parent in (launcher, *found.values()) and b"mmgraph.cli" in (
                entry / "cmdline").read_bytes():
            found[int(rank[0])] = int(entry.name)
    return found


@pytest.mark.slow
def test_a_rank_killed_in_a_sharded_teacher_stops_the_job_and_the_stage_reruns(ml100k_slice,
                                                                               tmp_path):
    """Issue 36: SIGKILL rank 1 in the teacher stage, whose filters the ranks decompose
    together (rank 0 needs rank 1's share of every all-reduce): the job exits
    with an error naming the rank, the teacher stage is not recorded as done and leaves no
    half-written file, and the same command again finishes the stage."""
    from tests.test_cli import NARROW_FILTER, mmgraph, write_config

    teacher = {"components": ["filter", "time_filter"], "time_scale": [600, 3600, 86400],
               "filter": {**NARROW_FILTER, "ridge": [0.02, 0.2], "dense_items": 100,
                          "rank": 24}}
    config = write_config(tmp_path, ml100k_slice[0], None, encoders={"text": None},
                          teacher=teacher)
    for stage in ("split", "encode", "graph"):
        assert (r := mmgraph(stage, "--config", str(config))).returncode == 0, r.stderr
    run = tmp_path / "runs" / "e2e"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "mmgraph.cli", "teacher", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    seen = []
    for line in launcher.stderr:  # the ranks' logs: wait until they are in the stage
        seen.append(line)
        if "teacher: running" in line:
            break
    ranks = _rank_pids(launcher.pid)
    assert len(ranks) == 2 and launcher.poll() is None, "".join(seen)[-2000:]
    # Both ranks are past the stage's opening barrier: rank 0 cannot finish the filters
    # without rank 1's share of every all-reduce, whenever in the stage rank 1 dies.
    os.kill(ranks[1], signal.SIGKILL)
    stderr = launcher.communicate(timeout=300)[1]
    assert launcher.returncode != 0
    # torchrun's report: the root cause is rank 1, killed (rank 0 was stopped by the launcher)
    assert re.search(r"Root Cause[^\n]*\n(.*\n){0,4}\s*rank\s*:\s*1\b", stderr) and \
        "SIGKILL" in stderr, stderr[-2000:]
    stages = json.loads((run / "stages.json").read_text())
    assert "teacher" not in stages
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert not [p for p in after if p.name.endswith(".tmp")]
    assert {p: b for p, b in after.items() if p in before} == before  # nothing earlier changed
    again = _torchrun("teacher", "--config", str(config))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "teacher" in json.loads((run / "stages.json").read_text())
    state = json.loads((run / "teacher" / "state.json").read_text())
    assert state["components"] == ["filter", "time_filter"] and state["time_scale"] in (
        600, 3600, 86400)


def _kill_and_resume(config: Path, clean: Path, stage: str) -> Path:
    """Run ``stage`` under torchrun on ``config``'s run, SIGKILL rank 1 once both ranks have
    saved a checkpoint at epoch ≥ 10, check the job failed and left the stage undone, run the
    same command again (both ranks must resume where their checkpoints agree), then the stage
    unbroken on ``clean`` (a copy of the run before the stage); returns the stage folder of the
    resumed run, whose checkpoints must be gone."""
    run = config.parent / "runs" / "e2e"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "mmgraph.cli", "-q", stage, "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    folder = run / stage / "checkpoint"

    def epochs() -> list[int]:
        found = []
        for meta in folder.glob("rank-*-of-2/checkpoint.json"):
            try:
                found.append(json.loads(meta.read_text())["epoch"])
            except (OSError, ValueError):
                pass  # being replaced
        return found

    deadline = time.monotonic() + 120
    while not (len(found := epochs()) == 2 and min(found) >= 10):
        assert launcher.poll() is None and time.monotonic() < deadline, "no checkpoints"
        time.sleep(0.01)
    os.kill(_rank_pids(launcher.pid)[1], signal.SIGKILL)
    launcher.communicate(timeout=300)
    assert launcher.returncode != 0
    assert stage not in json.loads((run / "stages.json").read_text())
    at_kill = epochs()
    again = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "mmgraph.cli", stage, "--config", str(config)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr[-3000:]
    if len(set(at_kill)) == 1:  # both ranks' checkpoints at one epoch: both resume there
        assert again.stderr.count("resumed from") == 2, again.stderr[-3000:]
    assert (r := _torchrun(stage, "--config", str(clean))).returncode == 0, r.stderr[-3000:]
    assert not folder.exists()
    return run / stage




#: (stage killed, config sections, the file it writes and the tensors compared): LightGCN on
#: the whole-data loss; the ID student from a filter teacher.
_SHARDED_KILLS = [
    ("teacher", {"teacher": {"components": ["lightgcn"], "content": "none", "dim": 16,
                             "loss": "whole", "optim": {"epochs": 400, "eval_every": 5,
                                                        "lr": 0.01, "patience": 100}}},
     "embeddings.safetensors", ("users", "items")),
    ("student", {"teacher": {"components": ["filter"]},
                 "student": {"dim": 8, "optim": {"epochs": 300, "eval_every": 5,
                                                 "patience": 100}}},
     "model.safetensors", ("user_embedding.weight", "item_embedding.weight")),
]


@pytest.mark.slow
@pytest.mark.parametrize("stage, sections, written, names", _SHARDED_KILLS)
def test_a_rank_killed_in_a_model_sharded_by_user_resumes_from_every_ranks_checkpoint(
        ml100k_slice, tmp_path, stage, sections, written, names):
    """Issue 36 on issue 35's models sharded by user (LightGCN, the ID student): SIGKILL rank
    1 once both ranks have saved a checkpoint (each its own users' rows, optimiser state and
    sampler); the job stops, the stage is not done; the same command resumes where both ranks'
    checkpoints agree (from scratch where a kill between the two saves left them apart) and
    ends with what an unbroken job trains."""
    from tests.test_cli import mmgraph, write_config

    config = write_config(tmp_path, ml100k_slice[0], None, encoders={"text": None}, **sections)
    before = ["split", "encode", "graph", "teacher"][:3 if stage == "teacher" else 4]
    for step in before:
        assert (r := mmgraph(step, "--config", str(config))).returncode == 0, r.stderr
    clean = _copy_run(config, "clean")
    resumed = _kill_and_resume(config, clean, stage)
    tables = [load_file(folder / written)
              for folder in (resumed, clean.parent / "clean" / "e2e" / stage)]
    for name in names:
        assert torch.allclose(tables[0][name], tables[1][name], atol=1e-5), name
