"""The one writer of output files: whole or not at all, never over an input.

* :func:`atomic_write` - one text file, written to a temporary file beside the target and
  renamed into place when the block succeeds.
* :class:`OutputFolder` - everything a command writes into ``--out``: files are staged in a
  temporary folder beside the target and moved into place only when the whole command has
  succeeded, so an error, Ctrl-C or SIGTERM leaves nothing half-written, and a target that is
  one of the command's inputs is refused before anything is moved.
* :func:`write_csv` - how every table is written (UTF-8, LF, visits as written, text cells that a
  spreadsheet would run as formulas neutralised).

Files get the usual permissions (0666 less the umask) and new folders 0777 less the umask, as
any other file the user makes. While outputs are renamed into place (milliseconds), Ctrl-C and
SIGTERM are held back, so that a command's outputs are either all old or all new.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .exceptions import IptOutcomesError

__all__ = [
    "atomic_write",
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


def check_output_file(path: str | Path, inputs=()) -> Path:
    """Refuse, before any work is done, an output file that :func:`atomic_write` could not
    write: a folder (existing, or named with a trailing ``/``), a path with a file among its
    folders, one of ``inputs``, or a place the user cannot write in. Returns the nearest
    existing folder (where the temporary file goes)."""
    raw = os.fspath(path)
    path = Path(raw)
    if _names_a_folder(raw) or path.is_dir():
        raise OutputError(
            f"{raw}: names a folder; give the name of the file to write (e.g. {path / 'trial.csv'})"
        )
    _check_target(path, "output file")
    _refuse_inputs([path], inputs)
    base = _existing_ancestor(path.parent)
    _writable(base, "output file", raw)
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
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=base)
    except OSError as exc:
        raise OutputError(f"{raw}: cannot write here ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", newline=newline, encoding=encoding) as fh:
            yield fh
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
            raise OutputError(f"output folder {out}: is a file, not a folder")
        _check_target(out, "output folder")
        base = _existing_ancestor(out)
        _writable(base, "output folder", out)
        return base

    def __enter__(self) -> OutputFolder:
        base = self.check()
        try:
            with _signals_held():  # an interruption cannot come between making and recording it
                self.stage = Path(tempfile.mkdtemp(prefix=".ipt-outcomes-", dir=base))
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
        with path.open("w", newline="", encoding="utf-8") as fh:
            write_csv(frame, fh)
        return self.out_dir / f"{name}.csv"

    def write_tables(self, tables: dict, subfolder: str = "") -> list[Path]:
        return [
            self.write_table(f"{subfolder}/{k}" if subfolder else k, t) for k, t in tables.items()
        ]

    def _commit(self) -> None:
        assert self.stage is not None
        files = sorted(p for p in self.stage.rglob("*") if p.is_file())
        targets = [self.out_dir / p.relative_to(self.stage) for p in files]
        # every check first, so that a refusal leaves the output folder as it was
        _refuse_inputs(targets, self.inputs)
        for t in targets:
            _check_target(t, "output")
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
                raise OutputError(
                    f"output folder {self.out_dir}: cannot write {exc.filename or ''} "
                    f"({exc.strerror or exc})"
                ) from None

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._commit()
        finally:
            if self.stage is not None:
                with _signals_held():  # a second Ctrl-C cannot leave half a staging folder
                    shutil.rmtree(self.stage, ignore_errors=True)
        return False
