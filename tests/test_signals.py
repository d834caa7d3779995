"""Ctrl-C (SIGINT) and SIGTERM while a command works: exit 130 / 143 and nothing left behind.

``report`` is started on the project's trial as a real process; the signal is sent once its
staging folder (made in the output folder's nearest existing ancestor) holds files, and once
early, while it is still reading. Afterwards neither the output folder nor a staging folder
may exist, and the folder that would have held them is as it was.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX signals (SIGINT to a process, SIGTERM)"
)

DESIGN = ROOT / "analyses" / "saloheimo2016.toml"
CLI = [sys.executable, "-m", "ipt_outcomes.cli"]


@pytest.fixture(scope="module")
def trial_csv(tmp_path_factory) -> Path:
    """The project's trial, made as a user makes it: ``ipt-outcomes simulate --seed 2016``."""
    path = tmp_path_factory.mktemp("trial") / "trial.csv"
    subprocess.run([*CLI, "simulate", "--seed", "2016", "--quiet", "--out", str(path)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    return path


def _staged_files(parent: Path) -> int:
    return sum(
        1 for stage in parent.glob(".ipt-outcomes-*") for p in stage.rglob("*") if p.is_file()
    )


def _interrupt(args, parent: Path, sig: int, *, when_staged: bool, cwd: Path):
    """Start the command, send ``sig`` (once files are staged, or after 1.5 s), wait for it."""
    proc = subprocess.Popen(
        [*CLI, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 240
        if when_staged:
            while _staged_files(parent) == 0:
                assert proc.poll() is None, "finished before any output was staged"
                assert time.monotonic() < deadline, "no output was staged in time"
                time.sleep(0.05)
        else:
            time.sleep(1.5)
            assert proc.poll() is None
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:  # pragma: no cover - a hung command fails the test, not CI
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


@pytest.mark.parametrize(
    ("sig", "status", "word", "when_staged"),
    [
        (signal.SIGINT, 130, "interrupted", True),
        (signal.SIGTERM, 143, "terminated", True),
        (signal.SIGINT, 130, "interrupted", False),
    ],
    ids=["sigint-while-writing", "sigterm-while-writing", "sigint-while-reading"],
)
def test_report_stopped_by_a_signal_leaves_nothing(trial_csv, tmp_path, sig, status, word,
                                                     when_staged):  # fmt: skip
    parent = tmp_path / "results"
    parent.mkdir()
    (parent / "keep.txt").write_text("the user's own file\n")
    out_dir = parent / "report"
    args = ["report", "--data", str(trial_csv), "--design", str(DESIGN), "--out", str(out_dir)]
    code, out, err = _interrupt(args, parent, sig, when_staged=when_staged, cwd=tmp_path)
    assert code == status, err
    assert f"ipt-outcomes: {word}; nothing was written" in err
    assert "Traceback" not in err
    assert not out_dir.exists()
    assert sorted(p.name for p in parent.iterdir()) == ["keep.txt"]  # no staging folder either
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_signal_into_an_existing_output_folder_keeps_its_old_files(trial_csv, tmp_path):
    """With --out an existing folder the staging folder is inside it; after SIGTERM only the
    files that were there before remain, unchanged."""
    out_dir = tmp_path / "report"
    (out_dir / "tables").mkdir(parents=True)
    old = out_dir / "tables" / "response_rates.csv"
    old.write_text("an older run's table\n")
    args = ["report", "--data", str(trial_csv), "--design", str(DESIGN), "--out", str(out_dir)]
    code, out, err = _interrupt(args, out_dir, signal.SIGTERM, when_staged=True, cwd=tmp_path)
    assert code == 143, err
    assert sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*")) == [
        "tables",
        os.path.join("tables", "response_rates.csv"),
    ]
    assert old.read_text() == "an older run's table\n"


def test_power_simulation_on_worker_processes_stops_cleanly(tmp_path):
    """SIGINT while the simulations run on a process pool: exit 130, no output, no workers."""
    out_dir = tmp_path / "power"
    proc = subprocess.Popen(
        [*CLI, *_LONG_POWER, "--out", str(out_dir)], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        workers = _wait_for_workers(proc)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "interrupted; nothing was written" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    time.sleep(0.5)
    assert [pid for pid in workers if _alive(pid)] == []


#: A power simulation that runs for many seconds on worker processes (about 13 s of CPU here).
_LONG_POWER = ["power", "--rates", "0.42,0.61", "--n-per-arm", "30", "60", "120", "240", "480",
               "960", "--test", "fisher", "--sims", "10000000", "--workers", "2", "--quiet"]  # fmt: skip


def _wait_for_workers(proc, timeout: float = 30.0) -> list[int]:
    """The command's worker processes, once it has started them (the signal then arrives while
    they run, however fast or loaded the machine)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        kids = _children(proc.pid)
        if len(kids) >= 2:
            time.sleep(0.3)
            return _children(proc.pid)
        time.sleep(0.05)
    raise AssertionError("the power command started no worker processes")


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (Linux; [] elsewhere)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:  # a zombie (state Z) has exited
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_ctrl_c_in_a_terminal_stops_the_workers_quietly(tmp_path):
    """A terminal's Ctrl-C reaches the command and its worker processes at once."""
    args = [*_LONG_POWER, "--out", str(tmp_path / "o")]
    proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        _wait_for_workers(proc)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:  # pragma: no cover
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130 and list(tmp_path.iterdir()) == []
    assert "Traceback" not in err, err
