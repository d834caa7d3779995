"""Data contracts: pandera models of the long score table and of the derived stage.

Two stages, the second inheriting from the first (STYLE 5):

* :class:`ScoreTable` - one row per subject and assessment, as in ``SPEC.md`` (after the column
  mapping has renamed the user's columns to the contract's names and cells have been parsed);
* :class:`DerivedScores` - post-baseline rows of subjects with a baseline, with baseline,
  change, percent improvement and responder / remitter flags.

Every check has a name; :mod:`ipt_outcomes.validation` turns a failing check into a message that
names the file, row, subject and column. The instrument range depends on the trial design, so use
:func:`score_table_schema` to get the schema for a given instrument.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pandas as pd

from .design import MAX_TIME as MAX_VISIT
from .design import Instrument


@contextlib.contextmanager
def _without(*modules: str):
    """Import with optional packages hidden (only those not imported yet).

    pandera loads its Dask typing and its hypothesis strategies whenever those packages are
    installed (both are, for the power command's cluster option and for the tests); the contracts
    here use neither, and loading them costs about a second of every command's start-up.
    """
    hidden = [m for m in modules if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # an import of it raises ImportError, which pandera handles
    try:
        yield
    finally:
        for m in hidden:
            if sys.modules.get(m, 0) is None:
                del sys.modules[m]


with _without("dask.dataframe", "hypothesis"):
    import pandera.backends.pandas.builtin_checks  # noqa: F401 - loaded lazily by validate()
    import pandera.pandas as pa
    from pandera.typing import Series, get_index_types, get_series_types

    get_index_types(), get_series_types()  # their lazy optional imports, made now

__all__ = ["ScoreTable", "DerivedScores", "score_table_schema", "derived_scores_schema"]


def _is_whole(s: pd.Series) -> pd.Series:
    x = pd.to_numeric(s, errors="coerce")
    return x.isna() | ~np.isfinite(x) | (x == np.round(x))


def _finite(s: pd.Series) -> pd.Series:
    x = pd.to_numeric(s, errors="coerce")
    return x.isna() | np.isfinite(x)


class ScoreTable(pa.DataFrameModel):
    """The long table of scores (SPEC "Input: one long table of scores").

    Columns use the contract's names; ``score`` is the outcome whatever the instrument. Missing
    outcome values are allowed (a missed assessment); everything else is required.
    """

    subject_id: Series[str] = pa.Field(nullable=False)
    arm: Series[str] = pa.Field(nullable=False)
    visit: Series[float] = pa.Field(nullable=False)
    score: Series[float] = pa.Field(nullable=True)
    baseline: Series[float] | None = pa.Field(nullable=True)
    therapy_group: Series[str] | None = pa.Field(nullable=True)
    antidepressant: Series[float] | None = pa.Field(nullable=True, isin=[0.0, 1.0])
    age: Series[float] | None = pa.Field(nullable=True, ge=0, le=120)
    sex: Series[str] | None = pa.Field(nullable=True)
    cgi_s: Series[float] | None = pa.Field(nullable=True, isin=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    sofas: Series[float] | None = pa.Field(nullable=True, ge=1, le=100)

    @pa.check("subject_id", name="subject_not_empty")
    def _subject_not_empty(cls, s: Series[str]) -> Series[bool]:
        return s.str.len() > 0

    @pa.check("arm", name="arm_not_empty")
    def _arm_not_empty(cls, s: Series[str]) -> Series[bool]:
        return s.str.len() > 0

    @pa.check("visit", name="visit_finite")
    def _visit_finite(cls, s: Series[float]) -> Series[bool]:
        return _finite(s)

    @pa.check("visit", name="visit_nonnegative")
    def _visit_nonnegative(cls, s: Series[float]) -> Series[bool]:
        return ~(s < 0)

    @pa.check("visit", name="visit_not_huge")
    def _visit_not_huge(cls, s: Series[float]) -> Series[bool]:
        return ~(s > MAX_VISIT)

    @pa.check("score", name="score_finite")
    def _score_finite(cls, s: Series[float]) -> Series[bool]:
        return _finite(s)

    @pa.check("score", name="score_whole")
    def _score_whole(cls, s: Series[float]) -> Series[bool]:
        return _is_whole(s)

    @pa.check("score", name="score_in_range")
    def _score_in_range(cls, s: Series[float]) -> Series[bool]:
        return s.isna() | ~np.isfinite(s) | s.between(0, 52)

    @pa.check("baseline", name="baseline_in_range")
    def _baseline_in_range(cls, s: Series[float]) -> Series[bool]:
        return s.isna() | ~np.isfinite(s) | s.between(0, 52)

    @pa.check("baseline", name="baseline_finite")
    def _baseline_finite(cls, s: Series[float]) -> Series[bool]:
        return _finite(s)

    @pa.check("cgi_s", name="cgi_s_whole")
    def _cgi_s_whole(cls, s: Series[float]) -> Series[bool]:
        return _is_whole(s)

    @pa.check("sofas", name="sofas_whole")
    def _sofas_whole(cls, s: Series[float]) -> Series[bool]:
        return _is_whole(s)

    @pa.dataframe_check(name="one_row_per_subject_visit")
    def _one_row_per_subject_visit(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df.duplicated(["subject_id", "visit"], keep=False)

    @pa.dataframe_check(name="one_arm_per_subject")
    def _one_arm_per_subject(cls, df: pd.DataFrame) -> Series[bool]:
        arm = df["arm"].where(df["arm"] != "")  # an empty arm is reported by arm_not_empty
        return arm.groupby(df["subject_id"], sort=False).transform("nunique") <= 1

    @pa.dataframe_check(name="baseline_constant_within_subject")
    def _baseline_constant_within_subject(cls, df: pd.DataFrame) -> Series[bool]:
        if "baseline" not in df:
            return pd.Series(True, index=df.index)
        return df.groupby("subject_id", sort=False)["baseline"].transform("nunique") <= 1

    class Config:
        strict = False
        coerce = False


class DerivedScores(ScoreTable):
    """Post-baseline rows with the derived quantities (SPEC "Derived quantities").

    ``pct_improvement`` = improvement from baseline as a fraction of the room to improve, in the
    instrument's direction (``(baseline - score) / baseline`` for a lower-is-better scale
    starting at 0); ``responder`` = improvement >= the response threshold (0.50; the boundary
    counts); ``remitter`` = score <= the remission maximum (7), or >= the remission minimum of
    a higher-is-better scale. Flags are missing where the score is missing (and ``remitter``
    everywhere when the instrument defines no remission). Only subjects with a baseline that is
    not at the best end of the scale are here: a missing baseline excludes the subject, one at
    the best end is refused earlier.
    """

    baseline: Series[float] = pa.Field(nullable=False)
    change: Series[float] = pa.Field(nullable=True)
    pct_improvement: Series[float] = pa.Field(nullable=True, le=1)
    responder: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    remitter: Series[pd.BooleanDtype] = pa.Field(nullable=True)

    @pa.dataframe_check(name="change_is_score_minus_baseline")
    def _change_is_score_minus_baseline(cls, df: pd.DataFrame) -> Series[bool]:
        return df["score"].isna() | np.isclose(df["change"], df["score"] - df["baseline"])

    @pa.dataframe_check(name="flags_missing_with_score")
    def _flags_missing_with_score(cls, df: pd.DataFrame) -> Series[bool]:
        miss = df["score"].isna()
        remit = df["remitter"].isna()
        if remit.all():  # an instrument without a remission threshold
            return miss == df["responder"].isna()
        return (miss == df["responder"].isna()) & (miss == remit)


def _with_range(schema: pa.DataFrameSchema, column: str, lo: float, hi: float, name: str):
    col = schema.columns[column]
    # pandera names a decorated check after its function or its ``name=``, depending on how the
    # model was built, so compare without the leading underscore
    checks = [c for c in col.checks if str(c.name).lstrip("_") != name]
    checks.append(pa.Check(lambda s: s.isna() | ~np.isfinite(s) | s.between(lo, hi), name=name))
    return schema.update_column(column, checks=checks)


def _without_check(schema: pa.DataFrameSchema, column: str, name: str):
    col = schema.columns[column]
    return schema.update_column(
        column, checks=[c for c in col.checks if str(c.name).lstrip("_") != name]
    )


def score_table_schema(
    instrument: Instrument | None = None, *, visit_codes: bool = False
) -> pa.DataFrameSchema:
    """The :class:`ScoreTable` schema for an instrument: its range instead of HAM-D's 0-52,
    and without the whole-number check for continuous scores (``integer = False``).

    With ``visit_codes`` (visits were text codes that the design mapped to their times) the
    visit may be negative (a screening visit before randomisation).
    """
    inst = instrument or Instrument()
    schema = ScoreTable.to_schema()
    schema = _with_range(schema, "score", inst.minimum, inst.maximum, "score_in_range")
    schema = _with_range(schema, "baseline", inst.minimum, inst.maximum, "baseline_in_range")
    return _for_instrument_and_visits(schema, inst, visit_codes)


def _for_instrument_and_visits(schema, inst, visit_codes: bool):
    """The checks that do not apply: whole scores on a continuous instrument, and numeric visit
    ranges where visits are codes mapped by the design."""
    if not inst.integer:
        schema = _without_check(schema, "score", "score_whole")
    if visit_codes:
        schema = _without_check(schema, "visit", "visit_nonnegative")
        schema = _without_check(schema, "visit", "visit_not_huge")
    return schema


#: Row-set checks of the score table that hold for any subset of its rows: the derived stage,
#: made from a table that passed them, does not pay for them twice (they are group-wise passes
#: over every row, the costliest checks on a large trial).
_CHECKED_ON_SCORES = {"one_row_per_subject_visit", "one_arm_per_subject",
                      "baseline_constant_within_subject"}  # fmt: skip


def derived_scores_schema(
    instrument: Instrument | None = None,
    *,
    from_validated_scores: bool = False,
    visit_codes: bool = False,
) -> pa.DataFrameSchema:
    """The :class:`DerivedScores` schema for an instrument (range, whole numbers or not, and a
    baseline that is not at the best end of the scale: percent improvement is defined).

    With ``from_validated_scores`` (how :func:`~ipt_outcomes.data.derive.derive_outcomes` is
    used: on rows of a table that passed :class:`ScoreTable`), the inherited row-set checks
    that every subset of such a table passes are left out; the derived stage's own checks and
    every column check stay.
    """
    inst = instrument or Instrument()
    schema = DerivedScores.to_schema()
    if from_validated_scores:
        import copy

        keep = [c for c in schema.checks if str(c.name).lstrip("_") not in _CHECKED_ON_SCORES]
        schema = copy.copy(schema)
        schema.checks = keep
    schema = _with_range(schema, "score", inst.minimum, inst.maximum, "score_in_range")
    schema = _with_range(schema, "baseline", inst.minimum, inst.maximum, "baseline_in_range")
    best = inst.best
    col = schema.columns["baseline"]
    schema = schema.update_column(
        "baseline",
        checks=[
            *col.checks,
            pa.Check(lambda s: s != best, name="baseline_not_at_best_end"),
        ],
    )
    return _for_instrument_and_visits(schema, inst, visit_codes)
