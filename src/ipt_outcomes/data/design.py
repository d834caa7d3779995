"""Trial design files: what a trial is, in one small TOML file.

A design names the arms and the reference arm, the visit schedule and its unit, the key visits,
the instrument and its range, the response and remission thresholds and the column mapping of the
score file. Commands take ``--design FILE``; without one, :func:`default_design` gives the SPEC's
defaults (HAM-D 17, 0-52, reference ``TAU``, default column names).

Example file (``analyses/saloheimo2016.toml`` is a full one)::

    [trial]
    name = "My trial"

    [[arms]]
    code = "CBT"
    label = "Cognitive behavioural therapy"

    [[arms]]
    code = "TAU"
    label = "Treatment as usual"

    [analysis]
    reference = "TAU"

    [visits]
    unit = "weeks"
    baseline = 0
    schedule = [0, 4, 8]
    key = [8]
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..exceptions import DesignError

__all__ = ["Arm", "Instrument", "ColumnMap", "TrialDesign", "load_design", "default_design"]


@dataclass(frozen=True)
class Arm:
    """One randomised arm: its code as it appears in the data, a label and whether it is modelled."""

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
    """The outcome scale: name, column and the admissible range of whole-number scores."""

    name: str = "HAM-D 17"
    minimum: int = 0
    maximum: int = 52
    integer: bool = True
    response_improvement: float = 0.50
    remission_max: float = 7.0


@dataclass(frozen=True)
class ColumnMap:
    """Where the contract's columns are in the user's file.

    ``baseline`` names a column carrying the baseline score on every row; when it is set there is
    no baseline row and every row is post-baseline.
    """

    subject: str = "subject_id"
    arm: str = "arm"
    visit: str = "visit"
    outcome: str = "hamd17"
    baseline: str | None = None

    def with_overrides(self, **kwargs) -> ColumnMap:
        """A copy with the given non-``None`` names replaced (the command-line flags)."""
        changes = {k: v for k, v in kwargs.items() if v is not None}
        return replace(self, **changes)


@dataclass(frozen=True)
class TrialDesign:
    """Everything about a trial that is not in its score file."""

    name: str = "trial"
    citation: str = ""
    arms: tuple[Arm, ...] = ()
    reference: str = "TAU"
    visit_unit: str = "months"
    baseline_visit: float = 0.0
    schedule: tuple[float, ...] = ()
    key_visits: tuple[float, ...] = ()
    instrument: Instrument = field(default_factory=Instrument)
    columns: ColumnMap = field(default_factory=ColumnMap)
    source: str = "<default design>"
    published: str | None = None  # targets-style CSV of published figures (path)

    @property
    def arm_codes(self) -> tuple[str, ...]:
        return tuple(a.code for a in self.arms)

    def arm(self, code: str) -> Arm:
        """The arm with this code, or a plain :class:`Arm` when the design does not list it."""
        for a in self.arms:
            if a.code == code:
                return a
        return Arm(code=code, label=code)

    def arm_order(self, present) -> list[str]:
        """Arm codes in design order, then any others present in the data, sorted."""
        present = list(dict.fromkeys(present))
        known = [c for c in self.arm_codes if c in present]
        return known + sorted(c for c in present if c not in known)


def default_design() -> TrialDesign:
    """The SPEC's defaults: HAM-D 17 (0-52), reference ``TAU``, visit 0 is baseline."""
    return TrialDesign()


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DesignError(f"{where} must be a finite number, got {value!r}")
    return float(value)


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
        When the file is missing, is not valid TOML or describes an inconsistent trial (unknown
        reference arm, key visit not in the schedule, empty range ...).
    """
    path = Path(path)
    if not path.is_file():
        raise DesignError(f"{path}: design file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DesignError(f"{path}: not a valid TOML design file ({exc})") from None

    where = str(path)
    trial = raw.get("trial", {})
    arms = []
    for i, a in enumerate(raw.get("arms", []), start=1):
        if not isinstance(a, dict) or not str(a.get("code", "")).strip():
            raise DesignError(f"{where}: [[arms]] entry {i} needs a non-empty 'code'")
        arms.append(
            Arm(
                code=str(a["code"]),
                label=str(a.get("label", a["code"])),
                modelled=bool(a.get("modelled", False)),
                description=str(a.get("description", "")),
            )
        )
    codes = [a.code for a in arms]
    if len(set(codes)) != len(codes):
        raise DesignError(f"{where}: arm codes must be unique, got {codes}")

    analysis = raw.get("analysis", {})
    reference = str(analysis.get("reference", "TAU" if not arms or "TAU" in codes else codes[0]))
    if arms and reference not in codes:
        raise DesignError(f"{where}: reference arm {reference!r} is not one of the arms {codes}")

    visits = raw.get("visits", {})
    schedule = tuple(_number(v, f"{where}: visits.schedule") for v in visits.get("schedule", []))
    key = tuple(_number(v, f"{where}: visits.key") for v in visits.get("key", []))
    baseline = _number(visits.get("baseline", 0), f"{where}: visits.baseline")
    if any(v < 0 for v in schedule):
        raise DesignError(f"{where}: visits.schedule must not contain negative visits")
    baseline_col = (raw.get("columns", {}) or {}).get("baseline")
    if schedule and baseline not in schedule and not baseline_col:
        raise DesignError(f"{where}: the baseline visit {baseline:g} is not in visits.schedule")
    missing_key = [k for k in key if schedule and k not in schedule]
    if missing_key:
        raise DesignError(f"{where}: key visits {missing_key} are not in visits.schedule")

    inst = raw.get("instrument", {})
    instrument = Instrument(
        name=str(inst.get("name", "HAM-D 17")),
        minimum=int(_number(inst.get("min", 0), f"{where}: instrument.min")),
        maximum=int(_number(inst.get("max", 52), f"{where}: instrument.max")),
        integer=bool(inst.get("integer", True)),
        response_improvement=_number(
            analysis.get("response_improvement", 0.5), f"{where}: analysis.response_improvement"
        ),
        remission_max=_number(analysis.get("remission_max", 7), f"{where}: analysis.remission_max"),
    )
    if instrument.minimum >= instrument.maximum:
        raise DesignError(f"{where}: instrument.min must be below instrument.max")
    if not 0 < instrument.response_improvement <= 1:
        raise DesignError(f"{where}: analysis.response_improvement must be in (0, 1]")

    cols = raw.get("columns", {})
    columns = ColumnMap(
        subject=str(cols.get("subject", "subject_id")),
        arm=str(cols.get("arm", "arm")),
        visit=str(cols.get("visit", "visit")),
        outcome=str(cols.get("outcome", "hamd17")),
        baseline=(str(cols["baseline"]) if cols.get("baseline") else None),
    )
    pub = raw.get("published", {}).get("figures")
    if pub:
        pub_path = (path.parent / pub).resolve()
        if not pub_path.is_file():
            raise DesignError(f"{where}: published.figures file {pub!r} not found")
        pub = str(pub_path)
    return TrialDesign(
        published=pub,
        name=str(trial.get("name", path.stem)),
        citation=str(trial.get("citation", "")),
        arms=tuple(arms),
        reference=reference,
        visit_unit=str(visits.get("unit", "months")),
        baseline_visit=baseline,
        schedule=schedule,
        key_visits=key,
        instrument=instrument,
        columns=columns,
        source=where,
    )
