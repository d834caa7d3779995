"""Trial design files: what a trial is, in one small TOML file (SPEC "Design file").

A design names the arms (display order, labels, which are modelled), the reference arm, the
visit schedule with the time of each visit in its unit and a label for each, the key visits, the
instrument with its range, the response and remission thresholds and the column mapping of the
score file. Every command takes ``--design FILE``; without one the design is inferred from the
data (:func:`ipt_outcomes.data.infer.infer_design`).

The file is checked by a schema (pydantic models with unknown keys forbidden): a typo such as
``refrence`` or a ``[visit]`` section is refused, naming the key and the nearest valid one; values
are checked (``remission_max`` inside the instrument's range, times increasing, key visits in the
schedule, ...).

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
    baseline = 10
    schedule = [10, 20, 30]
    times = [0, 4, 8]
    key = [30]

    [instrument]
    name = "MADRS"
    min = 0
    max = 60
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

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
    """The outcome scale: name, admissible range and the response and remission thresholds."""

    name: str = "HAM-D 17"
    minimum: float = 0
    maximum: float = 52
    integer: bool = True
    response_improvement: float = 0.50
    remission_max: float = 7.0


@dataclass(frozen=True)
class ColumnMap:
    """Where the contract's columns are in the user's file.

    ``baseline`` names a column carrying the baseline score on every row (a file may also have
    the baseline record at the baseline visit; then the two must agree).
    """

    subject: str = "subject_id"
    arm: str = "arm"
    visit: str = "visit"
    outcome: str = DEFAULT_OUTCOME_COLUMN
    baseline: str | None = None

    def with_overrides(self, **kwargs) -> ColumnMap:
        """A copy with the given non-``None`` names replaced (e.g. command-line flags)."""
        changes = {k: v for k, v in kwargs.items() if v is not None}
        return replace(self, **changes)


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

    class VisitsSection(Section):
        unit: str | None = None  # "" = no unit: visits are labelled "Visit N"
        baseline: Number = Field(default=0.0, ge=0)
        schedule: list[Number] = Field(default_factory=list, min_length=1)
        times: list[Number] | None = None
        labels: list[Text] | None = None
        key: list[Number] = Field(default_factory=list)

    class InstrumentSection(Section):
        name: Text | None = None
        min: Number = 0
        max: Number = 52
        integer: StrictBool = True

    class ColumnsSection(Section):
        subject: str = Field(default="subject_id", min_length=1)
        arm: str = Field(default="arm", min_length=1)
        visit: str = Field(default="visit", min_length=1)
        outcome: str = Field(default=DEFAULT_OUTCOME_COLUMN, min_length=1)
        baseline: str | None = Field(default=None, min_length=1)

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
    inst = d.instrument
    if inst.min >= inst.max:
        raise _Inconsistent(
            "instrument.max", f"max ({inst.max:g}) must be above min ({inst.min:g})"
        )
    rm = d.analysis.remission_max
    if rm is not None and not inst.min <= rm <= inst.max:
        raise _Inconsistent(
            "analysis.remission_max",
            f"remission_max = {rm:g} is outside the instrument's range {inst.min:g}-{inst.max:g}",
        )
    v = d.visits
    sched = list(v.schedule)
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
    if v.labels is not None:
        if len(v.labels) != len(sched):
            raise _Inconsistent(
                "visits.labels",
                f"{len(v.labels)} labels for {len(sched)} scheduled visits; give one per visit",
            )
        if len(set(v.labels)) != len(v.labels) or any(not s.strip() for s in v.labels):
            raise _Inconsistent("visits.labels", "labels must be unique and not empty")
    if sched and v.baseline not in sched and not d.columns.baseline:
        raise _Inconsistent(
            "visits.baseline",
            f"the baseline visit {v.baseline:g} is not in visits.schedule "
            "(or name a baseline column in [columns] baseline)",
        )
    if sched:
        off = [k for k in v.key if k not in sched]
        if off:
            raise _Inconsistent(
                "visits.key",
                f"key visits {', '.join(f'{k:g}' for k in off)} are not in visits.schedule",
            )
    if v.baseline in v.key:
        raise _Inconsistent("visits.key", "the baseline visit cannot be a key visit")


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


def parse_design(raw: dict, *, source: str = "<design>", base_dir: Path | None = None):
    """Check a design given as a dict (as read from TOML) and build the :class:`TrialDesign`.

    Raises
    ------
    DesignError
        Naming every unknown section or key (with the nearest valid name) and every value that
        breaks a rule.
    """
    from pydantic import ValidationError

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
    inst = d.instrument
    name = inst.name or ("HAM-D 17" if (inst.min, inst.max) == (0, 52) else "score")
    instrument = Instrument(
        name=name,
        minimum=inst.min,
        maximum=inst.max,
        integer=inst.integer,
        response_improvement=d.analysis.response_improvement,
        remission_max=7.0 if d.analysis.remission_max is None else d.analysis.remission_max,
    )
    if d.analysis.remission_max is None and not inst.min <= 7 <= inst.max:
        raise DesignError(
            f"{source}: analysis.remission_max: the default 7 is outside the instrument's range "
            f"{inst.min:g}-{inst.max:g}; give remission_max"
        )
    v = d.visits
    schedule = tuple(float(x) for x in v.schedule)
    times = tuple(float(x) for x in v.times) if v.times is not None else ()
    unit = v.unit if v.unit is not None else ""
    if v.labels is not None:
        labels = tuple(v.labels)
    elif schedule:
        tt = times or schedule
        labels = tuple(
            default_visit_label(t, unit, baseline=(s == v.baseline))
            for s, t in zip(schedule, tt, strict=True)
        )
    else:
        labels = ()
    c = d.columns
    columns = ColumnMap(
        subject=c.subject, arm=c.arm, visit=c.visit, outcome=c.outcome, baseline=c.baseline
    )
    pub = d.published.figures
    if pub:
        pub_path = ((base_dir or Path.cwd()) / pub).resolve()
        if not pub_path.is_file():
            raise DesignError(f"{source}: published.figures: file {pub!r} not found")
        pub = str(pub_path)
    return TrialDesign(
        name=d.trial.name
        or (Path(source).stem if source and not source.startswith("<") else "trial"),
        citation=d.trial.citation or "",
        arms=arms,
        reference=reference,
        visit_unit=unit,
        baseline_visit=float(v.baseline),
        schedule=schedule,
        times=times,
        labels=labels,
        key_visits=tuple(float(k) for k in v.key),
        instrument=instrument,
        columns=columns,
        source=source,
        published=pub,
        plan=build_plan(d, base_dir=base_dir, source=source),
        consort=build_consort(d.consort, arms, source),
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
        raise DesignError(f"{path}: design file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DesignError(f"{path}: not a valid TOML design file ({exc})") from None
    return parse_design(raw, source=str(path), base_dir=path.parent)
