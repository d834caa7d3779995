"""Read effect sizes: the Metapsy data standard as the database distributes it, or any table.

The Metapsy databases (https://docs.metapsy.org/data-preparation/format/) are semicolon-separated
text with decimal commas and ``NA`` for missing cells; one row per comparison with ``study``
(author, year), the effect size ``.g`` (Hedges' g) and its standard error ``.g_se``, plus study
characteristics (therapy, comparator, instrument, risk of bias, format, ...). Any other table
works with its own column names (``effect``, ``se``, ``study``): CSV (comma, semicolon, tab),
``.xlsx``, ``.parquet``, ``.sav``, ``.dta`` or ``.sas7bdat``, read by the package's one reader.

Every cell is read as text and turned into a number here, so that a cell that is not a number is
named (file, row, study, column) instead of silently becoming missing.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from ..data.validation import Problem
from ..exceptions import DataValidationError, IptOutcomesError

__all__ = [
    "read_effect_sizes",
    "effect_sizes_from_frame",
    "select_rows",
    "parse_number",
    "MISSING_TOKENS",
]

#: Cells read as missing (R's ``NA`` as the Metapsy files write it, and the usual others).
MISSING_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "<NA>"})
#: Effect sizes and standard errors of any scale (SMD, log odds, mean differences in points)
#: lie within these; beyond them a weight 1 / se^2 or a sum of squares is not a number.
MAX_EFFECT = 1e6
MIN_SE = 1e-8
#: The most effect sizes one analysis reads (every meta-analysis of psychotherapy is smaller).
MAX_STUDIES = 10_000

_DOT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_COMMA = re.compile(r"^[+-]?(\d+,?\d*|,\d+)([eE][+-]?\d+)?$")


def parse_number(cell, decimal: str = ".") -> float | None:
    """A cell as a number: ``None`` when it is missing, ``nan`` when it is not a number.

    Parameters
    ----------
    cell : object
        The cell as read (text, or a number from a binary format).
    decimal : {".", ","}
        The decimal separator of the file: ``","`` accepts ``0,23`` (and also ``0.23``); ``"."``
        refuses a comma, which in a comma-separated file cannot be a decimal mark.

    Examples
    --------
    >>> parse_number("0,231455", ","), parse_number("-1.5e-3"), parse_number("NA")
    (0.231455, -0.0015, None)
    >>> parse_number("0,5")  # a comma in a file whose decimal mark is "."
    nan
    """
    if cell is None:
        return None
    if isinstance(cell, bool):
        return float("nan")
    if isinstance(cell, int | float):
        return None if isinstance(cell, float) and math.isnan(cell) else float(cell)
    text = str(cell).strip()
    if text in MISSING_TOKENS:
        return None
    if _DOT.match(text) or text.lower().lstrip("+-") in ("inf", "infinity"):
        return float(text)
    if decimal == "," and _COMMA.match(text):
        return float(text.replace(",", "."))
    return float("nan")


def _text(cell) -> str:
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return ""
    if isinstance(cell, float) and cell == round(cell):
        return f"{cell:g}"
    return str(cell).strip()


def select_rows(frame: pd.DataFrame, where=(), source: str = "data") -> pd.DataFrame:
    """The rows whose column holds one of the given values (compared as text).

    Parameters
    ----------
    frame : DataFrame
    where : sequence of (column, values)
        Every condition must hold (values of one condition are alternatives).
    source : str
        The file, for messages.

    Examples
    --------
    >>> d = pd.DataFrame({"arm": ["ipt", "cbt", "ipt"], "x": [1, 2, 3]})
    >>> select_rows(d, [("arm", ("ipt",))])["x"].tolist()
    [1, 3]
    """
    for col, values in where:
        if col not in frame.columns:
            raise IptOutcomesError(f"{source}: no column {col!r} (for --where {col}=...)")
        text = frame[col].map(_text)
        keep = text.isin([str(v).strip() for v in values])
        if not keep.any():
            present = sorted(set(text))
            shown = ", ".join(repr(v) for v in present[:12]) + (" ..." if len(present) > 12 else "")
            raise IptOutcomesError(
                f"{source}: --where {col}={','.join(values)} matches no row; column {col} has "
                f"{shown}"
            )
        frame = frame[keep]
    return frame


def effect_sizes_from_frame(
    frame: pd.DataFrame,
    *,
    effect: str = ".g",
    se: str = ".g_se",
    study: str = "study",
    keep=(),
    source: str = "data",
    decimal: str = ".",
    row_label=None,
) -> pd.DataFrame:
    """Check and standardise a table of effect sizes.

    Parameters
    ----------
    frame : DataFrame
        One row per effect size, cells as text or numbers.
    effect, se, study : str
        Columns of the effect size, its standard error and the study (defaults: the Metapsy
        data standard's ``.g``, ``.g_se`` and ``study``).
    keep : sequence of str
        Further columns to carry along as text (e.g. the ``--by`` column); a missing cell
        becomes ``""``.
    source : str
        The file name, for messages.
    decimal : {".", ","}
        Decimal separator of text cells (see :func:`parse_number`).
    row_label : callable, optional
        Index -> how a user finds the row (``"row 12"``); default: 0-based index + 2, as a
        spreadsheet with a header row numbers it.

    Returns
    -------
    DataFrame
        ``study, effect, se, row`` (the row label) and the ``keep`` columns, one row per
        effect size with both numbers present. ``attrs["notes"]`` lists the rows left out
        because the effect or its standard error is missing (as metafor's ``na.omit``);
        ``attrs["source"]`` and ``attrs["columns"]`` record where the data came from.

    Raises
    ------
    IptOutcomesError
        A named column is not in the table (the message lists the columns it has).
    DataValidationError
        Every cell that is not a number, a standard error that is not positive, an infinite
        value or a row without a study, each with file, row, study and column.

    Examples
    --------
    >>> raw = pd.DataFrame({"study": ["A", "B", "C"], ".g": ["0,5", "NA", "0,2"],
    ...                     ".g_se": ["0,1", "0,2", "0,3"]})
    >>> d = effect_sizes_from_frame(raw, decimal=",")
    >>> d[["study", "effect", "se", "row"]]
      study  effect   se    row
    0     A     0.5  0.1  row 2
    2     C     0.2  0.3  row 4
    >>> d.attrs["notes"]
    ['row 3, study B: the effect (.g) is missing; left out']
    """
    label = row_label or (lambda i: f"row {int(i) + 2}")
    columns = [str(c) for c in frame.columns]
    wanted = {"--effect": effect, "--se": se, "--study-col": study}
    wanted.update({f"--by ({c})": c for c in keep})
    missing = [(flag, col) for flag, col in wanted.items() if col not in columns]
    if missing:
        shown = ", ".join(repr(c) for c in columns if c)[:600]
        what = "; ".join(f"no column {col!r} (for {flag})" for flag, col in missing)
        default = effect == ".g" and se == ".g_se"
        hint = (
            " (the Metapsy data standard's columns are study, .g and .g_se; for another table "
            "name its columns with --effect COL --se COL --study-col COL)"
            if default
            else ""
        )
        raise IptOutcomesError(f"{source}: {what}{hint}; the file has the columns {shown}")
    problems: list[Problem] = []
    notes: list[str] = []
    rows = []
    for idx, rec in zip(
        frame.index, frame[[study, effect, se]].itertuples(index=False), strict=True
    ):
        where = label(idx)
        name = _text(rec[0])
        who = f"study {name}" if name else "no study"
        y = parse_number(rec[1], decimal)
        s = parse_number(rec[2], decimal)
        bad = False
        for col, value, cell in ((effect, y, rec[1]), (se, s, rec[2])):
            if value is not None and math.isnan(value):
                problems.append(Problem("number", f"{who}: {_text(cell)!r} is not a number"
                                        + (" (this file's decimal mark is '.')" if decimal == "."
                                           and "," in _text(cell) else ""),
                                        row=where, column=col))  # fmt: skip
                bad = True
            elif value is not None and not math.isfinite(value):
                problems.append(Problem("finite", f"{who}: {_text(cell)!r} is not a finite number",
                                        row=where, column=col))  # fmt: skip
                bad = True
        if s is not None and math.isfinite(s) and s <= 0:
            problems.append(Problem("se", f"{who}: the standard error must be positive, got "
                                    f"{_text(rec[2])}", row=where, column=se))  # fmt: skip
            bad = True
        elif s is not None and math.isfinite(s) and not MIN_SE <= s <= MAX_EFFECT:
            problems.append(Problem("se", f"{who}: the standard error {_text(rec[2])} is outside "
                                    f"{MIN_SE:g} to {MAX_EFFECT:g} (its weight, one over its "
                                    "square, would not be a number)", row=where,
                                    column=se))  # fmt: skip
            bad = True
        if y is not None and math.isfinite(y) and abs(y) > MAX_EFFECT:
            problems.append(Problem("effect", f"{who}: the effect size {_text(rec[1])} is beyond "
                                    f"any effect size (at most {MAX_EFFECT:g} in absolute "
                                    "value)", row=where, column=effect))  # fmt: skip
            bad = True
        if not name:
            problems.append(Problem("study", "the study is empty: every effect size needs its "
                                    "study", row=where, column=study))  # fmt: skip
            bad = True
        if bad:
            continue
        if y is None or s is None:
            gone = " and ".join(
                f"the {what} ({col}) is missing"
                for what, col, v in (("effect", effect, y), ("standard error", se, s))
                if v is None
            )
            notes.append(f"{where}, {who}: {gone}; left out")
            continue
        rows.append((idx, name, y, s, where))
    if problems:
        raise DataValidationError(problems, source)
    if len(rows) > MAX_STUDIES:
        raise IptOutcomesError(
            f"{source}: {len(rows):,} effect sizes is more than the {MAX_STUDIES:,} a "
            "meta-analysis here reads (is the file a table of effect sizes, one per study?)"
        )
    index = [r[0] for r in rows]
    out = pd.DataFrame(
        {
            "study": [r[1] for r in rows],
            "effect": [r[2] for r in rows],
            "se": [r[3] for r in rows],
            "row": [r[4] for r in rows],
        },
        index=pd.Index(index),
    )
    for col in keep:
        out[col] = ["" if _text(v) in MISSING_TOKENS else _text(v) for v in frame.loc[index, col]]
    out.attrs.update(source=source, notes=notes,
                     columns={"effect": effect, "se": se, "study": study})  # fmt: skip
    return out


def read_effect_sizes(
    path,
    *,
    effect: str = ".g",
    se: str = ".g_se",
    study: str = "study",
    keep=(),
    where=(),
    encoding: str | None = None,
    sheet: str | None = None,
) -> pd.DataFrame:
    """Read effect sizes from a file: the Metapsy data standard as distributed, or any table.

    A semicolon-separated text file is read with decimal commas (``0,23``; ``0.23`` is accepted
    too), as the Metapsy databases and European spreadsheets write it; ``NA`` and empty cells
    are missing. See :func:`effect_sizes_from_frame` for the checks and the returned table.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.txt``/``.tsv``, ``.xlsx``, ``.parquet``, ``.sav``, ``.dta``, ``.sas7bdat``.
    effect, se, study, keep
        Column names (defaults: the Metapsy standard's ``.g``, ``.g_se``, ``study``).
    where : sequence of (column, values)
        Read only the rows selected by :func:`select_rows` (e.g. one therapy); the other
        rows are not checked.
    encoding, sheet : str, optional
        Text encoding (default UTF-8) and worksheet of an ``.xlsx`` file.

    Returns
    -------
    DataFrame
        ``study, effect, se, row`` and the ``keep`` columns.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = p.write_text('"";"study";".g";".g_se"\\n"1";"A, 2001";0,5;0,1\\n"2";"B, 2002";NA;NA\\n')
    >>> d = read_effect_sizes(p)
    >>> d[["study", "effect", "se"]].to_dict("records")
    [{'study': 'A, 2001', 'effect': 0.5, 'se': 0.1}]
    """
    from ..data.readers import read_table

    raw = read_table(path, sheet=sheet, encoding=encoding, snap_columns=())  # every digit kept
    frame = select_rows(raw.frame, where, str(path))
    return effect_sizes_from_frame(frame, effect=effect, se=se, study=study, keep=keep,
                                   source=str(path), decimal=raw.decimal,
                                   row_label=raw.row_label)  # fmt: skip
