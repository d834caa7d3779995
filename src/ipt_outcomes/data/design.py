"""Trial design files: what a trial is, in one small TOML file (SPEC "Design file").

A design names the arms (display order, labels, which are modelled), the reference arm, the
visit schedule with the time of each visit in its unit and a label for each, the key visits, the
instrument(s) with range, direction and thresholds, and the column mapping of the score file.
Every command takes ``--design FILE``; without one the design is inferred from the data.

The file is checked by a schema (pydantic models with unknown keys forbidden): a typo such as
``refrence`` or a ``[visit]`` section is refused, naming the key and the nearest valid one; values
are checked (``remission_max`` inside the instrument's range, times increasing, key visits in the
schedule, a threshold no instrument's direction can use, ...).

Instruments
-----------
``[instrument]`` (one) or ``[[instruments]]`` (several; the first is the default, the others
are chosen with ``--instrument NAME`` / ``load_trial(..., instrument=NAME)``) with ``name``,
``min``, ``max``, ``integer`` (``false``: continuous scores), ``higher_is_better``,
``reliability``, ``functional_mean``, ``functional_sd``, and for a long file ``param`` (the value
of ``[columns] param`` that selects its rows). An entry may carry its own
``response_improvement``, ``remission_max`` (lower is better) or ``remission_min`` (higher is
better); otherwise ``[analysis]``'s apply. Each becomes an :class:`Instrument`, whose helpers
(``direction``, ``improvement_sign``, ``favours_text``, ``remission_text``, ...) word every
sentence in its direction. An entry may instead name its own ``outcome`` column (a file with one
column per instrument).

Visit codes
-----------
``schedule`` holds the visit values as in the data: numbers, or text codes (ADaM ``AVISIT``:
``"WEEK 4"``), for which ``times`` is required. Inside, a coded visit is the number of its time
(:attr:`TrialDesign.schedule` = ``times``); :meth:`TrialDesign.visit_code` gives the code back
for every table written (codes are matched ignoring case and repeated spaces). ``[columns]
baseline_flag`` (``"Y"`` marks each subject's baseline record) may replace ``[visits]
baseline``; ``[columns] analysis_flag`` keeps only rows flagged ``"Y"``.

Example::

    [trial]
    name = "STUDY01"

    [[arms]]
    code = "PBO"
    label = "Placebo"

    [[arms]]
    code = "ACT"
    label = "Active"

    [analysis]
    reference = "PBO"
    remission_max = 10

    [visits]
    unit = "weeks"
    baseline = "BASELINE"
    schedule = ["BASELINE", "WEEK 4", "WEEK 8"]
    times = [0, 4, 8]
    key = ["WEEK 8"]

    [[instruments]]
    name = "MADRS"
    param = "MADRS"
    max = 60

    [[instruments]]
    name = "WHO-5"
    param = "WHO5"
    max = 25
    higher_is_better = true
    remission_min = 13

    [columns]
    subject = "USUBJID"
    arm = "TRT01P"
    visit = "AVISIT"
    outcome = "AVAL"
    param = "PARAMCD"
    baseline_flag = "ABLFL"
    analysis_flag = "ANL01FL"
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

import numpy as np

from ..exceptions import DesignError
from .analysis_plan import AnalysisPlan, build_plan
from .consort import Consort, build_consort, consort_section

__all__ = [
    "Arm",
    "Instrument",
    "ColumnMap",
    "TrialDesign",
    "load_design",
    "parse_design",
    "default_design",
    "default_visit_label",
    "DEFAULT_OUTCOME_COLUMN",
]

DEFAULT_OUTCOME_COLUMN = "hamd17"


@dataclass(frozen=True)
class Arm:
    """One randomised arm: its code as in the data, a label and whether it is modelled."""

    code: str
    label: str = ""
    modelled: bool = False
    description: str = ""

    @property
    def display(self) -> str:
        """Label for tables and figures, marked when the arm is modelled rather than observed."""
        text = self.label or self.code
        return f"{text} (modelled)" if self.modelled else text


@dataclass(frozen=True)
class Instrument:
    """The outcome scale: name, range, direction, thresholds and what reliable change needs.

    Everything downstream that speaks of improvement, response, remission or which arm a
    difference favours asks the instrument, so that a well-being scale (higher is better) is
    worded and derived as correctly as a symptom scale (lower is better).

    Parameters
    ----------
    name : str
        Named in every table, figure and sentence.
    minimum, maximum : float
        The range of the total score.
    integer : bool
        Totals are whole numbers (``False``: continuous scores, e.g. a mean of items).
    response_improvement : float
        Response = percent improvement >= this (0 < value <= 1; the boundary counts).
    remission_max : float, optional
        Remission = score <= this; for lower-is-better instruments only (default 7, the SPEC's).
    higher_is_better : bool
        ``True`` for well-being and functioning scales (WHO-5, SOFAS).
    remission_min : float, optional
        Remission = score >= this; for higher-is-better instruments only. Without it remission
        is not defined for a higher-is-better instrument (:attr:`has_remission` is ``False``).
    reliability : float, optional
        Test-retest or internal consistency (0 < r < 1), for reliable change.
    functional_mean, functional_sd : float, optional
        Mean and SD of a functional (non-clinical) population, for the clinically significant
        change cut-offs b and c.
    param : str, optional
        The value of the design's ``[columns] param`` that selects this instrument's rows of a
        long (ADaM BDS) file.
    outcome : str, optional
        The column holding this instrument's scores, when a file has one column per instrument.

    Notes
    -----
    The direction, as the SPEC defines it: ``direction`` d = +1 when higher is better, -1 when
    lower is better, so that ``d * change > 0`` is improvement. Percent improvement is
    ``(baseline - score) / (baseline - min)`` when lower is better (the SPEC's
    ``(baseline - score) / baseline`` when min = 0) and ``(score - baseline) / (max - baseline)``
    when higher is better; a baseline at the best end of the scale leaves it undefined.

    Examples
    --------
    >>> hamd = Instrument()
    >>> hamd.direction, hamd.improvement_sign, hamd.favours_note()
    (-1, 'negative', 'negative values favour the arm')
    >>> who5 = Instrument("WHO-5", 0, 25, higher_is_better=True, remission_min=13)
    >>> who5.direction, who5.favours_text(2.5, "CBT", "TAU"), who5.remission_text
    (1, 'favours CBT', 'WHO-5 of 13 or more')
    >>> float(who5.pct_improvement(10, 20)), bool(who5.is_responder(10, 17.5))
    (0.6666666666666666, True)
    """

    name: str = "HAM-D 17"
    minimum: float = 0
    maximum: float = 52
    integer: bool = True
    response_improvement: float = 0.50
    remission_max: float | None = None
    higher_is_better: bool = False
    remission_min: float | None = None
    reliability: float | None = None
    functional_mean: float | None = None
    functional_sd: float | None = None
    param: str | None = None
    outcome: str | None = None

    def __post_init__(self):
        if not self.minimum < self.maximum:
            raise ValueError(f"maximum ({self.maximum:g}) must be above minimum ({self.minimum:g})")
        if not 0 < self.response_improvement <= 1:
            raise ValueError(
                f"response_improvement must be in (0, 1], got {self.response_improvement!r}"
            )
        if self.higher_is_better:
            if self.remission_max is not None:
                raise ValueError(
                    f"remission_max is for lower-is-better instruments; {self.name} is "
                    "higher-is-better: give remission_min (remission = score >= it)"
                )
        else:
            if self.remission_min is not None:
                raise ValueError(
                    f"remission_min is for higher-is-better instruments; {self.name} is "
                    "lower-is-better: give remission_max (remission = score <= it)"
                )
            if self.remission_max is None:
                object.__setattr__(self, "remission_max", 7.0)
        if self.reliability is not None and not 0 < self.reliability < 1:
            raise ValueError(f"reliability must be in (0, 1), got {self.reliability!r}")
        if self.functional_sd is not None and not self.functional_sd > 0:
            raise ValueError(f"functional_sd must be positive, got {self.functional_sd!r}")

    # --- direction ----------------------------------------------------------------------------
    @property
    def direction(self) -> int:
        """+1 when higher scores are better, -1 when lower are: ``direction * change > 0`` is
        improvement (the SPEC's d)."""
        return 1 if self.higher_is_better else -1

    @property
    def improvement_sign(self) -> str:
        """``"negative"`` or ``"positive"``: the sign of a change from baseline (or of a
        difference arm - reference in score or change) that means improvement (better for the
        arm), for sentences such as "negative values are improvement"."""
        return "positive" if self.higher_is_better else "negative"

    @property
    def better(self) -> str:
        """``"lower"`` or ``"higher"``: which scores are better (``"lower is better"``)."""
        return "higher" if self.higher_is_better else "lower"

    @property
    def worse(self) -> str:
        """``"higher"`` or ``"lower"``: which scores are worse."""
        return "lower" if self.higher_is_better else "higher"

    @property
    def best(self) -> float:
        """The best end of the range (``maximum`` when higher is better, else ``minimum``)."""
        return float(self.maximum if self.higher_is_better else self.minimum)

    @property
    def worst(self) -> float:
        """The worst end of the range."""
        return float(self.minimum if self.higher_is_better else self.maximum)

    @property
    def range_text(self) -> str:
        """``"0-52"``."""
        return f"{self.minimum:g}-{self.maximum:g}"

    def is_improvement(self, change):
        """Whether a change from baseline (score - baseline) is an improvement (strictly).

        Examples
        --------
        >>> Instrument().is_improvement(-3), Instrument(higher_is_better=True).is_improvement(-3)
        (True, False)
        """
        out = self.direction * np.asarray(change, dtype=float) > 0
        return bool(out) if out.ndim == 0 else out

    def favours(self, difference) -> bool | None:
        """Whether a difference arm - reference (in score or change) favours the arm: ``True``
        (the arm), ``False`` (the reference) or ``None`` (zero or missing)."""
        d = float(difference)
        if not math.isfinite(d) or d == 0:
            return None
        return self.direction * d > 0

    def favours_text(
        self, difference, arm: str = "the arm", reference: str = "the reference"
    ) -> str:
        """``"favours ARM"``, ``"favours REFERENCE"``, ``"no difference"`` (zero) or ``""``
        (missing) for a difference arm - reference in score or change.

        Examples
        --------
        >>> Instrument().favours_text(-2.1, "IPT", "TAU"), Instrument().favours_text(0.4, "IPT", "TAU")
        ('favours IPT', 'favours TAU')
        """
        d = float(difference)
        if not math.isfinite(d):
            return ""
        side = self.favours(d)
        if side is None:
            return "no difference"
        return f"favours {arm if side else reference}"

    def favours_note(self, arm: str = "the arm") -> str:
        """``"negative values favour the arm"`` (lower is better) or ``"positive values favour
        the arm"`` (higher is better): the footnote of a table of differences arm - reference
        in score or change, or of a standardised difference such as Hedges' g."""
        return f"{self.improvement_sign} values favour {arm}"

    @property
    def improvement_note(self) -> str:
        """``"negative values are improvement"`` or ``"positive values are improvement"``: the
        footnote of a table or axis of change from baseline."""
        return f"{self.improvement_sign} values are improvement"

    def shift_text(self, delta) -> str:
        """What adding ``delta`` points to scores does: ``"worse"``, ``"better"`` or
        ``"unchanged"`` (e.g. a tipping-point title: "as imputed scores are made worse").

        Examples
        --------
        >>> Instrument().shift_text(2), Instrument(higher_is_better=True).shift_text(2)
        ('worse', 'better')
        """
        d = float(delta)
        if d == 0 or not math.isfinite(d):
            return "unchanged"
        return "better" if self.direction * d > 0 else "worse"

    # --- derived quantities -------------------------------------------------------------------
    def at_best_end(self, baseline):
        """Whether a baseline is at the best end of the scale (percent improvement undefined)."""
        out = np.asarray(baseline, dtype=float) == self.best
        return bool(out) if out.ndim == 0 else out

    def pct_improvement(self, baseline, score):
        """Percent improvement (as a fraction) in the instrument's direction.

        ``(baseline - score) / (baseline - min)`` when lower is better, ``(score - baseline) /
        (max - baseline)`` when higher is better; infinite or NaN for a baseline at the best end
        (the data layer refuses those before deriving).
        """
        b = np.asarray(baseline, dtype=float)
        y = np.asarray(score, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.higher_is_better:
                return (y - b) / (self.maximum - b)
            return (b - y) / (b - self.minimum)

    def is_responder(self, baseline, score):
        """Response: percent improvement >= ``response_improvement``, exact at the boundary.

        For whole-number scores and the default 0.5 the comparison is made without division
        (``2 * score <= baseline`` for a lower-is-better scale starting at 0), exactly; other
        thresholds, and continuous (decimal) scores, compare with a relative tolerance of 1e-12
        so that a boundary case is never lost to binary rounding (3.55 - 2.10 is not exactly
        1.45 in floating point). A missing score is not a response.
        """
        b = np.asarray(baseline, dtype=float)
        y = np.asarray(score, dtype=float)
        thr = self.response_improvement
        if self.integer and not self.higher_is_better and self.minimum == 0:
            if thr == 0.5:  # the SPEC's (baseline - score) / baseline >= 0.5, exactly
                out = 2.0 * y <= b
            else:
                out = (b - y) >= thr * b - 1e-12 * np.abs(b)
        else:
            gain = (y - b) if self.higher_is_better else (b - y)
            room = (self.maximum - b) if self.higher_is_better else (b - self.minimum)
            if self.integer and thr == 0.5:
                out = 2.0 * gain >= room
            else:  # decimal scores (3.55 - 2.10 is not exactly 1.45 in binary): 1e-12 relative
                out = gain >= thr * room - 1e-12 * np.maximum(np.abs(room), 1.0)
        return bool(out) if out.ndim == 0 else out

    @property
    def has_remission(self) -> bool:
        """Whether remission is defined (always for lower-is-better; with ``remission_min``)."""
        return self.remission_threshold is not None

    @property
    def remission_threshold(self) -> float | None:
        """``remission_min`` when higher is better, else ``remission_max``."""
        return self.remission_min if self.higher_is_better else self.remission_max

    @property
    def remission_rule(self) -> str:
        """``"score <= 7"`` or ``"score >= 13"`` (empty when remission is not defined)."""
        t = self.remission_threshold
        if t is None:
            return ""
        return f"score {'>=' if self.higher_is_better else '<='} {t:g}"

    @property
    def remission_text(self) -> str:
        """``"HAM-D 17 of 7 or less"`` / ``"WHO-5 of 13 or more"`` (empty when not defined)."""
        t = self.remission_threshold
        if t is None:
            return ""
        return f"{self.name} of {t:g} or {'more' if self.higher_is_better else 'less'}"

    def is_remitter(self, score):
        """Remission: score <= ``remission_max`` (lower is better) or >= ``remission_min``.

        Raises
        ------
        ValueError
            When remission is not defined (a higher-is-better instrument without
            ``remission_min``).
        """
        t = self.remission_threshold
        if t is None:
            raise ValueError(
                f"remission is not defined for {self.name}: give remission_min in the design"
            )
        y = np.asarray(score, dtype=float)
        out = y >= t if self.higher_is_better else y <= t
        return bool(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class ColumnMap:
    """Where the contract's columns are in the user's file.

    ``baseline`` names a column carrying the baseline score on every row (a file may also have
    the baseline record at the baseline visit; then the two must agree). ``param`` names the
    column whose values select each instrument's rows of a long file (ADaM ``PARAMCD``);
    ``baseline_flag`` a column whose ``"Y"`` marks the baseline record (ADaM ``ABLFL``);
    ``analysis_flag`` a column whose ``"Y"`` marks the rows to analyse (ADaM ``ANL01FL``).
    """

    subject: str = "subject_id"
    arm: str = "arm"
    visit: str = "visit"
    outcome: str = DEFAULT_OUTCOME_COLUMN
    baseline: str | None = None
    param: str | None = None
    baseline_flag: str | None = None
    analysis_flag: str | None = None

    def with_overrides(self, **kwargs) -> ColumnMap:
        """A copy with the given non-``None`` names replaced (e.g. command-line flags)."""
        changes = {k: v for k, v in kwargs.items() if v is not None}
        return replace(self, **changes)

    def roles(self) -> dict[str, str]:
        """Every mapped role and its column (``subject, arm, visit, outcome`` and the optional
        ones that are set)."""
        out = {"subject": self.subject, "arm": self.arm, "visit": self.visit,
               "outcome": self.outcome}  # fmt: skip
        for key in ("baseline", "param", "baseline_flag", "analysis_flag"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


def _code_key(code) -> str:
    """How visit codes are matched: spaces collapsed, case ignored (``"Week  4"`` = ``"WEEK 4"``)."""
    return " ".join(str(code).split()).casefold()


def _name_key(name) -> str:
    return "".join(ch for ch in str(name).casefold() if ch.isalnum())


_SINGULAR = {"weeks": "Week", "months": "Month", "days": "Day", "years": "Year", "hours": "Hour"}


def default_visit_label(time: float, unit: str, baseline: bool = False) -> str:
    """``"Baseline"``, else the unit and the time: ``"Week 2"``, ``"Month 1.5"``, ``"Visit 4"``.

    Examples
    --------
    >>> default_visit_label(2, "weeks"), default_visit_label(1.5, "months")
    ('Week 2', 'Month 1.5')
    >>> default_visit_label(0, "weeks", baseline=True), default_visit_label(4, "")
    ('Baseline', 'Visit 4')
    """
    if baseline:
        return "Baseline"
    word = _SINGULAR.get(unit.strip().lower())
    if word is None:
        word = unit.strip().capitalize() if unit.strip() else "Visit"
        if word.endswith("s") and len(word) > 3 and not word.endswith("ss"):
            word = word[:-1]
    return f"{word} {time:g}"


@dataclass(frozen=True)
class TrialDesign:
    """Everything about a trial that is not in its score file.

    ``schedule`` holds visit values as in the data; ``times`` the time since randomisation of each
    in ``visit_unit``; ``labels`` the name of each. A visit outside the schedule has time equal to
    its value (when the design gives no times) and label "Visit v".
    """

    name: str = "trial"
    citation: str = ""
    arms: tuple[Arm, ...] = ()
    reference: str = "TAU"
    visit_unit: str = ""
    baseline_visit: float = 0.0
    schedule: tuple[float, ...] = ()
    times: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()
    key_visits: tuple[float, ...] = ()
    instrument: Instrument = field(default_factory=Instrument)
    columns: ColumnMap = field(default_factory=ColumnMap)
    source: str = "<default design>"
    published: str | None = None  # targets-style CSV of published figures (path)
    inferred: bool = False  # made from the data, not read from a file
    plan: AnalysisPlan = field(default_factory=AnalysisPlan)  # the analysis plan as declared
    consort: Consort = field(default_factory=Consort)  # [consort]: flow counts not in the data
    instruments: tuple[Instrument, ...] = ()
    visit_codes: tuple[str, ...] = ()
    baseline_stated: bool = True  # False: the baseline visit is found from the baseline flag

    def __post_init__(self):
        if len(self.instruments) <= 1 and self.instruments != (self.instrument,):
            object.__setattr__(self, "instruments", (self.instrument,))
        if self.visit_codes and len(self.visit_codes) != len(self.schedule):
            raise ValueError("visit_codes must give one code per scheduled visit")

    # --- instruments --------------------------------------------------------------------------
    @property
    def instrument_names(self) -> tuple[str, ...]:
        """The names of the design's instruments, the default (first) first."""
        return tuple(i.name for i in self.instruments)

    def find_instrument(self, name: str) -> Instrument:
        """The instrument called ``name`` (case, spaces and punctuation ignored), or whose
        ``param`` is ``name``.

        Raises
        ------
        DesignError
            Naming the design's instruments when none matches.
        """
        for inst in self.instruments:
            if inst.name == name:
                return inst
        key = _name_key(name)
        hits = [i for i in self.instruments if _name_key(i.name) == key]
        hits = hits or [i for i in self.instruments if i.param is not None and i.param == name]
        hits = hits or [
            i for i in self.instruments if i.param is not None and _name_key(i.param) == key
        ]
        if len(hits) == 1:
            return hits[0]
        listed = ", ".join(
            f"{i.name!r}" + (f" (param {i.param!r})" if i.param else "") for i in self.instruments
        )
        raise DesignError(
            f"{self.source}: no instrument {name!r} in the design; its instruments are {listed}"
        )

    def with_instrument(self, name: str | Instrument | None) -> TrialDesign:
        """The design with ``name`` as its selected instrument (``None``: unchanged).

        The selected instrument's ``outcome`` column, when it has one, becomes the outcome
        column of ``columns``.
        """
        if name is None:
            return self
        inst = name if isinstance(name, Instrument) else self.find_instrument(name)
        columns = self.columns
        if inst.outcome:
            columns = replace(columns, outcome=inst.outcome)
        return replace(self, instrument=inst, columns=columns)

    # --- visit codes --------------------------------------------------------------------------
    @property
    def has_visit_codes(self) -> bool:
        """Visits are text codes in the data (``"WEEK 4"``), mapped by the design to times."""
        return bool(self.visit_codes)

    def visit_code(self, visit):
        """The visit as in the input: its text code for a design with codes, else the number.

        Inside, every visit is a number (for a design with codes: the visit's time); tables
        written for the user carry this.

        Examples
        --------
        >>> d = TrialDesign(schedule=(0.0, 4.0), times=(0.0, 4.0), visit_codes=("BASELINE", "WEEK 4"))
        >>> d.visit_code(4.0), TrialDesign().visit_code(4.0)
        ('WEEK 4', 4.0)
        """
        if self.visit_codes:
            try:
                v = float(visit)
            except (TypeError, ValueError):
                return visit
            if v in self.schedule:
                return self.visit_codes[self.schedule.index(v)]
        return visit

    def visit_text(self, visit) -> str:
        """The visit for a message: its code (``'WEEK 4'``) or its value (``4``)."""
        code = self.visit_code(visit)
        if isinstance(code, str):
            return repr(code)
        try:
            return f"{float(code):g}"
        except (TypeError, ValueError):
            return str(code)

    def visit_value(self, visit) -> float:
        """The number inside for a visit given as in the input (a code or a number).

        Raises
        ------
        ValueError
            When the visit is not a code (or number) of the design, naming them.
        """
        if self.visit_codes:
            text = visit
            if isinstance(visit, float | int) and math.isfinite(visit):
                text = f"{visit:g}"  # a code that looks like a number ("4")
            if isinstance(text, str):
                keys = [_code_key(c) for c in self.visit_codes]
                if _code_key(text) in keys:
                    return self.schedule[keys.index(_code_key(text))]
            codes = ", ".join(repr(c) for c in self.visit_codes)
            raise ValueError(f"visit {visit!r} is not one of the design's visit codes ({codes})")
        try:
            v = float(visit)
        except (TypeError, ValueError):
            raise ValueError(f"visit {visit!r} is not a number") from None
        if not math.isfinite(v):
            raise ValueError(f"visit {visit!r} is not a finite number")
        return v

    # --- arms ---------------------------------------------------------------------------------
    @property
    def arm_codes(self) -> tuple[str, ...]:
        return tuple(a.code for a in self.arms)

    def arm(self, code: str) -> Arm:
        """The arm with this code, or a plain :class:`Arm` when the design does not list it."""
        for a in self.arms:
            if a.code == code:
                return a
        return Arm(code=code, label=code)

    def arm_label(self, code: str) -> str:
        """The arm's display label (marked "(modelled)" for a modelled arm)."""
        return self.arm(code).display

    def arm_order(self, present) -> list[str]:
        """Arm codes in design order, then any others present in the data, sorted."""
        present = list(dict.fromkeys(present))
        known = [c for c in self.arm_codes if c in present]
        return known + sorted(c for c in present if c not in known)

    # --- visits -------------------------------------------------------------------------------
    @property
    def has_times(self) -> bool:
        return len(self.times) == len(self.schedule) and len(self.schedule) > 0

    def time_of(self, visit: float) -> float:
        """Time since randomisation of a visit value, in ``visit_unit``."""
        v = float(visit)
        if self.has_times and v in self.schedule:
            return float(self.times[self.schedule.index(v)])
        if v == self.baseline_visit and self.has_times:
            return 0.0  # a baseline carried as a column, outside the schedule
        return v

    def visit_label(self, visit: float) -> str:
        """The visit's label (design ``labels``, else "Baseline" / unit and time)."""
        v = float(visit)
        if len(self.labels) == len(self.schedule) and v in self.schedule:
            return self.labels[self.schedule.index(v)]
        if v == self.baseline_visit:
            return "Baseline"
        if self.schedule and v not in self.schedule:
            return f"Visit {v:g}"
        return default_visit_label(self.time_of(v), self.visit_unit)

    @property
    def unit_text(self) -> str:
        """The time unit for axis titles and sentences (empty when unknown)."""
        return self.visit_unit


def default_design() -> TrialDesign:
    """The SPEC's defaults: HAM-D 17 (0-52), reference ``TAU``, visit 0 is baseline."""
    return TrialDesign()


# ------------------------------------------------------------------------------------------
# the schema of the file
# ------------------------------------------------------------------------------------------


def _schema():
    """The pydantic models of the file (built on first use: pydantic is imported lazily)."""
    from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

    Number = Annotated[float, Field(allow_inf_nan=False)]  # strict: a whole number, not "3"
    Text = Annotated[str, Field(min_length=1)]  # a name or label given must say something
    Visit = Number | Text  # a visit value as in the data, or a text code ("WEEK 4")

    class Section(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)

    class TrialSection(Section):
        name: Text | None = None
        citation: str | None = None

    class ArmEntry(Section):
        code: str = Field(min_length=1)
        label: Text | None = None
        modelled: StrictBool = False
        description: str = ""

    class AnalysisSection(Section):
        reference: str | None = None
        response_improvement: Number = Field(default=0.5, gt=0, le=1)
        remission_max: Number | None = None
        remission_min: Number | None = None

    class VisitsSection(Section):
        unit: str | None = None  # "" = no unit: visits are labelled "Visit N"
        baseline: Visit | None = None
        schedule: list[Visit] = Field(default_factory=list, min_length=1)
        times: list[Number] | None = None
        labels: list[Text] | None = None
        key: list[Visit] = Field(default_factory=list)

    class InstrumentSection(Section):
        name: Text | None = None
        min: Number = 0
        max: Number = 52
        integer: StrictBool = True
        higher_is_better: StrictBool = False
        reliability: Number | None = Field(default=None, gt=0, lt=1)
        functional_mean: Number | None = None
        functional_sd: Number | None = Field(default=None, gt=0)
        param: Text | None = None
        outcome: Text | None = None
        response_improvement: Number | None = Field(default=None, gt=0, le=1)
        remission_max: Number | None = None
        remission_min: Number | None = None

    class ColumnsSection(Section):
        subject: str = Field(default="subject_id", min_length=1)
        arm: str = Field(default="arm", min_length=1)
        visit: str = Field(default="visit", min_length=1)
        outcome: str = Field(default=DEFAULT_OUTCOME_COLUMN, min_length=1)
        baseline: str | None = Field(default=None, min_length=1)
        param: str | None = Field(default=None, min_length=1)
        baseline_flag: str | None = Field(default=None, min_length=1)
        analysis_flag: str | None = Field(default=None, min_length=1)

    class PublishedSection(Section):
        figures: str | None = None

    from .analysis_plan import plan_sections

    plan = plan_sections(Section, Number, Text)
    PopulationList, populations_default = plan["populations"]
    EstimandList, estimands_default = plan["estimands"]
    EndpointList, endpoints_default = plan["endpoints"]
    MultiplicityOrNone, multiplicity_default = plan["multiplicity"]
    SensitivityList, sensitivity_default = plan["sensitivity"]
    SubgroupList, subgroups_default = plan["subgroups"]

    ConsortSection = consort_section(Section, Number, Text, _Inconsistent)

    class DesignFile(Section):
        trial: TrialSection = Field(default_factory=TrialSection)
        arms: list[ArmEntry] = Field(default_factory=list, min_length=1)
        analysis: AnalysisSection = Field(default_factory=AnalysisSection)
        visits: VisitsSection = Field(default_factory=VisitsSection)
        instrument: InstrumentSection = Field(default_factory=InstrumentSection)
        instruments: list[InstrumentSection] = Field(default_factory=list, min_length=1)
        columns: ColumnsSection = Field(default_factory=ColumnsSection)
        published: PublishedSection = Field(default_factory=PublishedSection)
        consort: ConsortSection = Field(default_factory=ConsortSection)  # data/consort.py
        # the analysis plan (data/analysis_plan.py)
        populations: PopulationList = populations_default
        estimands: EstimandList = estimands_default
        endpoints: EndpointList = endpoints_default
        multiplicity: MultiplicityOrNone = multiplicity_default
        sensitivity: SensitivityList = sensitivity_default
        subgroups: SubgroupList = subgroups_default

        @model_validator(mode="after")
        def _consistent(self):
            _check_consistent(self)
            return self

    return DesignFile


_SCHEMA = None


def _design_schema():
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = _schema()
    return _SCHEMA


class _Inconsistent(ValueError):
    """A rule across keys is broken (raised inside the schema, reported with its key)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


def _instrument_sections(d) -> list[tuple[str, object]]:
    """``(key, section)`` of every instrument the file describes (``[instrument]`` or each
    ``[[instruments]]`` entry)."""
    if d.instruments:
        return [(f"instruments[{i + 1}]", s) for i, s in enumerate(d.instruments)]
    return [("instrument", d.instrument)]


def _label(key: str, inst) -> str:
    if inst.name:
        return repr(inst.name)
    return "the instrument" if key == "instrument" else key


def _check_instruments(d) -> None:
    if d.instruments and "instrument" in d.model_fields_set:
        raise _Inconsistent(
            "instrument",
            "give either one [instrument] or a list of [[instruments]], not both",
        )
    sections = _instrument_sections(d)
    names = [_name_key(s.name) for _, s in sections if s.name]
    if len(set(names)) != len(names):
        raise _Inconsistent("instruments", "instrument names must be unique")
    param_col = d.columns.param
    for key, inst in sections:
        if inst.min >= inst.max:
            raise _Inconsistent(
                f"{key}.max", f"max ({inst.max:g}) must be above min ({inst.min:g})"
            )
        if inst.param and not param_col:
            raise _Inconsistent(
                f"{key}.param",
                f"param {inst.param!r} selects rows by the value of a column: name that column "
                'in [columns] param (e.g. param = "PARAMCD")',
            )
        if inst.higher_is_better and inst.remission_max is not None:
            raise _Inconsistent(
                f"{key}.remission_max",
                f"{_label(key, inst)} is higher-is-better: remission is score >= a threshold; "
                "give remission_min instead of remission_max",
            )
        if not inst.higher_is_better and inst.remission_min is not None:
            raise _Inconsistent(
                f"{key}.remission_min",
                f"{_label(key, inst)} is lower-is-better: remission is score <= a threshold; "
                "give remission_max instead of remission_min (or set higher_is_better = true)",
            )
        for name in ("remission_max", "remission_min", "functional_mean"):
            value = getattr(inst, name)
            if value is not None and not inst.min <= value <= inst.max:
                raise _Inconsistent(
                    f"{key}.{name}",
                    f"{name} = {value:g} is outside the instrument's range {inst.min:g}-{inst.max:g}",
                )
    if len(sections) > 1:
        if param_col:
            missing = [key for key, s in sections if not s.param]
            if missing:
                raise _Inconsistent(
                    f"{missing[0]}.param",
                    f"with [columns] param = {param_col!r} every instrument needs its param "
                    "(the value of that column that selects its rows)",
                )
            params = [s.param for _, s in sections]
            if len(set(params)) != len(params):
                raise _Inconsistent("instruments", "each instrument needs its own param value")
        else:
            missing = [key for key, s in sections if not s.outcome]
            if missing:
                raise _Inconsistent(
                    f"{missing[0]}.param",
                    "several instruments need [columns] param (a long file, e.g. PARAMCD) and "
                    "a param for each, or an outcome column for each",
                )
            outs = [s.outcome for _, s in sections]
            if len(set(outs)) != len(outs):
                raise _Inconsistent("instruments", "each instrument needs its own outcome column")
    # the [analysis] thresholds: used by the instruments of their direction without their own
    a = d.analysis
    lower = [(k, s) for k, s in sections if not s.higher_is_better]
    higher = [(k, s) for k, s in sections if s.higher_is_better]
    for name, users, other in (
        ("remission_max", lower, "lower-is-better"),
        ("remission_min", higher, "higher-is-better"),
    ):
        value = getattr(a, name)
        if value is None:
            continue
        if not users:
            which = "higher-is-better" if name == "remission_max" else "lower-is-better"
            fix = "remission_min" if name == "remission_max" else "remission_max"
            raise _Inconsistent(
                f"analysis.{name}",
                f"{name} is for {other} instruments and every instrument of the design is "
                f"{which}: give {fix} instead",
            )
        for key, s in users:
            if getattr(s, name) is None and not s.min <= value <= s.max:
                whose = (
                    "the instrument's range"
                    if len(sections) == 1
                    else f"the range of {_label(key, s)}"
                )
                raise _Inconsistent(
                    f"analysis.{name}",
                    f"{name} = {value:g} is outside {whose} {s.min:g}-{s.max:g}",
                )


def _check_visits(d) -> None:
    v = d.visits
    sched = list(v.schedule)
    texts = [x for x in sched if isinstance(x, str)]
    coded = bool(texts)
    if coded and len(texts) != len(sched):
        raise _Inconsistent(
            "visits.schedule",
            "visit values must be all numbers or all text codes (as in the data), not a mix",
        )
    if coded:
        keys = [_code_key(x) for x in sched]
        if len(set(keys)) != len(keys) or any(not k for k in keys):
            raise _Inconsistent("visits.schedule", "visit codes must be unique and not empty")
        if v.times is None:
            raise _Inconsistent(
                "visits.times",
                "visits are text codes: give the time of each in `times` (in `unit`)",
            )
    else:
        if any(x < 0 for x in sched):
            raise _Inconsistent("visits.schedule", "visit values must not be negative")
        if any(b <= a for a, b in zip(sched, sched[1:], strict=False)):
            raise _Inconsistent("visits.schedule", "visit values must be increasing and unique")
    if v.times is not None:
        if len(v.times) != len(sched):
            raise _Inconsistent(
                "visits.times",
                f"{len(v.times)} times for {len(sched)} scheduled visits; give one time per visit",
            )
        if any(b <= a for a, b in zip(v.times, v.times[1:], strict=False)):
            raise _Inconsistent("visits.times", "times must be increasing")
        far = [t for t in v.times if abs(t) > MAX_TIME]
        if far:
            raise _Inconsistent(
                "visits.times",
                f"time {far[0]:g} is further from randomisation than any trial runs (at most "
                f"{MAX_TIME:,} in any unit); give times in the design's unit",
            )
    if v.labels is not None:
        if len(v.labels) != len(sched):
            raise _Inconsistent(
                "visits.labels",
                f"{len(v.labels)} labels for {len(sched)} scheduled visits; give one per visit",
            )
        if len(set(v.labels)) != len(v.labels) or any(not s.strip() for s in v.labels):
            raise _Inconsistent("visits.labels", "labels must be unique and not empty")
    keys = [_code_key(x) for x in sched] if coded else sched

    def known(x) -> bool:
        if coded:
            return isinstance(x, str) and _code_key(x) in keys
        return not isinstance(x, str) and x in sched

    def shown(x) -> str:
        return repr(x) if isinstance(x, str) else f"{x:g}"

    flag = d.columns.baseline_flag
    base = v.baseline
    if base is not None and isinstance(base, str) != coded and sched:
        raise _Inconsistent(
            "visits.baseline",
            f"the baseline visit {shown(base)} must be "
            + (
                "one of the visit codes of visits.schedule"
                if coded
                else "a number, as the schedule's"
            ),
        )
    if base is None and not coded:
        base = 0.0
    if not coded and base is not None and not isinstance(base, str) and base < 0:
        raise _Inconsistent("visits.baseline", "the baseline visit must not be negative")
    if isinstance(base, str) and not sched:
        raise _Inconsistent(
            "visits.schedule",
            f"the baseline visit {base!r} is a text code: list the visit codes in "
            "visits.schedule with their times",
        )
    if sched:
        if base is None:
            if not flag and not d.columns.baseline:
                raise _Inconsistent(
                    "visits.baseline",
                    "name the baseline visit's code (or mark the baseline record with "
                    "[columns] baseline_flag)",
                )
        elif not known(base) and not d.columns.baseline and not (flag and v.baseline is None):
            raise _Inconsistent(
                "visits.baseline",
                f"the baseline visit {shown(base)} is not in visits.schedule "
                "(or name a baseline column in [columns] baseline)",
            )
        off = [k for k in v.key if not known(k)]
        if off:
            raise _Inconsistent(
                "visits.key",
                f"key visits {', '.join(shown(k) for k in off)} are not in visits.schedule",
            )
    elif any(isinstance(k, str) for k in v.key):
        raise _Inconsistent("visits.key", "text visit codes need visits.schedule with times")
    if base is not None and any(
        (_code_key(k) == _code_key(base)) if coded and isinstance(k, str) else k == base
        for k in v.key
    ):
        raise _Inconsistent("visits.key", "the baseline visit cannot be a key visit")


def _check_consistent(d) -> None:
    from .analysis_plan import PlanInconsistent, check_plan

    try:
        check_plan(d)
    except PlanInconsistent as exc:
        raise _Inconsistent(exc.key, exc.message) from None
    codes = [a.code for a in d.arms]
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        raise _Inconsistent("arms", f"arm codes must be unique; {dup[0]!r} appears twice")
    ref = d.analysis.reference
    if ref is not None and codes and ref not in codes:
        raise _Inconsistent(
            "analysis.reference", f"reference arm {ref!r} is not one of the arms {codes}"
        )
    _check_instruments(d)
    _check_visits(d)
    cols = d.columns
    roles = {k: getattr(cols, k) for k in ("subject", "arm", "visit", "outcome", "baseline",
                                           "param", "baseline_flag", "analysis_flag")}  # fmt: skip
    used = [c for c in roles.values() if c]
    twice = sorted({c for c in used if used.count(c) > 1})
    if twice:
        which = ", ".join(k for k, c in roles.items() if c == twice[0])
        raise _Inconsistent(
            "columns", f"column {twice[0]!r} is mapped to more than one role ({which})"
        )


def _valid_keys(schema, loc: tuple) -> list[str]:
    """The names allowed at ``loc`` (a pydantic error location), for suggestions."""
    model = schema
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        f = model.model_fields.get(part)
        if f is None:
            return []
        ann = f.annotation
        args = getattr(ann, "__args__", ())
        model = next(
            (a for a in (ann, *args) if isinstance(a, type) and hasattr(a, "model_fields")), None
        )
        if model is None:
            return []
    return list(model.model_fields)


def _where(loc: tuple) -> str:
    parts = []
    for p in loc:
        if isinstance(p, int):
            parts[-1] = f"{parts[-1]}[{p + 1}]" if parts else f"[{p + 1}]"
        else:
            parts.append(str(p))
    return ".".join(parts)


def _describe(err: dict, schema) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        name = str(loc[-1])
        valid = _valid_keys(schema, loc)
        guess = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
        if len(loc) == 1:
            what = f"unknown section [{name}]"
            hint = f"; did you mean [{guess[0]}]?" if guess else ""
            return f"{what}{hint} (sections: {', '.join(valid)})"
        section = _where(loc[:-1])
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        return f"unknown key {name!r} in [{section}]{hint} (keys: {', '.join(valid)})"
    if kind == "value_error" and isinstance(err.get("ctx", {}).get("error"), _Inconsistent):
        e = err["ctx"]["error"]
        return f"{e.key}: {e.message}"
    where = _where(loc) or "the file"
    got = err.get("input")
    shown = "" if isinstance(got, dict | list) else f", got {got!r}"
    return f"{where}: {err.get('msg', 'invalid value').rstrip('.')}{shown}"


def _normalise_numbers(raw):
    """TOML integers as floats where the schema wants numbers (strict mode keeps other types)."""
    if isinstance(raw, dict):
        return {k: _normalise_numbers(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_normalise_numbers(v) for v in raw]
    if isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    return raw


#: A design file is a few kilobytes; its lists (visits, arms, endpoints) a few dozen entries.
MAX_DESIGN_BYTES = 1 << 20
#: The furthest time a design gives a visit, in any unit (ten years in hours is 87,600).
MAX_TIME = 100_000
MAX_DESIGN_LIST = 1_000


def _refuse_long_lists(raw, source: str, where: str = "") -> None:
    """Refuse, before any validation, a list longer than a trial has (a million-visit
    schedule would cost minutes and gigabytes downstream)."""
    if isinstance(raw, dict):
        for k, v in raw.items():
            _refuse_long_lists(v, source, f"{where}.{k}" if where else str(k))
    elif isinstance(raw, list):
        if len(raw) > MAX_DESIGN_LIST:
            raise DesignError(
                f"{source}: {where} has {len(raw):,} entries; a design lists at most "
                f"{MAX_DESIGN_LIST:,} (visits, arms, endpoints)"
            )
        for i, v in enumerate(raw):
            _refuse_long_lists(v, source, f"{where}[{i}]")


def parse_design(raw: dict, *, source: str = "<design>", base_dir: Path | None = None):
    """Check a design given as a dict (as read from TOML) and build the :class:`TrialDesign`.

    Raises
    ------
    DesignError
        Naming every unknown section or key (with the nearest valid name) and every value that
        breaks a rule.
    """
    from pydantic import ValidationError

    _refuse_long_lists(raw, source)
    schema = _design_schema()
    try:
        d = schema.model_validate(_normalise_numbers(raw))
    except ValidationError as exc:
        problems = [_describe(e, schema) for e in exc.errors(include_url=False)]
        raise DesignError(
            f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''} with the design"
            + "".join(f"\n{source}: {p}" for p in problems)
        ) from None

    arms = tuple(
        Arm(code=a.code, label=a.label or a.code, modelled=a.modelled, description=a.description)
        for a in d.arms
    )
    codes = [a.code for a in arms]
    reference = d.analysis.reference or ("TAU" if not codes or "TAU" in codes else codes[0])
    instruments = tuple(
        _build_instrument(key, sec, d.analysis, source) for key, sec in _instrument_sections(d)
    )
    v = d.visits
    coded = any(isinstance(x, str) for x in v.schedule)
    unit = v.unit if v.unit is not None else ""
    flag = d.columns.baseline_flag
    if coded:
        visit_codes = tuple(str(x) for x in v.schedule)
        schedule = tuple(float(t) for t in v.times)
        times = schedule
        keys = [_code_key(c) for c in visit_codes]
        if v.baseline is not None:
            baseline = schedule[keys.index(_code_key(v.baseline))] if _code_key(
                v.baseline) in keys else _outside_baseline(schedule, source)  # fmt: skip
        elif flag:
            baseline = schedule[0]  # found from the flagged records when the data are read
        else:
            baseline = _outside_baseline(schedule, source)
        key_visits = tuple(schedule[keys.index(_code_key(k))] for k in v.key)
    else:
        visit_codes = ()
        schedule = tuple(float(x) for x in v.schedule)
        times = tuple(float(x) for x in v.times) if v.times is not None else ()
        baseline = 0.0 if v.baseline is None else float(v.baseline)
        key_visits = tuple(float(k) for k in v.key)
    if v.labels is not None:
        labels = tuple(v.labels)
    elif schedule:
        tt = times or schedule
        labels = tuple(
            default_visit_label(t, unit, baseline=(s == baseline))
            for s, t in zip(schedule, tt, strict=True)
        )
    else:
        labels = ()
    c = d.columns
    columns = ColumnMap(
        subject=c.subject,
        arm=c.arm,
        visit=c.visit,
        outcome=c.outcome,
        baseline=c.baseline,
        param=c.param,
        baseline_flag=c.baseline_flag,
        analysis_flag=c.analysis_flag,
    )
    pub = d.published.figures
    if pub:
        pub_path = ((base_dir or Path.cwd()) / pub).resolve()
        if not pub_path.is_file():
            raise DesignError(f"{source}: published.figures: file {pub!r} not found")
        pub = str(pub_path)
    design = TrialDesign(
        name=d.trial.name
        or (Path(source).stem if source and not source.startswith("<") else "trial"),
        citation=d.trial.citation or "",
        arms=arms,
        reference=reference,
        visit_unit=unit,
        baseline_visit=float(baseline),
        schedule=schedule,
        times=times,
        labels=labels,
        key_visits=key_visits,
        instrument=instruments[0],
        columns=columns,
        source=source,
        published=pub,
        plan=build_plan(d, base_dir=base_dir, source=source),
        instruments=instruments,
        consort=build_consort(d.consort, arms, source),
        visit_codes=visit_codes,
        baseline_stated=v.baseline is not None or not flag,
    )
    return design.with_instrument(instruments[0])


def _outside_baseline(schedule: tuple[float, ...], source: str) -> float:
    """The baseline of a coded design whose baseline comes from a column, outside the
    schedule: time 0, unless a scheduled visit is at time 0."""
    if 0.0 in schedule:
        raise DesignError(
            f"{source}: visits.baseline: name the baseline visit's code (a scheduled visit is at "
            "time 0)"
        )
    return 0.0


def _build_instrument(key: str, sec, analysis, source: str) -> Instrument:
    """The :class:`Instrument` of one ``[instrument]`` / ``[[instruments]]`` section, with the
    ``[analysis]`` thresholds where the section gives none."""
    name = sec.name or sec.param or sec.outcome
    if not name:
        name = "HAM-D 17" if (sec.min, sec.max) == (0, 52) and not sec.higher_is_better else "score"
    improvement = (
        sec.response_improvement
        if sec.response_improvement is not None
        else analysis.response_improvement
    )
    rem_max = rem_min = None
    if sec.higher_is_better:
        rem_min = sec.remission_min if sec.remission_min is not None else analysis.remission_min
    else:
        rem_max = sec.remission_max if sec.remission_max is not None else analysis.remission_max
        if rem_max is None:
            if not sec.min <= 7 <= sec.max:
                where = "analysis" if key == "instrument" else key
                raise DesignError(
                    f"{source}: {where}.remission_max: the default 7 is outside the range "
                    f"{sec.min:g}-{sec.max:g} of {name}; give remission_max"
                )
            rem_max = 7.0
    return Instrument(
        name=name,
        minimum=float(sec.min),
        maximum=float(sec.max),
        integer=sec.integer,
        response_improvement=improvement,
        remission_max=rem_max,
        higher_is_better=sec.higher_is_better,
        remission_min=rem_min,
        reliability=sec.reliability,
        functional_mean=sec.functional_mean,
        functional_sd=sec.functional_sd,
        param=sec.param,
        outcome=sec.outcome,
    )


def load_design(path: str | Path) -> TrialDesign:
    """Read and check a trial design TOML file.

    Parameters
    ----------
    path : str or Path
        The design file.

    Returns
    -------
    TrialDesign

    Raises
    ------
    DesignError
        When the file is missing or not valid TOML, has an unknown section or key (named with
        the nearest valid one), or describes an inconsistent trial (reference not among the arms,
        key visit not in the schedule, remission threshold outside the range, times not
        increasing, ...).
    """
    path = Path(path)
    if not path.is_file():
        what = ("is a directory, not a design file" if path.is_dir() else
                "is not a regular file (a device or a pipe), not a design file"
                if path.exists() else "design file not found")  # fmt: skip
        raise DesignError(f"{path}: {what}")
    if path.stat().st_size > MAX_DESIGN_BYTES:
        raise DesignError(
            f"{path}: {path.stat().st_size / 2**20:,.1f} MiB is not a design file (a design is a "
            f"few kilobytes; at most {MAX_DESIGN_BYTES >> 20} MiB)"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DesignError(f"{path}: not a valid TOML design file ({exc})") from None
    except RecursionError:  # arrays or tables nested thousands deep
        raise DesignError(
            f"{path}: not a valid TOML design file (arrays or tables nested too deeply)"
        ) from None
    return parse_design(raw, source=str(path), base_dir=path.parent)
