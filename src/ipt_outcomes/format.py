"""The one number formatter: how a number looks in the CLI, the report, the RTF tables and the
worksheets.

Conventions (one for each kind of number):

* p-values: three decimals, ``< 0.001`` below 0.001 (``p = 0.045`` / ``p < 0.001`` in prose);
* counts: whole numbers, never "30.0";
* proportions and rates: percent with one decimal ("42.1%");
* risk differences: always in **percentage points** with one decimal ("18.6 pp" in prose,
  "18.6" in a column whose header says percentage points), never as a proportion;
* NNT: rounded **up** to a whole number and worded NNTB (benefit) or NNTH (harm), as
  Altman (1998) advises; shown with its interval only when the risk difference's interval
  excludes zero (:func:`nnt_estimable`);
* visits: as the user wrote them ("1.5", not "1.50");
* other estimates: a fixed number of decimals (``f2``, ``f3``, ...).

Missing values are shown as an empty string. A negative number is shown with a true minus sign
(U+2212 "−", as typeset tables have it), never a hyphen; the CSV tables keep plain numbers.
"""

from __future__ import annotations

import math

__all__ = ["fmt", "format_p", "format_nnt", "format_frame", "nnt_estimable", "KINDS", "MINUS",
           "NNT_NOT_ESTIMABLE"]  # fmt: skip

KINDS = (
    "text", "bool", "int", "auto", "visit", "pct", "pct_n", "pp", "pp_n", "p", "p_text", "nnt",
    "nnt_n", "fN",
)  # fmt: skip
MINUS = "\u2212"
NNT_NOT_ESTIMABLE = "not estimable with useful precision"


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, float) and math.isnan(value) or str(value) in ("", "nan", "<NA>")
    except TypeError:  # pragma: no cover - exotic types
        return False


def format_p(p: float, prose: bool = False) -> str:
    """``< 0.001`` or three decimals; in prose ``p < 0.001`` or ``p = 0.045``.

    Examples
    --------
    >>> format_p(0.0004), format_p(0.0449), format_p(1.0)
    ('< 0.001', '0.045', '1.000')
    >>> format_p(0.0004, prose=True), format_p(0.0449, prose=True)
    ('p < 0.001', 'p = 0.045')
    """
    if p < 0.001:
        return "p < 0.001" if prose else "< 0.001"
    return f"p = {p:.3f}" if prose else f"{p:.3f}"


def format_nnt(nnt: float) -> str:
    """The NNT rounded up to a whole number and worded NNTB / NNTH (Altman 1998).

    A positive NNT (risk difference in favour of the arm) is a number needed to treat for one
    more benefit; a negative one for one more harm.

    Examples
    --------
    >>> format_nnt(5.5), format_nnt(-12.1), format_nnt(5.0), format_nnt(float("inf"))
    ('NNTB 6', 'NNTH 13', 'NNTB 5', 'infinity')
    """
    if _missing(nnt):
        return ""
    if math.isinf(nnt):
        return "infinity"
    word = "NNTB" if nnt > 0 else "NNTH"
    return f"{word} {math.ceil(abs(nnt) - 1e-9)}"


def nnt_estimable(rd_low: float, rd_high: float) -> bool:
    """Whether an NNT is worth showing: the risk difference's interval excludes zero.

    When the interval of the risk difference includes zero, the NNT's interval runs from a
    number needed to harm through infinity to a number needed to benefit (Altman 1998), and the
    point NNT of a near-zero difference is a large, meaningless number ("NNTH 314 (NNTH 5 to
    infinity to NNTB 5)" for a difference of -0.3 percentage points). A table that shows the
    risk difference and its interval beside the NNT then says nothing more with it: the NNT is
    shown as :data:`NNT_NOT_ESTIMABLE` and the reader reads the risk difference.

    Examples
    --------
    >>> nnt_estimable(0.05, 0.35), nnt_estimable(-0.35, -0.05), nnt_estimable(-0.2, 0.2)
    (True, True, False)
    >>> nnt_estimable(0.0, 0.3), nnt_estimable(float("nan"), 0.3)
    (False, False)
    """
    if _missing(rd_low) or _missing(rd_high):
        return False
    lo, hi = float(rd_low), float(rd_high)
    return lo > 0 or hi < 0


def _signed(text: str) -> str:
    """A formatted number with a true minus sign (U+2212) instead of a hyphen."""
    return MINUS + text[1:] if text.startswith("-") else text


def _decimals(v: float, n: int) -> str:
    text = f"{v:.{n}f}"
    # no "-0.0": a value that rounds to zero is shown without a sign
    if text.startswith("-") and float(text) == 0:
        return text[1:]
    return _signed(text)


def fmt(value, kind: str) -> str:
    """Format one value for display.

    Parameters
    ----------
    value : object
    kind : str
        ``text``, ``bool`` (yes/no), ``int``, ``auto`` (a whole number as such, else up to three
        decimals without trailing zeros), ``visit``, ``pct`` (a proportion as percent),
        ``pct_n`` (the same without the % sign), ``pp`` (a difference of proportions in
        percentage points, "18.6 pp"), ``pp_n`` (the same without the unit), ``p`` (p-value),
        ``p_text`` (p-value in prose), ``nnt`` (rounded up, worded), ``nnt_n`` (an NNT limit:
        rounded up, unsigned, unworded) or ``fN`` (N decimals). Negative numbers carry a true
        minus sign (U+2212).

    Examples
    --------
    >>> fmt(30.0, "int"), fmt(0.421, "pct"), fmt(0.186, "pp"), fmt(0.186, "pp_n")
    ('30', '42.1%', '18.6 pp', '18.6')
    >>> fmt(1.5, "visit"), fmt(2.345, "f2"), fmt(-0.0004, "f2"), fmt(0.0449, "p_text")
    ('1.5', '2.35', '0.00', 'p = 0.045')
    >>> fmt(41.0, "auto"), fmt(18.7, "auto"), fmt(0.12345, "auto")
    ('41', '18.7', '0.123')
    >>> fmt(-2.345, "f2") == "\u22122.35", fmt(-3.0, "int") == "\u22123", fmt(-5.2, "nnt_n")
    (True, True, '6')
    """
    if _missing(value):
        return ""
    if kind == "text":
        return str(value)
    if kind == "bool":
        return "yes" if str(value).lower() in ("true", "1", "1.0", "yes") else "no"
    v = float(value)
    if kind == "int":
        return _decimals(v, 0)
    if kind == "auto":
        return _decimals(v, 0) if v == round(v) else _decimals(v, 3).rstrip("0").rstrip(".")
    if kind == "visit":
        return f"{v:g}"
    if kind == "pct":
        return f"{_decimals(100 * v, 1)}%"
    if kind == "pct_n":
        return _decimals(100 * v, 1)
    if kind == "pp":
        return f"{_decimals(100 * v, 1)} pp"
    if kind == "pp_n":
        return _decimals(100 * v, 1)
    if kind == "p":
        return format_p(v)
    if kind == "p_text":
        return format_p(v, prose=True)
    if kind == "nnt":
        return format_nnt(v)
    if kind == "nnt_n":
        return "infinity" if math.isinf(v) else f"{math.ceil(abs(v) - 1e-9)}"
    if kind.startswith("f") and kind[1:].isdigit():
        return _decimals(v, int(kind[1:]))
    raise ValueError(f"unknown number kind {kind!r}; one of {KINDS}")


def _kind_of(column: str, decimals: int) -> str:
    name = column.lower()
    if name in ("p", "p_fisher", "p_holm", "p_value") or name.startswith("p_"):
        return "p"
    if name in (
        "n", "n_obs", "n_subjects", "n_reference", "responders", "remitters", "randomised",
        "observed", "events", "events_reference", "n_per_arm",
    ):  # fmt: skip
        return "int"
    if name == "visit":
        return "visit"
    if name == "nnt":
        return "nnt"
    if name in ("df", "den_df", "num_df"):
        return "f1"
    return f"f{decimals}"


def format_frame(frame, decimals: int = 3, kinds: dict | None = None):
    """A copy of a table with every number formatted by :func:`fmt`.

    The kind of each column is taken from ``kinds`` when given there, else chosen by its name
    (p-values, counts, visits, NNT, degrees of freedom), else ``f{decimals}``.

    Examples
    --------
    >>> import pandas as pd
    >>> format_frame(pd.DataFrame({"n": [30.0], "p": [0.0004], "rd": [0.186]}), kinds={"rd": "pp"})
        n        p       rd
    0  30  < 0.001  18.6 pp
    """
    import pandas as pd

    kinds = kinds or {}
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if col in kinds:
            out[col] = s.map(lambda v, k=kinds[col]: fmt(v, k))
        elif pd.api.types.is_bool_dtype(s):
            out[col] = s.map(lambda v: fmt(v, "bool"))
        elif pd.api.types.is_numeric_dtype(s):
            kind = _kind_of(str(col), decimals)
            out[col] = s.map(lambda v, k=kind: fmt(v, k))
        else:
            out[col] = s.map(lambda v: "" if _missing(v) else str(v))
    return out
