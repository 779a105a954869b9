"""End-to-end: the real `mmgraph` console script on a slice of the real ml-100k."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

MMGRAPH = str(Path(sys.executable).parent / "mmgraph")
STAGES = ["split", "encode", "graph", "teacher", "student", "index", "evaluate"]


def mmgraph(*args: str, cwd: Path | None = None, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run([MMGRAPH, *args], capture_output=True, text=True, cwd=cwd, timeout=600,
                          env={**os.environ, **(env or {})})


#: The plain filter's grid only: these tests are about the CLI, not the filter's search
#: (tests/models/test_filter_search.py), which would triple their teacher stages' time.
NARROW_FILTER = {"user_exponent": 0.0, "ideal_rank": [], "history_half_life": []}


def write_config(folder: Path, interactions: Path, items: Path | None, **sections) -> Path:
    config = {
        "name": "e2e", "seed": 3, "runs_root": str(folder / "runs"),
        "data": {"interactions": str(interactions), "items": str(items) if items else None},
        "encoders": {"text": {"template": "{title} ({year}). Genres: {genres}"}},
        "teacher": {"dim": 32, "optim": {"epochs": 12, "eval_every": 4, "lr": 0.01},
                    "filter": NARROW_FILTER},
        "student": {"dim": 16, "optim": {"epochs": 12, "eval_every": 4, "lr": 0.01,
                                         "batch_size": 16}},
    }
    config.update(sections)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def finished_run(ml100k_slice, tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    config = write_config(folder, *ml100k_slice)
    result = mmgraph("run", "--config", str(config))
    assert result.returncode == 0, result.stderr
    return folder / "runs" / "e2e", config, result


def _metrics_from_files(run: Path, k: int) -> dict[str, float]:
    """Recall/NDCG recomputed from the user-facing files alone, independently of mmgraph."""
    recs = pd.read_parquet(run / "recommendations.parquet")
    test = pd.read_parquet(run / "splits" / "test.parquet")
    truth = test.groupby("user_id")["item_id"].apply(set)
    recall, ndcg = [], []
    for user, held_out in truth.items():
        ranked = recs[recs["user_id"] == user].sort_values("rank")["item_id"].tolist()[:k]
        hits = [item in held_out for item in ranked]
        recall.append(sum(hits) / len(held_out))
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        ndcg.append(dcg / sum(1 / math.log2(r + 2) for r in range(min(k, len(held_out)))))
    return {f"recall@{k}": sum(recall) / len(recall), f"ndcg@{k}": sum(ndcg) / len(ndcg)}


@pytest.mark.slow
def test_run_writes_the_run_directory_contract(finished_run):
    run, _, result = finished_run
    for name in ["config.yaml", "splits/train.parquet", "splits/valid.parquet",
                 "splits/test.parquet", "teacher/model.safetensors", "student/model.safetensors",
                 "index/index.faiss", "index/item_ids.parquet", "index/manifest.json",
                 "recommendations.parquet", "metrics.json"]:
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for model in ("teacher", "student", "popularity"):
        assert set(metrics[model]["test"]) == {"recall@10", "recall@20", "ndcg@10", "ndcg@20",
                                               "coverage@20", "popularity@20"}
    assert "Full-ranking metrics" in result.stdout and "Top 5 for user" in result.stdout


@pytest.mark.slow
def test_cold_items_are_placed_from_content_and_served(finished_run, ml100k_slice):
    """The 30 items nobody rated get mapped vectors (not their untrained ID rows) and are in
    the index."""
    from safetensors.torch import load_file

    run, _, _ = finished_run
    train_items = set(pd.read_parquet(run / "splits" / "train.parquet")["item_id"])
    ids = pd.read_parquet(run / "ids" / "items.parquet").iloc[:, 0].tolist()
    cold = torch.tensor([item not in train_items for item in ids])
    assert cold.sum() >= 30 and (run / "student" / "coldstart.safetensors").is_file()
    served = load_file(run / "student" / "embeddings.safetensors")["items"]
    trained = load_file(run / "student" / "model.safetensors")["item_embedding.weight"]
    assert torch.equal(served[~cold], trained[~cold])
    assert not torch.isclose(served[cold], trained[cold]).all(dim=1).any()
    manifest = json.loads((run / "index" / "manifest.json").read_text())
    assert manifest["ntotal"] == len(ids)


@pytest.mark.slow
def test_recommendations_are_top20_unseen_for_every_test_user(finished_run):
    run, _, _ = finished_run
    recs = pd.read_parquet(run / "recommendations.parquet")
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score"]
    test_users = set(pd.read_parquet(run / "splits" / "test.parquet")["user_id"])
    assert set(recs["user_id"]) == test_users
    assert recs.groupby("user_id")["rank"].apply(lambda r: list(r) == list(range(1, 21))).all()
    assert (recs.groupby("user_id")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()
    train = pd.read_parquet(run / "splits" / "train.parquet")
    assert recs.merge(train, on=["user_id", "item_id"]).empty


@pytest.mark.slow
def test_student_metrics_equal_those_recomputed_from_the_files(finished_run):
    run, _, _ = finished_run
    reported = json.loads((run / "metrics.json").read_text())["student"]["test"]
    for k in (10, 20):
        for name, value in _metrics_from_files(run, k).items():
            assert reported[name] == pytest.approx(value, abs=1e-9), name


@pytest.mark.slow
def test_rerun_skips_finished_stages_and_recommend_serves(finished_run):
    run, config, _ = finished_run
    again = mmgraph("run", "--config", str(config))
    assert again.returncode == 0, again.stderr
    for stage in STAGES:
        assert f"{stage}: up to date, skipped" in again.stderr
    served = mmgraph("recommend", "--run", str(run), "--user", "1", "7", "-k", "5",
                     "--exclude", "train")  # as recommendations.parquet: ranked as evaluated
    assert served.returncode == 0, served.stderr
    rows = [line.split() for line in served.stdout.strip().splitlines()[1:]]
    assert len(rows) == 10 and {r[0] for r in rows} == {"1", "7"}
    recs = pd.read_parquet(run / "recommendations.parquet")
    expected = recs[(recs["user_id"] == 1) & (recs["rank"] <= 5)]["item_id"].astype(str).tolist()
    assert [r[1] for r in rows if r[0] == "1"] == expected


@pytest.mark.slow
def test_export_writes_the_served_vectors_and_reads_back(finished_run, tmp_path):
    from safetensors.torch import load_file

    from mmgraph.export import read_embeddings

    run, _, _ = finished_run
    result = mmgraph("export", "--run", str(run), "--out", str(tmp_path / "out"),
                     "--format", "npy", "--shard-rows", "50")
    assert result.returncode == 0, result.stderr
    served = load_file(run / "student" / "embeddings.safetensors")
    ids = pd.read_parquet(run / "ids" / "items.parquet").iloc[:, 0].to_numpy()
    got_ids, vectors = read_embeddings(tmp_path / "out", "items")
    assert (got_ids == ids).all() and (vectors == served["items"].numpy()).all()
    assert "items: " in result.stdout and "shard(s)" in result.stdout
    missing = mmgraph("export", "--run", str(tmp_path / "nowhere"), "--out", str(tmp_path))
    _assert_clean_error(missing, "nowhere")

    # A job array: two ranks (RANK/WORLD_SIZE, no process group) export, then one merge.
    ranks = tmp_path / "ranks"
    for rank in ("0", "1"):
        part = mmgraph("export", "--run", str(run), "--out", str(ranks), "--format", "npy",
                       "--shard-rows", "50", env={"RANK": rank, "WORLD_SIZE": "2"})
        assert part.returncode == 0 and "mmgraph export --merge" in part.stdout, part.stderr
    assert mmgraph("export", "--merge", "--out", str(ranks)).returncode == 0
    for table in ("users", "items"):
        one, two = read_embeddings(tmp_path / "out", table), read_embeddings(ranks, table)
        assert (one[0] == two[0]).all() and (one[1] == two[1]).all()


@pytest.mark.slow
def test_student_with_every_distillation_loss_and_a_compressed_index(finished_run, tmp_path,
                                                                     ml100k_slice):
    """Rerun only the student and index stages (on a copy of the run) with all losses on."""
    import shutil

    run, _, _ = finished_run
    shutil.copytree(run, tmp_path / "runs" / "e2e")
    config = write_config(tmp_path, *ml100k_slice, recommend={"index_factory": "SQfp16"})
    settings = yaml.safe_load(config.read_text())
    settings["student"].update(rd_weight=0.5, contrastive_weight=0.1, hint_weight=0.1)
    config.write_text(yaml.safe_dump(settings))
    for stage in ("student", "index", "evaluate"):
        result = mmgraph("-q", stage, "--config", str(config))
        assert result.returncode == 0, result.stderr
    copy = tmp_path / "runs" / "e2e"
    state = json.loads((copy / "student" / "state.json").read_text())
    assert state["config"]["rd_weight"] == 0.5 and state["config"]["hint_weight"] == 0.1
    assert json.loads((copy / "index" / "manifest.json").read_text())["factory"] == "SQfp16"
    metrics = json.loads((copy / "metrics.json").read_text())
    assert metrics["student"]["test"]["ndcg@20"] > metrics["popularity"]["test"]["ndcg@20"]


def test_python_dash_m_mmgraph_is_the_command():
    result = subprocess.run([sys.executable, "-m", "mmgraph", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "quickstart" in result.stdout


def test_help_lists_every_subcommand():
    result = mmgraph("--help")
    assert result.returncode == 0
    for command in [*STAGES, "run", "quickstart", "prepare", "recommend", "serve", "export"]:
        assert command in result.stdout


def _assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_reports_a_missing_input_file(tmp_path, stage):
    config = write_config(tmp_path, tmp_path / "missing.csv", None)
    result = mmgraph(stage, "--config", str(config))
    expected = "missing.csv" if stage == "split" else "no finished"
    _assert_clean_error(result, expected)


def test_malformed_tables_name_file_column_and_row(tmp_path):
    bad = tmp_path / "inter.csv"
    bad.write_text("user_id,item,rating\n1,2,5\n")
    _assert_clean_error(mmgraph("split", "--config", str(write_config(tmp_path, bad, None))),
                        "inter.csv", "'item_id'")
    bad.write_text("user_id,item_id,rating,timestamp\n1,2,5,1\n1,3,oops,2\n")
    _assert_clean_error(mmgraph("split", "--config", str(write_config(tmp_path, bad, None))),
                        "inter.csv", "'rating'", "row(s) 2")
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\n2,A\n")
    bad.write_text("user_id,item_id,rating,timestamp\n1,2,5,1\n1,3,4,2\n")
    _assert_clean_error(mmgraph("split", "--config", str(write_config(tmp_path, bad, items))),
                        "inter.csv", "['3']")  # CSV ids are the strings as written


def test_bad_config_and_debug_traceback(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: x\ndata: {interactions: a.csv}\nteacher: {optim: {epochs: 0}}\n")
    _assert_clean_error(mmgraph("run", "--config", str(config)), "teacher.optim.epochs")
    debug = mmgraph("--debug", "run", "--config", str(config))
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_recommend_unknown_run_and_user(finished_run, tmp_path):
    run, _, _ = finished_run
    _assert_clean_error(mmgraph("recommend", "--run", str(tmp_path), "--user", "1"),
                        "no finished")
    _assert_clean_error(mmgraph("recommend", "--run", str(run), "--user", "99999",
                                "--unknown", "error"), "99999")


@pytest.mark.slow
def test_encode_stage_with_real_images_and_audio_under_a_media_root(tmp_path):
    import importlib.util

    import skimage.data
    from PIL import Image

    media = tmp_path / "media"
    (media / "img").mkdir(parents=True)
    Image.fromarray(skimage.data.coffee()).save(media / "img" / "coffee.jpg")
    sounds = Path(importlib.util.find_spec("pygame").submodule_search_locations[0])
    (media / "house.wav").write_bytes((sounds / "examples/data/house_lo.wav").read_bytes())
    items = pd.DataFrame({"item_id": [1, 2], "title": ["Coffee", "House"],
                          "image": ["img/coffee.jpg", "img/missing.jpg"],
                          "audio": [None, "house.wav"]})
    items.to_csv(tmp_path / "items.csv", index=False)
    pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [1, 2, 1, 2]}).to_csv(
        tmp_path / "inter.csv", index=False)
    config = write_config(tmp_path, tmp_path / "inter.csv", tmp_path / "items.csv",
                          encoders={"text": {"template": "{title}"}, "image": {},
                                    "audio": {}, "on_media_error": "zero"})
    raw = yaml.safe_load(config.read_text())
    raw["data"]["media_root"] = str(media)
    raw["data"]["columns"] = {"rating": None, "timestamp": None}
    config.write_text(yaml.safe_dump(raw))
    for stage in ("split", "encode"):
        result = mmgraph(stage, "--config", str(config))
        assert result.returncode == 0, result.stderr
    assert "item '2': 'img/missing.jpg' (file not found)" in result.stderr
    from safetensors.torch import load_file

    run = tmp_path / "runs" / "e2e" / "features"
    features, masks = load_file(run / "features.safetensors"), load_file(run / "masks.safetensors")
    assert {k: tuple(v.shape) for k, v in features.items()} == {
        "text": (2, 384), "image": (2, 1280), "audio": (2, 200)}
    assert masks["image"].tolist() == [1, 0] and masks["audio"].tolist() == [0, 1]

    Image.fromarray(skimage.data.coffee()).rotate(90).save(media / "img" / "coffee.jpg")
    again = mmgraph("encode", "--config", str(config))
    assert again.returncode == 0 and "encode: up to date, skipped" not in again.stderr
    changed = load_file(run / "features.safetensors")
    assert not torch.equal(changed["image"][0], features["image"][0])
    assert torch.equal(changed["audio"], features["audio"])


def test_recommend_bounds_k_and_reads_user_ids_as_written(finished_run, capsys):
    """k < 1 is an error, a huge k returns at most the catalogue (no giant allocation), and
    ``1_0`` is not user 10 (Python's int() would accept it)."""
    from mmgraph.cli import main
    from mmgraph.recommender import Recommender

    run, _, _ = finished_run
    user = str(pd.read_parquet(run / "ids" / "users.parquet")["user_id"].iloc[0])
    for k in ("0", "-3"):
        assert main(["-q", "recommend", "--run", str(run), "--user", user, "-k", k]) == 2
        assert "k must be a whole number of at least 1" in capsys.readouterr().err
    recommender = Recommender.load(run)
    row = recommender.data.users.indices(pd.Series([int(user)]), "test")[0]
    interacted = recommender.interacted.counts[row]
    assert interacted > recommender.data.parts["train"].counts[row]  # valid/test items too
    everything = recommender.recommend([int(user)], 10**12)
    assert len(everything) == len(recommender.data.items) - interacted
    assert main(["-q", "recommend", "--run", str(run), "--user", user[:1] + "_" + user[1:]
                 if len(user) > 1 else "1_0"]) == 2
    assert "written in digits" in capsys.readouterr().err


def test_serving_never_repeats_what_the_user_interacted_with(finished_run, capsys):
    """By default no item of the user's train, valid or test split is served; ``exclude
    train`` serves as the evaluation ranks, where held-out items can come back."""
    from mmgraph.cli import main
    from mmgraph.recommender import Recommender

    run, _, _ = finished_run
    recommender = Recommender.load(run)
    data = recommender.data
    users = data.parts["test"].users_with_items()
    user_ids = data.users.to_ids(users).tolist()
    k = len(data.items)
    served = recommender.recommend(user_ids, k)
    as_evaluated = recommender.recommend(user_ids, k, exclude="train")
    for frame, parts in ((served, ("train", "valid", "test")), (as_evaluated, ("train",))):
        pairs = set(zip(frame["user_id"], frame["item_id"]))
        for part in ("train", "valid", "test"):
            held = data.parts[part]
            pairs_of_part = {(user_id, item) for row, user_id in zip(users, user_ids)
                             for item in data.items.to_ids(held.row(row))}
            assert not pairs & pairs_of_part if part in parts else pairs_of_part <= pairs
    with pytest.raises(ValueError, match="exclude='valid'"):
        recommender.recommend(user_ids, 3, exclude="valid")
    user = str(user_ids[0])
    assert main(["-q", "recommend", "--run", str(run), "--user", user, "--exclude",
                 "train"]) == 0
    assert user in capsys.readouterr().out


def test_recommend_shows_titles_and_serving_starts_without_torch(finished_run, tmp_path):
    """`mmgraph recommend` joins the items table's titles; the serving path (Recommender and
    everything it reads) serves with torch, PyG, transformers and mmgraph.pipeline made
    unimportable (start-up ~1 s, not ~7); `recommend_arrays` answers as `recommend` does."""
    import shutil

    from mmgraph.recommender import Recommender

    run, _, _ = finished_run
    served = mmgraph("recommend", "--run", str(run), "--user", "1", "-k", "3")
    assert served.returncode == 0, served.stderr
    header, *rows = served.stdout.strip().splitlines()
    assert header.split() == ["user_id", "item_id", "rank", "score", "source", "title"]
    recommender = Recommender.load(run)
    items = pd.read_parquet(recommender.items_table).set_index("item_id")["title"]
    for row in rows:
        assert row.split(None, 5)[5] == items[int(row.split()[1])]
    frame = recommender.recommend([1], 3)
    assert recommender.describe(frame, ("no_such_column",)).equals(frame)
    copy = tmp_path / "moved"
    shutil.copytree(run, copy)
    moved = Recommender.load(copy)
    moved.items_table = tmp_path / "gone.parquet"  # the table moved away: ids only
    assert moved.describe(frame).equals(frame)
    probe = ("import sys\n"  # torch & co. made unimportable: importing one raises
             "for name in ('torch', 'torch_geometric', 'transformers', 'mmgraph.pipeline'):\n"
             "    sys.modules[name] = None\n"
             "import mmgraph\n"
             "ids, scores = mmgraph.Recommender.load(sys.argv[1]).recommend_arrays([1], 3)\n"
             "print(ids.shape, bool((scores[0, :-1] >= scores[0, 1:]).all()))")
    imported = subprocess.run([sys.executable, "-c", probe, str(run)], capture_output=True,
                              text=True)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "(1, 3) True"
    ids, scores = recommender.recommend_arrays([1, 99_999], 3)
    assert list(ids[0]) == frame["item_id"].tolist()
    assert np.allclose(scores[0], frame["score"])
    assert ids.shape == scores.shape == (2, 3)  # the unknown user: popular items


def test_fold_in_and_similar_items_serve_without_retraining(finished_run):
    """A history folds into a user vector that ranks the user's test items about as well as
    the trained vector (settings chosen on valid by the index stage); the history is never
    served back; "more like this" is cosine over the served item vectors, never the item
    itself; unknown ids are errors."""
    from mmgraph.errors import DataError
    from mmgraph.evaluation.ranking import evaluate_embeddings
    from mmgraph.recommender import Recommender

    run, _, _ = finished_run
    settings = json.loads((run / "index" / "foldin.json").read_text())
    assert {"unobserved_weight", "ridge", "valid_ndcg@20_by_setting"} <= set(settings)
    recommender = Recommender.load(run)
    data = recommender.data
    train, test = data.parts["train"], data.parts["test"]
    users = test.users_with_items()
    folded = recommender.user_vectors.copy()
    folded[users] = recommender.foldin.user_vectors(recommender.item_vectors,
                                                    [train.row(u) for u in users])
    scores = {name: evaluate_embeddings(torch.tensor(vectors),
                                        torch.tensor(recommender.item_vectors), test, train,
                                        (20,))["ndcg@20"]
              for name, vectors in (("trained", recommender.user_vectors), ("folded", folded))}
    assert scores["folded"] >= 0.85 * scores["trained"], scores

    user = int(users[0])
    history = data.items.to_ids(train.row(user)).tolist()
    served = recommender.recommend_for_history(history, 10)
    assert len(served) == 10 and not set(served["item_id"]) & set(history)
    assert served["score"].is_monotonic_decreasing
    item = history[0]
    similar = recommender.similar_items(item, 5)
    unit = recommender.item_vectors / np.linalg.norm(recommender.item_vectors, axis=1,
                                                     keepdims=True)
    row = recommender.index.item_ids.indices(pd.Series([item]), "test")[0]
    cosine = unit @ unit[row]
    cosine[row] = -np.inf
    assert similar["item_id"].tolist() == recommender.index.item_ids.to_ids(
        np.argsort(-cosine, kind="stable")[:5]).tolist()
    with pytest.raises(DataError, match="not among"):
        recommender.similar_items(10**9)
    with pytest.raises(DataError, match="at least one item"):
        recommender.recommend_for_history([], 5)


def test_update_refolds_a_user_and_unknown_users_get_popular_items(finished_run, capsys):
    """``update`` folds a user's whole history (theirs from the run plus the new items) into
    the vector later ``recommend`` calls serve, and never serves the history back; a new user
    is served from the items given; users never seen get the run's most popular items (or an
    error with ``unknown="error"``), each row saying how it was served; the CLI serves a
    history by fold-in."""
    from mmgraph.cli import main
    from mmgraph.errors import DataError
    from mmgraph.recommender import Recommender

    run, _, _ = finished_run
    recommender = Recommender.load(run)
    data = recommender.data
    known, newcomer, stranger = data.users.to_ids(np.array([0]))[0], 10**8, 10**8 + 1
    before = recommender.recommend([known], 5)
    new_items = before["item_id"].tolist()[:2]
    recommender.update(known, new_items)
    recommender.update(newcomer, new_items)
    served = recommender.recommend([stranger, known, newcomer, known], 5)
    assert served.groupby("user_id", sort=False)["source"].first().to_dict() == {
        stranger: "popular", known: "history", newcomer: "history"}
    assert served["user_id"].drop_duplicates().tolist() == [stranger, known, newcomer]
    history = np.union1d(recommender.interacted.row(0),
                         recommender.index.item_ids.indices(pd.Series(new_items), "test"))
    vector = recommender.foldin.user_vectors(recommender.item_vectors, [history])
    ranked, _ = recommender.index.search(vector, 5 + len(history))
    expected = [label for label in ranked[0] if label not in history][:5]
    again = served[served["user_id"] == known]
    assert len(again) == 10  # asked twice
    assert again["item_id"].tolist()[:5] == data.items.to_ids(np.array(expected)).tolist()
    assert not set(again["item_id"]) & set(data.items.to_ids(history))
    fresh = served[served["user_id"] == newcomer]
    assert fresh["item_id"].tolist() == recommender.recommend_for_history(new_items, 5)[
        "item_id"].tolist()
    counts = recommender.interacted.item_counts
    popular = served[served["user_id"] == stranger]
    assert popular["score"].tolist() == sorted(counts, reverse=True)[:5]
    assert popular["item_id"].tolist() == data.items.to_ids(
        np.argsort(-counts, kind="stable")[:5]).tolist()
    with pytest.raises(DataError, match=str(stranger)):
        recommender.recommend([known, stranger], 5, unknown="error")
    with pytest.raises(DataError, match="not among"):
        recommender.update(known, [10**9])

    item = str(new_items[0])
    assert main(["-q", "recommend", "--run", str(run), "--history", item, "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 4 and "item_id" in out
    assert main(["-q", "recommend", "--run", str(run), "--user", str(stranger)]) == 0
    assert "popular" in capsys.readouterr().out
    assert main(["-q", "recommend", "--run", str(run), "--user", str(stranger),
                 "--unknown", "error"]) == 2
    assert str(stranger) in capsys.readouterr().err


def test_changed_served_files_are_named_and_added_items_are_served(finished_run, tmp_path):
    """Reordered ids or a swapped train split refuse to serve, naming the file; an item added
    to the index is recommended under its own id (the index's id table, not the run's)."""
    import shutil

    import numpy as np

    from mmgraph.errors import RunDirError
    from mmgraph.recommender import Recommender

    run, _, _ = finished_run
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    items = pd.read_parquet(copy / "ids" / "items.parquet")
    items.iloc[::-1].to_parquet(copy / "ids" / "items.parquet", index=False)
    with pytest.raises(RunDirError, match=r"ids/items\.parquet changed since the index"):
        Recommender.load(copy)
    shutil.copy(run / "ids" / "items.parquet", copy / "ids" / "items.parquet")
    recommender = Recommender.load(copy)
    user = recommender.data.users.to_ids(np.array([0]))[0]  # row 0 of user_vectors
    new_id = int(items["item_id"].max()) + 1
    vector = recommender.user_vectors[:1] * 1000  # certainly this user's best item
    recommender.index.add(vector.astype(np.float32), [new_id])
    top = recommender.recommend([user], 3)
    assert top["item_id"].iloc[0] == new_id


def test_readme_python_blocks_run_as_written(finished_run, ml100k_slice, tmp_path,
                                             monkeypatch):
    """The README's Python API blocks, executed in order where they expect their files: the
    notebook loop's tables (the ml-100k slice as data/ml-100k) and a finished run as
    runs/quickstart, under the working directory."""
    import re
    import shutil

    run, _, _ = finished_run
    shutil.copytree(run, tmp_path / "runs" / "quickstart")
    (tmp_path / "data" / "ml-100k").mkdir(parents=True)
    for table in ml100k_slice:
        shutil.copy(table, tmp_path / "data" / "ml-100k" / table.name)
    monkeypatch.chdir(tmp_path)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert 100_000 in set(namespace["recommender"].index.item_ids.ids)
    assert (tmp_path / "embeddings" / "manifest.json").is_file()  # the notebook loop's export
    assert (tmp_path / "runs" / "quickstart" / "index-edited" / "manifest.json").is_file()


def test_recommend_explains_each_item(finished_run):
    run, _, _ = finished_run
    result = mmgraph("recommend", "--run", str(run), "--user", "1", "999999", "-k", "2",
                     "--explain")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "because you liked" in lines[0] and "(popular)" in lines[-1]
    assert "%)" in lines[1]  # a named history item with its share
    refused = mmgraph("recommend", "--run", str(run), "--history", "1", "--explain")
    assert refused.returncode == 2 and "use it with --user" in refused.stderr
