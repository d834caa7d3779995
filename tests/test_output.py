"""The one writer (ipt_outcomes.output): whole or nothing, never over an input, usual modes."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from ipt_outcomes.output import (
    OutputError,
    OutputFolder,
    atomic_write,
    check_output_file,
    committed,
    reset_committed,
)

TABLE = pd.DataFrame({"arm": ["TAU"], "visit": [3.0], "n": [1]})


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def _open_to_others(path: Path) -> bool:
    """Whether every folder from / down to path may be entered by any user (o+x)."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


@pytest.fixture
def shared_tmp():
    """A temporary folder that other users may enter (pytest's tmp_path is the owner's only).

    Made where every parent folder is open to others, whatever TMPDIR says (a private TMPDIR
    would make any folder under it unreachable for another user, for the wrong reason)."""
    bases = [Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")]
    base = next((b for b in bases if b.is_dir() and _open_to_others(b)), None)
    if base is None:
        pytest.skip("no temporary folder that other users may enter")  # pragma: no cover
    path = Path(tempfile.mkdtemp(prefix="ipt-outcomes-test-", dir=base))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for p in path.rglob("*"):
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(path)


# --- OutputFolder ---------------------------------------------------------------------------


def test_outputs_appear_only_when_the_block_succeeds(tmp_path):
    out = tmp_path / "a" / "b"
    with OutputFolder(out) as folder:
        folder.write_table("t", TABLE)
        folder.path("figures/f.txt").write_text("x")
        assert not out.exists()  # staged, not yet in place
        (stage,) = tmp_path.glob(".ipt-outcomes-*")  # in the nearest existing ancestor
        assert folder.stage == stage
    assert _tree(out) == ["figures", "figures/f.txt", "t.csv"]
    assert _tree(tmp_path) == ["a", "a/b", "a/b/figures", "a/b/figures/f.txt", "a/b/t.csv"]


@pytest.mark.parametrize("stop", [RuntimeError("a bug"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_command_leaves_nothing(tmp_path, stop):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(type(stop)), OutputFolder(tmp_path / "out") as folder:
        folder.write_table("t", TABLE)
        raise stop
    assert _tree(tmp_path) == ["keep.txt"]


def test_an_existing_output_folder_keeps_its_files_when_the_command_fails(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "t.csv").write_text("old")
    with pytest.raises(ValueError), OutputFolder(out) as folder:
        folder.write_table("t", TABLE)
        raise ValueError("failed")
    assert _tree(out) == ["t.csv"] and (out / "t.csv").read_text() == "old"


def test_an_output_that_would_replace_an_input_is_refused_when_named(tmp_path):
    """Issue 19 case 1: the input sits in --out under an output table's name."""
    out = tmp_path / "s"
    out.mkdir()
    data = out / "response_rates.csv"
    data.write_text("subject_id,arm,visit,hamd17\n")
    refused = pytest.raises(OutputError, match="would overwrite the input file")
    with refused, OutputFolder(out, inputs=[data]) as folder:
        folder.write_table("response_rates", TABLE)
        pytest.fail("the refusal must come when the output is named")  # pragma: no cover
    assert data.read_text() == "subject_id,arm,visit,hamd17\n"
    assert _tree(tmp_path) == ["s", "s/response_rates.csv"]


def test_a_file_written_straight_into_the_stage_over_an_input_is_refused_at_commit(tmp_path):
    """Outputs written into ``folder.stage`` directly (figures) are checked before any move."""
    out = tmp_path / "D"
    (out / "tables").mkdir(parents=True)
    data = out / "tables" / "trial.csv"
    data.write_text("input")
    refused = pytest.raises(OutputError, match="would overwrite the input file")
    with refused, OutputFolder(out, inputs=[data]) as folder:
        folder.write_table("a", TABLE)
        (folder.stage / "tables").mkdir()
        (folder.stage / "tables" / "trial.csv").write_text("output")
    assert data.read_text() == "input"
    assert _tree(out) == ["tables", "tables/trial.csv"]  # not even a.csv was moved


@pytest.mark.parametrize(
    ("make", "target", "message"),
    [
        (lambda d: (d / "f").write_text("x"), "f", "is a file, not a folder"),
        (lambda d: (d / "f").write_text("x"), "f/sub", "f is a file, not a folder"),
        (lambda d: (d / "out" / "t.csv").mkdir(parents=True), "out", "a folder is in the way"),
    ],
    ids=["out-is-a-file", "out-under-a-file", "folder-in-the-way"],
)
def test_unusable_output_folders_are_refused_with_a_message(tmp_path, make, target, message):
    make(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(OutputError, match=message), OutputFolder(tmp_path / target) as folder:
        folder.write_table("t", TABLE)
    assert _tree(tmp_path) == before


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="Linux /proc")
def test_a_folder_that_cannot_be_created_is_refused_before_any_work():
    refused = pytest.raises(OutputError, match="cannot write in /proc")
    with refused, OutputFolder("/proc/ipt-outcomes-test/out"):
        pytest.fail("refused on entry")  # pragma: no cover


def test_os_access_says_what_the_real_user_may_do(tmp_path):
    """Why the checks use os.access: it answers for the real user, and root may write in a
    0555 folder (so a root run writes there, as any root program would)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    assert os.access(ro, os.W_OK) == is_root


def test_a_read_only_folder_is_refused_by_its_permissions(tmp_path, monkeypatch):
    """Permission checks use os.access (the real user's rights; see the next test for root)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == ro else real(p, m))
    with pytest.raises(OutputError, match="permission denied"), OutputFolder(ro / "out"):
        pass  # pragma: no cover
    with pytest.raises(OutputError, match="permission denied"), atomic_write(ro / "x.csv"):
        pass  # pragma: no cover
    assert list(ro.iterdir()) == []


# The command line run by a user without rights. The interpreter starts as the test's own user
# and first runs the same command into a scratch folder of its own, so that every module the
# command needs (the package's and the libraries' lazy imports) is loaded while it can read
# them: the checkout may be in a private folder, e.g. root's home, where another user could not
# even import the package. As root it then gives up root for good (uid and gid 65534, nobody,
# no supplementary groups), so every check the command makes is the kernel's answer for that
# user; not root, the user already is one for whom 0555 is read-only. It checks its footing
# (it may enter both folders and write in only one) and runs the command.
AS_UNPRIVILEGED = """
import contextlib, io, os, shutil, sys, tempfile
from pathlib import Path
from ipt_outcomes.cli import main
ro, rw, args = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
scratch = tempfile.mkdtemp()
warm = list(args)
warm[warm.index("--out") + 1] = os.path.join(scratch, Path(args[args.index("--out") + 1]).name)
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as e:
    if main(warm) != 0:
        sys.exit("warm-up run failed: " + e.getvalue())
shutil.rmtree(scratch)
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    assert os.getuid() == os.geteuid() == 65534 and os.getgroups() == []
footing = (os.access(ro, os.X_OK), os.access(ro, os.W_OK), os.access(rw, os.W_OK | os.X_OK))
if footing != (True, False, True):
    sys.exit(f"footing: may enter ro, write in ro, write in rw = {footing}")
sys.exit(main(args))
"""


def _as_unprivileged(ro: Path, rw: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", AS_UNPRIVILEGED, str(ro), str(rw), *args],
                          capture_output=True, text=True, cwd="/", timeout=300)  # fmt: skip


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="needs POSIX users (os.setuid)")
def test_a_read_only_folder_is_refused_for_a_real_unprivileged_user(shared_tmp):
    """Root passes every permission check (os.access says yes to a 0555 folder), so as root the
    command line runs as the unprivileged user nobody, for whom 0555 really is read-only; the
    same user writes in a 0777 folder, so the refusal is the folder's doing and nothing else."""
    ro, rw = shared_tmp / "ro", shared_tmp / "rw"
    ro.mkdir()
    ro.chmod(0o555)
    rw.mkdir()
    rw.chmod(0o777)
    for cmd, folder in (
        (["grim", "--percent", "61", "--n", "27", "--out", str(ro / "x")], ro),
        (["simulate", "--seed", "1", "--quiet", "--out", str(ro / "t.csv")], ro),
    ):
        proc = _as_unprivileged(ro, rw, *cmd)
        assert proc.returncode == 1, proc.stderr
        assert f"cannot write in {folder} (permission denied)" in proc.stderr, proc.stderr
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
        assert list(ro.iterdir()) == []
    proc = _as_unprivileged(ro, rw, "grim", "--percent", "61", "--n", "27", "--out", rw / "x")
    assert proc.returncode == 0, proc.stderr
    assert (rw / "x" / "grim.csv").is_file()
    if os.geteuid() == 0:
        assert (rw / "x" / "grim.csv").stat().st_uid == 65534  # written by nobody, not root


def test_outputs_get_the_usual_modes(tmp_path, umask_027):
    """Issue 19 case 7: every output file 0666 & ~umask, every new folder 0777 & ~umask (never
    the 0600 / 0700 of a temporary file or folder)."""
    with OutputFolder(tmp_path / "out") as folder:
        folder.write_table("t", TABLE)
        with folder.path("provenance.csv").open("w") as fh:
            fh.write("key,value\n")
        (folder.stage / "figures").mkdir()
        (folder.stage / "figures" / "f.png").write_bytes(b"png")
    with atomic_write(tmp_path / "new" / "trial.csv") as fh:
        fh.write("x\n")
    for p in [*(tmp_path / "out").rglob("*"), *(tmp_path / "new").rglob("*")]:
        expected = 0o750 if p.is_dir() else 0o640
        assert stat.S_IMODE(p.stat().st_mode) == expected, p
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o750


def test_committed_lists_what_was_moved_into_place(tmp_path):
    reset_committed()
    with OutputFolder(tmp_path / "out") as folder:
        folder.write_table("t", TABLE)
        assert committed() == []
    assert committed() == [tmp_path / "out" / "t.csv"]
    reset_committed()


# --- atomic_write ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["newdir/", "existing"], ids=["trailing-slash", "a-folder"])
def test_a_file_output_naming_a_folder_is_refused(tmp_path, name):
    (tmp_path / "existing").mkdir()
    refused = pytest.raises(OutputError, match="names a folder; give the name of the file")
    with refused, atomic_write(f"{tmp_path}/{name}"):
        pass  # pragma: no cover
    assert _tree(tmp_path) == ["existing"]


def test_atomic_write_keeps_an_old_file_and_makes_no_folder_on_failure(tmp_path):
    old = tmp_path / "t.csv"
    old.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(old) as fh:
        fh.write("half")
        raise RuntimeError
    with pytest.raises(KeyboardInterrupt), atomic_write(tmp_path / "a" / "b" / "t.csv") as fh:
        fh.write("half")
        raise KeyboardInterrupt
    assert _tree(tmp_path) == ["t.csv"] and old.read_text() == "old"


def test_atomic_write_refuses_an_input_and_a_path_under_a_file(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("input")
    with pytest.raises(OutputError, match="would overwrite the input file"):
        check_output_file(tmp_path / "." / "data.csv", inputs=[data])
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output_file(data / "x.toml")
    assert data.read_text() == "input"
