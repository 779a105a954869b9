"""``teacher: auto``: the unset settings searched within the budget, the choice written into
the run's config.yaml, and that config rerunning exactly."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
import yaml

from mmgraph.config import RunConfig, TeacherConfig, load_config
from mmgraph.io import read_tensors
from mmgraph.pipeline import run_all
from mmgraph.runs import RunDir
from mmgraph.errors import RunDirError
from mmgraph.pipeline.auto import auto_start, fusion_levels, resolved_teacher
from mmgraph.pipeline.refit import _time_scale as refit_time_scale
from mmgraph.pipeline.refit import refit_config


def _tables(folder, timestamps: bool = True):
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((40, 30)) < 0.4)
    frame = pd.DataFrame({"user_id": users, "item_id": items})
    if timestamps:
        frame["timestamp"] = rng.integers(0, 10_000, len(users))
    frame.to_parquet(folder / "inter.parquet")


def _config(folder, name: str, teacher: str, tune: str = "{budget_s: 600}") -> RunConfig:
    (folder / f"{name}.yaml").write_text(
        f"name: {name}\nruns_root: {folder / 'runs'}\nseed: 1\n"
        f"data: {{interactions: {folder / 'inter.parquet'}}}\nencoders: {{text: null}}\n"
        f"teacher: {teacher}\ntune: {tune}\n"
        "student: {dim: 8, optim: {epochs: 4, eval_every: 2}}\n")
    return load_config(folder / f"{name}.yaml")


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("auto")
    _tables(folder)
    cfg = _config(folder, "auto", "{auto: true, dim: 8, optim: {epochs: 6, eval_every: 2}}",
                  "{budget_s: 600, time_scales: [100, 1000]}")
    run_all(cfg, progress=False)
    return RunDir(cfg.run_dir), folder


def test_a_config_without_a_teacher_section_is_auto():
    base = {"name": "x", "data": {"interactions": "i.parquet"}}
    assert RunConfig.model_validate(base).teacher.auto
    assert RunConfig.model_validate({**base, "teacher": "auto"}).teacher.auto
    assert not RunConfig.model_validate({**base, "teacher": {"dim": 8}}).teacher.auto
    with pytest.raises(ValueError, match="task rating"):
        RunConfig.model_validate({**base, "task": "rating", "teacher": {
            "auto": True, "components": ["lightgcn"]},
            "evaluation": {"early_stopping_metric": "rmse"}})


def test_auto_fills_only_what_the_section_leaves_unset():
    start = auto_start(TeacherConfig(auto=True, dim=8, optim={"patience": 9}),
                       has_timestamps=False)
    assert start.dim == 8 and start.optim.lr == 0.01 and start.optim.epochs == 200
    assert start.optim.patience == 9  # set in the section's optim: kept
    assert start.components == ("lightgcn", "filter")  # no timestamps: no time filter
    named = auto_start(TeacherConfig(auto=True, components=["filter"]), has_timestamps=True)
    assert named.components == ("filter",)


def test_the_resolved_teacher_keeps_the_components_with_weight():
    start = auto_start(TeacherConfig(auto=True), has_timestamps=True)
    fixed = resolved_teacher(start, {"lightgcn": 0.0, "filter": 0.3, "time_filter": 0.7},
                             600.0, 25, "feature")
    assert not fixed.auto and fixed.components == ("filter", "time_filter")
    assert fixed.blend == {"filter": 0.3, "time_filter": 0.7}
    assert fixed.time_scale == 600.0 and fixed.optim.epochs == 200  # no LightGCN: moot
    alone = resolved_teacher(start, {"lightgcn": 1.0, "filter": 0.0, "time_filter": 0.0},
                             3600.0, 25, "model")
    assert (alone.components, alone.blend, alone.optim.epochs) == (("lightgcn",), "auto", 25)
    assert alone.fusion_level == "model"


def test_auto_records_its_search_and_writes_the_choice_into_config_yaml(auto_run):
    run, _ = auto_run
    state = json.loads(run.path("teacher", "state.json").read_text())
    written = run.read_config().teacher
    assert written.model_dump(mode="json") == state["resolved_teacher"]
    assert not written.auto and written.dim == 8
    assert set(state["valid_ndcg@20_by_time_scale"]) == {"100", "1000"}
    best_scale = max(state["valid_ndcg@20_by_time_scale"],
                     key=state["valid_ndcg@20_by_time_scale"].get)
    assert written.time_scale == float(best_scale)
    kept = {name: w for name, w in state["weights"].items() if w > 0}
    assert list(written.components) == list(kept)
    if "lightgcn" in kept:
        assert written.optim.epochs == state["history"][-1]["epoch"]
    assert 0 < state["auto_seconds"]["spent"] < 600


def test_rerunning_the_written_config_is_exact(auto_run):
    run, folder = auto_run
    again = run.read_config().model_copy(update={"name": "again"})
    run_all(again, progress=False)
    first = read_tensors(run.path("teacher", "embeddings.safetensors"))
    second = read_tensors(RunDir(again.run_dir).path("teacher", "embeddings.safetensors"))
    assert first.keys() == second.keys()
    for name in first:
        assert np.array_equal(first[name].numpy(), second[name].numpy()), name
    metrics = [json.loads(r.path("metrics.json").read_text())["teacher"]["test"]
               for r in (run, RunDir(again.run_dir))]
    assert metrics[0] == metrics[1]


def test_a_budget_spent_on_the_filters_leaves_lightgcn_out(tmp_path, caplog):
    _tables(tmp_path)
    cfg = _config(tmp_path, "tight", "auto", "{budget_s: 0.000001, time_scales: [100, 1000]}")
    with caplog.at_level(logging.WARNING):
        run_all(cfg, progress=False)
    run = RunDir(cfg.run_dir)
    state = json.loads(run.path("teacher", "state.json").read_text())
    assert "lightgcn" not in state["components"]
    assert "valid_ndcg@20_by_time_scale" in state and len(
        state["valid_ndcg@20_by_time_scale"]) == 1  # no time for the second scale
    assert "LightGCN is left out" in caplog.text
    written = yaml.safe_load(run.path("config.yaml").read_text())["teacher"]
    assert "lightgcn" not in written["components"] and written["auto"] is False


def test_fusion_levels_tried_with_two_modalities_or_more():
    free = TeacherConfig(auto=True)
    assert fusion_levels(free, 3) == fusion_levels(free, 2) == ("model", "feature")
    assert fusion_levels(free, 1) == ("feature",)  # one modality: fused (ml-100k's better)
    assert fusion_levels(TeacherConfig(auto=True, fusion_level="decision"), 3) == ("decision",)
    assert fusion_levels(TeacherConfig(auto=True, content="graph"), 3) == ("feature",)


def test_auto_keeps_the_fusion_level_validation_ranks_best(tmp_path):
    """Text and categorical content: both levels trained, the better one's model, state and
    choice are the run's, whichever level was trained last."""
    _tables(tmp_path)
    genres = ["drama|war", "comedy", "drama", "horror|comedy", "war"]
    pd.DataFrame({"item_id": np.arange(30), "title": [f"film {i}" for i in range(30)],
                  "genre": [genres[i % 5] for i in range(30)]}).to_parquet(
        tmp_path / "items.parquet")
    (tmp_path / "levels.yaml").write_text(
        f"name: levels\nruns_root: {tmp_path / 'runs'}\nseed: 1\n"
        f"data: {{interactions: {tmp_path / 'inter.parquet'}, "
        f"items: {tmp_path / 'items.parquet'}}}\n"
        "encoders: {text: {template: '{title}'}, categorical: {columns: [genre]}}\n"
        "teacher: {auto: true, components: [lightgcn, filter], dim: 8, "
        "optim: {epochs: 6, eval_every: 2}}\ntune: {budget_s: 600}\n"
        "student: {dim: 8, optim: {epochs: 2, eval_every: 2}}\n")
    cfg = load_config(tmp_path / "levels.yaml")
    run_all(cfg, progress=False)
    run = RunDir(cfg.run_dir)
    state = json.loads(run.path("teacher", "state.json").read_text())
    by_level = state["valid_ndcg@20_by_fusion_level"]
    assert set(by_level) == {"model", "feature"}
    chosen = max(by_level, key=by_level.get)
    assert run.read_config().teacher.fusion_level == chosen
    assert state["config"]["fusion_level"] == chosen  # the kept fit's own state
    assert state["valid_ndcg@20"] == pytest.approx(by_level[chosen])
    architecture = json.loads(run.path("teacher", "model.json").read_text())
    assert architecture["config"]["fusion_level"] == chosen


def test_a_fixed_teacher_chooses_among_the_time_scales_it_lists(tmp_path):
    """``time_scale: [a, b]`` without ``auto``: both tried with no budget, the best on
    validation recorded, and the refit trains that one scale (a state naming another is
    refused, naming the file)."""
    _tables(tmp_path)
    cfg = _config(tmp_path, "scales", "{components: [filter, time_filter], "
                  "time_scale: [100, 1000]}", "{budget_s: 0.000001}")
    assert cfg.teacher.time_scales == (100.0, 1000.0)
    run_all(cfg, progress=False)
    run = RunDir(cfg.run_dir)
    state = json.loads(run.path("teacher", "state.json").read_text())
    by_scale = state["valid_ndcg@20_by_time_scale"]
    assert set(by_scale) == {"100", "1000"}  # the tiny tune budget does not apply
    assert state["time_scale"] == float(max(by_scale, key=by_scale.get))
    assert run.read_config().teacher.time_scale == (100.0, 1000.0)  # the config as given
    assert refit_config(cfg, run).teacher.time_scale == state["time_scale"]
    with pytest.raises(RunDirError, match=r"state\.json.*time scale.*\[100\.0, 1000\.0\]"):
        refit_time_scale(run, {**state, "time_scale": 50.0}, cfg.teacher)


def test_one_time_scale_stays_a_number():
    """A scalar ``time_scale`` is dumped as before (run fingerprints unchanged); an empty list
    or a non-positive candidate is refused."""
    assert TeacherConfig(time_scale=600).model_dump()["time_scale"] == 600.0
    assert TeacherConfig(time_scale=[600]).time_scales == (600.0,)
    for bad in ([], [600, 0], -1):
        with pytest.raises(ValueError):
            TeacherConfig(time_scale=bad)
