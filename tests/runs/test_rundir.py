import pytest

from mmgraph.errors import RunDirError
from mmgraph.runs import RunDir


def test_stage_is_done_only_with_same_fingerprint_and_outputs(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(RunDirError, match="no finished 'split' stage"):
        run.fingerprint("split")
    (tmp_path / "out.txt").write_text("x")
    run.mark_done("split", "abc")
    assert run.fingerprint("split") == "abc"
    assert run.is_done("split", "abc", ["out.txt"])
    assert not run.is_done("split", "abd", ["out.txt"])
    assert not run.is_done("split", "abc", ["out.txt", "missing.txt"])


def test_a_file_changed_since_its_stage_wrote_it_makes_the_stage_run_again(tmp_path, caplog):
    import os

    run = RunDir(tmp_path)
    (tmp_path / "kept.txt").write_text("before")  # not written by the stage: not its file
    before = run.files()
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.txt").write_text("abc")
    (tmp_path / "features" / "cache").mkdir(parents=True)
    (tmp_path / "features" / "cache" / "shard").write_text("shared")  # a cache: not owned
    run.mark_done("split", "f", before)
    assert set(run._written()["split"]) == {"splits/train.txt"}
    assert run.is_done("split", "f", [])
    (tmp_path / "kept.txt").write_text("changed by someone else")
    (tmp_path / "features" / "cache" / "shard").write_text("grown")
    os.utime(tmp_path / "splits" / "train.txt", ns=(1, 1))  # touched, same bytes: still done
    assert run.is_done("split", "f", [])
    (tmp_path / "splits" / "train.txt").write_text("xyz")  # same size, other bytes
    assert not run.is_done("split", "f", []) and "splits/train.txt changed" in caplog.text
    (tmp_path / "splits" / "train.txt").unlink()
    assert not run.is_done("split", "f", [])


def test_cli_stage_names_match_the_pipeline():
    from mmgraph.cli import STAGE_NAMES
    from mmgraph.pipeline import STAGES

    assert tuple(STAGES) == STAGE_NAMES


def test_stray_temporary_files_are_removed_and_artifacts_kept(tmp_path):
    run = RunDir(tmp_path)
    (tmp_path / "teacher").mkdir()
    (tmp_path / "teacher" / ".model.safetensors.abc123.mmgraph.tmp").write_bytes(b"half")
    (tmp_path / "teacher" / ".notes.tmp").write_bytes(b"not ours")  # never touched
    (tmp_path / "teacher" / "model.safetensors").write_bytes(b"whole")
    assert run.remove_stray_temp_files() == 1
    assert sorted(p.name for p in (tmp_path / "teacher").iterdir()) == [
        ".notes.tmp", "model.safetensors"]
    assert RunDir(tmp_path / "absent").remove_stray_temp_files() == 0
