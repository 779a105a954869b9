"""Training on several processes (torch.distributed, gloo on CPU) matches one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mmgraph.models.student import IDStudent
from mmgraph.training.distributed import Distributed, rank_batches, wrap_loss


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


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", "-m", "mmgraph.cli", "-q", *args],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_torchrun_two_processes_match_one_within_tolerance(ml100k_slice, tmp_path):
    """The whole pipeline under `torchrun --nproc_per_node=2` (teacher and student trained with
    DDP) against one process: test NDCG@20 within 0.02 absolute (docs/scaling.md)."""
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
