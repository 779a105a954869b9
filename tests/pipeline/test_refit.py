"""The final refit: the tuned settings, retrained on every interaction, served from
``<run>/refit``."""

import json

import pandas as pd
import pytest

from mmgraph.runs import RunDir, load_split
from mmgraph.recommender import Recommender
from tests.tiny_runs import finished_run


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A run with final_refit on 40 users × 30 items, ID-only, with both filters."""
    folder = tmp_path_factory.mktemp("refit")
    run, _ = finished_run(folder, "tuned", (40, 30), 0.4,
                          "{components: [lightgcn, filter, time_filter], dim: 8, "
                          "filter: {ridge: [0.05, 0.2]}, optim: {epochs: 6, eval_every: 2}}",
                          "{dim: 8, optim: {epochs: 6, eval_every: 2}}", timestamps=True,
                          extra="final_refit: true\n")
    return RunDir(run), folder


def _state(run: RunDir, name: str) -> dict:
    return json.loads(run.path(name, "state.json").read_text())


def test_refit_trains_on_every_interaction_with_the_tuned_settings(finished):
    run, folder = finished
    refit = RunDir(run.root / "refit")
    every = pd.read_parquet(folder / "inter.parquet")
    assert len(pd.read_parquet(refit.path("splits", "train.parquet"))) == len(every)
    for part in ("valid", "test"):
        assert pd.read_parquet(refit.path("splits", f"{part}.parquet")).empty
    tuned, again = _state(run, "teacher"), _state(refit, "teacher")
    assert again["weights"] == pytest.approx(tuned["weights"])
    for name in ("filter", "time_filter"):
        assert again[f"{name}_setting"] == tuned[f"{name}_setting"]
    assert again["best_epoch"] == tuned["best_epoch"]  # a fixed epoch count, no early stop
    assert _state(refit, "student")["best_epoch"] == _state(run, "student")["best_epoch"]
    chosen = _state(run, "student")  # chosen on valid, then fixed: the refit has no valid
    assert "item_norm_search" in chosen and "item_norm_search" not in _state(refit, "student")
    assert _state(refit, "student")["item_norm_exponent"] == chosen["item_norm_exponent"]
    assert refit.path("index", "foldin.json").read_text() == \
        run.path("index", "foldin.json").read_text()  # the tuned fold-in, not re-tuned
    assert not refit.path("metrics.json").exists()  # nothing held out: nothing to evaluate


def test_refit_serves_without_repeating_any_interaction(finished):
    run, folder = finished
    served = Recommender.load(run.root / "refit")
    every = pd.read_parquet(folder / "inter.parquet")
    answer = served.recommend(list(range(40)), 5)
    seen = set(zip(every["user_id"], every["item_id"]))
    assert len(answer) == 40 * 5
    assert not any((u, i) in seen for u, i in zip(answer["user_id"], answer["item_id"]))
    data = load_split(run)  # the tuned run keeps its held-out parts
    assert len(data.parts["test"].users_with_items()) > 0


def test_refit_command_resumes_and_names_the_folder(finished, capsys):
    from mmgraph.cli import main

    run, folder = finished
    before = run.path("refit", "student", "embeddings.safetensors").stat().st_mtime_ns
    assert main(["-q", "refit", "--config", str(folder / "c.yaml")]) == 0
    assert str(run.root / "refit") in capsys.readouterr().out.replace("\n", "")
    after = run.path("refit", "student", "embeddings.safetensors").stat().st_mtime_ns
    assert before == after  # up to date: nothing retrained


def test_refit_needs_a_finished_run(tmp_path, capsys):
    from mmgraph.cli import main

    (tmp_path / "inter.csv").write_text("user_id,item_id\n1,2\n")
    (tmp_path / "c.yaml").write_text(f"name: new\nruns_root: {tmp_path / 'runs'}\n"
                                     f"data: {{interactions: {tmp_path / 'inter.csv'}}}\n")
    assert main(["-q", "refit", "--config", str(tmp_path / "c.yaml")]) == 2
    assert "teacher" in capsys.readouterr().err


def _refit_error(folder, capsys, config: str | None = None) -> str:
    from mmgraph.cli import main

    path = folder / "c.yaml"
    if config is not None:
        path = folder / "changed.yaml"
        path.write_text(config)
    assert main(["-q", "refit", "--config", str(path)]) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return error


def test_refit_refuses_what_it_would_train_on_unchecked(finished, tmp_path, capsys):
    """Issue 36: refit trained on a tampered test split, trained a changed student.dim with
    the old epoch counts, trained 1e9 epochs for an edited best_epoch, and raised KeyError
    or a traceback for a changed components list or an edited state.json."""
    import shutil

    run, folder = finished
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    config = (copy / "c.yaml").read_text().replace(str(folder), str(copy))
    (copy / "c.yaml").write_text(config)
    tuned = RunDir(copy / "runs" / "tuned")
    changed = config.replace("student: {dim: 8", "student: {dim: 16")
    assert "student.dim" in _refit_error(copy, capsys, changed)
    fewer = config.replace("components: [lightgcn, filter, time_filter]",
                           "components: [lightgcn, filter]")
    assert "teacher.components" in _refit_error(copy, capsys, fewer)
    state_path = tuned.path("student", "state.json")
    original = state_path.read_text()
    for edit in ({"best_epoch": 1_000_000_000}, {"best_epoch": "many"}):
        state_path.write_text(json.dumps({**json.loads(original), **edit}))
        error = _refit_error(copy, capsys)
        assert "best_epoch" in error or "changed since the student stage" in error
    state_path.write_text(original)
    teacher_state = tuned.path("teacher", "state.json")
    teacher_original = teacher_state.read_text()
    teacher_state.write_text(json.dumps({k: v for k, v in json.loads(teacher_original).items()
                                         if k != "weights"}))
    error = _refit_error(copy, capsys)
    assert "'weights'" in error or "changed since the teacher stage" in error
    teacher_state.write_text(teacher_original)
    test_split = tuned.path("splits", "test.parquet")
    test_split.write_bytes(b"garbage")
    assert "test.parquet changed since the split stage" in _refit_error(copy, capsys)


def test_exposure_matching_set_in_the_config_is_served_and_carried_into_the_refit(
        tmp_path):
    """``student.match_teacher_exposure: true`` with a fixed exponent: the served items are
    the trained ones scaled row by row before the exponent (not the trained ones rescaled
    alone), the choice is recorded, and the refit serves its own student matched alike."""
    import torch

    from mmgraph.distill.item_norms import rescale_items
    from mmgraph.io import read_tensors

    run, _ = finished_run(tmp_path, "matched", (60, 80), 0.2,  # top 20 of ~64 unseen items
                          "{components: [filter], filter: {ridge: [0.2]}}",
                          "{dim: 8, item_norm_exponent: 0.1, match_teacher_exposure: true, "
                          "optim: {epochs: 4, eval_every: 2}}", extra="final_refit: true\n")
    for folder in (RunDir(run), RunDir(run / "refit")):
        state = _state(folder, "student")
        assert state["match_teacher_exposure"] is True and state["item_norm_exponent"] == 0.1
        trained = read_tensors(folder.path("student", "model.safetensors"))
        served = read_tensors(folder.path("student", "embeddings.safetensors"))["items"]
        plain = rescale_items(trained["item_embedding.weight"], 0.1)
        assert not torch.allclose(served, plain, atol=1e-4)
        assert torch.allclose(torch.nn.functional.normalize(served),
                              torch.nn.functional.normalize(plain), atol=1e-4)
