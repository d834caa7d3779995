"""One trial, understood once: the design, the validated scores and everything derived from them.

:func:`load_trial` reads a score file, checks it against the data contract and the design, puts
the baseline in one shape (a baseline row per subject at the design's baseline visit, whichever
shape the file had), attaches the time axis and visit labels, and derives change, percent
improvement, response and remission once. Every analysis, table, figure, the report and the
worksheets take the resulting :class:`Trial`; nothing downstream re-reads, re-validates or
re-derives.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import IptOutcomesError
from .covariates import numeric_or_as_is
from .derive import derive_outcomes
from .design import ColumnMap, TrialDesign, default_design, load_design
from .validation import Problem, ValidatedScores, validate_scores

__all__ = ["Trial", "load_trial", "trial_from_frame", "build_trial"]

#: Columns that describe a subject rather than a visit (copied onto a made-up baseline row).
SUBJECT_LEVEL = ("therapy_group", "antidepressant", "age", "sex")


@dataclass(frozen=True, eq=False)
class Trial:
    """A validated, derived trial.

    Attributes
    ----------
    design : TrialDesign
        The design as given, or inferred from the data when no design file was given.
    scores : DataFrame
        Every row, baseline rows included (one per subject at ``design.baseline_visit``, made
        from a baseline column if the file had one): ``subject_id, arm, visit, time,
        visit_label, score`` plus optional and extra columns.
    derived : DataFrame
        Post-baseline rows of subjects with a baseline: the columns of ``scores`` plus
        ``baseline, change, pct_improvement, responder, remitter``.
    arms : tuple of str
        Arm codes present in the data, in the design's order.
    post_visits : tuple of float
        Post-baseline visits present in the data, in time order.
    key_visits : tuple of float
        The design's key visits present in the data, else the last visit.
    source : str
        The file the scores came from.
    problems : list of Problem
        Warnings and notes found while validating.
    excluded_subjects : DataFrame
        ``subject_id, arm, reason`` of subjects left out of change-based analyses.
    """

    design: TrialDesign
    scores: pd.DataFrame = field(repr=False)
    derived: pd.DataFrame = field(repr=False)
    arms: tuple[str, ...]
    post_visits: tuple[float, ...]
    key_visits: tuple[float, ...]
    source: str = "data"
    columns: ColumnMap = field(default_factory=ColumnMap)
    problems: list = field(default_factory=list, repr=False)
    excluded_subjects: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["subject_id", "arm", "reason"]), repr=False
    )
    baseline_from_column: bool = False
    n_file_rows: int = 0  # rows analysed (made-up baseline rows not counted)
    raw: object = field(default=None, repr=False)  # the table as read (for other instruments)
    n_rows_read: int = 0  # rows of the file, rows of other instruments and flagged-out rows too

    def __repr__(self) -> str:
        n = self.scores["subject_id"].nunique()
        return (
            f"Trial({self.design.name!r}: {n} subjects in {len(self.arms)} arms "
            f"({', '.join(self.arms)}), {self.design.instrument.name}, "
            f"{len(self.post_visits)} post-baseline visits, reference {self.reference!r})"
        )

    # --- names --------------------------------------------------------------------------------
    @property
    def reference(self) -> str:
        return self.design.reference

    @property
    def instrument(self):
        """The trial's instrument (:class:`~ipt_outcomes.data.design.Instrument`): the
        design's selected one. Its helpers word the direction (``direction``,
        ``improvement_sign``, ``favours_text``, ``remission_text``, ...)."""
        return self.design.instrument

    def visit_code(self, visit):
        """The visit as in the input (its text code when the design maps codes)."""
        return self.design.visit_code(visit)

    def with_input_visits(self, table: pd.DataFrame, columns=("visit", "visit2")) -> pd.DataFrame:
        """A table whose visit columns hold the visits as in the input (text codes stay text;
        numbers are unchanged): what every written table carries (SPEC "Output tables")."""
        if not self.design.has_visit_codes:
            return table
        changes = {
            c: [self.design.visit_code(v) if v == v else v for v in table[c]]
            for c in columns
            if c in table.columns
        }
        return table.assign(**changes) if changes else table

    @property
    def baseline_visit(self) -> float:
        return self.design.baseline_visit

    def arm_label(self, code: str) -> str:
        """Display label of an arm (the design's label, marked when modelled)."""
        return self.design.arm_label(code)

    def visit_label(self, visit: float) -> str:
        return self.design.visit_label(visit)

    def time_of(self, visit: float) -> float:
        return self.design.time_of(visit)

    @property
    def visits(self) -> tuple[float, ...]:
        """Every visit present, baseline first."""
        return (self.baseline_visit, *self.post_visits)

    @property
    def baseline(self) -> pd.Series:
        """Each subject's baseline score (subjects with one)."""
        rows = self.scores.loc[
            (self.scores["visit"] == self.baseline_visit) & self.scores["score"].notna()
        ]
        return rows.drop_duplicates("subject_id").set_index("subject_id")["score"].astype(float)

    @property
    def arm_of(self) -> pd.Series:
        """Each subject's arm."""
        return self.scores.drop_duplicates("subject_id").set_index("subject_id")["arm"]

    # --- checks analyses use ----------------------------------------------------------------
    def nothing_to_analyse(self) -> str | None:
        """Why nothing in the trial can be analysed, or ``None`` when something can."""
        d = self.scores
        visits = ", ".join(self.design.visit_text(v) for v in sorted(d["visit"].unique()))
        base = self.baseline
        if base.empty:
            return (
                f"no subject has a baseline score at visit {self.design.visit_text(self.baseline_visit)} "
                f"(visits in the file: {visits}); name the baseline visit (design [visits] "
                "baseline, or baseline_visit) or the baseline column"
            )
        if not self.post_visits:
            return f"there are no post-baseline visits (visits in the file: {visits})"
        if not self.derived["score"].notna().any():
            return "no subject with a baseline has a post-baseline score"
        return None

    def require_analysable(self) -> None:
        """Raise a clear error when nothing can be analysed or the reference arm is absent."""
        why = self.nothing_to_analyse()
        if why:
            raise IptOutcomesError(f"{self.source}: nothing to analyse: {why}")
        if self.reference not in self.arms:
            raise IptOutcomesError(
                f"{self.source}: the reference arm {self.reference!r} is not in the data (arms: "
                f"{', '.join(self.arms)}); name the reference arm (design [analysis] reference)"
            )
        if len(self.arms) < 2:
            raise IptOutcomesError(
                f"{self.source}: only one arm ({self.arms[0]}) is in the data; a comparison needs two"
            )

    def baseline_values(self, columns, numbers: bool = True) -> pd.DataFrame:
        """One row per subject (indexed by subject id): each column's value on the subject's
        baseline row, else its first non-missing value (covariates are measured at baseline);
        ``baseline`` is the baseline score. What every covariate-adjusted analysis uses.

        With ``numbers`` (the default) a column whose every value is a number enters as numbers
        (a continuous covariate such as age), whatever the file format kept it as (a text file's
        extra columns are read as text); other columns stay as written (factors). ``numbers=False``
        keeps every value as written (subgroup levels)."""
        d = self.scores
        out = pd.DataFrame(index=pd.Index(pd.unique(d["subject_id"]), name="subject_id"))
        at_base = d["visit"] == self.baseline_visit
        ordered = pd.concat([d[at_base], d[~at_base]])
        for c in dict.fromkeys(columns):
            if c == "baseline":
                out[c] = self.baseline.reindex(out.index)
                continue
            first = ordered.dropna(subset=[c]).drop_duplicates("subject_id")
            values = first.set_index("subject_id")[c].reindex(out.index)
            out[c] = numeric_or_as_is(values) if numbers else values
        return out

    def for_instrument(self, name: str) -> Trial:
        """The same file's trial of another of the design's instruments, built from the table
        as it was read (the file is not read again).

        Raises
        ------
        DesignError
            When the design has no such instrument (naming its instruments).
        """
        inst = self.design.find_instrument(name)
        if inst.name == self.instrument.name:
            return self
        if self.raw is None:
            raise ValueError("this trial was not loaded from a table; load the instrument itself")
        design = self.design.with_instrument(inst)
        columns = self.columns if not inst.outcome else replace_columns(self.columns, inst)
        trial = build_trial(validate_scores(self.raw, design, columns))
        return dataclasses.replace(trial, raw=self.raw)

    def with_reference(self, reference: str) -> Trial:
        """The same trial with another reference arm."""
        if reference not in self.arms:
            raise IptOutcomesError(
                f"reference arm {reference!r} is not in the data (arms: {', '.join(self.arms)})"
            )
        return dataclasses.replace(
            self, design=dataclasses.replace(self.design, reference=reference)
        )

    def subset_arms(self, arms) -> Trial:
        """The trial restricted to some arms (e.g. a two-arm comparison)."""
        arms = [a for a in self.arms if a in set(arms)]
        keep = self.scores["arm"].isin(arms)
        return dataclasses.replace(
            self,
            scores=self.scores.loc[keep].copy(),
            derived=self.derived.loc[self.derived["arm"].isin(arms)].copy(),
            arms=tuple(arms),
        )


# ------------------------------------------------------------------------------------------
# building
# ------------------------------------------------------------------------------------------


def _baseline_rows(data: pd.DataFrame, bv: float) -> pd.DataFrame:
    """One baseline row per subject at visit ``bv``: the record where there is one (its empty
    score filled from the baseline column), made from the column where there is none."""
    if "baseline" not in data.columns:
        return data
    col = data.groupby("subject_id", sort=False)["baseline"].first()
    at = data["visit"] == bv
    data = data.copy()
    fill = at & data["score"].isna()
    if fill.any():
        data.loc[fill, "score"] = data.loc[fill, "subject_id"].map(col).astype(float)
    have = set(data.loc[at, "subject_id"])
    firsts = data.drop_duplicates("subject_id")
    firsts = firsts.loc[~firsts["subject_id"].isin(have)].copy()
    if len(firsts):
        firsts["visit"] = float(bv)
        firsts["score"] = firsts["subject_id"].map(col).astype(float)
        keep = {"subject_id", "arm", "visit", "score", "baseline", *SUBJECT_LEVEL}
        for c in firsts.columns:
            if c not in keep:
                firsts[c] = np.nan if pd.api.types.is_numeric_dtype(firsts[c]) else None
        firsts.index = -1 - np.arange(len(firsts))  # made-up rows: no row in the file
        data = pd.concat([firsts, data])
    return data.drop(columns=["baseline"])


def _infer(design: TrialDesign, data: pd.DataFrame) -> TrialDesign:
    """Fill what a design without a file does not say from the data (arms, schedule)."""
    changes = {}
    if not design.arms:
        from .design import Arm

        codes = design.arm_order(data["arm"].unique())
        changes["arms"] = tuple(Arm(code=c, label=c) for c in codes)
    if not design.schedule:
        visits = sorted({*data["visit"].unique(), design.baseline_visit})
        changes["schedule"] = tuple(float(v) for v in visits)
    return dataclasses.replace(design, **changes) if changes else design


def build_trial(validated: ValidatedScores) -> Trial:
    """Turn validated scores into a :class:`Trial` (baseline in one shape, time, labels, derived)."""
    design = validated.design
    data = validated.data
    from_column = "baseline" in data.columns
    data = _baseline_rows(data, design.baseline_visit)
    if design.inferred or not design.schedule or not design.arms:
        design = _infer(design, data)
    visits = pd.Index(pd.unique(data["visit"]))
    codes = visits.get_indexer(data["visit"])
    data = data.assign(
        time=np.array([design.time_of(v) for v in visits], dtype=float)[codes],
        visit_label=pd.Categorical.from_codes(
            codes, categories=[design.visit_label(v) for v in visits]
        ).astype(str),
    )
    problems = list(validated.problems)
    base_time = design.time_of(design.baseline_visit)
    pre = data["time"].to_numpy() < base_time
    if pre.any():  # screening or run-in: before the baseline, so not part of any analysis
        early = sorted(set(data.loc[pre, "visit"]))
        problems.append(
            Problem(
                "visit_before_baseline",
                f"visit{'s' if len(early) > 1 else ''} "
                f"{', '.join(design.visit_text(v) for v in early)} "
                f"come{'' if len(early) > 1 else 's'} before the baseline visit "
                f"{design.visit_text(design.baseline_visit)}: {int(pre.sum())} rows are not "
                "analysed (check the baseline visit if this is not a screening or run-in visit)",
                severity="warning",
            )
        )
        data = data.loc[~pre]
    order = ["subject_id", "arm", "visit", "time", "visit_label", "score"]
    data = data[order + [c for c in data.columns if c not in order]]
    derived = derive_outcomes(
        data,
        baseline_visit=design.baseline_visit,
        instrument=design.instrument,
        source=validated.source,
        validated=True,
        visit_codes=design.has_visit_codes,
    )
    arms = tuple(design.arm_order(data["arm"].unique()))
    post = sorted(
        (float(v) for v in data["visit"].unique() if v != design.baseline_visit),
        key=lambda v: (design.time_of(v), v),
    )
    key = tuple(v for v in design.key_visits if v in post) or tuple(post[-1:])
    absent = [v for v in design.key_visits if v not in post]
    if absent and post:
        problems.append(
            Problem(
                "key_visit_without_scores",
                f"key visit{'s' if len(absent) > 1 else ''} "
                f"{', '.join(design.visit_label(v) for v in absent)} of the design "
                f"{'have' if len(absent) > 1 else 'has'} no post-baseline rows in the data: "
                f"the conclusions are drawn at {', '.join(design.visit_label(v) for v in key)}",
                severity="warning",
            )
        )
    return Trial(
        design=design,
        scores=data,
        derived=derived,
        arms=arms,
        post_visits=tuple(post),
        key_visits=key,
        source=validated.source,
        columns=validated.columns,
        problems=problems,
        excluded_subjects=validated.excluded_subjects,
        baseline_from_column=from_column,
        n_file_rows=len(validated.data),
        n_rows_read=validated.n_rows_read or len(validated.data),
    )


def replace_columns(columns: ColumnMap, inst) -> ColumnMap:
    """The column map with the instrument's own outcome column (wide files)."""
    return dataclasses.replace(columns, outcome=inst.outcome)


def _design_for(
    design,
    *,
    baseline_visit=None,
    reference=None,
    columns: dict | None = None,
    instrument: str | None = None,
) -> tuple[TrialDesign, ColumnMap]:
    if design is None:
        design = dataclasses.replace(default_design(), inferred=True)
    elif isinstance(design, str | Path):
        design = load_design(design)
    elif not isinstance(design, TrialDesign):
        raise TypeError(f"design must be a path or a TrialDesign, got {type(design).__name__}")
    if instrument is not None:
        if design.inferred:
            raise IptOutcomesError(
                f"instrument {instrument!r}: without a design file there is one instrument; "
                "describe the instruments in a design ([[instruments]])"
            )
        design = design.with_instrument(instrument)
    changes = {}
    if baseline_visit is not None:
        if isinstance(baseline_visit, str) and design.has_visit_codes:
            value = design.visit_value(baseline_visit)
        else:
            try:
                value = float(baseline_visit)
            except (TypeError, ValueError):
                raise ValueError(
                    f"baseline_visit must be a number >= 0, got {baseline_visit!r}"
                ) from None
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"baseline_visit must be a number >= 0, got {baseline_visit!r}")
            if design.has_visit_codes:
                raise ValueError(
                    f"baseline_visit {baseline_visit!r}: the design's visits are codes "
                    f"({', '.join(repr(c) for c in design.visit_codes)}); name the code"
                )
        if design.schedule and value not in design.schedule:
            raise ValueError(
                f"baseline_visit {value:g} is not in the design's schedule "
                f"({', '.join(f'{v:g}' for v in design.schedule)})"
            )
        changes["baseline_visit"] = value
        changes["baseline_stated"] = True
    if reference is not None:
        if design.arms and reference not in design.arm_codes:
            raise ValueError(
                f"reference {reference!r} is not one of the design's arms {list(design.arm_codes)}"
            )
        changes["reference"] = reference
    if changes:
        design = dataclasses.replace(design, **changes)
    cols = design.columns.with_overrides(**(columns or {}))
    return design, cols


def load_trial(
    path: str | Path,
    design: str | Path | TrialDesign | None = None,
    *,
    subject: str | None = None,
    arm: str | None = None,
    visit: str | None = None,
    outcome: str | None = None,
    baseline: str | None = None,
    baseline_visit: float | None = None,
    reference: str | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
    value_labels: str = "codes",
    instrument: str | None = None,
) -> Trial:
    """Read, validate and derive a trial from a score file.

    Parameters
    ----------
    path : str or Path
        The score file (CSV, .xlsx, .parquet, .sas7bdat, .sav, .dta).
    design : path or TrialDesign, optional
        The trial's design file. Without one the design is inferred: arms and visits from the
        data, HAM-D 17 (0-52), reference ``TAU``, baseline at visit 0 (or ``baseline_visit``).
    subject, arm, visit, outcome, baseline : str, optional
        Column names overriding the design's ``[columns]`` (``baseline`` = a column carrying the
        baseline score on each row).
    baseline_visit : float, optional
        The visit value of the baseline rows (overrides the design).
    reference : str, optional
        The comparator arm (overrides the design).
    sheet, encoding : str, optional
        Worksheet of an .xlsx file; encoding of a text file.
    value_labels : {"codes", "labels"}
        SPSS / Stata value labels: keep the stored codes (default) or use the labels.
    instrument : str, optional
        The design's instrument to analyse, by name (or ``param`` value); default the first
        of ``design.instruments``. With ``[columns] param`` only that instrument's rows of a
        long file are read; with per-instrument ``outcome`` columns, its column.

    Returns
    -------
    Trial
        Of the selected instrument (``trial.instrument``; ``trial.design.instruments`` lists
        every instrument of the design).

    Raises
    ------
    InputFileError, DesignError, DataValidationError
        Naming the file, row, subject and column of every problem (``DesignError`` for an
        instrument the design does not list).

    Examples
    --------
    >>> import ipt_outcomes as ipt
    >>> trial = ipt.load_trial("data/synthetic/trial.csv", "analyses/saloheimo2016.toml")  # doctest: +SKIP
    """
    from .readers import read_table

    d, cols = _design_for(
        design,
        baseline_visit=baseline_visit,
        reference=reference,
        columns=dict(subject=subject, arm=arm, visit=visit, outcome=outcome, baseline=baseline),
        instrument=instrument,
    )
    # floating-point noise is snapped where values must be round: visits, and the scores of
    # the design's integer scales; other columns keep every digit
    snap = {cols.visit, *(i.outcome or cols.outcome for i in d.instruments if i.integer)}
    raw = read_table(path, sheet=sheet, encoding=encoding, value_labels=value_labels,
                     snap_columns=snap)  # fmt: skip
    return dataclasses.replace(build_trial(validate_scores(raw, d, cols)), raw=raw)


def trial_from_frame(
    data: pd.DataFrame,
    design: str | Path | TrialDesign | None = None,
    *,
    source: str = "data",
    baseline_visit: float | None = None,
    reference: str | None = None,
    instrument: str | None = None,
    **columns,
) -> Trial:
    """A :class:`Trial` from a DataFrame already in memory (same checks as :func:`load_trial`).

    ``instrument`` selects one of the design's instruments (as in :func:`load_trial`); the
    keyword arguments ``subject, arm, visit, outcome, baseline`` override the design's columns.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"subject_id": ["a", "a", "b", "b"], "arm": ["TAU", "TAU", "X", "X"],
    ...                    "visit": [0, 4, 0, 4], "hamd17": [20, 9, 22, 12]})
    >>> trial_from_frame(df).derived[["subject_id", "visit", "change", "responder"]]
      subject_id  visit  change  responder
    1          a    4.0   -11.0       True
    3          b    4.0   -10.0      False
    """
    from .readers import RawTable

    d, cols = _design_for(
        design,
        baseline_visit=baseline_visit,
        reference=reference,
        columns=columns,
        instrument=instrument,
    )
    frame = data.reset_index(drop=True)
    raw = RawTable(frame=frame, path=source)
    return dataclasses.replace(build_trial(validate_scores(raw, d, cols)), raw=raw)


def _problem(message: str) -> Problem:
    return Problem("reference_arm", message, severity="warning")
