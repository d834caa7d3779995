"""A starter design inferred from a score file, for the user to check and edit.

``ipt-outcomes design FILE`` reads the file with the column mapping given and writes what it can
see: the arms, the visit schedule, the baseline visit, the key visit (the last), and each
instrument with its range, whether its scores are whole numbers or continuous, and the direction
and remission threshold *suggested* by the registry of common instruments
(:mod:`ipt_outcomes.data.instruments`) when the outcome column or parameter names one, always
with the registry's source as a comment. The direction of an unknown instrument cannot be
inferred from the data: ``higher_is_better`` is written for the user to confirm.

Analysis-data (ADaM BDS) files are understood: where the default column names are absent the
usual ADaM names are used (``USUBJID``, ``TRT01P``, ``AVISIT`` / ``AVISITN``, ``AVAL``), and
``PARAMCD``, ``ABLFL`` and ``ANL01FL`` become ``[columns] param``, ``baseline_flag`` and
``analysis_flag``, with one ``[[instruments]]`` entry per parameter. Text visit codes
(``"WEEK 4"``) are kept as codes, ordered by ``AVISITN`` when the file has it, with times
guessed from the number in each code (marked as a guess).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import DataValidationError
from .design import ColumnMap, default_visit_label, parse_design
from .instruments import KnownInstrument, lookup_instrument
from .readers import RawTable
from .validation import Problem

__all__ = ["ADAM_COLUMNS", "infer_design_text", "guess_instrument", "resolve_columns"]

#: Usual analysis-data (ADaM BDS) names of each role, tried when the default name is absent.
ADAM_COLUMNS = {
    "subject": ("USUBJID", "SUBJID"),
    "arm": ("TRT01P", "TRT01A", "TRTP", "TRTA", "ARM", "ACTARM"),
    "visit": ("AVISIT", "AVISITN", "VISIT", "VISITNUM"),
    "outcome": ("AVAL",),
    "param": ("PARAMCD",),
    "baseline_flag": ("ABLFL",),
    "analysis_flag": ("ANL01FL",),
}
_DEFAULTS = ColumnMap()


def guess_instrument(column: str) -> KnownInstrument | None:
    """The registry's instrument named by a column or parameter, or ``None``.

    Examples
    --------
    >>> guess_instrument("MADRS_TOTAL").name
    'MADRS'
    >>> guess_instrument("AVAL") is None
    True
    """
    return lookup_instrument(column)


def resolve_columns(frame: pd.DataFrame, given: dict) -> ColumnMap:
    """The column mapping for a file: the names given, else the default names when the file
    has them, else the usual ADaM names it has. ``param``, ``baseline_flag`` and
    ``analysis_flag`` are set when given or when the file has ``PARAMCD``, ``ABLFL``,
    ``ANL01FL``."""
    present = {str(c) for c in frame.columns}
    out = {}
    for role, names in ADAM_COLUMNS.items():
        if given.get(role):
            out[role] = given[role]
            continue
        default = getattr(_DEFAULTS, role)
        if default and default in present:
            out[role] = default
            continue
        hit = next((n for n in names if n in present), None)
        if hit is not None:
            out[role] = hit
        elif default:
            out[role] = default  # absent: reported as a missing column
    if given.get("baseline"):
        out["baseline"] = given["baseline"]
    return ColumnMap(**out)


def _toml(value) -> str:
    """A TOML literal of a string, number, bool or list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _text(series: pd.Series) -> pd.Series:
    def one(v):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    return series.map(one).astype(str)


def _numbers(series: pd.Series, decimal: str) -> pd.Series:
    text = _text(series)
    if decimal == ",":
        text = text.str.replace(",", ".", regex=False)
    return pd.to_numeric(text.where(text != ""), errors="coerce")


@dataclass
class _Visits:
    coded: bool
    schedule: list
    times: list
    baseline: object
    times_guessed: bool
    unit: str
    baseline_guessed: bool


_UNITS = (("week", "weeks"), ("wk", "weeks"), ("day", "days"), ("month", "months"),
          ("mo", "months"), ("year", "years"), ("hour", "hours"))  # fmt: skip
_BASELINE_CODE = re.compile(r"\bbaseline\b|^bl$|^base$|^bsl$", re.I)
_BEFORE_CODE = re.compile(r"screen|^scr|run.?in|washout|^pre", re.I)  # before the baseline


def _visit_number(code: str) -> float | None:
    m = re.search(r"(\d+(?:\.\d+)?)", code)
    return float(m.group(1)) if m else None


def _infer_visits(frame, columns, rows, baseline_visit, decimal) -> _Visits:
    text = _text(frame.loc[rows, columns.visit])
    numbers = _numbers(frame.loc[rows, columns.visit], decimal)
    filled = text != ""
    if not filled.any():
        raise DataValidationError(
            [Problem("visit_empty", "every visit is empty", column=columns.visit)], "data"
        )
    flagged = None
    if columns.baseline_flag:
        flagged = _text(frame.loc[rows, columns.baseline_flag]).str.upper().eq("Y")
    if numbers[filled].notna().all():  # numeric visits
        visits = sorted(float(v) for v in numbers[filled].unique())
        guessed = baseline_visit is None
        if baseline_visit is None:
            if flagged is not None and flagged.any():
                baseline_visit = float(numbers[flagged & filled].mode().min())
            else:
                baseline_visit = 0.0 if (0.0 in visits or columns.baseline) else visits[0]
        baseline_visit = float(baseline_visit)
        if columns.baseline and baseline_visit not in visits:
            schedule = visits
        else:
            schedule = sorted({*visits, baseline_visit})
        return _Visits(False, schedule, schedule, baseline_visit, False, "", guessed)
    # text codes: ordered by AVISITN when the file has it, else by the number in each code
    codes = list(dict.fromkeys(text[filled]))
    order_col = next((c for c in ("AVISITN", "VISITNUM") if c in frame.columns
                      and c != columns.visit), None)  # fmt: skip
    order = {}
    if order_col is not None:
        num = _numbers(frame.loc[rows, order_col], decimal)
        order = num.groupby(text).mean().to_dict()
    base_code = None
    if isinstance(baseline_visit, str):
        base_code = next((c for c in codes if c.casefold() == baseline_visit.casefold()), None)
    guessed = base_code is None
    if base_code is None and flagged is not None and (flagged & filled).any():
        base_code = text[flagged & filled].mode().iloc[0]
    if base_code is None:
        base_code = next((c for c in codes if _BASELINE_CODE.search(c)), None)
    numbered = {c: _visit_number(c) for c in codes}

    def key(c):
        if order.get(c) is not None and not math.isnan(order[c]):
            return (0, order[c], c)
        if c == base_code:
            return (1, -math.inf, c)
        if numbered[c] is None and _BEFORE_CODE.search(c):
            return (0.5, 0, c)  # screening, run-in: before the baseline
        n = numbered[c]
        return (1, n if n is not None else math.inf, c)

    codes.sort(key=key)
    if base_code is None:
        base_code = codes[0]
    # times: the number in each code (the baseline without one at 0), when that is increasing
    guess = [0.0 if (c == base_code and numbered[c] is None) else numbered[c] for c in codes]
    base_at = codes.index(base_code)
    guess = [-1.0 * (base_at - i) if g is None and i < base_at else g
             for i, g in enumerate(guess)]  # fmt: skip
    if all(g is not None for g in guess) and all(
        b > a for a, b in zip(guess, guess[1:], strict=False)
    ):
        times = [float(g) for g in guess]
        words = {u for c in codes for w, u in _UNITS if re.search(rf"\b{w}", c, re.I)}
        unit = words.pop() if len(words) == 1 else ""
    else:
        times = [float(i - base_at) for i in range(len(codes))]
        unit = ""
    return _Visits(True, codes, times, base_code, True, unit, guessed)


def _instrument_entry(label, frame, rows, columns, decimal, *, param=None) -> dict:
    score = _numbers(frame.loc[rows, columns.outcome], decimal)
    obs = score.dropna()
    lo, hi = (float(obs.min()), float(obs.max())) if len(obs) else (0.0, 0.0)
    integer = bool(len(obs) == 0 or np.all(obs.to_numpy() == np.round(obs.to_numpy())))
    known = lookup_instrument(label)
    if known is not None and not (known.minimum <= lo and hi <= known.maximum):
        outside = known
        known = None
    else:
        outside = None
    entry = dict(param=param, observed=f"{lo:g}-{hi:g}", integer=integer, known=known,
                 outside=outside.name if outside else None)  # fmt: skip
    if known is not None:
        entry.update(
            name=known.name,
            minimum=known.minimum,
            maximum=known.maximum,
            higher_is_better=known.higher_is_better,
            remission_key=known.remission_key,
            remission=known.remission,
            remission_source=known.remission_source,
            reliability=known.reliability_suggestion(),
            note=known.note,
        )
        if not integer and known.integer:
            entry["integer_note"] = f"{known.name} totals are whole numbers: check the data"
    else:
        mn = min(0.0, lo)
        mx = float(math.ceil(hi)) if hi > mn else mn + 1
        entry.update(
            name=label,
            minimum=mn,
            maximum=mx,
            higher_is_better=False,
            remission_key="remission_max",
            remission=mn,
            remission_source="",
            reliability="",
            note="",
        )
    return entry


def infer_design_text(
    raw: RawTable, columns: ColumnMap, *, baseline_visit=None, reference=None
) -> str:
    """The text of a starter design TOML for a raw table (see the module docstring).

    Parameters
    ----------
    raw : RawTable
    columns : ColumnMap
        Where the columns are (see :func:`resolve_columns`).
    baseline_visit : float or str, optional
        The baseline visit's value or code (default: the visit of the rows flagged as baseline,
        else 0 / a code naming the baseline, else the first visit).
    reference : str, optional
        The comparator arm (default: ``TAU`` or an arm named like a control).

    Raises
    ------
    DataValidationError
        When a mapped column is missing.
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined

    frame = raw.frame
    present = [str(c) for c in frame.columns]
    need = columns.roles()
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
    rows = pd.Series(True, index=frame.index)
    if columns.analysis_flag:
        rows &= _text(frame[columns.analysis_flag]).str.upper().eq("Y")
    try:
        visits = _infer_visits(frame, columns, rows, baseline_visit, raw.decimal)
    except DataValidationError as err:
        raise DataValidationError(err.problems, raw.path) from None
    arms = sorted({a for a in _text(frame.loc[rows, columns.arm]) if a not in ("", "nan")})
    if columns.param:
        params = _text(frame.loc[rows, columns.param])
        values = [p for p in dict.fromkeys(params) if p]
        instruments = [
            _instrument_entry(
                p,
                frame,
                rows & (params == p).reindex(frame.index, fill_value=False),
                columns,
                raw.decimal,
                param=p,
            )  # fmt: skip
            for p in values
        ]
    else:
        instruments = [_instrument_entry(columns.outcome, frame, rows, columns, raw.decimal)]
    ref_guessed = reference is None
    if reference is None:
        reference = (
            "TAU"
            if "TAU" in arms
            else next(
                (a for a in arms if re.search(r"placebo|pbo|control|tau|usual", a, re.I)), arms[0]
            )
        )
    schedule, times = visits.schedule, visits.times
    post = [v for v in schedule if v != visits.baseline]
    base_time = times[schedule.index(visits.baseline)] if visits.baseline in schedule else 0.0
    labels = [
        str(v).capitalize()
        if visits.coded and v != visits.baseline and _visit_number(str(v)) is None
        else default_visit_label(t, visits.unit, baseline=(v == visits.baseline))
        for v, t in zip(schedule, times, strict=True)
    ]
    if visits.coded:
        post = [v for v, t in zip(schedule, times, strict=True) if t > base_time]
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
        instruments=instruments,
        unit=visits.unit,
        coded=visits.coded,
        times_guessed=visits.times_guessed,
        baseline=visits.baseline,
        baseline_guessed=visits.baseline_guessed,
        schedule=schedule,
        times=times,
        labels=labels,
        key=post[-1:],
        columns=columns,
    )
    import tomllib

    parse_design(tomllib.loads(text), source="<inferred design>")  # what is written is valid
    return text
