"""Check a raw score table against the data contract and report every problem at once.

:func:`validate_scores` maps the user's columns to the contract's names, parses every cell,
runs the pandera :class:`~ipt_outcomes.schemas.ScoreTable` schema lazily, applies the baseline
rules and returns the typed table, or raises :class:`DataValidationError` listing each problem
with the row number a spreadsheet user sees (header = row 1), the subject and the column.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import DataValidationError, IptOutcomesError
from .design import ColumnMap, TrialDesign, default_design
from .readers import RawTable
from .schemas import pa, score_table_schema

__all__ = ["Problem", "ValidatedScores", "validate_scores", "MISSING_TOKENS"]

#: Text that means "no value" in a numeric cell (R, SAS, SPSS and spreadsheet conventions).
MISSING_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", ".", "NULL", "null", "#N/A", "None"})
NUMERIC_OPTIONAL = ("antidepressant", "age", "cgi_s", "sofas")
MAX_ARMS = 100
TEXT_OPTIONAL = ("therapy_group", "sex")


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth knowing) about the data.

    ``severity`` is ``"error"`` (the data are refused), ``"warning"`` (analysed, but check it) or
    ``"note"`` (e.g. a subject excluded from change-based analyses).
    """

    rule: str
    message: str
    severity: str = "error"
    row: str | None = None
    subject: str | None = None
    column: str | None = None
    position: float = float("inf")  # data-row position, for listing problems in file order
    option: str | None = None  # the argument that fixes it (e.g. "outcome"), for front ends

    def format(self, source: str) -> str:
        where = [source]
        if self.row:
            where.append(self.row)
        if self.subject is not None:
            where.append(f"subject {self.subject}")
        if self.column:
            where.append(f"column {self.column}")
        tag = "" if self.severity == "error" else f"{self.severity}: "
        return f"{', '.join(where)}: {tag}{self.message}"


@dataclass
class ValidatedScores:
    """A table that passed the contract, with what was noticed on the way.

    Attributes
    ----------
    data : DataFrame
        Contract columns ``subject_id, arm, visit, score`` (the outcome, whatever the instrument) (and ``baseline`` when the file
        carries baseline as a column), known optional columns, then any extra columns as read.
        The index is the data-row position in the file.
    problems : list of Problem
        Warnings and notes (errors would have raised).
    excluded_subjects : DataFrame
        ``subject_id, arm, reason`` of subjects without a baseline score, who are left out of
        change-based analyses.
    """

    data: pd.DataFrame
    design: TrialDesign
    columns: ColumnMap
    source: str
    problems: list[Problem] = field(default_factory=list)
    excluded_subjects: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["subject_id", "arm", "reason"])
    )

    @property
    def baseline_in_column(self) -> bool:
        return "baseline" in self.data.columns


def _fmt(v) -> str:
    if isinstance(v, float | np.floating):
        if np.isnan(v):
            return "empty"
        return f"{v:g}"
    return repr(v) if isinstance(v, str) else str(v)


def _arrow_floats(text: pd.Series, missing: pd.Series) -> pd.Series | None:
    """All cells parsed at once by Arrow, or None if any cell is not a number (then the slow
    path finds which)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(text, type=pa.large_string())  # Arrow-backed text: no copy to objects
        if missing.any():
            arr = pc.if_else(pa.array(missing.to_numpy()), pa.scalar(None, arr.type), arr)
        out = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return pd.Series(out, index=text.index, dtype=float)


def _parse_numbers(raw: pd.Series, decimal: str) -> tuple[pd.Series, pd.Series]:
    """Numbers from cells; returns (values, mask of cells that held unparseable text)."""
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype(float), pd.Series(False, index=raw.index)
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype(float), pd.Series(False, index=raw.index)
    if pd.api.types.is_string_dtype(raw) and not raw.isna().any():  # text files: vectorised
        stripped = raw.astype(str).str.strip()
        missing = stripped.isin(MISSING_TOKENS)
        candidate = stripped.str.replace(",", ".", regex=False) if decimal == "," else stripped
        fast = _arrow_floats(candidate, missing)
        if fast is not None:
            return fast, pd.Series(False, index=raw.index)
        values = pd.to_numeric(candidate.where(~missing), errors="coerce").astype(float)
        return values, values.isna() & ~missing
    text = raw.astype(object)
    is_str = text.map(lambda v: isinstance(v, str))
    stripped = text.where(~is_str, text[is_str].str.strip() if is_str.any() else text)
    missing = stripped.isna() | (is_str & stripped.isin(MISSING_TOKENS))
    candidate = stripped.where(~missing, np.nan)
    if decimal == ",":
        candidate = candidate.map(lambda v: v.replace(",", ".") if isinstance(v, str) else v)
    values = pd.to_numeric(candidate, errors="coerce").astype(float)
    bad = values.isna() & ~missing
    return values, bad


def _parse_text(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(raw) and not raw.isna().any():
        return raw.astype(str).str.strip()  # text files: every cell is already text

    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    return raw.map(one).astype(str)


def validate_scores(
    raw: RawTable,
    design: TrialDesign | None = None,
    columns: ColumnMap | None = None,
) -> ValidatedScores:
    """Validate a raw table against the data contract.

    Parameters
    ----------
    raw : RawTable
        As returned by :func:`ipt_outcomes.readers.read_table`.
    design : TrialDesign, optional
        Instrument range, baseline visit, arms and schedule (default: SPEC defaults).
    columns : ColumnMap, optional
        Where the contract's columns are (default: the design's mapping).

    Returns
    -------
    ValidatedScores

    Raises
    ------
    DataValidationError
        With every problem found: required columns missing (with a close match suggested); text,
        fractional, infinite or out-of-range scores; empty, text or negative visits; empty
        subject or arm; a subject with two rows at one visit or in two arms; a baseline of 0; a
        baseline column that changes within a subject; an arm the design does not list.

    Notes
    -----
    A subject with no baseline score is not an error: it is reported as a note and listed in
    ``excluded_subjects``; change-based analyses leave it out.
    """
    design = design or default_design()
    columns = columns or design.columns
    frame = raw.frame
    source = raw.path
    problems: list[Problem] = []

    mapping = {
        "subject_id": columns.subject,
        "arm": columns.arm,
        "visit": columns.visit,
        "score": columns.outcome,
    }
    if columns.baseline:
        mapping["baseline"] = columns.baseline
    used = [c for c in mapping.values()]
    dup = sorted({c for c in used if used.count(c) > 1})
    if dup:
        raise IptOutcomesError(
            f"{source}: column {dup[0]!r} is mapped to more than one role "
            f"({', '.join(k for k, v in mapping.items() if v == dup[0])})"
        )
    present = [str(c) for c in frame.columns]
    for role, col in mapping.items():
        if col not in present:
            hint = difflib.get_close_matches(col.lower(), [c.lower() for c in present], n=1)
            guess = ""
            if hint:
                original = next(c for c in present if c.lower() == hint[0])
                guess = f" (did you mean {original!r}?)"
            key = {"subject_id": "subject", "score": "outcome"}.get(role, role)
            problems.append(
                Problem(
                    "required_column",
                    f"required column is missing{guess}; the file has {_list(present)}. "
                    f"Name it {col!r} or map it ({key} = ... in the design's [columns])",
                    option=key,
                    row="header (row 1)" if raw.row_word == "row" else None,
                    column=col,
                )
            )
    if problems:
        raise DataValidationError(problems, source)

    # --- parse cells into the contract's types -------------------------------------------------
    data = pd.DataFrame(index=frame.index)
    data["subject_id"] = _parse_text(frame[columns.subject])
    data["arm"] = _parse_text(frame[columns.arm])
    n_arms = data["arm"].nunique()
    if n_arms > MAX_ARMS:  # every analysis is per arm: thousands would take hours
        raise DataValidationError([Problem("too_many_arms", f"{n_arms:,} different arms; a trial "
            f"has at most {MAX_ARMS} (is the arm column the right one?)", column=columns.arm,
            option="arm")], source)  # fmt: skip
    parse_bad: set[tuple[int, str]] = set()
    numeric_roles = [("visit", columns.visit), ("score", columns.outcome)]
    if columns.baseline:
        numeric_roles.append(("baseline", columns.baseline))
    for name in NUMERIC_OPTIONAL:
        if name in frame.columns and name not in used:
            numeric_roles.append((name, name))
    for role, col in numeric_roles:
        values, bad = _parse_numbers(frame[col], raw.decimal)
        data[role] = values
        for idx in bad[bad].index:
            parse_bad.add((idx, role))
            what = (
                "visit" if role == "visit" else ("score" if role in ("score", "baseline") else role)
            )
            problems.append(
                Problem(
                    f"{role}_not_number",
                    f"{what} {str(frame.at[idx, col]).strip()!r} is not a number",
                    row=raw.row_label(idx),
                    position=idx,
                    subject=data.at[idx, "subject_id"],
                    column=col,
                )
            )
    for name in TEXT_OPTIONAL:
        if name in frame.columns and name not in used:
            data[name] = _parse_text(frame[name]).replace("", np.nan)
    for col in frame.columns:
        if col in used or col in data.columns:
            continue
        target = col if col not in data.columns else f"{col}_input"
        data[target] = frame[col]
    display = {role: col for role, col in numeric_roles}
    display.update({"subject_id": columns.subject, "arm": columns.arm})

    # --- the pandera contract --------------------------------------------------------------------
    schema = score_table_schema(design.instrument)
    try:
        schema.validate(data, lazy=True)
    except pa.errors.SchemaErrors as err:
        problems.extend(
            _problems_from_pandera(err.failure_cases, data, raw, design, display, parse_bad)
        )

    # --- rules about the design and the baseline -------------------------------------------------
    if design.arms:
        known = set(design.arm_codes)
        first = data.loc[(data["arm"] != "") & ~data["arm"].isin(known)].drop_duplicates("arm")
        for idx, r in first.iterrows():
            problems.append(
                Problem(
                    "arm_not_in_design",
                    f"arm {r['arm']!r} is not one of the design's arms ({_list(design.arm_codes)})",
                    row=raw.row_label(idx),
                    position=idx,
                    subject=r["subject_id"],
                    column=columns.arm,
                )
            )
    if design.schedule:
        off = data.loc[~data["visit"].isin(design.schedule)].drop_duplicates("visit")
        sched = ", ".join(f"{v:g}" for v in design.schedule)
        for idx, r in off.iterrows():
            if design.has_times:  # the time axis is the design's: an unscheduled visit has none
                msg = (f"visit {r['visit']:g} is not in the design's schedule ({sched}), so it has "
                       "no time; add it to visits.schedule and visits.times")  # fmt: skip
                severity = "error"
            else:
                msg = (f"visit {r['visit']:g} is not in the design's schedule ({sched}); it is "
                       "analysed as its own visit")  # fmt: skip
                severity = "warning"
            problems.append(
                Problem(
                    "visit_not_in_schedule",
                    msg,
                    severity=severity,
                    row=raw.row_label(idx),
                    position=idx,
                    subject=r["subject_id"],
                    column=columns.visit,
                )
            )
    notes, excluded = _baseline_rules(data, raw, design, columns, problems)
    errors = sorted((p for p in problems if p.severity == "error"), key=lambda p: p.position)
    if errors:
        raise DataValidationError(errors, source)
    problems.extend(notes)
    return ValidatedScores(
        data=data,
        design=design,
        columns=columns,
        source=source,
        problems=problems,
        excluded_subjects=excluded,
    )


def _list(items) -> str:
    items = [repr(str(i)) for i in items]
    if len(items) > 12:
        items = items[:12] + [f"... ({len(items) - 12} more)"]
    return ", ".join(items) if items else "no columns"


_TEMPLATES = {
    "subject_not_empty": "subject identifier is empty",
    "arm_not_empty": "arm is empty; every row needs its randomised arm",
    "visit_finite": "visit {v} is not a finite number",
    "visit_nonnegative": "visit {v} is negative; visits are time since randomisation (0 or more)",
    "score_finite": "score {v} is not a finite number",
    "score_whole": "score {v} is not a whole number ({inst} totals are integers)",
    "score_in_range": "score {v} is outside the {inst} range {lo}-{hi}",
    "baseline_finite": "baseline score {v} is not a finite number",
    "baseline_in_range": "baseline score {v} is outside the {inst} range {lo}-{hi}",
    "cgi_s_whole": "cgi_s {v} is not a whole number 1-7",
    "sofas_whole": "sofas {v} is not a whole number",
    "not_nullable": "{col} is empty",
}


def _builtin_message(check: str, column: str, v) -> str:
    if check.startswith("isin"):
        allowed = "0 or 1" if column == "antidepressant" else "a whole number 1-7"
        return f"{column} must be {allowed}, got {_fmt(v)}"
    if check.startswith(("greater_than", "less_than", "in_range")):
        bounds = {"age": "0-120", "sofas": "1-100"}.get(column, "the allowed range")
        return f"{column} {_fmt(v)} is outside {bounds}"
    return f"{column} {_fmt(v)} fails the check {check}"


def _problems_from_pandera(fc, data, raw, design, display, parse_bad) -> list[Problem]:
    inst = design.instrument
    out: list[Problem] = []
    seen: set[tuple[str, object]] = set()
    group_checks = {
        "one_row_per_subject_visit",
        "one_arm_per_subject",
        "baseline_constant_within_subject",
    }
    grouped: dict[str, set] = {k: set() for k in group_checks}
    for rec in fc.itertuples(index=False):
        check = str(rec.check).lstrip("_")
        idx = rec.index
        if check in group_checks:
            grouped[check].add(idx)
            continue
        column = str(rec.column)
        if idx is None or (isinstance(idx, float) and np.isnan(idx)):
            # schema-level failure (e.g. a dtype); report once without a row
            key = (check, column)
            if key not in seen:
                seen.add(key)
                out.append(Problem(check, f"{column}: {check} ({rec.failure_case})", column=column))
            continue
        if (idx, column) in parse_bad or (check, idx, column) in seen:
            continue
        seen.add((check, idx, column))
        v = data.at[idx, column] if column in data.columns else rec.failure_case
        if check == "not_nullable" and column == "visit":
            msg = "visit is empty; every row needs the time of its assessment"
        elif check in _TEMPLATES:
            msg = _TEMPLATES[check].format(
                v=_fmt(v), inst=inst.name, lo=inst.minimum, hi=inst.maximum, col=column
            )
        else:
            msg = _builtin_message(check, column, v)
        out.append(
            Problem(
                check,
                msg,
                row=raw.row_label(idx),
                position=idx,
                subject=data.at[idx, "subject_id"],
                column=display.get(column, column),
            )
        )
    if grouped["one_row_per_subject_visit"]:
        sub = data.loc[sorted(grouped["one_row_per_subject_visit"])]
        for (subj, visit), g in sub.groupby(["subject_id", "visit"], sort=False):
            rows = ", ".join(raw.row_label(i) for i in g.index[1:])
            out.append(
                Problem(
                    "one_row_per_subject_visit",
                    f"subject has {len(g)} rows at visit {visit:g} (also {rows}); keep one row per subject and visit",
                    row=raw.row_label(g.index[0]),
                    position=g.index[0],
                    subject=subj,
                    column=display["visit"],
                )
            )
    if grouped["one_arm_per_subject"]:
        sub = data.loc[sorted(grouped["one_arm_per_subject"])]
        for subj, g in sub.groupby("subject_id", sort=False):
            firsts = g.drop_duplicates("arm")
            detail = ", ".join(f"{a!r} at {raw.row_label(i)}" for i, a in firsts["arm"].items())
            out.append(
                Problem(
                    "one_arm_per_subject",
                    f"subject is in more than one arm ({detail}); a subject belongs to exactly one arm",
                    row=raw.row_label(firsts.index[1]),
                    position=firsts.index[1],
                    subject=subj,
                    column=display["arm"],
                )
            )
    if grouped["baseline_constant_within_subject"]:
        sub = data.loc[sorted(grouped["baseline_constant_within_subject"])]
        for subj, g in sub.groupby("subject_id", sort=False):
            firsts = g.dropna(subset=["baseline"]).drop_duplicates("baseline")
            detail = ", ".join(
                f"{b:g} at {raw.row_label(i)}" for i, b in firsts["baseline"].items()
            )
            out.append(
                Problem(
                    "baseline_constant_within_subject",
                    f"baseline changes within the subject ({detail}); it must be the same on every row",
                    row=raw.row_label(firsts.index[1]),
                    position=firsts.index[1],
                    subject=subj,
                    column=display["baseline"],
                )
            )
    return out


def _baseline_rules(data, raw, design, columns, problems):
    """Baseline rules for the three shapes of a file (row, column, or both).

    A baseline of 0 is an error; with both a baseline record and a baseline column the two must
    agree (the record may be empty, then the column gives the baseline); a subject with no
    baseline at all is excluded from change-based analyses (a note, listed).
    """
    notes: list[Problem] = []
    arms = data.groupby("subject_id", sort=False)["arm"].first()
    bv = design.baseline_visit
    at_base = data.loc[data["visit"] == bv]
    has_column = "baseline" in data.columns
    base = pd.Series(np.nan, index=arms.index)
    if has_column:
        col_base = data.groupby("subject_id", sort=False)["baseline"].first()
        base = base.fillna(col_base.reindex(base.index))
        for subj in data.loc[data["baseline"] == 0, "subject_id"].unique():
            idx = data.index[(data["subject_id"] == subj) & (data["baseline"] == 0)][0]
            problems.append(_zero_baseline(raw, idx, subj, columns.baseline, design))
        both = at_base.loc[at_base["score"].notna() & at_base["baseline"].notna()]
        for idx in both.index[both["score"] != both["baseline"]]:
            problems.append(
                Problem(
                    "baseline_record_disagrees",
                    f"the baseline record (visit {bv:g}) has {data.at[idx, 'score']:g} but column "
                    f"{columns.baseline!r} has {data.at[idx, 'baseline']:g}; they must agree",
                    row=raw.row_label(idx),
                    position=idx,
                    subject=data.at[idx, "subject_id"],
                    column=columns.outcome,
                )
            )
    rec = at_base.loc[at_base["score"].notna()].drop_duplicates("subject_id")
    rec_base = rec.set_index("subject_id")["score"]
    for idx in rec.index[rec["score"] == 0]:
        problems.append(
            _zero_baseline(raw, idx, data.at[idx, "subject_id"], columns.outcome, design)
        )
    base = base.fillna(rec_base.reindex(base.index))
    missing = list(base.index[base.isna()])
    empty_rows = at_base.loc[at_base["score"].isna()]
    row_of = dict(zip(empty_rows["subject_id"], empty_rows.index, strict=False))
    if has_column:
        first_row = data.reset_index().groupby("subject_id", sort=False)["index"].first()
        row_of = {s: row_of.get(s, first_row[s]) for s in missing}
    excluded = pd.DataFrame(
        {
            "subject_id": missing,
            "arm": [arms[s] for s in missing],
            "reason": "no baseline score",
        },
        columns=["subject_id", "arm", "reason"],
    )
    where = f"visit {bv:g}"
    if has_column:
        where = f"column {columns.baseline!r}" + (
            f" or a record at visit {bv:g}" if len(at_base) else ""
        )
    col = columns.baseline if has_column else columns.outcome
    for s in missing:
        idx = row_of.get(s)
        notes.append(
            Problem(
                "missing_baseline",
                f"no baseline score ({where}); the subject is excluded from change-based analyses",
                severity="note",
                row=raw.row_label(idx) if idx is not None else None,
                subject=s,
                column=col,
            )
        )
    return notes, excluded


def _zero_baseline(raw, idx, subject, column, design) -> Problem:
    return Problem(
        "baseline_zero",
        "baseline score is 0, so percent improvement from baseline is undefined; "
        "correct the score or remove the subject",
        row=raw.row_label(idx),
        position=idx,
        subject=subject,
        column=column,
    )
