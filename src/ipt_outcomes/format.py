"""The one number formatter: how a number looks in the CLI, the report and the worksheets.

Conventions (one for each kind of number):

* p-values: three decimals, ``<0.001`` below 0.001;
* counts: whole numbers, never "30.0";
* proportions and rates: percent with one decimal ("42.1%");
* risk differences: in percentage points with one decimal ("18.6 pp") when shown as text;
* NNT: rounded **up** to a whole number and worded NNTB (benefit) or NNTH (harm), as
  Altman (1998) advises;
* visits: as the user wrote them ("1.5", not "1.50");
* other estimates: a fixed number of decimals (``f2``, ``f3``, ...).

Missing values are shown as an empty string.
"""

from __future__ import annotations

import math

__all__ = ["fmt", "format_p", "format_nnt", "format_frame", "KINDS"]

KINDS = ("text", "bool", "int", "visit", "pct", "pp", "p", "nnt", "fN")


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, float) and math.isnan(value) or str(value) in ("", "nan", "<NA>")
    except TypeError:  # pragma: no cover - exotic types
        return False


def format_p(p: float) -> str:
    """``<0.001`` or three decimals.

    Examples
    --------
    >>> format_p(0.0004), format_p(0.0449), format_p(1.0)
    ('<0.001', '0.045', '1.000')
    """
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_nnt(nnt: float) -> str:
    """The NNT rounded up to a whole number and worded NNTB / NNTH (Altman 1998).

    A positive NNT (risk difference in favour of the arm) is a number needed to treat for one
    more benefit; a negative one for one more harm.

    Examples
    --------
    >>> format_nnt(5.5), format_nnt(-12.1), format_nnt(float("inf"))
    ('NNTB 6', 'NNTH 13', 'not defined')
    """
    if _missing(nnt) or math.isinf(nnt):
        return "not defined"
    word = "NNTB" if nnt > 0 else "NNTH"
    return f"{word} {math.ceil(abs(nnt) - 1e-9)}"


def fmt(value, kind: str) -> str:
    """Format one value for display.

    Parameters
    ----------
    value : object
    kind : str
        ``text``, ``bool`` (yes/no), ``int``, ``visit``, ``pct`` (a proportion shown as percent),
        ``pp`` (a proportion difference in percentage points), ``p`` (p-value), ``nnt`` (rounded
        up, worded), or ``fN`` (N decimals).

    Examples
    --------
    >>> fmt(30.0, "int"), fmt(0.421, "pct"), fmt(0.186, "pp"), fmt(1.5, "visit"), fmt(2.345, "f2")
    ('30', '42.1%', '18.6 pp', '1.5', '2.35')
    """
    if _missing(value):
        return ""
    if kind == "text":
        return str(value)
    if kind == "bool":
        return "yes" if str(value).lower() in ("true", "1", "1.0", "yes") else "no"
    v = float(value)
    if kind == "int":
        return f"{v:.0f}"
    if kind == "visit":
        return f"{v:g}"
    if kind == "pct":
        return f"{100 * v:.1f}%"
    if kind == "pp":
        return f"{100 * v:.1f} pp"
    if kind == "p":
        return format_p(v)
    if kind == "nnt":
        return format_nnt(v)
    if kind.startswith("f") and kind[1:].isdigit():
        return f"{v:.{int(kind[1:])}f}"
    raise ValueError(f"unknown number kind {kind!r}; one of {KINDS}")


def _kind_of(column: str, decimals: int) -> str:
    name = column.lower()
    if name in ("p", "p_fisher", "p_holm", "p_value") or name.startswith("p_"):
        return "p"
    if name in ("n", "n_obs", "n_subjects", "responders", "remitters", "randomised", "observed"):
        return "int"
    if name == "visit":
        return "visit"
    if name == "nnt":
        return "nnt"
    if name in ("df", "den_df", "num_df"):
        return "f1"
    return f"f{decimals}"


def format_frame(frame, decimals: int = 3):
    """A copy of a table with every number formatted by :func:`fmt` (kind chosen by column name)."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_object_dtype(s):
            out[col] = s.map(lambda v: "" if _missing(v) else str(v))
        elif pd.api.types.is_numeric_dtype(s):
            kind = _kind_of(str(col), decimals)
            out[col] = s.map(lambda v, k=kind: fmt(v, k))
    return out
