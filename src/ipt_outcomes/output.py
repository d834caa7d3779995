"""The one writer of output files: whole or not at all, never over an input.

* :func:`atomic_write` - one text file, written to a temporary file beside the target and
  renamed into place when the block succeeds.
* :class:`OutputFolder` - everything a command writes into ``--out``: files are staged in a
  temporary folder beside the target and moved into place only when the whole command has
  succeeded, so an error, Ctrl-C or SIGTERM leaves nothing half-written, and a target that is
  one of the command's inputs is refused before anything is moved.
* :func:`write_csv` - how every table is written (UTF-8, LF, visits as written, text cells that a
  spreadsheet would run as formulas neutralised).

Files get the usual permissions (0666 less the umask), as any other file the user makes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .exceptions import IptOutcomesError

__all__ = ["atomic_write", "neutralise_formulas", "write_csv", "OutputFolder", "OutputError"]

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
    """Refuse a path whose parent chain has a file in it, or that is an existing folder."""
    for parent in [*reversed(path.parents)]:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"{what} {path}: {parent} is a file, not a folder")


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists():
        p = p.parent
    return p


@contextlib.contextmanager
def atomic_write(path: str | Path, *, newline: str = "", encoding: str = "utf-8", inputs=()):
    """Open a text file for writing that appears at ``path`` only if the block succeeds.

    Parent folders are created as needed; on any error (or interruption) the temporary file is
    removed and an existing file at ``path`` is left as it was. A ``path`` that is one of
    ``inputs`` is refused.
    """
    path = Path(path)
    if str(path).endswith(("/", os.sep)) or path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name to write")
    _check_target(path, "output file")
    _refuse_inputs([path], inputs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", newline=newline, encoding=encoding) as fh:
            yield fh
        _usual_mode(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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

    def __enter__(self) -> OutputFolder:
        out = self.out_dir
        if out.exists() and not out.is_dir():
            raise OutputError(f"output folder {out}: is a file, not a folder")
        _check_target(out, "output folder")
        base = _existing_ancestor(out)
        if not os.access(base, os.W_OK | os.X_OK):
            raise OutputError(f"output folder {out}: cannot write in {base} (permission denied)")
        try:
            self.stage = Path(tempfile.mkdtemp(prefix=".ipt-outcomes-", dir=base))
        except OSError as exc:
            raise OutputError(
                f"output folder {out}: cannot write in {base} ({exc.strerror or exc})"
            ) from None
        return self

    def path(self, name: str | Path) -> Path:
        """Where to write ``name`` (relative to the output folder) while staging."""
        assert self.stage is not None, "use OutputFolder in a with block"
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
        _refuse_inputs(targets, self.inputs)
        for t in targets:
            _check_target(t, "output")
            if t.is_dir():
                raise OutputError(f"{t}: a folder is in the way of an output file")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for src, dst in zip(files, targets, strict=True):
            dst.parent.mkdir(parents=True, exist_ok=True)
            _usual_mode(src)
            os.replace(src, dst)

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self._commit()
        finally:
            if self.stage is not None:
                shutil.rmtree(self.stage, ignore_errors=True)
        return False
