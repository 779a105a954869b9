"""mmgraph.fit (frames in, a served Recommender out) and mmgraph.evaluate (a held-out frame of
the user's own), end to end on tiny seeded tables."""

import json
import math

import numpy as np
import pandas as pd
import pytest

import mmgraph
from mmgraph.errors import ConfigError, DataError
from mmgraph.runs import RunDir, layout
from tests.test_cli import NARROW_FILTER, mmgraph as mmgraph_cli

#: A few seconds of training: these tests are about the plumbing, not the accuracy.
TINY = {"seed": 3, "encoders": {"text": None},
        "teacher": {"dim": 16, "optim": {"epochs": 8, "eval_every": 4, "lr": 0.01},
                    "filter": NARROW_FILTER},
        "student": {"dim": 8, "optim": {"epochs": 8, "eval_every": 4, "lr": 0.01,
                                        "batch_size": 16}}}


@pytest.fixture(scope="module")
def held_out_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """60 users × 40 items: each user's last two interactions (by time) held out."""
    rng = np.random.default_rng(5)
    rows = [(user, int(item), float(rng.integers(1, 6)), int(rng.integers(1e9)))
            for user in range(60)
            for item in rng.choice(40, size=rng.integers(8, 16), replace=False)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    last = frame.sort_values("timestamp").groupby("user_id").tail(2).index
    return frame.drop(last).reset_index(drop=True), frame.loc[last].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(held_out_frames, tmp_path_factory) -> mmgraph.Recommender:
    train, _ = held_out_frames
    return mmgraph.fit(train, config=TINY, run_dir=tmp_path_factory.mktemp("fit") / "run",
                       progress=False, student={"dim": 12})


def test_fit_returns_the_served_recommender_of_its_run(fitted, held_out_frames):
    train, _ = held_out_frames
    assert fitted.run_dir.is_dir() and fitted.run_dir.name == "run"
    assert (fitted.run_dir / layout.INPUT_INTERACTIONS).is_file()
    saved = pd.read_parquet(fitted.run_dir / layout.INPUT_INTERACTIONS)
    pd.testing.assert_frame_equal(saved, train)
    assert fitted.index.dim == 12  # the override won over the config's student dim 8
    cfg = RunDir(fitted.run_dir).read_config()
    assert cfg.teacher.dim == 16 and cfg.data.items is None and cfg.data.prepare is None
    assert 0 < fitted.metrics["student"]["test"]["ndcg@20"] <= 1
    ids, scores = fitted.recommend_arrays([0, 1], k=5)
    assert ids.shape == (2, 5) and np.all(np.diff(scores, axis=1) <= 0)
    seen = set(train.loc[train["user_id"] == 0, "item_id"])
    assert not seen & set(ids[0])


def test_fit_again_in_the_same_run_dir_resumes(fitted, held_out_frames):
    train, _ = held_out_frames
    stages = fitted.run_dir / layout.STAGES
    before = stages.read_bytes(), stages.stat().st_mtime_ns
    again = mmgraph.fit(train, config=TINY, run_dir=fitted.run_dir, progress=False,
                        student={"dim": 12})
    assert (stages.read_bytes(), stages.stat().st_mtime_ns) == before  # no stage reran
    assert again.metrics == fitted.metrics


def test_fit_starts_from_the_quickstart_settings(tmp_path, tiny_interactions):
    recommender = mmgraph.fit(
        tiny_interactions, run_dir=tmp_path / "q", progress=False,
        teacher={"optim": {"epochs": 4, "eval_every": 2}, "filter": NARROW_FILTER},
        student={"optim": {"epochs": 4, "eval_every": 2}})
    cfg = RunDir(recommender.run_dir).read_config()
    quickstart = mmgraph.load_config("configs/quickstart.yaml")
    assert cfg.teacher.components == quickstart.teacher.components
    assert cfg.student.dim == quickstart.student.dim
    assert cfg.data.interactions == tmp_path / "q" / layout.INPUT_INTERACTIONS
    assert len(recommender.recommend([0], k=3)) == 3


def test_a_bad_frame_gets_the_command_lines_error(tmp_path, tiny_interactions):
    frame = tiny_interactions.rename(columns={"user_id": "customer"})
    with pytest.raises(DataError) as raised:
        mmgraph.fit(frame, config=TINY, run_dir=tmp_path / "bad", progress=False)
    message = str(raised.value)
    assert "user_id" in message and "customer" in message
    config = tmp_path / "bad.yaml"
    config.write_text(f"name: cli\nruns_root: {tmp_path}\nencoders: {{text: null}}\n"
                      f"data: {{interactions: {tmp_path / 'bad' / layout.INPUT_INTERACTIONS}}}\n")
    result = mmgraph_cli("split", "--config", str(config))
    assert result.returncode == 2 and message in " ".join(result.stderr.split())


def test_fit_refuses_mixed_id_types_and_tables_in_the_overrides(tmp_path, tiny_interactions):
    mixed = tiny_interactions.astype({"item_id": object})
    mixed.loc[0, "item_id"] = "seven"
    with pytest.raises(DataError, match="interactions frame given to mmgraph.fit cannot be"):
        mmgraph.fit(mixed, config=TINY, run_dir=tmp_path / "mixed", progress=False)
    with pytest.raises(ConfigError, match="drop data.interactions from the overrides"):
        mmgraph.fit(tiny_interactions, config=TINY, run_dir=tmp_path / "o", progress=False,
                    data={"interactions": "x.csv"})
    with pytest.raises(ConfigError, match="The config mapping given to mmgraph.fit is invalid: "
                                          "teacher.dimm"):
        mmgraph.fit(tiny_interactions, config={**TINY, "teacher": {"dimm": 3}},
                    run_dir=tmp_path / "typo", progress=False)


def _by_hand(recommender, test: pd.DataFrame, k: int) -> dict[str, float]:
    """Recall@k and NDCG@k of recommend()'s lists, computed here from the DataFrame."""
    lists = recommender.recommend(sorted(test["user_id"].unique()), k=k)
    recall, ndcg = [], []
    for user, held in test.groupby("user_id")["item_id"].apply(set).items():
        ranked = lists.loc[lists["user_id"] == user].sort_values("rank")["item_id"].tolist()
        hits = [item in held for item in ranked]
        recall.append(sum(hits) / len(held))
        ndcg.append(sum(h / math.log2(r + 2) for r, h in enumerate(hits))
                    / sum(1 / math.log2(r + 2) for r in range(min(k, len(held)))))
    return {f"recall@{k}": float(np.mean(recall)), f"ndcg@{k}": float(np.mean(ndcg))}


def test_evaluate_measures_the_served_lists_on_a_held_out_frame(fitted, held_out_frames):
    _, test = held_out_frames
    result = mmgraph.evaluate(fitted, test, ks=(5, 10))
    for k in (5, 10):
        expected = _by_hand(fitted, test, k)
        assert result[f"recall@{k}"] == pytest.approx(expected[f"recall@{k}"])
        assert result[f"ndcg@{k}"] == pytest.approx(expected[f"ndcg@{k}"])
        assert 0 < result[f"coverage@{k}"] <= 1 and result[f"popularity@{k}"] > 0
    assert result["users"] == test["user_id"].nunique() == result["served_by"]["model"]
    assert result["unknown_items"] == 0 and result["already_interacted"] == 0


def test_evaluate_counts_unknown_items_as_misses_and_names_leaks(fitted, held_out_frames):
    train, test = held_out_frames
    base = mmgraph.evaluate(fitted, test, ks=(10,))
    stranger = pd.DataFrame({"user_id": [10_000], "item_id": [int(test["item_id"].iloc[0])]})
    unknown_item = pd.DataFrame({"user_id": [0], "item_id": [999]})
    widened = mmgraph.evaluate(fitted, pd.concat([test, stranger, unknown_item]), ks=(10,))
    assert widened["unknown_items"] == 1 and widened["served_by"]["popular"] == 1
    assert widened["recall@10"] != base["recall@10"]
    leaked = mmgraph.evaluate(fitted, pd.concat([test, train.head(3)]), ks=(10,))
    assert leaked["already_interacted"] == 3
    with pytest.raises(DataError, match="no column 'user_id'"):
        mmgraph.evaluate(fitted, test.rename(columns={"user_id": "u"}))


def test_the_run_writes_its_report_and_the_command_names_it(fitted, tmp_path):
    import shutil

    report = fitted.run_dir / layout.REPORT
    text = report.read_text(encoding="utf-8")
    metrics = fitted.metrics
    assert f"{metrics['student']['test']['ndcg@20']:.4f}" in text
    assert text.count("data:image/png;base64,") == 2  # teacher's and student's curves
    assert "Teacher blend" in text and "lightgcn" in text
    copy = tmp_path / "older"  # a run made before runs wrote their report
    shutil.copytree(fitted.run_dir, copy)
    (copy / layout.REPORT).unlink()
    result = mmgraph_cli("report", "--run", str(copy))
    assert result.returncode == 0 and result.stdout.strip() == str(copy / layout.REPORT)
    assert (copy / layout.REPORT).read_text(encoding="utf-8") == text.replace(
        "Run run<", "Run older<").replace("mmgraph run run<", "mmgraph run older<")
    unfinished = mmgraph_cli("report", "--run", str(tmp_path))
    assert unfinished.returncode == 2 and "no finished" in unfinished.stderr


def test_an_interrupted_fit_leaves_a_run_dir_that_the_next_fit_resumes(tmp_path, monkeypatch,
                                                                        held_out_frames):
    """Issue 36 (faults on the new surfaces): a KeyboardInterrupt in a notebook mid-fit."""
    import mmgraph.pipeline.stages.student as student_stage

    train, _ = held_out_frames
    real = student_stage.task_of

    def interrupted(cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(student_stage, "task_of", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mmgraph.fit(train, config=TINY, run_dir=tmp_path / "r", progress=False)
    done = json.loads((tmp_path / "r" / layout.STAGES).read_text())
    assert "teacher" in done and "student" not in done
    monkeypatch.setattr(student_stage, "task_of", real)
    teacher_state = (tmp_path / "r" / layout.TEACHER_STATE).stat().st_mtime_ns
    recommender = mmgraph.fit(train, config=TINY, run_dir=tmp_path / "r", progress=False)
    assert (tmp_path / "r" / layout.TEACHER_STATE).stat().st_mtime_ns == teacher_state
    assert len(recommender.recommend([0], k=3)) == 3


def test_evaluate_never_counts_an_item_added_since_as_trained_on(fitted, held_out_frames):
    """An item added to the index after the run is in nobody's history: a held-out pair with
    it is no leak, though its label is past the run's items, where another user's membership
    codes lie (UserItems.contains bounds the items)."""
    import shutil

    from mmgraph.recommender import Recommender

    copy = fitted.run_dir.parent / "added-item"
    shutil.copytree(fitted.run_dir, copy, dirs_exist_ok=True)
    recommender = Recommender.load(copy)
    recommender.index.add(np.ones((1, recommender.index.dim), np.float32), [10_000])
    interacted = recommender.interacted
    # The first added label is num_items; user u's code for it is user u+1's for item 0.
    user = next(u for u in range(len(recommender.data.users) - 1)
                if interacted.contains(np.array([u + 1]), np.array([0]))[0])
    user_id = recommender.data.users.to_ids(np.array([user]))[0]
    result = mmgraph.evaluate(recommender, pd.DataFrame({"user_id": [user_id],
                                                         "item_id": [10_000]}), ks=(10,))
    assert result["already_interacted"] == 0 and result["unknown_items"] == 0


def _hostile_frames() -> dict[str, tuple[pd.DataFrame, list[str]]]:
    """The command line's table probes (tests/test_cli_bad_input.py) as frames, and what only
    a frame can hold: each with the fragments its error must name."""
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"user_id": np.repeat(np.arange(12), 5),
                         "item_id": rng.integers(0, 9, 60),
                         "rating": rng.integers(1, 6, 60).astype(float),
                         "timestamp": rng.integers(0, 10**6, 60)})
    n = len(base)

    def With(**columns) -> pd.DataFrame:
        return base.assign(**columns)

    nan_user = base.astype({"user_id": float})
    nan_user.loc[3, "user_id"] = np.nan
    named = base.set_axis([0, 1, 2, 3], axis=1)
    return {
        "empty": (base.iloc[:0], ["has no data rows"]),
        "nan-user": (nan_user, ["'user_id' is empty in data row(s) 4"]),
        "empty-string-user": (With(user_id=[""] + [f"u{u}" for u in base.user_id[1:]]),
                              ["'user_id' is empty in data row(s) 1"]),
        "float-ids": (With(user_id=base.user_id + 0.5), ["dtype float64", "all integers or"]),
        "bool-ids": (With(user_id=base.user_id % 2 == 0), ["dtype bool"]),
        "bytes-ids": (With(user_id=[b"u%d" % u for u in base.user_id]), ["(bytes)"]),
        "list-ids": (With(item_id=[[i] for i in base.item_id]), ["'item_id'", "e.g. array("]),
        "dict-ids": (With(item_id=[{"i": i} for i in base.item_id]), ["'item_id'", "e.g. {"]),
        "ids-past-int64": (With(user_id=np.uint64(2**63) + base.user_id.to_numpy(np.uint64)),
                           ["outside the 64-bit integer range", "e.g. 9223372036854775808"]),
        "python-ints-past-int64": (With(user_id=[2**70] + list(base.user_id[1:])),
                                   ["interactions frame", "outside the 64-bit range"]),
        "padded-strings": (With(user_id=[f" u{u}" for u in base.user_id]), ["whitespace"]),
        "mixed-ids": (With(user_id=["a"] + list(base.user_id[1:])), ["cannot be saved"]),
        "duplicate-columns": (pd.concat([base, base[["user_id"]]], axis=1),
                              ["Duplicate column names"]),
        "unnamed-columns": (named, ["lacks column(s) 'user_id'", "'0', '1'"]),
        "inf-rating": (With(rating=np.where(np.arange(n) == 2, np.inf, base.rating)),
                       ["'rating'", "row(s) 3"]),
        "text-rating": (With(rating=["good"] * n), ["'rating'", "non-numeric"]),
        "complex-rating": (With(rating=base.rating.astype(complex)), ["cannot be saved"]),
        "nan-timestamp": (With(timestamp=np.where(np.arange(n) == 1, np.nan, base.timestamp)),
                          ["'timestamp'", "row(s) 2"]),
    }


@pytest.mark.parametrize("name", sorted(_hostile_frames()))
def test_a_hostile_frame_is_refused_naming_the_column_and_rows(name, tmp_path):
    frame, fragments = _hostile_frames()[name]
    with pytest.raises(DataError) as raised:
        mmgraph.fit(frame, config=TINY, run_dir=tmp_path / "hostile", progress=False)
    for fragment in fragments:
        assert fragment in str(raised.value), str(raised.value)
    assert not RunDir(tmp_path / "hostile").path(layout.TEACHER_STATE).exists()  # none trained
