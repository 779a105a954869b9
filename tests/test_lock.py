"""One writer per folder: a second process is refused at once with the holder's name, the lock
nests inside one process, and it dies with a killed holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from mmgraph.cli import main
from mmgraph.errors import RunDirError
from mmgraph.lock import LOCK_NAME, exclusive_writer

HOLDER = """
import sys, time
from mmgraph.lock import exclusive_writer
with exclusive_writer(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding ``tmp_path / "run"``'s lock until the test ends."""
    folder = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    yield folder, process
    process.kill()
    process.wait()


def test_a_second_writer_is_refused_at_once_naming_the_holder(holder):
    folder, process = holder
    start = time.perf_counter()
    with pytest.raises(RunDirError, match=f"being written by process {process.pid} on "):
        with exclusive_writer(folder):
            pytest.fail("entered a locked folder")
    assert time.perf_counter() - start < 1.0


def test_the_cli_refuses_a_locked_run_with_exit_2(holder, tmp_path, capsys):
    folder, process = holder
    (tmp_path / "inter.csv").write_text("user_id,item_id\n1,2\n1,3\n")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(
        {"name": "run", "runs_root": str(tmp_path), "data": {
            "interactions": str(tmp_path / "inter.csv"),
            "columns": {"rating": None, "timestamp": None}}}))
    start = time.perf_counter()
    assert main(["-q", "run", "--config", str(tmp_path / "c.yaml")]) == 2
    assert time.perf_counter() - start < 1.0
    stderr = capsys.readouterr().err
    assert f"process {process.pid}" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in folder.iterdir()) == [LOCK_NAME, f"{LOCK_NAME}.json"]


def test_the_lock_nests_in_one_process_and_is_released(tmp_path):
    with exclusive_writer(tmp_path):
        with exclusive_writer(tmp_path / "."):  # the same folder: nests
            pass
        assert (tmp_path / f"{LOCK_NAME}.json").is_file()
    assert not (tmp_path / f"{LOCK_NAME}.json").exists()
    with exclusive_writer(tmp_path):  # free again
        pass


def test_a_killed_holder_leaves_no_stale_lock(holder):
    folder, process = holder
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with exclusive_writer(folder):  # the OS released it with the process
        pass


def _tree(folder) -> dict:
    """Every file's bytes under ``folder`` but the lock's and the measured timings."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(LOCK_NAME) and p.name != "timings.json"}


def test_two_concurrent_runs_one_proceeds_and_the_result_equals_a_solo_run(tmp_path):
    """The issue's goal, end to end: two `mmgraph run` processes on one fresh run directory;
    exactly one proceeds, the other exits 2 within a second, and the finished directory equals
    a solo run's byte for byte (measured timings apart)."""
    rng = __import__("numpy").random.default_rng(0)
    rows = [f"u{u},i{i}" for u in range(30) for i in rng.choice(20, 6, replace=False)]
    (tmp_path / "inter.csv").write_text("user_id,item_id\n" + "\n".join(rows) + "\n")
    config = {"name": "run", "runs_root": str(tmp_path / "runs"), "encoders": {"text": None},
              "data": {"interactions": str(tmp_path / "inter.csv")},
              "teacher": {"dim": 8, "optim": {"epochs": 2}},
              "student": {"dim": 4, "optim": {"epochs": 2}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "mmgraph", "-q", "run", "--config", str(tmp_path / "c.yaml")]
    subprocess.run(command, check=True, capture_output=True)
    solo = _tree(tmp_path / "runs" / "run")
    (tmp_path / "runs" / "run").rename(tmp_path / "solo")
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # past the imports: it holds the lock
    start = time.perf_counter()
    second = subprocess.run(command, capture_output=True, text=True)
    took = time.perf_counter() - start
    assert first.wait() == 0, first.stderr.read()
    assert second.returncode == 2 and took < 1.0, (took, second.stderr)
    assert second.stderr.startswith("error: ") and "being written by process" in second.stderr
    assert _tree(tmp_path / "runs" / "run") == solo


def test_planted_symbolic_links_are_refused_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in (LOCK_NAME, f"{LOCK_NAME}.json"):
        folder = tmp_path / name.strip(".")
        folder.mkdir()
        (folder / name).symlink_to(victim)
        with pytest.raises(OSError) as raised:
            with exclusive_writer(folder):
                pytest.fail("wrote through a link")
        assert raised.value.errno == __import__("errno").ELOOP
    assert victim.read_text() == "precious"
