"""Check a raw score table against the data contract and report every problem at once.

:func:`validate_scores` maps the user's columns to the contract's names, parses every cell,
runs the pandera :class:`~ipt_outcomes.schemas.ScoreTable` schema lazily, applies the baseline
rules and returns the typed table, or raises :class:`DataValidationError` listing each problem
with the row number a spreadsheet user sees (header = row 1), the subject and the column.
"""

from __future__ import annotations

import difflib
import re
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
    #: rows of the file, before rows of other instruments or flagged-out rows were left out
    n_rows_read: int = 0

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


#: Names the data layer gives its own columns: an unmapped extra column of the file with one of
#: these names is kept under ``<name>_input`` and never taken for the contract's column.
RESERVED = frozenset({"subject_id", "arm", "visit", "score", "baseline", "time", "visit_label",
                      "change", "pct_improvement", "responder", "remitter", "imputed"})  # fmt: skip


def _is_yes(raw: pd.Series) -> pd.Series:
    """ADaM flags: ``"Y"`` (any case, spaces ignored) is set; anything else (``""``, ``"N"``,
    missing) is not."""
    return _parse_text(raw).str.upper().eq("Y")


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
        Instrument (the design's selected one) and its range, baseline visit, arms, schedule
        and visit codes (default: SPEC defaults).
    columns : ColumnMap, optional
        Where the contract's columns are (default: the design's mapping).

    Returns
    -------
    ValidatedScores
        Its ``design`` is the design given, with the baseline visit found from the baseline
        flag when the design names none.

    Raises
    ------
    DataValidationError
        With every problem found: required columns missing (with a close match suggested); text,
        fractional (for an integer instrument), infinite or out-of-range scores; empty, text or
        negative visits; visit codes the design does not map; empty subject or arm; a subject
        with two rows at one visit or in two arms; a baseline at the best end of the scale; a
        baseline column that changes within a subject; two baseline records of a subject; an arm
        the design does not list.

    Notes
    -----
    Rows are selected before they are checked: with ``[columns] param`` only the rows of the
    selected instrument, with ``[columns] analysis_flag`` only rows flagged ``"Y"`` (a warning
    says how many were left out), and the baseline record (``baseline_flag``), whose own
    analysis flag some files leave empty. With ``[columns] baseline_flag`` the row flagged ``"Y"`` is
    each subject's baseline record, whatever its visit; other rows at the baseline visit are not
    analysed (a warning says how many). Unmapped extra columns are kept (one named as a column
    the data layer makes, e.g. ``baseline``, as ``baseline_input``) and never used.

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
    flags = {
        k: getattr(columns, k) for k in ("param", "baseline_flag", "analysis_flag")
        if getattr(columns, k)
    }  # fmt: skip
    used = [*mapping.values(), *flags.values()]
    dup = sorted({c for c in used if used.count(c) > 1})
    if dup:
        roles = {**mapping, **flags}
        raise IptOutcomesError(
            f"{source}: column {dup[0]!r} is mapped to more than one role "
            f"({', '.join(k for k, v in roles.items() if v == dup[0])})"
        )
    present = [str(c) for c in frame.columns]
    for role, col in [*mapping.items(), *flags.items()]:
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

    # --- the rows to analyse -----------------------------------------------------------------
    notes: list[Problem] = []
    if columns.param:
        frame = _select_instrument(frame, raw, design, columns, notes)
    if columns.analysis_flag:
        keep = _is_yes(frame[columns.analysis_flag])
        if columns.baseline_flag:  # the baseline record is analysed whatever its analysis flag
            keep |= _is_yes(frame[columns.baseline_flag])
        n_out = int((~keep).sum())
        if n_out:
            values = _parse_text(frame.loc[~keep, columns.analysis_flag]).value_counts()
            detail = ", ".join(f"{n} {'empty' if v == '' else repr(v)}" for v, n in values.items())
            notes.append(
                Problem(
                    "analysis_flag",
                    f"{n_out} row{'s' if n_out != 1 else ''} with {columns.analysis_flag} other "
                    f"than 'Y' ({detail}) {'are' if n_out != 1 else 'is'} left out (not analysed)",
                    severity="warning",
                    column=columns.analysis_flag,
                )
            )
        frame = frame.loc[keep]
        if frame.empty:
            raise DataValidationError(
                [Problem("analysis_flag", f"no row has {columns.analysis_flag} = 'Y': nothing "
                         "to analyse", column=columns.analysis_flag)], source)  # fmt: skip

    # --- parse cells into the contract's types -------------------------------------------------
    data = pd.DataFrame(index=frame.index)
    data["subject_id"] = _parse_text(frame[columns.subject])
    data["arm"] = _parse_text(frame[columns.arm])
    n_arms = data["arm"].nunique()
    if n_arms > MAX_ARMS:  # every analysis is per arm: thousands would take hours
        raise DataValidationError([Problem("too_many_arms", f"{n_arms:,} different arms; a trial "
            f"has at most {MAX_ARMS} (is the arm column the right one?)", column=columns.arm,
            option="arm")], source)  # fmt: skip
    _arms_by_letter_case(data["arm"], columns.arm, notes)
    parse_bad: set[tuple[int, str]] = set()
    numeric_roles = [("score", columns.outcome)]
    if columns.baseline:
        numeric_roles.append(("baseline", columns.baseline))
    for name in NUMERIC_OPTIONAL:
        if name in frame.columns and name not in used:
            numeric_roles.append((name, name))
    if design.has_visit_codes:
        data["visit"] = _map_visit_codes(frame, raw, design, columns, data, problems, parse_bad)
    else:
        numeric_roles.insert(0, ("visit", columns.visit))
    for role, col in numeric_roles:
        values, bad = _parse_numbers(frame[col], raw.decimal)
        data[role] = values
        if role == "visit" and bad.any() and _all_text(frame[col], bad):
            problems.append(_visits_are_codes(frame[col], bad, raw, data, columns))
            parse_bad.update((idx, role) for idx in bad[bad].index)
            continue
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
    data = data[["subject_id", "arm", "visit", *[c for c in data.columns
                                                 if c not in ("subject_id", "arm", "visit")]]]  # fmt: skip
    for name in TEXT_OPTIONAL:
        if name in frame.columns and name not in used:
            data[name] = _parse_text(frame[name]).replace("", np.nan)
    for col in frame.columns:
        if col in used or col in data.columns and col in NUMERIC_OPTIONAL + TEXT_OPTIONAL:
            continue
        target = col if col not in data.columns and col not in RESERVED else f"{col}_input"
        data[target] = frame[col]
    display = {role: col for role, col in numeric_roles}
    display.update({"subject_id": columns.subject, "arm": columns.arm, "visit": columns.visit})

    # --- the baseline record marked by a flag --------------------------------------------------
    if columns.baseline_flag:
        data, design = _apply_baseline_flag(data, frame, raw, design, columns, problems, notes)

    # --- the pandera contract --------------------------------------------------------------------
    schema = score_table_schema(design.instrument, visit_codes=design.has_visit_codes)
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
    if design.schedule and not design.has_visit_codes:
        off = data.loc[data["visit"].notna() & ~data["visit"].isin(design.schedule)]
        off = off.drop_duplicates("visit")
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
    base_notes, excluded = _baseline_rules(data, raw, design, columns, problems)
    errors = sorted((p for p in problems if p.severity == "error"), key=lambda p: p.position)
    if errors:
        raise DataValidationError(errors, source)
    problems.extend(notes)
    problems.extend(base_notes)
    return ValidatedScores(
        data=data,
        design=design,
        columns=columns,
        source=source,
        problems=problems,
        excluded_subjects=excluded,
        n_rows_read=len(raw.frame),
    )


def _select_instrument(frame, raw, design, columns, notes) -> pd.DataFrame:
    """The rows of the design's selected instrument in a long file (``[columns] param``)."""
    col = columns.param
    values = _parse_text(frame[col])
    found = list(dict.fromkeys(v for v in values if v))
    inst = design.instrument
    if inst.param is None:
        if len(found) > 1:
            raise DataValidationError(
                [Problem("param", f"the file holds {len(found)} parameters in {col} "
                         f"({_list(found)}); describe each as an [[instruments]] entry with its "
                         "param (and choose one with --instrument)", column=col)],
                raw.path)  # fmt: skip
        return frame
    keep = values.str.casefold() == inst.param.casefold()
    if not keep.any():
        raise DataValidationError(
            [Problem("param", f"no row has {col} = {inst.param!r} (the param of {inst.name}); "
                     f"the file's values are {_list(found)}", column=col)], raw.path)  # fmt: skip
    other = [v for v in found if v.casefold() != inst.param.casefold()]
    if other:
        described = {i.param.casefold(): i.name for i in design.instruments if i.param}
        shown = ", ".join(
            f"{v!r}" + (f" ({described[v.casefold()]})" if v.casefold() in described else
                        " (not in the design)") for v in other[:12])  # fmt: skip
        n_other = int((~keep).sum())
        notes.append(
            Problem(
                "other_parameters",
                f"{inst.name} is the rows with {col} = {inst.param!r}; {n_other} rows of other "
                f"parameters are not part of this analysis: {shown}",
                severity="note",
                column=col,
            )
        )
    return frame.loc[keep]


def _all_text(raw: pd.Series, bad: pd.Series) -> bool:
    """Every cell that is not empty failed to parse as a number (visits written as codes)."""
    return bool(bad.sum() > 0) and int(bad.sum()) >= int(_parse_text(raw).ne("").sum())


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$")


def _visits_are_codes(raw, bad, raw_table, data, columns) -> Problem:
    codes = list(dict.fromkeys(_parse_text(raw[bad])))
    first = bad[bad].index[0]
    subject = data.at[first, columns.subject] if columns.subject in data.columns else None
    if all(_DATE.match(str(c)) for c in codes):  # calendar dates, not times or visit codes
        return Problem(
            "visit_is_a_date",
            f"visit {codes[0]!r} is a calendar date: visits are times since randomisation "
            "(numbers) or visit codes mapped by the design, not dates (compute the time since "
            "randomisation, or use the visit number)",
            row=raw_table.row_label(first),
            subject=None if subject is None or subject != subject else str(subject),
            position=first,
            column=columns.visit,
        )
    return Problem(
        "visit_codes_not_mapped",
        f"visits are text codes ({_list(codes)}): map them in the design ([visits] schedule = "
        "the codes in time order, times = their times, baseline = the baseline's code); "
        "`ipt-outcomes design` writes a starter",
        row=raw_table.row_label(first),
        position=first,
        column=columns.visit,
    )


def _map_visit_codes(frame, raw, design, columns, data, problems, parse_bad) -> pd.Series:
    """Text visit codes mapped to the numbers inside (their times); unknown codes refused."""
    from .design import _code_key

    text = _parse_text(frame[columns.visit])
    keys = {_code_key(c): t for c, t in zip(design.visit_codes, design.schedule, strict=True)}
    norm = text.map(_code_key)
    values = norm.map(keys).astype(float)
    unknown = (text != "") & values.isna()
    codes = ", ".join(repr(c) for c in design.visit_codes)
    for idx, code in text[unknown].drop_duplicates().items():
        n = int((text[unknown] == code).sum())
        problems.append(
            Problem(
                "visit_not_in_schedule",
                f"visit {code!r} is not one of the design's visit codes ({codes})"
                + (f" ({n} rows)" if n > 1 else "")
                + "; add it to visits.schedule with its time",
                row=raw.row_label(idx),
                position=idx,
                subject=data.at[idx, "subject_id"],
                column=columns.visit,
            )
        )
    parse_bad.update((idx, "visit") for idx in unknown[unknown].index)
    return values


def _apply_baseline_flag(data, frame, raw, design, columns, problems, notes):
    """The flagged row is each subject's baseline record: moved to the baseline visit (found
    from the flags when the design names none); unflagged rows at the baseline visit are left
    out. Returns the rows and the design with its baseline visit."""
    col = columns.baseline_flag
    yes = _is_yes(frame[col]).reindex(data.index, fill_value=False)
    ok_visit = data["visit"].notna()
    flagged = data.loc[yes & ok_visit]
    if flagged.empty:
        problems.append(
            Problem(
                "baseline_flag",
                f"no row has {col} = 'Y', so no subject has a baseline record",
                column=col,
            )  # fmt: skip
        )
        return data, design
    twice = flagged.loc[flagged["subject_id"].duplicated(keep=False)]
    for subj, g in twice.groupby("subject_id", sort=False):
        rows = ", ".join(raw.row_label(i) for i in g.index)
        problems.append(
            Problem(
                "baseline_flag_twice",
                f"{len(g)} rows are flagged as the baseline record ({rows}); flag one",
                row=raw.row_label(g.index[1]),
                position=g.index[1],
                subject=subj,
                column=col,
            )
        )
    if not design.baseline_stated:
        counts = flagged["visit"].value_counts()
        top = [float(v) for v in counts[counts == counts.max()].index]
        # a tie: not a key visit, a code naming the baseline, then the later visit
        top = [v for v in top if v not in design.key_visits] or top
        named = [v for v in top if "base" in str(design.visit_code(v)).casefold()]
        bv = max(named or top, key=design.time_of)
        design = _with_baseline(design, bv)
    bv = design.baseline_visit
    base_time = design.time_of(bv)
    late = flagged.loc[[design.time_of(v) > base_time for v in flagged["visit"]]]
    for idx, r in late.drop_duplicates("subject_id").iterrows():
        problems.append(
            Problem(
                "baseline_flag_late",
                f"the row flagged as baseline ({col} = 'Y') is at visit "
                f"{design.visit_text(r['visit'])}, after the baseline visit {design.visit_text(bv)}",
                row=raw.row_label(idx),
                position=idx,
                subject=r["subject_id"],
                column=col,
            )
        )
    unflagged = (data["visit"] == bv) & ~yes
    n_out = int(unflagged.sum())
    if n_out:
        notes.append(
            Problem(
                "baseline_visit_not_flagged",
                f"{n_out} row{'s' if n_out != 1 else ''} at the baseline visit "
                f"{design.visit_text(bv)} {'are' if n_out != 1 else 'is'} not flagged "
                f"{col} = 'Y' and not analysed (the flagged row is the baseline record)",
                severity="warning",
                column=col,
            )
        )
    data = data.loc[~unflagged].copy()
    moved = yes.reindex(data.index, fill_value=False) & data["visit"].notna()
    data.loc[moved, "visit"] = bv
    return data, design


def _arms_by_letter_case(arms: pd.Series, column: str, notes: list) -> None:
    """Warn of arm labels that differ only in letter case (``TAU`` and ``tau`` in different
    subjects): they are two arms to every analysis, which is seldom what the file meant."""
    groups: dict[str, list[str]] = {}
    for a in pd.unique(arms.dropna()):
        groups.setdefault(str(a).casefold(), []).append(str(a))
    for labels in groups.values():
        if len(labels) > 1:
            notes.append(Problem(
                "arm_letter_case",
                f"arms {_list(labels)} differ only in letter case and are analysed as "
                f"{len(labels)} different arms; if they are one arm, write its label the same "
                "way in every row",
                severity="warning", column=column))  # fmt: skip


def _with_baseline(design: TrialDesign, bv: float) -> TrialDesign:
    """The design with its baseline visit found from the data (its default label "Baseline")."""
    import dataclasses

    from .design import default_visit_label

    labels = list(design.labels)
    if bv in design.schedule and len(labels) == len(design.schedule):
        i = design.schedule.index(bv)
        if labels[i] == default_visit_label(design.time_of(bv), design.visit_unit):
            labels[i] = "Baseline"
    if bv in design.key_visits:
        raise DataValidationError(
            [Problem("baseline_flag", f"the flagged baseline records are at visit "
                     f"{design.visit_text(bv)}, a key visit of the design; name the baseline "
                     "visit in [visits] baseline")], design.source)  # fmt: skip
    return dataclasses.replace(
        design, baseline_visit=bv, labels=tuple(labels), baseline_stated=True
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
    "visit_not_huge": "visit {v} is further from randomisation than any trial runs (at most "
    "100,000 in any unit)",
    "score_finite": "score {v} is not a finite number",
    "score_whole": "score {v} is not a whole number ({inst} totals are integers; for "
    "continuous scores set integer = false in the design's [instrument])",
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
                    f"subject has {len(g)} rows at visit {design.visit_text(visit)} (also {rows}); keep one row per subject and visit",
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
        best = design.instrument.best
        for subj in data.loc[data["baseline"] == best, "subject_id"].unique():
            idx = data.index[(data["subject_id"] == subj) & (data["baseline"] == best)][0]
            problems.append(_zero_baseline(raw, idx, subj, columns.baseline, design))
        both = at_base.loc[at_base["score"].notna() & at_base["baseline"].notna()]
        for idx in both.index[both["score"] != both["baseline"]]:
            problems.append(
                Problem(
                    "baseline_record_disagrees",
                    f"the baseline record (visit {design.visit_text(bv)}) has {data.at[idx, 'score']:g} but column "
                    f"{columns.baseline!r} has {data.at[idx, 'baseline']:g}; they must agree",
                    row=raw.row_label(idx),
                    position=idx,
                    subject=data.at[idx, "subject_id"],
                    column=columns.outcome,
                )
            )
    rec = at_base.loc[at_base["score"].notna()].drop_duplicates("subject_id")
    rec_base = rec.set_index("subject_id")["score"]
    for idx in rec.index[rec["score"] == design.instrument.best]:
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
    where = f"visit {design.visit_text(bv)}"
    if columns.baseline_flag:
        where = f"no row flagged {columns.baseline_flag} = 'Y' with a score"
    if has_column:
        where = f"column {columns.baseline!r}" + (
            f" or a record at visit {design.visit_text(bv)}" if len(at_base) else ""
        )
    col = columns.baseline if has_column else (columns.baseline_flag or columns.outcome)
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
    from .derive import best_end_message

    inst = design.instrument
    value = inst.best
    return Problem(
        "baseline_zero" if value == 0 else "baseline_at_best_end",
        best_end_message(inst, value).replace("is undefined", "from baseline is undefined")
        + "; correct the score or remove the subject",
        row=raw.row_label(idx),
        position=idx,
        subject=subject,
        column=column,
    )
