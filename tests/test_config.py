import warnings
from pathlib import Path

import pytest

from mmgraph.config import load_config
from mmgraph.errors import ConfigError

BASE = "name: t\ndata: {interactions: x.csv}\n"


def _write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_defaults_and_overrides(tmp_path):
    cfg = load_config(_write(tmp_path, BASE), overrides={"teacher": {"dim": 8}})
    assert cfg.teacher.dim == 8 and cfg.student.dim == 32 and cfg.split.test == 0.1
    assert str(cfg.run_dir) == "runs/t"


def test_quickstart_config_is_valid():
    cfg = load_config("configs/quickstart.yaml")
    assert cfg.data.prepare == "ml-100k" and cfg.recommend.k == 20


def test_sequential_config_matches_the_benchmarked_row(monkeypatch):
    """configs/sequential.yaml is the quickstart with bench/peers.py's best sequential row
    (temporal split, 1 valid + 1 test per user) applied, nothing else."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    from peers import SEQUENTIAL

    row = SEQUENTIAL["sequential student 32-d via FAISS: next items, item table from the teacher"]
    expected = load_config("configs/quickstart.yaml", overrides={
        "name": "sequential", "split": {"kind": "temporal_per_user", "valid": 1, "test": 1},
        **row})
    assert load_config("configs/sequential.yaml") == expected


def test_rating_config_is_bench_rating_best_student(monkeypatch):
    """configs/rating.yaml is the quickstart with bench/rating.py's rating task and its best
    student (mixed labels, kd_weight 0.5) applied, nothing else."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    from rating import RATING_TASK, STUDENTS

    expected = load_config("configs/quickstart.yaml", overrides={
        "name": "rating", **RATING_TASK, "student": {
            **RATING_TASK["student"], "kd_weight": STUDENTS["mixed labels (0.5)"]}})
    assert load_config("configs/rating.yaml") == expected


def test_multimodal_demo_config_is_valid():
    cfg = load_config("configs/multimodal-demo.yaml")
    assert cfg.data.prepare == "fashion-demo" and cfg.data.prepare_options["num_items"] == 3000
    assert cfg.encoders.image is not None and cfg.encoders.audio is not None


@pytest.mark.parametrize("text, message", [
    (BASE + "teacher: {dimm: 3}\n", r"teacher\.dimm: Extra inputs are not permitted"),
    (BASE + "split: {test: 0.9}\n", r"split\.test 0\.9 is a share and must be below 0\.5"),
    (BASE + "evaluation: {ks: [5], early_stopping_metric: ndcg@20}\n", "early_stopping_metric"),
    (BASE + "teacher: {content: graph, item_graph: false}\n", "needs teacher.item_graph: true"),
    (BASE + "teacher: {content: both}\n", r"teacher\.content: Input should be 'fused'"),
    ("name: t\n", r"data: Field required"),
    ("name: t\ndata: {interactions: x, prepare: fashion-demo, prepare_options: {num_itemz: 3}}\n",
     r"prepare_options: num_itemz: Extra inputs are not permitted"),
    ("name: t\ndata: {interactions: x, prepare: fashion-demo, prepare_options: {num_items: 1}}\n",
     r"prepare_options: num_items: Input should be greater than or equal to 20"),
    ("name: t\ndata: {interactions: x, prepare: ml-100k, prepare_options: {num_items: 50}}\n",
     r"data.prepare 'ml-100k' takes none"),
    ("- a\n- b\n", "must hold a mapping"),
    ("name: [unclosed\n", "not valid YAML"),
])
def test_bad_configs_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, text))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_config_reference_is_in_step_with_the_schema():
    """docs/config.md is what ``python -m mmgraph.config_reference`` writes, and it names
    every key of every section; every key that is not a section has a description."""
    from pydantic import BaseModel

    from mmgraph.config import RunConfig
    from mmgraph.config_reference import config_reference

    reference = config_reference()
    written = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text("utf-8")
    assert written == reference, ("docs/config.md is stale: run `python -m "
                                  "mmgraph.config_reference > docs/config.md`")

    def keys(model: type[BaseModel], prefix: str) -> list[str]:
        found = []
        for name, info in model.model_fields.items():
            found.append(prefix + name)
            sections = [section for section in (info.annotation,
                                                *getattr(info.annotation, "__args__", ()))
                        if isinstance(section, type) and issubclass(section, BaseModel)]
            assert sections or info.description, f"{prefix + name} has no description"
            for section in sections:
                found += keys(section, f"{prefix}{name}.")
        return found

    every_key = keys(RunConfig, "")
    assert len(every_key) > 100
    for key in every_key:
        assert f"| `{key}` |" in reference, key


def test_relative_paths_are_read_from_the_config_files_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "configs"
    folder.mkdir(parents=True)
    (folder / "c.yaml").write_text(
        "name: t\ndata: {interactions: ../data/inter.csv, items: items.csv, "
        "media_root: /abs/media}\n"
        "runs_root: ../runs\n"
        "encoders: {text: {model: ./models/minilm}, image: {model: efficientnet-lite0}}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(folder / "c.yaml", overrides={"encoders": {"cache_dir": "cache"}})
    project = tmp_path / "project"
    assert cfg.data.interactions.resolve() == project / "data" / "inter.csv"
    assert cfg.data.items.resolve() == folder / "items.csv"
    assert cfg.data.media_root == Path("/abs/media")  # absolute: untouched
    assert cfg.runs_root.resolve() == project / "runs"
    assert Path(cfg.encoders.text.model).resolve() == folder / "models" / "minilm"
    assert cfg.encoders.image.model == "efficientnet-lite0"  # a hub or registry name
    assert cfg.encoders.cache_dir == Path("cache")  # overrides: from the current directory
    monkeypatch.chdir(project)  # written relative to the current directory when it can be
    assert str(load_config(folder / "c.yaml").data.interactions) == "data/inter.csv"


def test_a_format_1_config_reads_as_format_2_with_a_warning_naming_the_keys(tmp_path):
    """Format 1 wrote how a model trains beside what it is (``teacher: {dim: 8, lr: 0.1}``);
    it reads as ``teacher.optim`` with a FutureWarning that names the keys to move, and a key
    given in both places is an error naming it."""
    old = BASE + "teacher: {dim: 8, lr: 0.1, propagations_per_epoch: 3}\nstudent: {epochs: 7}\n"
    new = (BASE + "teacher: {dim: 8, optim: {lr: 0.1, propagations_per_epoch: 3}}\n"
           "student: {optim: {epochs: 7}}\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        migrated = load_config(_write(tmp_path, old))
    assert [(w.category, str(w.message).split(" (")[0]) for w in caught] == [
        (FutureWarning, "config: teacher.lr, teacher.propagations_per_epoch now live(s) under "
                        "teacher.optim"),
        (FutureWarning, "config: student.epochs now live(s) under student.optim")]
    assert migrated == load_config(_write(tmp_path, new))
    assert migrated.teacher.optim.lr == 0.1 and migrated.student.optim.epochs == 7
    with pytest.raises(ConfigError, match="teacher.lr is given twice"):
        load_config(_write(tmp_path, BASE + "teacher: {lr: 0.1, optim: {lr: 0.2}}\n"))
