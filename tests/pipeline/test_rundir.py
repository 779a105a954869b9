import pytest

from mmgraph.errors import RunDirError
from mmgraph.pipeline import RunDir


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
