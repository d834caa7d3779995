"""The analysis plan as the design file declares it (SPEC "The analysis plan").

The sections ``[[populations]]``, ``[[estimands]]``, ``[[endpoints]]``, ``[multiplicity]``,
``[[sensitivity]]`` and ``[[subgroups]]`` of a design file, checked by the same schema as the rest
of the design (pydantic, unknown keys refused naming the nearest valid one) and by the rules that
cross sections: every id that a section names must exist, an analysis must be able to serve its
variable, a graphical procedure's weights and transitions must be a graph. What the plan means
for a given trial (defaults filled in, populations counted, covariates found in the data) is the
business of :mod:`ipt_outcomes.plan`; this module only says what was declared.

Example::

    [[populations]]
    id = "fas"
    label = "Full analysis set"
    flag = "FASFL"

    [[endpoints]]
    id = "primary"
    role = "primary"
    variable = "change"
    analysis = "mmrm"
    covariates = ["SEX"]
    population = "fas"

    [multiplicity]
    method = "hierarchical"
    family = ["primary"]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "AnalysisPlan",
    "Population",
    "IntercurrentEvent",
    "Estimand",
    "Endpoint",
    "Multiplicity",
    "Sensitivity",
    "Subgroup",
    "POPULATION_RULES",
    "STRATEGIES",
    "REFERENCE_BASED",
    "ROLES",
    "VARIABLES",
    "ANALYSES",
    "SERVES",
    "MULTIPLICITY_METHODS",
    "SENSITIVITY_ANALYSES",
    "plan_sections",
    "build_plan",
]

POPULATION_RULES = ("all", "baseline", "post-baseline")
#: Intercurrent-event strategies: the reference-based ones of Carpenter, Roger & Kenward (2013),
#: MAR, and the ICH E9(R1) treatment-policy and hypothetical strategies.
STRATEGIES = ("MAR", "JR", "CR", "CIR", "LMCF", "treatment-policy", "hypothetical")
REFERENCE_BASED = ("JR", "CR", "CIR", "LMCF")
ROLES = ("primary", "key-secondary", "secondary", "exploratory")
VARIABLES = ("change", "score", "response", "remission", "reliable-change")
ANALYSES = ("mmrm", "ancova", "lmm", "response", "adjusted-response", "mi")
#: Which variables each analysis can serve.
SERVES = {
    "mmrm": ("change", "score"),
    "ancova": ("change", "score"),
    "lmm": ("score",),
    "response": ("response", "remission", "reliable-change"),
    "adjusted-response": ("response", "remission"),
    "mi": ("change",),
}
MULTIPLICITY_METHODS = ("none", "bonferroni", "holm", "hochberg", "hierarchical", "graphical")
SENSITIVITY_ANALYSES = ("mi", "tipping-point", "missing-rule")
MISSING_RULES = ("observed", "nri", "locf")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,39}$")
_ID_RULE = "an id starts with a letter and has at most 40 letters, digits, '_', '-' or '.'"


@dataclass(frozen=True)
class Population:
    """An analysis population: a built-in ``rule`` or a Y/N ``flag`` column of the data."""

    id: str
    label: str = ""
    rule: str | None = None  # all | baseline | post-baseline
    flag: str | None = None  # a Y/N column

    @property
    def display(self) -> str:
        return self.label or self.id


@dataclass(frozen=True)
class IntercurrentEvent:
    """An intercurrent event and its strategy; where the events are: a file (``subject_id,
    visit``: the first visit affected) or a column of the data (the first post-baseline visit at
    which its value differs from the subject's baseline value: a start or a change)."""

    name: str
    strategy: str
    events: str | None = None  # resolved path of the events file
    column: str | None = None


@dataclass(frozen=True)
class Estimand:
    id: str
    label: str = ""
    intercurrent_events: tuple[IntercurrentEvent, ...] = ()
    summary: str = ""  # population-level summary, when the plan words it itself

    @property
    def display(self) -> str:
        return self.label or self.id


@dataclass(frozen=True)
class Endpoint:
    id: str
    role: str = "secondary"
    variable: str = "change"
    analysis: str = "mmrm"
    label: str = ""
    instrument: str | None = None  # None: the design's first instrument
    visits: tuple = ()  # () : the design's key visits
    covariates: tuple[str, ...] = ()
    population: str | None = None  # None: the plan's first population (or the built-in FAS)
    estimand: str | None = None
    variance: str | None = None  # adjusted-response: ge | ye; ancova: model | hc3
    strata: tuple[str, ...] = ()
    missing: str | None = None  # response / adjusted-response: observed | nri | locf

    @property
    def display(self) -> str:
        return self.label or self.id


@dataclass(frozen=True)
class Multiplicity:
    alpha: float = 0.05
    method: str = "holm"
    family: tuple[str, ...] = ()  # endpoint ids; () : primary and key-secondary endpoints
    weights: tuple[float, ...] = ()
    transitions: tuple[tuple[float, ...], ...] = ()
    declared: bool = False


@dataclass(frozen=True)
class Sensitivity:
    endpoint: str
    analysis: str
    id: str = ""  # filled in: "<endpoint>-<analysis>[-<strategy or rule>]"
    label: str = ""
    strategy: str | None = None  # mi / tipping-point: strategy of dropouts without an event
    method: str | None = None  # mi: condmean | approxbayes | bayes
    resampling: str | None = None  # mi with condmean: jackknife | bootstrap
    missing: str | None = None  # missing-rule: observed | nri | locf
    estimand: str | None = None  # default: the endpoint's
    deltas: tuple[float, ...] = ()  # tipping-point grid (default -8 to 8 by 0.5 points)


@dataclass(frozen=True)
class Subgroup:
    endpoint: str
    column: str
    id: str = ""
    label: str = ""


@dataclass(frozen=True)
class AnalysisPlan:
    """The plan as declared; ``declared`` is False when the design file has no plan sections
    (the report then runs its default plan, :func:`ipt_outcomes.plan.default_plan`)."""

    populations: tuple[Population, ...] = ()
    estimands: tuple[Estimand, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    multiplicity: Multiplicity = field(default_factory=Multiplicity)
    sensitivity: tuple[Sensitivity, ...] = ()
    subgroups: tuple[Subgroup, ...] = ()
    declared: bool = False

    def population(self, pid: str) -> Population:
        return next(p for p in self.populations if p.id == pid)

    def estimand(self, eid: str) -> Estimand:
        return next(e for e in self.estimands if e.id == eid)

    def endpoint(self, eid: str) -> Endpoint:
        return next(e for e in self.endpoints if e.id == eid)


# ------------------------------------------------------------------------------------------
# the schema: sections of the design file (pydantic, built lazily with the design's schema)
# ------------------------------------------------------------------------------------------


class PlanInconsistent(ValueError):
    """A rule across the plan's sections is broken (reported with its key, as the design's)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


def plan_sections(Section, Number, Text):
    """The pydantic models of the plan's sections, as fields of the design file's schema.

    ``Section`` is the design schema's base model (unknown keys forbidden, strict types),
    ``Number`` a finite float and ``Text`` a non-empty string.
    """
    from typing import Annotated, Literal

    from pydantic import Field, StrictBool, field_validator  # noqa: F401

    Id = Annotated[str, Field(min_length=1, max_length=40)]
    Strategy = Literal[STRATEGIES]  # type: ignore[valid-type]

    class PopulationEntry(Section):
        id: Id
        label: Text | None = None
        rule: Literal[POPULATION_RULES] | None = None  # type: ignore[valid-type]
        flag: Text | None = None

    class EventEntry(Section):
        name: Text
        strategy: Strategy
        events: Text | None = None
        column: Text | None = None

    class EstimandEntry(Section):
        id: Id
        label: Text | None = None
        summary: Text | None = None
        intercurrent_events: list[EventEntry] = Field(default_factory=list)

    class EndpointEntry(Section):
        id: Id
        role: Literal[ROLES] = "secondary"  # type: ignore[valid-type]
        variable: Literal[VARIABLES] = "change"  # type: ignore[valid-type]
        analysis: Literal[ANALYSES] = "mmrm"  # type: ignore[valid-type]
        label: Text | None = None
        instrument: Text | None = None
        visits: list[Number | Text] | None = Field(default=None, min_length=1, max_length=1000)
        covariates: list[Text] = Field(default_factory=list, max_length=100)
        population: Id | None = None
        estimand: Id | None = None
        variance: Literal["ge", "ye", "model", "hc3"] | None = None
        strata: list[Text] = Field(default_factory=list, max_length=20)
        missing: Literal[MISSING_RULES] | None = None  # type: ignore[valid-type]

    class MultiplicitySection(Section):
        alpha: Number = Field(default=0.05, gt=0, lt=1)
        method: Literal[MULTIPLICITY_METHODS] = "holm"  # type: ignore[valid-type]
        family: list[Id] | None = Field(default=None, max_length=1000)
        weights: list[Number] | None = Field(default=None, max_length=1000)
        transitions: list[list[Number]] | None = Field(default=None, max_length=1000)

    class SensitivityEntry(Section):
        endpoint: Id
        analysis: Literal[SENSITIVITY_ANALYSES]  # type: ignore[valid-type]
        id: Id | None = None
        label: Text | None = None
        strategy: Literal[("MAR", "JR", "CR", "CIR", "LMCF")] | None = None  # type: ignore[valid-type]
        method: Literal[("condmean", "approxbayes", "bayes")] | None = None  # type: ignore[valid-type]
        resampling: Literal[("jackknife", "bootstrap")] | None = None  # type: ignore[valid-type]
        missing: Literal[MISSING_RULES] | None = None  # type: ignore[valid-type]
        estimand: Id | None = None
        deltas: list[Number] | None = Field(default=None, min_length=2, max_length=401)

    class SubgroupEntry(Section):
        endpoint: Id
        column: Text
        id: Id | None = None
        label: Text | None = None

    return {
        "populations": (list[PopulationEntry], Field(default_factory=list, max_length=100)),
        "estimands": (list[EstimandEntry], Field(default_factory=list, max_length=100)),
        "endpoints": (list[EndpointEntry], Field(default_factory=list, max_length=200)),
        "multiplicity": (MultiplicitySection | None, None),
        "sensitivity": (list[SensitivityEntry], Field(default_factory=list, max_length=200)),
        "subgroups": (list[SubgroupEntry], Field(default_factory=list, max_length=100)),
    }


def _check_ids(kind: str, ids: list[str]) -> None:
    for i, x in enumerate(ids):
        if not _ID.match(x):
            raise PlanInconsistent(f"{kind}[{i + 1}].id", f"{x!r}: {_ID_RULE}")
    dup = sorted({x for x in ids if ids.count(x) > 1})
    if dup:
        raise PlanInconsistent(kind, f"ids must be unique; {dup[0]!r} appears twice")


def _known(key: str, what: str, value: str, known: list[str]) -> None:
    if value not in known:
        import difflib

        guess = difflib.get_close_matches(value, known, n=1, cutoff=0.5)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        listed = ", ".join(repr(k) for k in known) or "none is declared"
        raise PlanInconsistent(key, f"{what} {value!r} does not exist{hint} ({what}s: {listed})")


def check_plan(d) -> None:
    """Rules across the plan's sections (raised as :class:`PlanInconsistent`)."""
    pops = [p.id for p in d.populations]
    ests = [e.id for e in d.estimands]
    eps = [e.id for e in d.endpoints]
    _check_ids("populations", pops)
    _check_ids("estimands", ests)
    _check_ids("endpoints", eps)
    for i, p in enumerate(d.populations, start=1):
        if (p.rule is None) == (p.flag is None):
            raise PlanInconsistent(
                f"populations[{i}]", f"population {p.id!r}: give either rule or flag (one of them)"
            )
    for i, e in enumerate(d.estimands, start=1):
        for j, ev in enumerate(e.intercurrent_events, start=1):
            if (ev.events is None) == (ev.column is None):
                raise PlanInconsistent(
                    f"estimands[{i}].intercurrent_events[{j}]",
                    f"event {ev.name!r}: give either events (a file) or column (one of them)",
                )
    for i, e in enumerate(d.endpoints, start=1):
        where = f"endpoints[{i}]"
        if e.variable not in SERVES[e.analysis]:
            raise PlanInconsistent(
                f"{where}.analysis",
                f"endpoint {e.id!r}: analysis {e.analysis!r} cannot serve variable "
                f"{e.variable!r} (it serves {', '.join(SERVES[e.analysis])})",
            )
        if e.population is not None:
            if not pops and e.population == "fas":
                pass  # the built-in full analysis set
            else:
                _known(f"{where}.population", "population", e.population, pops)
        if e.estimand is not None:
            _known(f"{where}.estimand", "estimand", e.estimand, ests)
        if e.variance is not None:
            ok = {"adjusted-response": ("ge", "ye"), "ancova": ("model", "hc3")}.get(e.analysis, ())
            if e.variance not in ok:
                raise PlanInconsistent(
                    f"{where}.variance",
                    f"endpoint {e.id!r}: variance {e.variance!r} does not apply to analysis "
                    f"{e.analysis!r}"
                    + (f" (it takes {' or '.join(ok)})" if ok else " (it takes no variance key)"),
                )
        if e.strata and not (e.analysis == "adjusted-response" and e.variance == "ye"):
            raise PlanInconsistent(
                f"{where}.strata",
                f"endpoint {e.id!r}: strata apply to analysis 'adjusted-response' with "
                "variance 'ye' only",
            )
        if e.missing is not None and e.analysis not in ("response", "adjusted-response"):
            raise PlanInconsistent(
                f"{where}.missing",
                f"endpoint {e.id!r}: missing applies to response analyses only (analysis "
                f"{e.analysis!r} uses every observed score)",
            )
        if len(set(e.covariates)) != len(e.covariates):
            raise PlanInconsistent(f"{where}.covariates", f"endpoint {e.id!r}: a covariate repeats")
        if e.visits is not None and len({str(v) for v in e.visits}) != len(e.visits):
            raise PlanInconsistent(f"{where}.visits", f"endpoint {e.id!r}: a visit repeats")
    roles = [e.role for e in d.endpoints]
    m = d.multiplicity
    if m is not None:
        if m.family is not None:
            for j, f in enumerate(m.family, start=1):
                _known(f"multiplicity.family[{j}]", "endpoint", f, eps)
            if len(set(m.family)) != len(m.family):
                raise PlanInconsistent("multiplicity.family", "an endpoint repeats in the family")
        if m.method != "graphical" and (m.weights is not None or m.transitions is not None):
            raise PlanInconsistent(
                "multiplicity.weights",
                f"weights and transitions belong to method 'graphical', not {m.method!r}",
            )
        if m.method == "graphical":
            _check_graph(m)
    if roles.count("primary") == 0 and d.endpoints and any(r == "key-secondary" for r in roles):
        raise PlanInconsistent("endpoints", "a key-secondary endpoint needs a primary endpoint")
    for i, s in enumerate(d.sensitivity, start=1):
        where = f"sensitivity[{i}]"
        _known(f"{where}.endpoint", "endpoint", s.endpoint, eps)
        ep = next(e for e in d.endpoints if e.id == s.endpoint)
        if s.estimand is not None:
            _known(f"{where}.estimand", "estimand", s.estimand, ests)
        _check_sensitivity(where, s, ep)
    sens_ids = [s.id for s in d.sensitivity if s.id]
    if len(set(sens_ids)) != len(sens_ids):
        raise PlanInconsistent("sensitivity", "sensitivity ids must be unique")
    for i, g in enumerate(d.subgroups, start=1):
        where = f"subgroups[{i}]"
        _known(f"{where}.endpoint", "endpoint", g.endpoint, eps)
        ep = next(e for e in d.endpoints if e.id == g.endpoint)
        if ep.analysis not in ("mmrm", "ancova", "response"):
            raise PlanInconsistent(
                f"{where}.endpoint",
                f"subgroup analysis of endpoint {ep.id!r}: its analysis {ep.analysis!r} has no "
                "subgroup model here (mmrm, ancova and response do)",
            )


def _check_sensitivity(where: str, s, ep) -> None:
    change = ep.variable in ("change", "score")
    if s.analysis == "mi":
        if not change:
            raise PlanInconsistent(
                f"{where}.analysis",
                f"multiple imputation of endpoint {ep.id!r} ({ep.variable}) is not offered: "
                "it imputes a continuous change from baseline",
            )
        if s.missing is not None or s.deltas is not None:
            raise PlanInconsistent(f"{where}", "mi takes strategy, method and resampling")
        if s.resampling is not None and s.method not in (None, "condmean"):
            raise PlanInconsistent(
                f"{where}.resampling", "resampling applies to method 'condmean' only"
            )
    elif s.analysis == "tipping-point":
        if not change:
            raise PlanInconsistent(
                f"{where}.analysis",
                f"a tipping point of endpoint {ep.id!r} ({ep.variable}) is not offered: it "
                "shifts imputed continuous scores",
            )
        if s.missing is not None or s.method is not None or s.resampling is not None:
            raise PlanInconsistent(f"{where}", "tipping-point takes strategy and deltas")
    else:  # missing-rule
        if s.missing is None:
            raise PlanInconsistent(
                f"{where}.missing", "a missing-rule analysis names its rule: observed, nri or locf"
            )
        if change and s.missing == "nri":
            raise PlanInconsistent(
                f"{where}.missing",
                f"non-responder imputation needs a binary variable; endpoint {ep.id!r} is "
                f"{ep.variable} (use observed or locf)",
            )
        if ep.variable == "reliable-change":
            raise PlanInconsistent(
                f"{where}.analysis", "missing-rule analyses of reliable change are not offered"
            )
        if s.strategy or s.method or s.resampling or s.deltas is not None:
            raise PlanInconsistent(f"{where}", "missing-rule takes missing only")
    if s.strategy is not None and s.analysis == "missing-rule":
        raise PlanInconsistent(f"{where}.strategy", "strategy applies to mi and tipping-point")


def _check_graph(m) -> None:
    import math

    k = len(m.weights or [])
    if m.weights is None or m.transitions is None:
        raise PlanInconsistent("multiplicity", "the graphical method needs weights and transitions")
    if any(w < 0 for w in m.weights) or sum(m.weights) > 1 + 1e-9:
        raise PlanInconsistent(
            "multiplicity.weights", "weights must be at least 0 and add up to at most 1"
        )
    if len(m.transitions) != k or any(len(r) != k for r in m.transitions):
        raise PlanInconsistent(
            "multiplicity.transitions",
            f"transitions must be a {k} x {k} matrix (one row and column per weight)",
        )
    for i, r in enumerate(m.transitions):
        if any(x < 0 for x in r) or sum(r) > 1 + 1e-9 or not math.isclose(r[i], 0, abs_tol=0):
            raise PlanInconsistent(
                f"multiplicity.transitions[{i + 1}]",
                "each row holds numbers at least 0 that add up to at most 1, with 0 on the "
                "diagonal (Bretz et al. 2009)",
            )


def build_plan(d, *, base_dir: Path | None, source: str) -> AnalysisPlan:
    """The :class:`AnalysisPlan` of a validated design schema object ``d``."""
    from ..exceptions import DesignError

    base = base_dir or Path.cwd()
    pops = tuple(
        Population(id=p.id, label=p.label or "", rule=p.rule, flag=p.flag) for p in d.populations
    )
    ests = []
    for i, e in enumerate(d.estimands, start=1):
        events = []
        for j, ev in enumerate(e.intercurrent_events, start=1):
            path = None
            if ev.events is not None:
                resolved = (base / ev.events).resolve()
                if not resolved.is_file():
                    raise DesignError(
                        f"{source}: estimands[{i}].intercurrent_events[{j}].events: file "
                        f"{ev.events!r} not found (paths are relative to the design file)"
                    )
                path = str(resolved)
            events.append(
                IntercurrentEvent(name=ev.name, strategy=ev.strategy, events=path, column=ev.column)
            )
        ests.append(
            Estimand(
                id=e.id,
                label=e.label or "",
                intercurrent_events=tuple(events),
                summary=e.summary or "",
            )  # fmt: skip
        )
    eps = tuple(
        Endpoint(
            id=e.id,
            role=e.role,
            variable=e.variable,
            analysis=e.analysis,
            label=e.label or "",
            instrument=e.instrument,
            visits=tuple(e.visits) if e.visits is not None else (),
            covariates=tuple(e.covariates),
            population=e.population,
            estimand=e.estimand,
            variance=e.variance,
            strata=tuple(e.strata),
            missing=e.missing,
        )  # fmt: skip
        for e in d.endpoints
    )
    m = d.multiplicity
    mult = (
        Multiplicity(
            alpha=m.alpha,
            method=m.method,
            family=tuple(m.family or ()),
            weights=tuple(m.weights or ()),
            transitions=tuple(tuple(r) for r in (m.transitions or ())),
            declared=True,
        )  # fmt: skip
        if m is not None
        else Multiplicity()
    )
    sens, seen = [], {}
    for s in d.sensitivity:
        sid = s.id or "-".join(x for x in (s.endpoint, s.analysis, s.strategy or s.missing) if x)
        seen[sid] = seen.get(sid, 0) + 1
        if seen[sid] > 1 and not s.id:
            sid = f"{sid}-{seen[sid]}"
        sens.append(
            Sensitivity(
                endpoint=s.endpoint,
                analysis=s.analysis,
                id=sid,
                label=s.label or "",
                strategy=s.strategy,
                method=s.method,
                resampling=s.resampling,
                missing=s.missing,
                estimand=s.estimand,
                deltas=tuple(s.deltas or ()),
            )  # fmt: skip
        )
    subs = []
    for g in d.subgroups:
        subs.append(
            Subgroup(
                endpoint=g.endpoint,
                column=g.column,
                id=g.id or f"{g.endpoint}-by-{g.column}",
                label=g.label or "",
            )  # fmt: skip
        )
    declared = bool(
        pops or ests or eps or d.multiplicity is not None or d.sensitivity or d.subgroups
    )
    if declared and not eps:
        raise DesignError(
            f"{source}: the analysis plan declares no [[endpoints]]: name at least the primary "
            "endpoint (or leave out every plan section for the default plan)"
        )
    return AnalysisPlan(
        populations=pops, estimands=tuple(ests), endpoints=eps, multiplicity=mult,
        sensitivity=tuple(sens), subgroups=tuple(subs), declared=declared,
    )  # fmt: skip
