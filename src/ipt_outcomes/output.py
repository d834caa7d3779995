"""Write output files all at once: to a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "neutralise_formulas"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


@contextlib.contextmanager
def atomic_write(path: str | Path, *, newline: str = "", encoding: str = "utf-8"):
    """Open a text file for writing that appears at ``path`` only if the block succeeds.

    The parent directory is created if needed. On any error the temporary file is removed and
    an existing file at ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline=newline, encoding=encoding) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
