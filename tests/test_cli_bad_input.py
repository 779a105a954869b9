"""Bad input through the CLI: every case gets exit code 2 and one paragraph on stderr that names
the file, row, column, id or key (no traceback), or — for the inputs that are valid by design —
runs. docs/reliability.md lists these cases by id; a test keeps that list and this one equal."""

from __future__ import annotations

import errno
import io
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mmgraph.cli import main
from mmgraph.config import merge_nested

GOOD = "user_id,item_id,rating,timestamp\n1,10,5,1\n1,11,4,2\n2,10,3,3\n2,12,1,4\n3,11,2,5\n"
ITEMS = "item_id,title\n10,A\n11,B\n12,C\n"
IDS_ONLY = {"data": {"columns": {"rating": None, "timestamp": None}}}


def _parquet(columns: dict) -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame(columns).to_parquet(buffer, index=False)
    return buffer.getvalue()


@dataclass
class Case:
    """Files to write (name → text), config changes, the command (``{config}`` and ``{dir}``
    are filled in), and what stderr must say — or ``ok`` for input that must be accepted."""

    files: dict[str, str | bytes]
    fragments: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    command: tuple[str, ...] = ("split", "--config", "{config}")
    ok: bool = False
    config_suffix: bytes = b""  # raw bytes appended to the YAML (what a dict cannot express)


CASES: dict[str, Case] = {
    "empty-interactions-file": Case({"inter.csv": ""}, ["inter.csv is empty"]),
    "header-only": Case({"inter.csv": "user_id,item_id\n"}, ["inter.csv has no data rows"]),
    "missing-column": Case({"inter.csv": "user_id,item,rating,timestamp\n1,2,5,1\n"},
                           ["inter.csv lacks column(s) 'item_id'", "data.columns"]),
    "renamed-column-not-configured": Case(
        {"inter.csv": GOOD}, ["inter.csv lacks column(s) 'uid'"],
        {"data": {"columns": {"user": "uid"}}}),
    "text-rating": Case({"inter.csv": GOOD.replace("1,11,4,2", "1,11,four,2")},
                        ["inter.csv column 'rating'", "row(s) 2"]),
    "nan-rating": Case({"inter.csv": GOOD.replace("1,11,4,2", "1,11,,2")},
                       ["column 'rating'", "row(s) 2"]),
    "inf-rating": Case({"inter.csv": GOOD.replace("2,12,1,4", "2,12,inf,4")},
                       ["column 'rating'", "NaN or inf", "row(s) 4"]),
    "empty-user-id": Case({"inter.csv": GOOD.replace("3,11,2,5", ",11,2,5")},
                          ["column 'user_id' is empty in data row(s) 5"]),
    "float-ids": Case({"inter.parquet": _parquet({"user_id": [1.5, 2.5], "item_id": [2, 3]})},
                      ["column 'user_id' has ids of dtype float64", "row(s) 1, 2",
                       "all integers or all strings"], IDS_ONLY),
    "list-ids": Case({"inter.parquet": _parquet({"user_id": [["a"], ["b"]], "item_id": [2, 3]})},
                     ["column 'user_id' has ids of dtype object", "e.g. array(['a']"], IDS_ONLY),
    "bytes-ids": Case({"inter.parquet": _parquet({"user_id": [b"a", b"b"], "item_id": [2, 3]})},
                      ["column 'user_id'", "(bytes)", "e.g. b'a'"], IDS_ONLY),
    "categorical-ids": Case({"inter.parquet": _parquet(
        {"user_id": pd.Categorical(["a", "b", "a"]), "item_id": pd.Categorical(["x", "x", "y"])})},
        config=IDS_ONLY, ok=True),
    "padded-ids": Case({"inter.csv": "user_id,item_id\n1,2\n 1,3\n"},
                       ["column 'user_id' has ids with leading or trailing whitespace in data "
                        "row(s) 2", "strip them"], IDS_ONLY),
    "unknown-suffix": Case({"inter.xlsx": "whatever"}, ["suffix '.xlsx'", ".csv, .tsv or"]),
    "corrupt-parquet": Case({"inter.parquet": b"PAR1 not really"},
                            ["inter.parquet could not be read as parquet"]),
    "missing-file": Case({}, ["Table", "inter.csv does not exist"]),
    "item-not-in-items-table": Case({"inter.csv": GOOD + "3,99,4,6\n", "items.csv": ITEMS},
                                    ["inter.csv", "['99']"]),
    "duplicate-item-rows": Case({"inter.csv": GOOD, "items.csv": ITEMS + "11,B again\n"},
                                ["items.csv lists item id(s) ['11'] more than once"]),
    "items-without-id-column": Case({"inter.csv": GOOD, "items.csv": "id,title\n10,A\n"},
                                    ["items.csv lacks column(s) 'item_id'"]),
    "template-unknown-column": Case(
        {"inter.csv": GOOD, "items.csv": ITEMS}, ["template uses column(s) ['plot']"],
        {"encoders": {"text": {"template": "{title}: {plot}"}}}, ("run", "--config", "{config}")),
    "image-without-media-root": Case(
        {"inter.csv": GOOD, "items.csv": ITEMS.replace("title", "image")},
        ["encoders.image needs data.media_root"],
        {"encoders": {"text": None, "image": {}}}, ("run", "--config", "{config}")),
    "media-escapes-root": Case(
        {"inter.csv": GOOD, "items.csv": "item_id,image\n10,../../etc/passwd\n11,\n12,\n",
         "media/keep.txt": "x"},
        ["item '10': '../../etc/passwd' (resolves outside the media root"],
        {"encoders": {"text": None, "image": {}}, "data": {"media_root": "{dir}/media"}},
        ("run", "--config", "{config}")),
    "media-wrong-format": Case(
        {"inter.csv": GOOD, "items.csv": "item_id,image\n10,notes.png\n11,\n12,\n",
         "media/notes.png": "plain text, not an image"},
        ["item '10': 'notes.png' (not a readable image"],
        {"encoders": {"text": None, "image": {}}, "data": {"media_root": "{dir}/media"}},
        ("run", "--config", "{config}")),
    "config-unknown-key": Case({"inter.csv": GOOD}, ["teacher.dimm: Extra inputs"],
                               {"teacher": {"dimm": 3}}),
    "config-out-of-range": Case({"inter.csv": GOOD}, ["split.test 0.9 is a share and must"],
                                {"split": {"test": 0.9}}),
    "config-wrong-type": Case({"inter.csv": GOOD},
                              ["teacher.optim.lr: Input should be a valid number"],
                              {"teacher": {"optim": {"lr": "fast"}}}),
    "config-name-dots": Case({"inter.csv": GOOD}, ["name: Value error", "outside runs_root"],
                             {"name": ".."}),
    "config-infinite-number": Case({"inter.csv": GOOD},
                                   ["teacher.optim.lr: Input should be a finite number"],
                                   {"teacher": {"optim": {"lr": float("inf")}}}),
    "config-boolean-for-number": Case({"inter.csv": GOOD}, ["epochs must be a number, got True"],
                                      {"teacher": {"optim": {"epochs": True}}}),
    "config-duplicate-key": Case({"inter.csv": GOOD}, ["found the key 'teacher' twice"],
                                 config_suffix=b"teacher: {dim: 2}\n"),
    "config-not-utf8": Case({"inter.csv": GOOD}, ["is not UTF-8 text"],
                            config_suffix=b"# caf\xe9\n"),
    "config-bad-seed": Case({"inter.csv": GOOD},
                            ["seed: Input should be greater than or equal to 0"], {"seed": -1}),
    "config-bad-device": Case({"inter.csv": GOOD}, ["device: String should match pattern"],
                              {"device": "banana"}),
    "config-cutoff-not-positive": Case({"inter.csv": GOOD},
                                       ["evaluation.ks.0: Input should be greater than or "
                                        "equal to 1"], {"evaluation": {"ks": [-5, 20]}}),
    "config-search-parameter-not-positive": Case(
        {"inter.csv": GOOD}, ["recommend.index_params.nprobe: Input should be greater than 0"],
        {"recommend": {"index_params": {"nprobe": -4}}}),
    "index-cannot-train": Case(
        {"inter.csv": GOOD}, ["FAISS cannot train index 'IVF64,Flat' on 3 items",
                              "pick an index for this catalogue size"],
        {**IDS_ONLY, "recommend": {"index_factory": "IVF64,Flat"}},
        ("run", "--config", "{config}")),
    "runs-root-is-a-file": Case({"inter.csv": GOOD, "taken": "a file"},
                                ["Cannot create the folder", "taken/bad", "a file is in the way"],
                                {"runs_root": "{dir}/taken"}),
    "export-out-is-a-file": Case({"runs/bad/stages.json": "{}", "taken": "a file"},
                                 ["Cannot create the folder", "taken (File exists"],
                                 command=("export", "--run", "{dir}/runs/bad", "--out",
                                          "{dir}/taken")),
    "stages-file-edited": Case({"runs/bad/stages.json": "null"},
                               ["stages.json should map stage names to fingerprints"],
                               command=("recommend", "--run", "{dir}/runs/bad", "--user", "1")),
    "rating-weight-not-positive": Case(
        {"inter.csv": GOOD.replace("1,10,5,1", "1,10,-5,1").replace("2,12,1,4", "2,12,-1,4")},
        ["must be finite and positive", "inter.csv", "interaction_weight: none"],
        {"graph": {"interaction_weight": "rating"}}, ("run", "--config", "{config}")),
    "time-filter-without-timestamps": Case(
        {"inter.csv": GOOD}, ["time_filter needs the interactions' timestamps", "inter.csv",
                              "data.columns.timestamp"],
        {**IDS_ONLY, "teacher": {"components": ["filter", "time_filter"]}},
        ("run", "--config", "{config}")),
    "temporal-split-without-timestamps": Case(
        {"inter.csv": GOOD}, ["split.kind temporal_per_user orders interactions by time",
                              "inter.csv", "data.columns.timestamp"],
        {**IDS_ONLY, "split": {"kind": "temporal_per_user", "valid": 1, "test": 1}},
        ("run", "--config", "{config}")),
    "config-split-count-with-global-cut": Case(
        {"inter.csv": GOOD}, ["split.test is a count", "temporal_global", "share"],
        {"split": {"kind": "temporal_global", "test": 1}}),
    "rating-threshold-without-ratings": Case(
        {"inter.csv": GOOD}, ["data.rating_threshold 4.0 keeps interactions by rating",
                              "inter.csv", "data.columns.rating"],
        {**IDS_ONLY, "data": {"rating_threshold": 4, **IDS_ONLY["data"]}}),
    "rating-threshold-keeps-nothing": Case(
        {"inter.csv": GOOD}, ["No interaction of", "inter.csv", "rated at least 9.0",
                              "data.rating_threshold"], {"data": {"rating_threshold": 9}}),
    "rating-task-without-ratings": Case(
        {"inter.csv": GOOD}, ["task rating predicts ratings", "train.parquet",
                              "data.columns.rating"],
        {**IDS_ONLY, "task": "rating", "evaluation": {"early_stopping_metric": "rmse"},
         "teacher": {"components": ["lightgcn"]}}, ("run", "--config", "{config}")),
    "config-rating-metric-for-ranking": Case(
        {"inter.csv": GOOD}, ["early_stopping_metric mae is a rating metric", "task: rating"],
        {"evaluation": {"early_stopping_metric": "mae"}}),
    "config-prepare-option": Case({"inter.csv": GOOD}, ["prepare_options: num_itemz"],
                                  {"data": {"prepare": "fashion-demo",
                                            "prepare_options": {"num_itemz": 5}}}),
    "stage-before-its-inputs": Case({"inter.csv": GOOD},
                                    ["has no finished 'graph' stage", "(or `mmgraph run`)"],
                                    command=("teacher", "--config", "{config}")),
    "recommend-not-a-run": Case({}, ["has no finished 'index' stage"],
                                command=("recommend", "--run", "{dir}", "--user", "1")),
    "export-not-a-run": Case({}, ["no finished"],
                             command=("export", "--run", "{dir}", "--out", "{dir}/out")),
    "export-into-the-run": Case({"runs/bad/stages.json": "{}"},
                                ["would write into the run directory"],
                                command=("export", "--run", "{dir}/runs/bad", "--out",
                                         "{dir}/runs/bad/index")),
    "export-merge-nothing": Case({}, ["no manifest.rank-*.json"],
                                 command=("export", "--merge", "--out", "{dir}")),
    "config-float32-overflow": Case({"inter.csv": GOOD},
                                    ["teacher", "lr = 1e+300 is outside what a float32"],
                                    {"teacher": {"optim": {"lr": 1e300}}}),
    "config-too-many-layers": Case({"inter.csv": GOOD},
                                   ["teacher.layers: Input should be less than or equal to 64"],
                                   {"teacher": {"layers": 10**15}}),
    "config-name-too-long": Case({"inter.csv": GOOD}, ["name: String should have at most 128"],
                                 {"name": "a" * 300}),
    "text-model-not-a-model": Case(
        {"inter.csv": GOOD, "items.csv": ITEMS, "model/config.json": '{"model_type": "bert"}'},
        ["Could not load text model", "/model", "save_pretrained"],
        {"encoders": {"text": {"model": "{dir}/model"}}}, ("run", "--config", "{config}")),
    "categorical-columns-all-empty": Case(
        {"inter.csv": GOOD, "items.csv": "item_id,genre\n10,\n11,\n12,\n"},
        ["encoders.categorical.columns ['genre'] hold no token"],
        {"encoders": {"categorical": {"columns": ["genre"]}}}, ("run", "--config", "{config}")),
    "rating-weight-too-small": Case(
        {"inter.csv": GOOD.replace("1,10,5,1", "1,10,1e-45,1")},
        ["must be finite and positive (1.18e-38 to 3.4e+38); 1 are not", "1e-45"],
        {"graph": {"interaction_weight": "rating"}}, ("run", "--config", "{config}")),
    "out-of-memory": Case({"inter.csv": GOOD}, ["out of memory", "teacher.dim"],
                          {**IDS_ONLY, "teacher": {"dim": 10**15}},
                          ("run", "--config", "{config}")),
    "bad-argument": Case({}, ["error: mmgraph recommend: argument -k: invalid int value: '2.5'",
                              "mmgraph recommend --help"],
                         command=("recommend", "--run", "{dir}", "--user", "1", "-k", "2.5")),
    "prepare-out-is-a-file": Case({"taken": "a file"}, ["Cannot create the folder", "taken"],
                                  command=("prepare", "ml-100k", "--out", "{dir}/taken")),
    # Valid by design: accepted, and handled as documented.
    "unicode-and-space-ids": Case({"inter.csv": "user_id,item_id\nJosé Ñ,ítem 1\nJosé Ñ,ítem 2\n"
                                   "Zoë,ítem 1\nZoë,ítem 3\n"}, config=IDS_ONLY, ok=True),
    "leading-zero-ids": Case({"inter.csv": "user_id,item_id\n007,1\n7,1\n0007,2\n7,2\n"},
                             config=IDS_ONLY, ok=True),
    "duplicate-interactions": Case({"inter.csv": GOOD + "1,10,5,9\n"}, ok=True),
    "items-nobody-chose": Case({"inter.csv": GOOD, "items.csv": ITEMS + "13,D\n"}, ok=True),
    "user-with-one-interaction": Case({"inter.csv": GOOD + "4,12,3,7\n"}, ok=True),
}


def _fill(value, folder: Path):
    if isinstance(value, str):
        return value.replace("{dir}", str(folder))
    if isinstance(value, dict):
        return {k: _fill(v, folder) for k, v in value.items()}
    return value


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_a_clear_error(name, tmp_path, capsys):
    case = CASES[name]
    for file, content in case.files.items():
        path = tmp_path / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    inter = next((f for f in case.files if f.startswith("inter.")), "inter.csv")
    config = {"name": "bad", "runs_root": str(tmp_path / "runs"),
              "data": {"interactions": str(tmp_path / inter),
                       "items": str(tmp_path / "items.csv") if "items.csv" in case.files
                       else None},
              "encoders": {"text": None},
              "teacher": {"optim": {"epochs": 1}}, "student": {"optim": {"epochs": 1}}}
    merge_nested(config, _fill(case.config, tmp_path))
    (tmp_path / "config.yaml").write_bytes(yaml.safe_dump(config).encode() + case.config_suffix)
    argv = [arg.format(config=tmp_path / "config.yaml", dir=tmp_path) for arg in case.command]
    code = main(["-q", *argv])
    stderr = capsys.readouterr().err
    if case.ok:
        assert code == 0, stderr
        return
    assert code == 2, stderr
    message = stderr.strip()
    assert message.startswith("error: ") and "Traceback" not in stderr
    assert message.count("\nerror:") == 0  # one paragraph
    for fragment in case.fragments:
        assert fragment in message, (fragment, message)


def test_accepted_inputs_are_handled_as_documented(tmp_path):
    """Unicode ids survive; duplicates collapse to one interaction; unchosen items are kept
    (cold, content only); a one-interaction user keeps it in train."""

    (tmp_path / "inter.csv").write_text("user_id,item_id\nJosé Ñ,ítem 1\nJosé Ñ,ítem 1\n"
                                        "Zoë,ítem 2\n007,ítem 1\n7,ítem 2\n")
    (tmp_path / "items.csv").write_text("item_id,title\nítem 1,A\nítem 2,B\nítem 3,C\n")
    config = {"name": "ok", "runs_root": str(tmp_path / "runs"), "encoders": {"text": None},
              "data": {"interactions": str(tmp_path / "inter.csv"),
                       "items": str(tmp_path / "items.csv"),
                       "columns": {"rating": None, "timestamp": None}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["-q", "split", "--config", str(tmp_path / "c.yaml")]) == 0
    run = tmp_path / "runs" / "ok"
    train = pd.read_parquet(run / "splits" / "train.parquet")
    assert sorted(train["user_id"]) == ["007", "7", "José Ñ", "Zoë"] and len(train) == 4
    assert sorted(pd.read_parquet(run / "ids" / "users.parquet")["user_id"]) == [
        "007", "7", "José Ñ", "Zoë"]
    assert pd.read_parquet(run / "ids" / "items.parquet")["item_id"].tolist() == [
        "ítem 1", "ítem 2", "ítem 3"]


def test_docs_list_exactly_these_cases():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text()
    listed = set(re.findall(r"^\| `([a-z0-9-]+)` \|", docs, flags=re.M))
    assert listed == set(CASES), listed ^ set(CASES)
    count = re.search(r"(\d+) bad-input cases", docs)
    assert count and int(count.group(1)) == len(CASES)


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "inter.csv").write_text("")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(
        {"name": "x", "data": {"interactions": str(tmp_path / "inter.csv")}}))
    from mmgraph.errors import DataError

    with pytest.raises(DataError):
        main(["--debug", "split", "--config", str(tmp_path / "c.yaml")])


def test_cleanup_leaves_no_partial_run(tmp_path):
    """A failing split writes no run files: nothing half written to resume from."""
    (tmp_path / "inter.csv").write_text(GOOD.replace("1,11,4,2", "1,11,four,2"))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(
        {"name": "x", "runs_root": str(tmp_path / "runs"),
         "data": {"interactions": str(tmp_path / "inter.csv")}}))
    assert main(["-q", "split", "--config", str(tmp_path / "c.yaml")]) == 2
    run = tmp_path / "runs" / "x"
    assert not (run / "stages.json").exists() and not (run / "splits").exists()
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    import mmgraph.cli

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(mmgraph.cli, "_dispatch", interrupted)
    assert main(["-q", "split", "--config", str(tmp_path / "c.yaml")]) == 130
    assert capsys.readouterr().err == "interrupted; rerun the same command to resume.\n"


def test_a_ctrl_c_after_the_work_is_done_does_not_kill_the_finished_command(monkeypatch):
    """The program ignores Ctrl-C once main returned (only the interpreter's teardown is left):
    a real process interrupted then exits 0, not killed by the signal."""
    import signal

    import mmgraph.cli

    monkeypatch.setattr(mmgraph.cli, "main", lambda: 0)
    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exited:
            mmgraph.cli.entry_point()
        assert exited.value.code == 0 and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("code, advice", [(errno.ENOSPC, "the disk is full"),
                                          (errno.EROFS, "read-only"),
                                          (errno.EACCES, "permission denied"),
                                          (errno.EFBIG, "ulimit -f"),
                                          (errno.ENAMETOOLONG, "too long"),
                                          (errno.EISDIR, "a folder is where"),
                                          (errno.ENOTDIR, "a file is where mmgraph expects"),
                                          (errno.EEXIST, "a file is where mmgraph creates"),
                                          (errno.ELOOP, "a symbolic link")])
def test_machine_problems_are_one_paragraph(tmp_path, capsys, monkeypatch, code, advice):
    """Disk full, read-only or forbidden folders, a file or folder or link in the way: what
    and where, no traceback, exit 2."""
    import mmgraph.cli

    def failing(*_):
        raise OSError(code, os.strerror(code), str(tmp_path / "runs" / "x" / "stages.json"))

    monkeypatch.setattr(mmgraph.cli, "_dispatch", failing)
    assert main(["-q", "split", "--config", str(tmp_path / "c.yaml")]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ") and advice in stderr and "stages.json" in stderr
    assert "Traceback" not in stderr


def test_other_os_errors_stay_tracebacks(tmp_path, monkeypatch):
    """An OSError that is not the machine's (a bug) is not hidden behind a friendly line."""
    import mmgraph.cli

    def failing(*_):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(mmgraph.cli, "_dispatch", failing)
    with pytest.raises(OSError):
        main(["-q", "split", "--config", str(tmp_path / "c.yaml")])


def test_a_run_without_held_out_users_says_its_metrics_are_undefined(tmp_path, capsys):
    """Three users with at most two interactions keep them all in train: the metrics table is
    followed by a sentence saying so, instead of silent zeros."""
    (tmp_path / "inter.csv").write_text(GOOD)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(
        {"name": "tiny", "runs_root": str(tmp_path / "runs"), "encoders": {"text": None},
         "data": {"interactions": str(tmp_path / "inter.csv")},
         "teacher": {"optim": {"epochs": 1}}, "student": {"optim": {"epochs": 1}}}))
    assert main(["-q", "run", "--config", str(tmp_path / "c.yaml")]) == 0
    out = capsys.readouterr().out
    assert "test: no user has a held-out interaction" in " ".join(out.split())
