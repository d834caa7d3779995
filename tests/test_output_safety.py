"""The one writer never replaces what is not a regular file or folder, cleans up after killed
commands, names the path of a write the system refused, and is the only writer (issue 30)."""

from __future__ import annotations

import ast
import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ipt_outcomes import output
from ipt_outcomes.output import (
    OutputError,
    OutputFolder,
    atomic_write,
    check_output_file,
    remove_stale,
    staged_file,
)

from .conftest import ROOT

TABLE = pd.DataFrame({"arm": ["TAU"], "visit": [3.0], "n": [1]})
posix = pytest.mark.skipif(os.name != "posix", reason="POSIX links, pipes and devices")


def _unchanged_device(path: str) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


# --- outputs never replace links, devices, pipes -----------------------------------------------


@posix
def test_dev_null_is_refused_as_an_output_file_and_folder_and_stays_a_device(run_cli, tmp_path):
    with pytest.raises(OutputError, match="/dev/null: is a device, not a regular file"):
        check_output_file("/dev/null")
    with pytest.raises(OutputError, match="is a device"):
        OutputFolder("/dev/null").check()
    code, out, err = run_cli("simulate", "--seed", "1", "--out", "/dev/null", "--quiet")
    assert code == 1 and "is a device" in err and "Traceback" not in err
    code, out, err = run_cli("grim", "--percent", "61", "--n", "27", "--out", "/dev/null")
    assert code == 1 and "is a device" in err
    assert _unchanged_device("/dev/null")


@posix
def test_a_link_as_an_output_file_is_refused_and_neither_link_nor_target_changes(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("precious\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    with pytest.raises(OutputError, match="is a symbolic link"), atomic_write(link) as fh:
        fh.write("new\n")
    assert link.is_symlink() and target.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real.csv"]


@posix
def test_a_link_as_the_output_folder_is_refused_before_any_work(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "out"
    link.symlink_to(real)
    with pytest.raises(OutputError, match=f"is a symbolic link .*give the real path \\({real}"):
        OutputFolder(link).check()
    dangling = tmp_path / "gone"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError, match="is a symbolic link"):
        OutputFolder(dangling).check()


@posix
def test_a_named_pipe_as_an_output_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(OutputError, match="is a named pipe"):
        check_output_file(fifo)
    with pytest.raises(OutputError, match="is a named pipe"):
        OutputFolder(fifo).check()
    assert time.monotonic() - started < 5 and stat.S_ISFIFO(os.lstat(fifo).st_mode)


@posix
def test_a_link_among_the_outputs_is_refused_before_anything_moves(tmp_path):
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.csv").symlink_to(elsewhere)
    refused = pytest.raises(OutputError, match="b.csv: is a symbolic link")
    with refused, OutputFolder(out) as folder:
        folder.write_table("a", TABLE)
        folder.write_table("b", TABLE)
    assert elsewhere.read_text() == "precious\n"
    assert sorted(p.name for p in out.iterdir()) == ["b.csv"]  # a.csv not moved either


@posix
def test_a_linked_subfolder_of_the_outputs_is_not_written_through(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "tables").symlink_to(elsewhere)
    refused = pytest.raises(OutputError, match="tables: is a symbolic link")
    with refused, OutputFolder(out) as folder:
        folder.write_tables({"t": TABLE}, "tables")
    assert list(elsewhere.iterdir()) == []


# --- leftovers of killed commands ---------------------------------------------------------------

HOLD = """
import sys, time
from ipt_outcomes.output import OutputFolder, atomic_write
base = sys.argv[1]
folder = OutputFolder(base + "/out").__enter__()
(folder.stage / "half.csv").write_text("half")
cm = atomic_write(base + "/trial.csv")
fh = cm.__enter__()
fh.write("half a trial")
fh.flush()
print("ready", flush=True)
time.sleep(120)
"""


def _holder(tmp_path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "ipt-outcomes" in p.name)


@posix
def test_leftovers_of_a_killed_command_are_removed_by_the_next_one(tmp_path):
    proc = _holder(tmp_path)
    try:
        assert len(_leftovers(tmp_path)) == 2  # a staging folder and a temporary file
        assert remove_stale(tmp_path) == []  # its command still runs: kept
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(_leftovers(tmp_path)) == 2  # kill -9 leaves them
    (tmp_path / ".ipt-outcomes-notes").write_text("not ours")  # not our pattern
    (tmp_path / ".x.tmp").write_text("not ours either")
    with OutputFolder(tmp_path / "next") as folder:  # the next command in the same place
        folder.write_table("t", TABLE)
    assert _leftovers(tmp_path) == [".ipt-outcomes-notes"]
    assert (tmp_path / ".x.tmp").exists() and (tmp_path / "next" / "t.csv").exists()
    assert not (tmp_path / "trial.csv").exists()


@posix
def test_leftovers_are_removed_by_a_file_output_too(tmp_path):
    proc = _holder(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with atomic_write(tmp_path / "other.csv") as fh:
        fh.write("x\n")
    assert _leftovers(tmp_path) == []


def test_an_unlocked_leftover_of_an_older_version_is_removed_only_when_old(tmp_path):
    stage = tmp_path / ".ipt-outcomes-abcd1234"
    stage.mkdir()
    assert remove_stale(tmp_path) == []
    old = time.time() - output.UNLOCKED_AGE - 10
    os.utime(stage, (old, old))
    assert remove_stale(tmp_path) == [stage] and not stage.exists()


# --- a write the system refuses names its path ---------------------------------------------------


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_names_the_table_being_written(tmp_path, monkeypatch):
    monkeypatch.setattr(output, "write_csv", _disk_full)
    out = tmp_path / "out"
    with pytest.raises(OutputError) as info, OutputFolder(out) as folder:
        folder.write_table("response_rates", TABLE)
    text = str(info.value)
    assert f"{out / 'response_rates.csv'}: cannot write (No space left on device)" in text
    assert "free some space" in text
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_names_the_file_being_written(tmp_path):
    target = tmp_path / "trial.csv"
    refused = pytest.raises(OutputError, match=f"{target}: cannot write \\(No space left on")
    with refused, atomic_write(target):
        _disk_full()
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_a_figure_is_staged_names_the_output_folder(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(OutputError, match=f"output folder {out}: cannot write"), OutputFolder(out):
        _disk_full()
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_cli_message_has_a_path(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(output, "write_csv", _disk_full)
    code, out, err = run_cli("grim", "--percent", "61", "--n", "27", "--out", tmp_path / "o")
    assert code == 1 and f"{tmp_path / 'o' / 'grim.csv'}: cannot write" in err


# --- staged files -------------------------------------------------------------------------------


def test_a_staged_file_is_whole_or_absent(tmp_path):
    target = tmp_path / "figure.png"
    target.write_text("old")
    with pytest.raises(RuntimeError), staged_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("drawing failed")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    with staged_file(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and "ipt-outcomes" in tmp.name
        tmp.write_text("new")
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]


# --- one writer ---------------------------------------------------------------------------------


def test_output_py_is_the_only_module_that_renames_files_into_place():
    """Temporary-file-then-rename lives in output.py only (figures, RTF, HTML and PDF use
    staged_file); other modules may use a temporary folder of their own (Chromium's profile)."""
    offenders = []
    for path in sorted((ROOT / "src" / "ipt_outcomes").rglob("*.py")):
        if path.name == "output.py" and path.parent.name == "ipt_outcomes":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                on = node.func.value
                base = on.id if isinstance(on, ast.Name) else ""
                if name in ("mkstemp", "mkdtemp", "NamedTemporaryFile") or (
                    name in ("replace", "rename") and base in ("os", "Path")
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {base}.{name}")
                if name in ("replace", "rename") and len(node.args) == 1 and not node.keywords:
                    arg = node.args[0]
                    literal = (ast.Constant, ast.Dict, ast.List, ast.Set, ast.Lambda)
                    if not isinstance(arg, literal) and base not in ("os",):
                        # path.replace(other): a rename (str.replace takes two arguments)
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{name}(...)")
    assert offenders == []


def test_provenance_gets_the_formula_guard_as_every_table():
    """report.py writes provenance.csv through OutputFolder.write_table (the guard), not by
    hand."""
    text = (ROOT / "src" / "ipt_outcomes" / "cli" / "report.py").read_text(encoding="utf-8")
    assert 'out.write_table("provenance", prov)' in text
    assert ".to_csv(" not in text
    guarded = output.neutralise_formulas(pd.DataFrame({"key": ["=cmd"], "value": ["@x"]}))
    assert guarded.iloc[0].tolist() == ["'=cmd", "'@x"]
