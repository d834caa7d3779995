"""A starter design inferred from a score file, for the user to check and edit.

``ipt-outcomes design FILE`` reads the file with the column mapping given, and writes what it can
see: the arms, the visit schedule (visit values as times, since codes cannot be told from times),
the baseline visit, the key visit (the last), and the instrument with its range and remission
threshold when the outcome column names a known instrument (else the observed range).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from ..exceptions import DataValidationError
from .design import ColumnMap, default_visit_label, parse_design
from .readers import RawTable
from .validation import Problem

__all__ = ["KNOWN_INSTRUMENTS", "infer_design_text", "guess_instrument"]

#: name, range and a common remission threshold of instruments used in depression trials.
KNOWN_INSTRUMENTS = {
    "hamd17": ("HAM-D 17", 0, 52, 7),
    "hamd": ("HAM-D 17", 0, 52, 7),
    "hamdtl17": ("HAM-D 17", 0, 52, 7),
    "hdrs": ("HAM-D 17", 0, 52, 7),
    "madrs": ("MADRS", 0, 60, 10),
    "bdi": ("BDI-II", 0, 63, 13),
    "bdi2": ("BDI-II", 0, 63, 13),
    "bdiii": ("BDI-II", 0, 63, 13),
    "phq9": ("PHQ-9", 0, 27, 4),
    "qids": ("QIDS-SR16", 0, 27, 5),
    "qidssr16": ("QIDS-SR16", 0, 27, 5),
}


def guess_instrument(column: str):
    """``(name, min, max, remission_max)`` of a known instrument named by the column, or None.

    Examples
    --------
    >>> guess_instrument("MADRS_TOTAL")
    ('MADRS', 0, 60, 10)
    >>> guess_instrument("AVAL") is None
    True
    """
    key = re.sub(r"[^a-z0-9]", "", column.lower())
    for k in sorted(KNOWN_INSTRUMENTS, key=len, reverse=True):
        if key == k or key.startswith(k) and not key[len(k) :].isdigit():
            return KNOWN_INSTRUMENTS[k]
    return None


def _toml(value) -> str:
    """A TOML literal of a string, number, bool or list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _numbers(cells: pd.Series, decimal: str) -> pd.Series:
    """Numbers of text cells as the validator reads them (decimal commas in semicolon files)."""
    if decimal == "," and not pd.api.types.is_numeric_dtype(cells):
        cells = cells.map(lambda v: v.replace(",", ".") if isinstance(v, str) else v)
    return pd.to_numeric(cells, errors="coerce")


def infer_design_text(
    raw: RawTable, columns: ColumnMap, *, baseline_visit=None, reference=None
) -> str:
    """The text of a starter design TOML for a raw table (see the module docstring).

    Raises
    ------
    DataValidationError
        When a mapped column is missing or the visits are not numbers.
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined

    frame = raw.frame
    present = [str(c) for c in frame.columns]
    need = {"subject": columns.subject, "arm": columns.arm, "visit": columns.visit,
            "outcome": columns.outcome}  # fmt: skip
    if columns.baseline:
        need["baseline"] = columns.baseline
    missing = [
        Problem(
            "required_column",
            f"required column is missing; the file has {', '.join(present)}",
            column=col,
            option=key,
        )  # fmt: skip
        for key, col in need.items()
        if col not in present
    ]
    if missing:
        raise DataValidationError(missing, raw.path)
    visit = _numbers(frame[columns.visit], raw.decimal)
    if visit.isna().any():
        bad = frame.loc[visit.isna(), columns.visit].iloc[0]
        raise DataValidationError(
            [Problem("visit_not_number", f"visit {bad!r} is not a number", column=columns.visit)],
            raw.path,
        )
    score = _numbers(frame[columns.outcome], raw.decimal)
    arms = sorted({str(a).strip() for a in frame[columns.arm] if not pd.isna(a) and str(a).strip()})
    visits = sorted(float(v) for v in visit.unique())
    base_guessed = baseline_visit is None
    if baseline_visit is None:
        baseline_visit = 0.0 if (0.0 in visits or columns.baseline) else visits[0]
    if columns.baseline and baseline_visit not in visits:
        schedule = visits
    else:
        schedule = sorted({*visits, float(baseline_visit)})
    known = guess_instrument(columns.outcome)
    lo, hi = float(score.min()), float(score.max())
    if known:
        name, mn, mx, rem = known
    else:
        name, mn, mx = columns.outcome, min(0.0, lo), math.ceil(hi)
        rem = mn
    ref_guessed = reference is None
    if reference is None:
        reference = (
            "TAU"
            if "TAU" in arms
            else next(
                (a for a in arms if re.search(r"placebo|pbo|control|tau|usual", a, re.I)), arms[0]
            )
        )
    post = [v for v in schedule if v != baseline_visit]
    labels = [default_visit_label(v, "", baseline=(v == baseline_visit)) for v in schedule]
    env = Environment(
        loader=PackageLoader("ipt_outcomes.data", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # TOML, not HTML: every value goes through the toml filter
    )
    env.filters["toml"] = _toml
    text = env.get_template("design.toml.j2").render(
        source=Path(raw.path).name,
        name=Path(raw.path).stem,
        arms=arms,
        reference=reference,
        reference_guessed=ref_guessed,
        remission_max=rem,
        instrument_known=bool(known),
        unit="",
        baseline=baseline_visit,
        baseline_guessed=base_guessed,
        schedule=schedule,
        times=schedule,
        labels=labels,
        key=post[-1:],
        instrument=name,
        minimum=mn,
        maximum=mx,
        observed=f"{lo:g}-{hi:g}",
        columns=columns,
    )
    import tomllib

    parse_design(tomllib.loads(text), source="<inferred design>")  # what is written is valid
    return text
