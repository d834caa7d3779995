"""The one writer of output files: whole or not at all, never over an input.

* :func:`atomic_write` - one text file, written to a temporary file beside the target and
  renamed into place when the block succeeds.
* :class:`OutputFolder` - everything a command writes into ``--out``: files are staged in a
  temporary folder beside the target and moved into place only when the whole command has
  succeeded, so an error, Ctrl-C or SIGTERM leaves nothing half-written, and a target that is
  one of the command's inputs is refused before anything is moved.
* :func:`staged_file` - a temporary path beside a file, renamed onto it when the block succeeds
  (for writers that want a path: figures, RTF, HTML, Chromium's PDF).
* :func:`write_csv` - how every table is written (UTF-8, LF, visits as written, text cells that a
  spreadsheet would run as formulas neutralised).

Files get the usual permissions (0666 less the umask) and new folders 0777 less the umask, as
any other file the user makes. While outputs are renamed into place (milliseconds), Ctrl-C and
SIGTERM are held back, so that a command's outputs are either all old or all new.

Outputs replace only regular files and folders: an output path that is a symbolic link, a
device (``/dev/null``), a named pipe or a socket is refused before any work, never replaced. A
staging folder or temporary file carries ``ipt-outcomes`` in its name and is locked (``flock``)
while its command runs; one left behind by a killed command (``kill -9``, a power cut) is
removed by the next command that writes beside it. A write the system refuses (a full disk, a
quota) names the path it was writing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path

from .exceptions import IptOutcomesError

__all__ = [
    "atomic_write",
    "staged_file",
    "remove_stale",
    "check_output_file",
    "neutralise_formulas",
    "write_csv",
    "OutputFolder",
    "OutputError",
    "committed",
    "reset_committed",
]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class OutputError(IptOutcomesError):
    """An output path cannot be used (a file where a folder is needed, unwritable, an input)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _usual_mode(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666 & ~_umask())


def neutralise_formulas(frame):
    """Text cells that a spreadsheet would run as a formula get a leading apostrophe.

    Cells of text columns starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are
    prefixed with ``'`` (the OWASP advice against CSV injection); numeric columns are untouched.
    Returns a copy.
    """
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            mask = s.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START))
            if mask.any():
                out[col] = s.where(~mask, "'" + s.astype(str))
    return out


def write_csv(frame, handle) -> None:
    """Write a table as every output table is written: visits as the user wrote them (3, 1.5 -
    not 3.0), formulas neutralised, UTF-8 with LF line ends, no index."""
    import pandas as pd

    out = frame.copy()
    for col in ("visit", "visit2"):
        if col in out.columns and pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{float(v):g}")
    neutralise_formulas(out).to_csv(handle, index=False, lineterminator="\n")


def _check_target(path: Path, what: str) -> None:
    """Refuse a path with a file where one of its folders should be."""
    for parent in [*reversed(path.parents)]:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"{what} {path}: {parent} is a file, not a folder")


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists():
        p = p.parent
    return p


def _writable(folder: Path, what: str, path) -> None:
    """Refuse early (before any work is staged) a folder the user cannot write in."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path}: cannot write in {folder} (permission denied)")


def _names_a_folder(raw: str) -> bool:
    return raw.endswith(("/", os.sep)) or (os.altsep is not None and raw.endswith(os.altsep))


def _kind(mode: int) -> str | None:
    """What a path is when it is neither a regular file nor a folder (None when it is one)."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse_special(path: Path, what: str) -> None:
    """Refuse an output path that exists as a link, a device, a pipe or a socket: outputs
    replace only regular files (and write into folders)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # absent, or under a file (said elsewhere)
        return
    except OSError as exc:
        raise OutputError(f"{what} {path}: cannot be used ({exc.strerror or exc})") from None
    kind = _kind(mode)
    if kind is None:
        return
    if stat.S_ISLNK(mode):
        target = os.readlink(path)
        raise OutputError(
            f"{what} {path}: is a symbolic link (to {target}); outputs never replace a link or "
            f"write through one: give the real path ({os.path.realpath(path)}) or remove the link"
        )
    raise OutputError(
        f"{what} {path}: is {kind}, not a regular file; outputs replace only files this tool "
        "could have written: give another name"
    )


def _write_error(exc: OSError, path) -> OutputError:
    """An output the system refused to write (a full disk, a quota, a read-only disk), naming
    the path, which the system's own message does not."""
    reason = exc.strerror or str(exc)
    hint = {
        errno.ENOSPC: "; free some space or write elsewhere with --out",
        errno.EDQUOT: "; your disk quota is used up: free some space or write elsewhere",
        errno.EROFS: "; the disk is read-only: write elsewhere with --out",
    }.get(exc.errno, "")
    return OutputError(f"{path}: cannot write ({reason}){hint}")


# --- leftovers of killed commands --------------------------------------------------------------

#: Staging folders are ``.ipt-outcomes-XXXXXXXX`` with a ``.lock`` file inside; temporary files
#: are ``.NAME.ipt-outcomes-XXXXXXXX.tmp[.ext]``.
STAGE_PREFIX = ".ipt-outcomes-"
LOCK_NAME = ".lock"
_TEMP = re.compile(r"^\..+\.ipt-outcomes-[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")
_STAGE = re.compile(r"^\.ipt-outcomes-[A-Za-z0-9_]{8}$")
#: A leftover without a lock (made by an older version, or killed between making its folder
#: and locking it, microseconds) is removed only when it is older than this (seconds).
UNLOCKED_AGE = 3600


def _lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no leftovers are ever removed
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _stale(path: Path, lock: Path) -> bool:
    """Whether ``path`` (a staging folder whose lock file is ``lock``, or a temporary file that
    is its own lock) was left by a command that no longer runs: its lock is free and it was
    locked once (a lock file holds its process id; a temporary file has content), or it is
    old."""
    try:
        fd = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        try:  # no lock file: only an old leftover is removed
            return time.time() - os.lstat(path).st_mtime > UNLOCKED_AGE
        except OSError:
            return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode) or not _lock(fd):
            return False
        st = os.fstat(fd)
        return st.st_size > 0 or time.time() - st.st_mtime > UNLOCKED_AGE
    finally:
        os.close(fd)


def remove_stale(folder: str | Path) -> list[Path]:
    """Remove the staging folders and temporary files that killed commands left in ``folder``
    (only this tool's, recognised by name, and only when no running command holds their lock);
    returns what was removed. Errors are ignored: a leftover that cannot be removed harms
    nothing."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            if _STAGE.match(entry.name) and entry.is_dir(follow_symlinks=False):
                if _stale(path, path / LOCK_NAME):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
            elif (
                _TEMP.match(entry.name)
                and entry.is_file(follow_symlinks=False)
                and _stale(path, path)
            ):
                path.unlink(missing_ok=True)
                removed.append(path)
        except OSError:
            continue
    return removed


def _make_stage(base: Path) -> tuple[Path, int]:
    """A new staging folder in ``base`` and the descriptor of its lock, held while it lives."""
    stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=base))
    fd = os.open(stage / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    _lock(fd)
    os.write(fd, f"{os.getpid()}\n".encode())
    return stage, fd


@contextlib.contextmanager
def staged_file(path: str | Path):
    """A temporary path beside ``path`` (same folder, same extension), renamed onto ``path``
    when the block succeeds and removed when it fails, so that ``path`` is whole or absent.

    For writers that need a path rather than an open file (figures, Chromium's PDF). The
    temporary file is locked while the block runs; one left by a killed process is removed by
    :func:`remove_stale`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "figure.svg"
    >>> with staged_file(target) as tmp:
    ...     _ = tmp.write_text("<svg/>")
    >>> target.read_text(), [p.name for p in target.parent.iterdir()]
    ('<svg/>', ['figure.svg'])
    """
    path = Path(path)
    _refuse_special(path, "output")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.ipt-outcomes-", suffix=f".tmp{path.suffix}",
                                    dir=path.parent)  # fmt: skip
    except OSError as exc:
        raise _write_error(exc, path) from None
    tmp = Path(name)
    try:
        _lock(fd)
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.filename not in (None, name, tmp):
            raise
        raise _write_error(exc, path) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        os.close(fd)


def check_output_file(path: str | Path, inputs=()) -> Path:
    """Refuse, before any work is done, an output file that :func:`atomic_write` could not
    write: a folder (existing, or named with a trailing ``/``), a path with a file among its
    folders, one of ``inputs``, or a place the user cannot write in. Returns the nearest
    existing folder (where the temporary file goes)."""
    raw = os.fspath(path)
    path = Path(raw)
    _refuse_special(path, "output file")
    if _names_a_folder(raw) or path.is_dir():
        raise OutputError(
            f"{raw}: names a folder; give the name of the file to write (e.g. {path / 'trial.csv'})"
        )
    _check_target(path, "output file")
    _refuse_inputs([path], inputs)
    base = _existing_ancestor(path.parent)
    _writable(base, "output file", raw)
    remove_stale(base)
    return base


@contextlib.contextmanager
def atomic_write(path: str | Path, *, newline: str = "", encoding: str = "utf-8", inputs=()):
    """Open a text file for writing that appears at ``path`` only if the block succeeds.

    The text is written to a temporary file in the nearest existing folder of ``path``, and
    only when the block succeeds are missing parent folders created and the file renamed into
    place; on any error (or interruption) the temporary file is removed and nothing else is
    left: no new folder, and an existing file at ``path`` is as it was. A ``path`` that names
    a folder (exists as one, or ends in ``/``), has a file among its folders or is one of
    ``inputs`` is refused before anything is written.
    """
    raw = os.fspath(path)
    path = Path(raw)
    base = check_output_file(raw, inputs)
    try:
        with _signals_held():
            fd, tmp = tempfile.mkstemp(
                prefix=f".{path.name}.ipt-outcomes-", suffix=".tmp", dir=base
            )
            _lock(fd)  # released when the file is closed: a leftover is then seen as one
    except OSError as exc:
        raise OutputError(f"{raw}: cannot write here ({exc.strerror or exc})") from None
    try:
        try:
            with os.fdopen(fd, "w", newline=newline, encoding=encoding) as fh:
                yield fh
        except OSError as exc:  # the disk is full, a quota: say which file
            if exc.filename not in (None, tmp):
                raise
            raise _write_error(exc, raw) from None
        _usual_mode(Path(tmp))
        with _signals_held():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, path)
            except OSError as exc:
                raise OutputError(f"{raw}: cannot write here ({exc.strerror or exc})") from None
            _COMMITTED.append(path)
    except BaseException:
        with _signals_held(), contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


#: Outputs moved into place in this process (so that an interruption right after a command
#: finished writing is not reported as "nothing was written").
_COMMITTED: list[Path] = []


def committed() -> list[Path]:
    """Outputs this process has moved into place (see :func:`reset_committed`)."""
    return list(_COMMITTED)


def reset_committed() -> None:
    _COMMITTED.clear()


@contextlib.contextmanager
def _signals_held():
    """Hold Ctrl-C and SIGTERM while outputs are moved into place (a few renames), so that an
    interruption can never leave some outputs new and others old; a signal that arrived
    meanwhile is delivered afterwards."""
    import signal
    import threading

    sigs = {signal.SIGINT, signal.SIGTERM}
    if hasattr(signal, "SIGHUP"):
        sigs.add(signal.SIGHUP)
    held = (
        hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    )
    if held:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        if held:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:  # pragma: no cover - racing deletions
        return False
    return a.absolute().resolve() == b.absolute().resolve()


def _refuse_inputs(targets, inputs) -> None:
    for t in targets:
        for i in inputs:
            if i is not None and _same(Path(t), Path(i)):
                raise OutputError(
                    f"{t}: this output would overwrite the input file {i}; choose another output folder"
                )


class OutputFolder:
    """Stage a command's outputs and move them into ``out_dir`` only when everything succeeded.

    Parameters
    ----------
    out_dir : str or Path
        The folder the user asked for (created if needed).
    inputs : sequence of path
        Files the command reads: an output that would replace one is refused.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with OutputFolder(d / "out") as out:
    ...     _ = out.write_table("t", pd.DataFrame({"visit": [3.0], "n": [1]}))
    >>> (d / "out" / "t.csv").read_text()
    'visit,n\\n3,1\\n'
    """

    def __init__(self, out_dir: str | Path, inputs=()):
        self.out_dir = Path(out_dir)
        self.inputs = [Path(i) for i in inputs if i is not None]
        self.stage: Path | None = None
        self._lock_fd: int | None = None
        self.written: list[Path] = []

    def check(self) -> Path:
        """Refuse an output folder that cannot be one (a file, an input, unwritable) before any
        work is done; returns the existing folder the staging folder will be made in."""
        out = self.out_dir
        if out.exists() and not out.is_dir():
            if any(_same(out, i) for i in self.inputs):
                raise OutputError(
                    f"output folder {out}: is the input file; give a folder for the outputs "
                    "with --out DIR"
                )
            if not os.path.islink(out) and stat.S_ISREG(os.stat(out).st_mode):
                raise OutputError(f"output folder {out}: is a file, not a folder")
        if os.path.lexists(out) and not (os.path.isdir(out) and not os.path.islink(out)):
            _refuse_special(out, "output folder")
        _check_target(out, "output folder")
        base = _existing_ancestor(out)
        _writable(base, "output folder", out)
        remove_stale(base)
        return base

    def __enter__(self) -> OutputFolder:
        base = self.check()
        try:
            with _signals_held():  # an interruption cannot come between making and recording it
                self.stage, self._lock_fd = _make_stage(base)
        except OSError as exc:
            raise OutputError(
                f"output folder {self.out_dir}: cannot write in {base} ({exc.strerror or exc})"
            ) from None
        return self

    def path(self, name: str | Path) -> Path:
        """Where to write ``name`` (relative to the output folder) while staging.

        An output that would replace one of the command's inputs is refused here, as soon as
        it is named, not only when the outputs are moved into place.
        """
        assert self.stage is not None, "use OutputFolder in a with block"
        _refuse_inputs([self.out_dir / name], self.inputs)
        p = self.stage / name
        p.parent.mkdir(parents=True, exist_ok=True)
        self.written.append(Path(name))
        return p

    def write_table(self, name: str, frame) -> Path:
        """Stage ``name.csv`` (see :func:`write_csv`)."""
        path = self.path(f"{name}.csv")
        try:
            with path.open("w", newline="", encoding="utf-8") as fh:
                write_csv(frame, fh)
        except OSError as exc:
            raise _write_error(exc, self.out_dir / f"{name}.csv") from None
        return self.out_dir / f"{name}.csv"

    def write_tables(self, tables: dict, subfolder: str = "") -> list[Path]:
        return [
            self.write_table(f"{subfolder}/{k}" if subfolder else k, t) for k, t in tables.items()
        ]

    def _commit(self) -> None:
        assert self.stage is not None
        lock = self.stage / LOCK_NAME  # held while the stage lives; not an output
        files = sorted(p for p in self.stage.rglob("*") if p.is_file() and p != lock)
        targets = [self.out_dir / p.relative_to(self.stage) for p in files]
        # every check first, so that a refusal leaves the output folder as it was
        _refuse_inputs(targets, self.inputs)
        for t in targets:
            _check_target(t, "output")
            for folder in [p for p in t.relative_to(self.out_dir).parents if str(p) != "."]:
                _refuse_special(self.out_dir / folder, "output folder")
            _refuse_special(t, "output")
            if t.is_dir():
                raise OutputError(f"{t}: a folder is in the way of an output file")
            _writable(_existing_ancestor(t.parent), "output", t)
        with _signals_held():
            try:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                for src, dst in zip(files, targets, strict=True):
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    _usual_mode(src)
                    os.replace(src, dst)
                    _COMMITTED.append(dst)
            except OSError as exc:
                where = exc.filename or self.out_dir
                raise _write_error(exc, f"output folder {self.out_dir}: {where}") from None

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._commit()
        finally:
            if self.stage is not None:
                with _signals_held():  # a second Ctrl-C cannot leave half a staging folder
                    shutil.rmtree(self.stage, ignore_errors=True)
                    if self._lock_fd is not None:
                        os.close(self._lock_fd)
                        self._lock_fd = None
        if (
            exc_type is not None
            and issubclass(exc_type, OSError)
            and not isinstance(exc, OutputError)
            and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)
        ):  # a write into the staging folder that the system refused: say where
            raise _write_error(exc, f"output folder {self.out_dir}") from None
        return False
