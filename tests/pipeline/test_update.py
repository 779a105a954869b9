"""mmgraph update: new interactions folded into a finished run as a new generation beside it,
its models continued from the run's (issue 34)."""

import json

import numpy as np
import pandas as pd
import pytest

from mmgraph.config import load_config
from mmgraph.errors import ConfigError, DataError
from mmgraph.io import file_sha256, read_tensors
from mmgraph.pipeline import run_all
from mmgraph.pipeline.update import update
from mmgraph.recommender import Recommender
from mmgraph.runs import RunDir, load_split
from tests.tiny_runs import finished_run


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A finished run on 40 users × 30 items with timestamps (both filters and LightGCN), and
    a table of new interactions: 3 new users and known users' new items."""
    folder = tmp_path_factory.mktemp("update")
    run, frame = finished_run(folder, "shop", (40, 30), 0.35,
                              "{components: [lightgcn, filter, time_filter], dim: 8, "
                              "filter: {ridge: [0.05, 0.2]}, optim: {epochs: 8, eval_every: 2}}",
                              "{dim: 8, optim: {epochs: 8, eval_every: 2}}", timestamps=True)
    seen = set(zip(frame["user_id"], frame["item_id"]))
    fresh = [(u, i) for u in range(40) for i in range(30) if (u, i) not in seen][::9]
    fresh += [(100 + n % 3, (n * 7) % 30) for n in range(9)]  # users 100, 101, 102: new
    new = pd.DataFrame(fresh, columns=["user_id", "item_id"])
    new["timestamp"] = 20_000 + np.arange(len(new))
    new.to_parquet(folder / "day1.parquet")
    return RunDir(run), folder


def _files(run: RunDir) -> dict:
    return {str(p.relative_to(run.root)): file_sha256(p) for p in run.root.rglob("*")
            if p.is_file() and "generations" not in p.parts}


def test_an_update_is_a_servable_generation_continued_from_the_run(base):
    run, folder = base
    before = _files(run)
    generation = update(run.root, folder / "day1.parquet", share=0.25, progress=False)
    assert generation.root == run.root.parent / "shop.1"
    assert _files(run) == before  # the run itself is untouched
    record = json.loads(generation.path("update.json").read_text())
    assert (record["family"], record["generation"], record["base"]) == ("shop", 1, "shop")
    data = load_split(generation)
    new = pd.read_parquet(folder / "day1.parquet")
    old = load_split(run)
    assert len(data.users) == len(old.users) + 3
    known = sum(len(old.parts[part].row(0)) for part in ("train", "valid", "test"))
    assert len(data.parts["train"].row(0)) >= known  # user 0: all they did, and the new
    assert len(data.parts["valid"].users_with_items()) == 0
    config = load_config(generation.path("config.yaml"))
    tuned = json.loads(run.path("teacher", "state.json").read_text())["best_epoch"]
    assert config.teacher.optim.epochs == max(1, -(-tuned // 4))
    assert config.teacher.blend == json.loads(run.path("teacher", "state.json").read_text())[
        "weights"]
    # Warm: the old users' LightGCN rows start from the run's and move little in a few steps.
    assert _row_cosine(run, generation, "teacher", len(old.users)) > 0.95
    recommender = Recommender.load(generation.root)
    answer = recommender.recommend([100, 0], k=5)
    assert set(answer["source"]) == {"model"}  # a new user is a user of the generation
    chosen = set(new.loc[new["user_id"] == 100, "item_id"])
    assert not chosen & set(answer.loc[answer["user_id"] == 100, "item_id"])


def _row_cosine(run: RunDir, generation: RunDir, model: str, users: int) -> float:
    """Mean cosine of the first ``users`` user rows of ``model``'s table in the run and in the
    generation."""
    then = read_tensors(run.path(model, "model.safetensors"))["user_embedding.weight"]
    now = read_tensors(generation.path(model, "model.safetensors"))[
        "user_embedding.weight"][:users]
    return float(((then * now).sum(1) / (then.norm(dim=1) * now.norm(dim=1))).mean())


@pytest.mark.parametrize("init", ["teacher", "random"])
def test_the_student_restarts_from_the_updated_teacher_unless_it_starts_at_random(
        tmp_path, init):
    """``init: teacher``: the generation's student starts from the updated teacher's
    factorisation, not the previous student (the replay scored it higher); ``init: random``:
    it continues from the previous student's rows, which then move little."""
    run, _ = finished_run(tmp_path, "shop", (40, 30), 0.35, "{dim: 8, optim: {epochs: 4}}",
                          f"{{dim: 8, init: {init}, optim: {{epochs: 8, eval_every: 2}}}}")
    pd.DataFrame({"user_id": [0, 1, 2], "item_id": [0, 1, 2]}).to_parquet(tmp_path / "d.parquet")
    generation = update(run, tmp_path / "d.parquet", share=0.25, progress=False)
    cosine = _row_cosine(RunDir(run), generation, "student", 40)
    assert cosine > 0.95 if init == "random" else cosine < 0.9


def test_a_filter_decomposed_iteratively_starts_the_updates_from_its_eigenvectors(
        tmp_path, monkeypatch):
    """Past ``filter.dense_items`` the run saves its filter's top eigenvectors; the update's
    decomposition starts from them (rows matched by item id, a new item's zero) and reaches
    the eigenpairs a cold decomposition finds. A run decomposed exactly saves none."""
    from mmgraph.models import spectral
    from mmgraph.models.spectral import filter_basis
    from mmgraph.pipeline.warm import WarmStart

    run, frame = finished_run(tmp_path, "shop", (40, 30), 0.35,
                              "{components: [lightgcn, filter], dim: 8, optim: {epochs: 2}, "
                              "filter: {ridge: [0.05], rank: 6, dense_items: 10}}",
                              "{dim: 8, optim: {epochs: 2}}")
    bases = read_tensors(RunDir(run).path("teacher", "filter_bases.safetensors"))
    assert list(bases) == ["filter"] and bases["filter"].shape == (30, 6)
    pd.DataFrame({"user_id": [0, 1, 2], "item_id": [0, 1, 31]}).to_parquet(tmp_path / "d.parquet")
    starts, found = [], []
    solver = spectral.top_eigenpairs

    def recorded(*args, start=None, **options):
        starts.append(start)
        found.append(solver(*args, start=start, **options))
        return found[-1]

    monkeypatch.setattr(spectral, "top_eigenpairs", recorded)
    generation = update(run, tmp_path / "d.parquet", share=0.25, progress=False)
    items = load_split(generation).items
    expected = WarmStart(RunDir(run)).filter_start("filter", items)
    assert len(starts) == 1 and np.array_equal(starts[0], expected)
    assert not expected[items.positions(pd.Index([31]), "new")].any()  # the new item
    np.testing.assert_allclose(expected[:30], bases["filter"].numpy())
    monkeypatch.undo()
    setting = json.loads(generation.path("teacher", "state.json").read_text())["filter_setting"]
    data = load_split(generation)
    cold = filter_basis(data.train_pairs, len(data.users), len(data.items),
                        setting["degree_exponent"], user_exponent=setting["user_exponent"],
                        rank=6, dense_items=10, seed=1)
    np.testing.assert_allclose(found[0][0], cold.values, rtol=0, atol=1e-3 * cold.top)
    assert generation.path("teacher", "filter_bases.safetensors").is_file()
    (tmp_path / "exact").mkdir()
    exact, _ = finished_run(tmp_path / "exact", "shop", (40, 30), 0.35,
                            "{components: [filter], filter: {ridge: [0.05]}}", "{dim: 8}")
    assert not RunDir(exact).path("teacher", "filter_bases.safetensors").exists()


def test_the_same_update_again_resumes_and_the_next_one_continues(base):
    run, folder = base
    generation = update(run.root, folder / "day1.parquet", progress=False)
    stages = generation.path("stages.json")
    stamp = stages.stat().st_mtime_ns
    assert update(run.root, folder / "day1.parquet", progress=False).root == generation.root
    assert stages.stat().st_mtime_ns == stamp  # nothing ran again
    day2 = pd.DataFrame({"user_id": [100, 5], "item_id": [1, 2], "timestamp": [30_000, 30_001]})
    day2.to_parquet(folder / "day2.parquet")
    second = update(generation.root, folder / "day2.parquet", progress=False)
    assert second.root.name == "shop.2"
    assert json.loads(second.path("update.json").read_text())["base"] == "shop.1"
    first_cfg, second_cfg = (load_config(g.path("config.yaml")) for g in (generation, second))
    for model in ("teacher", "student"):  # the family's tuned budget, not a shrinking one
        assert getattr(second_cfg, model).optim.epochs == getattr(first_cfg, model).optim.epochs
    Recommender.load(second.root).recommend([100], 3)


def test_an_update_that_fails_half_way_leaves_the_run_serving_and_resumes(base, monkeypatch):
    import mmgraph.pipeline.refit as refitting  # the stages an update runs after its split

    run, folder = base
    day3 = pd.DataFrame({"user_id": [7], "item_id": [3], "timestamp": [40_000]})
    day3.to_parquet(folder / "day3.parquet")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill in the student stage

    monkeypatch.setattr(refitting, "student", killed)
    with pytest.raises(KeyboardInterrupt):
        update(run.root, folder / "day3.parquet", progress=False)
    monkeypatch.undo()
    unfinished = sorted(run.root.parent.glob("shop.*"))[-1]
    with pytest.raises(Exception, match="no finished"):
        Recommender.load(unfinished)
    Recommender.load(run.root).recommend([7], 3)  # still serving
    stray = unfinished / "index" / ".index.faiss.x1y2.mmgraph.tmp"  # as a kill mid-write leaves
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"half")
    assert update(run.root, folder / "day3.parquet", progress=False).root == unfinished
    Recommender.load(unfinished).recommend([7], 3)
    assert not list(unfinished.rglob(".*.mmgraph.tmp"))


def test_new_items_grow_an_id_only_catalogue_and_need_content_otherwise(base, tmp_path):
    from pathlib import Path

    from mmgraph.pipeline.update import _new_interactions

    run, folder = base
    pd.DataFrame({"user_id": [1, 2, 3], "item_id": [999, 999, 998],
                  "timestamp": [1, 2, 3]}).to_parquet(folder / "new-items.parquet")
    generation = update(run.root, folder / "new-items.parquet", progress=False)
    recommender = Recommender.load(generation.root)
    assert {998, 999} <= set(recommender.index.item_ids.ids)
    assert len(recommender.similar_items(999, 3)) == 3
    cfg = load_config(run.path("config.yaml"))
    with_content = cfg.model_copy(update={"data": cfg.data.model_copy(
        update={"items": Path("items.parquet")})})
    with pytest.raises(DataError, match=r"items the run's catalogue does not have, e\.g\. "
                                        r"\[999, 998\]"):
        _new_interactions(with_content, run, folder / "new-items.parquet")
    with pytest.raises(ConfigError, match="has no items table"):
        update(run.root, folder / "new-items.parquet", items=folder / "new-items.parquet",
               progress=False)


def test_missing_columns_are_named(base):
    run, folder = base
    pd.DataFrame({"user_id": [1], "item_id": [2]}).to_parquet(folder / "bare.parquet")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['timestamp'\]"):
        update(run.root, folder / "bare.parquet", progress=False)


@pytest.mark.slow
def test_update_killed_at_random_moments_never_changes_the_served_run(base, tmp_path):
    """SIGKILL `mmgraph update` at seeded random moments: the run it continues answers exactly
    as before every time (its files untouched), and the update, run again, finishes with the
    generation an unbroken update writes."""
    import shutil
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    run, folder = base
    command = str(Path(sys.executable).parent / "mmgraph")
    copies = {}
    for name in ("clean", "killed"):
        copies[name] = tmp_path / name / "shop"
        shutil.copytree(run.root, copies[name])
    served = Recommender.load(copies["killed"]).recommend(list(range(40)), 5)
    before = _files(RunDir(copies["killed"]))

    def updating(name: str) -> list[str]:
        return [command, "-q", "update", "--run", str(copies[name]),
                "--interactions", str(folder / "day1.parquet")]

    started = time.monotonic()
    subprocess.run(updating("clean"), check=True, capture_output=True)
    duration = time.monotonic() - started
    rng = np.random.default_rng(1)
    kills = 0
    # within the first half of a clean update: a later update, on a machine less loaded than
    # during the clean one, still has work left when the kill lands
    for delay in rng.uniform(0.3, 0.5 * duration, size=5):
        process = subprocess.Popen(updating("killed"), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        assert _files(RunDir(copies["killed"])) == before
        pd.testing.assert_frame_equal(
            Recommender.load(copies["killed"]).recommend(list(range(40)), 5), served)
    assert kills >= 2, "the update finished before most kills: nothing was tested"
    final = subprocess.run(updating("killed"), capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    generations = {name: Recommender.load(path.parent / "shop.1") for name, path in
                   copies.items()}
    users = list(range(40)) + [100, 101, 102]
    pd.testing.assert_frame_equal(generations["killed"].recommend(users, 5),
                                  generations["clean"].recommend(users, 5))
    assert not list((copies["killed"].parent / "shop.1").rglob(".*.tmp"))


@pytest.mark.slow
def test_a_content_runs_new_items_are_encoded_and_served(tmp_path, tiny_interactions):
    """A run with text: new items come as rows of a new-items table, are encoded by the run's
    MiniLM (through the run's feature cache, which keeps what it held) and are served, one
    without any interaction placed by its content; a new-items table naming a known item is
    refused."""
    titles = ["space opera", "romantic comedy", "crime drama", "nature film", "war epic"]
    items = pd.DataFrame({"item_id": range(30),
                          "title": [f"{titles[i % 5]} number {i}" for i in range(30)]})
    items.to_parquet(tmp_path / "items.parquet", index=False)
    tiny_interactions.to_parquet(tmp_path / "inter.parquet", index=False)
    (tmp_path / "c.yaml").write_text(
        f"name: texty\nruns_root: {tmp_path / 'runs'}\nseed: 2\n"
        f"data: {{interactions: {tmp_path / 'inter.parquet'},\n"
        f"       items: {tmp_path / 'items.parquet'}}}\n"
        "encoders: {text: {template: '{title}'}}\n"
        "teacher: {dim: 8, optim: {epochs: 4, eval_every: 2}}\n"
        "student: {dim: 8, optim: {epochs: 4, eval_every: 2}}\n")
    run_all(load_config(tmp_path / "c.yaml"), progress=False)
    run = RunDir(tmp_path / "runs" / "texty")
    cached = sorted(p.name for p in run.path("features", "cache").rglob("*") if p.is_file())
    new_items = pd.DataFrame({"item_id": [30, 31], "title": ["space opera number 30",
                                                            "crime drama number 31"]})
    new_items.to_parquet(tmp_path / "new-items.parquet", index=False)
    pd.DataFrame({"user_id": [0, 1], "item_id": [30, 5], "rating": [5.0, 4.0],
                  "timestamp": [2 * 10**9] * 2}).to_parquet(tmp_path / "day.parquet",
                                                              index=False)
    generation = update(run.root, tmp_path / "day.parquet", items=tmp_path / "new-items.parquet",
                        progress=False)
    features = read_tensors(generation.path("features", "features.safetensors"))
    assert features["text"].shape[0] == 32
    base_features = read_tensors(run.path("features", "features.safetensors"))
    assert torch_equal(features["text"][:30], base_features["text"])
    recommender = Recommender.load(generation.root)
    assert {30, 31} <= set(recommender.index.item_ids.ids)
    assert len(recommender.similar_items(31, 3)) == 3  # 31 has no interaction: placed by content
    # its mapper continued from the run's for a quarter of the run's 500 steps
    assert generation.read_config().student.coldstart_steps == 125
    grown = sorted(p.name for p in run.path("features", "cache").rglob("*") if p.is_file())
    assert set(cached) <= set(grown)  # the shared cache only grew
    new_items.assign(item_id=[5, 32]).to_parquet(tmp_path / "known.parquet", index=False)
    with pytest.raises(DataError, match=r"items the catalogue already has, e\.g\. \[5\]"):
        update(run.root, tmp_path / "day.parquet", items=tmp_path / "known.parquet",
               progress=False)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_new_interactions_whose_ids_clash_in_type_are_named(base):
    """Issue 36 (bad input on the new surfaces): string ids where the run's are integers."""
    run, folder = base
    pd.DataFrame({"user_id": ["1"], "item_id": [2], "timestamp": [5]}).to_parquet(
        folder / "strings.parquet")
    with pytest.raises(DataError, match="user_id ids here are integers, but '1' is not"):
        update(run.root, folder / "strings.parquet", progress=False)


def test_repeated_and_out_of_order_interactions_are_trained_once_at_their_latest_time(base):
    """Issue 36 (bad input on the new surfaces): a new interaction given twice out of time
    order, and one the run knows given again with an older timestamp: each (user, item) is
    trained on once, at the latest time it was seen (the time filter weighs by it)."""
    run, folder = base
    parts = pd.concat([pd.read_parquet(run.path("splits", f"{part}.parquet"))
                       for part in ("train", "valid", "test")])
    known = parts.sort_values(["user_id", "item_id"]).iloc[0]
    seen = set(zip(parts["user_id"], parts["item_id"]))
    unseen = next((7, item) for item in range(30) if (7, item) not in seen)
    pd.DataFrame({"user_id": [7, int(known["user_id"]), 7],
                  "item_id": [unseen[1], int(known["item_id"]), unseen[1]],
                  "timestamp": [30_005, int(known["timestamp"]) - 100, 30_001]}
                 ).to_parquet(folder / "repeated.parquet")
    generation = update(run.root, folder / "repeated.parquet", progress=False)
    train = pd.read_parquet(generation.path("splits", "train.parquet")).set_index(
        ["user_id", "item_id"])["timestamp"]
    assert train.index.is_unique
    assert train[unseen] == 30_005
    assert train[(int(known["user_id"]), int(known["item_id"]))] == int(known["timestamp"])
