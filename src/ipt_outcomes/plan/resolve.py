"""The plan a trial will run: the declared plan (or the default plan) with every default filled in
and every name checked against the data.

:func:`default_plan` is what the report runs when the design file declares no plan;
:func:`resolve_plan` fills in what a declared plan leaves out (an endpoint's instrument, visits,
population and estimand; the multiplicity family) and checks what only the data can tell (a
population's flag column, a covariate, a subgroup column, a visit). :func:`plan_json` is the
resolved plan as ``plan.json`` holds it.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from ..data.analysis_plan import (
    AnalysisPlan,
    Endpoint,
    Estimand,
    IntercurrentEvent,
    Multiplicity,
    Population,
    Sensitivity,
)
from ..exceptions import IptOutcomesError

__all__ = ["default_plan", "resolve_plan", "plan_json", "PlanError", "FAS"]


class PlanError(IptOutcomesError):
    """The plan does not fit the data (a column, visit or arm it names is not there)."""


#: The built-in full analysis set (randomised, with a baseline and a post-baseline score).
FAS = Population(id="fas", label="Full analysis set", rule="post-baseline")

#: Subject-level columns that may record antidepressant use, in the order looked for.
ANTIDEPRESSANT_COLUMNS = ("antidepressant",)


def default_plan(trial) -> AnalysisPlan:
    """The plan the report runs when the design declares none.

    Primary: MMRM of change from baseline at the key visits on the full analysis set. Key
    secondary: response at the key visits, baseline-adjusted (g-computation, Ge's variance),
    observed cases. Secondary: response and remission at every visit (unadjusted), the
    random-effects growth model of the scores and the ANCOVA of change (HC3) at the key visits.
    Sensitivity: reference-based multiple imputation of the primary (JR and CIR for dropouts),
    its tipping point, and the key secondary under non-responder imputation and LOCF.
    Multiplicity: Holm over the primary and key secondary endpoints (every observed arm against
    the reference at each key visit). The estimand's intercurrent event is the start or change of
    antidepressant medication when the data record it (an ``antidepressant`` column), handled by
    the treatment-policy strategy; dropouts are missing data, assumed missing at random.
    """
    events = ()
    col = next((c for c in ANTIDEPRESSANT_COLUMNS if c in trial.scores.columns), None)
    if col is not None:
        events = (
            IntercurrentEvent(
                name="Start or change of antidepressant medication",
                strategy="treatment-policy",
                column=col,
            ),
        )
    estimand = Estimand(
        id="primary",
        label="Effect of assignment to the arm (treatment policy)",
        intercurrent_events=events,
    )
    inst = trial.instrument
    eps = (
        Endpoint(id="primary", role="primary", variable="change", analysis="mmrm",
                 label="Change from baseline (MMRM)", population="fas", estimand="primary"),
        Endpoint(id="key-secondary", role="key-secondary", variable="response",
                 analysis="adjusted-response", label="Response, baseline-adjusted",
                 covariates=("baseline",), variance="ge", missing="observed",
                 population="fas", estimand="primary"),
        Endpoint(id="response", role="secondary", variable="response", analysis="response",
                 label="Response at every visit", visits=("all",), missing="observed",
                 population="fas", estimand="primary"),
        *((Endpoint(id="remission", role="secondary", variable="remission",
                    analysis="response", label="Remission at every visit", visits=("all",),
                    missing="observed", population="fas", estimand="primary"),)
          if getattr(inst, "has_remission", True) else ()),
        Endpoint(id="growth", role="secondary", variable="score", analysis="lmm",
                 label="Scores over time (random-effects growth model)", population="fas",
                 estimand="primary"),
        Endpoint(id="ancova", role="secondary", variable="change", analysis="ancova",
                 label="Change from baseline (ANCOVA, robust SE)", covariates=("baseline",),
                 variance="hc3", population="fas", estimand="primary"),
    )  # fmt: skip
    sens = (
        Sensitivity(endpoint="primary", analysis="mi", id="primary-mi-JR", strategy="JR"),
        Sensitivity(endpoint="primary", analysis="mi", id="primary-mi-CIR", strategy="CIR"),
        Sensitivity(endpoint="primary", analysis="tipping-point", id="primary-tipping-point",
                    strategy="MAR"),
        Sensitivity(endpoint="key-secondary", analysis="missing-rule",
                    id="key-secondary-nri", missing="nri"),
        Sensitivity(endpoint="key-secondary", analysis="missing-rule",
                    id="key-secondary-locf", missing="locf"),
    )  # fmt: skip
    return AnalysisPlan(
        populations=(FAS,),
        estimands=(estimand,),
        endpoints=eps,
        multiplicity=Multiplicity(alpha=0.05, method="holm", family=("primary", "key-secondary")),
        sensitivity=sens,
        subgroups=(),
        declared=False,
    )


def _visits(ep: Endpoint, trial, where: str) -> tuple[float, ...]:
    """The endpoint's visits as the trial's visit values (default: the key visits)."""
    if not ep.visits:
        return tuple(trial.key_visits)
    if ep.visits == ("all",):
        return tuple(trial.post_visits)
    out = []
    for v in ep.visits:
        match = _visit_value(v, trial)
        if match is None:
            shown = ", ".join(
                f"{trial.visit_label(p)} ({p:g})" if isinstance(p, float) else str(p)
                for p in trial.post_visits
            )
            raise PlanError(
                f"{where}: visit {v!r} is not a post-baseline visit of the trial with scores "
                f"(visits: {shown})"
            )
        out.append(match)
    return tuple(sorted(out, key=lambda x: (trial.time_of(x), x)))


def _visit_value(v, trial):
    design = trial.design
    if getattr(design, "has_visit_codes", False):
        try:
            inside = design.visit_value(v)
        except ValueError:
            inside = None
        if inside is not None and inside in trial.post_visits:
            return inside
    for p in trial.post_visits:
        if isinstance(v, str) and not isinstance(p, str):
            if v.strip().lower() == trial.visit_label(p).strip().lower():
                return p
            try:
                if float(v) == float(p):
                    return p
            except ValueError:
                continue
        elif v == p or str(v) == str(p):
            return p
    return None


def _instrument_names(design) -> list[str]:
    insts = getattr(design, "instruments", None) or (design.instrument,)
    return [i.name for i in insts]


def _check_column(trial, column: str, where: str, what: str) -> None:
    if column == "baseline":
        return
    if column not in trial.scores.columns:
        extra = [
            c
            for c in trial.scores.columns
            if c not in ("subject_id", "arm", "visit", "time", "visit_label", "score")
        ]
        import difflib

        guess = difflib.get_close_matches(column, extra, n=1, cutoff=0.6)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        raise PlanError(
            f"{where}: {what} {column!r} is not a column of {trial.source}{hint} (columns: "
            f"{', '.join(extra) or 'none besides the contract'})"
        )


def resolve_plan(trial, plan: AnalysisPlan | None = None, *, trials=None) -> AnalysisPlan:
    """The plan with every default filled in, checked against the data.

    Parameters
    ----------
    trial : Trial
        The trial of the selected instrument (the design's first unless another was chosen):
        endpoints that name no instrument are on it.
    plan : AnalysisPlan, optional
        The declared plan (default: ``trial.design.plan`` if declared, else :func:`default_plan`).
    trials : dict, optional
        ``{instrument name: Trial}`` for endpoints on other instruments.

    Returns
    -------
    AnalysisPlan
        Every endpoint with its instrument, visits (trial visit values), population and
        estimand; the multiplicity family; sensitivity analyses with their estimand.

    Raises
    ------
    PlanError
        Naming the plan entry and what it names that the data do not have.
    """
    if plan is None:
        plan = trial.design.plan if trial.design.plan.declared else default_plan(trial)
    trials = dict(trials or {})
    names = _instrument_names(trial.design)
    default = trial.instrument.name  # the selected instrument (the design's first by default)
    trials.setdefault(default, trial)
    pops = plan.populations or (FAS,)
    pop_ids = [p.id for p in pops]
    for i, p in enumerate(pops, start=1):
        if p.flag is not None:
            _check_column(trial, p.flag, f"populations[{i}] ({p.id})", "flag column")
    eps = []
    for i, ep in enumerate(plan.endpoints, start=1):
        where = f"endpoints[{i}] ({ep.id})"
        inst = ep.instrument or default
        if inst not in names and inst in (i.param for i in trial.design.instruments):
            inst = next(i.name for i in trial.design.instruments if i.param == inst)
        if inst not in names:
            raise PlanError(
                f"{where}: instrument {inst!r} is not one of the design's instruments "
                f"({', '.join(names)})"
            )
        tr = trials.get(inst)
        if tr is None:  # the same table, read once, as that instrument's trial
            tr = trials[inst] = trial.for_instrument(inst)
        for c in ep.covariates:
            _check_column(tr, c, where, "covariate")
        for c in ep.strata:
            _check_column(tr, c, where, "stratum column")
        if ep.analysis == "lmm" and [c for c in ep.covariates if c != "baseline"]:
            raise PlanError(
                f"{where}: the random-effects growth model takes no covariates here (it models "
                "every score, baseline included)"
            )
        population = ep.population or pops[0].id
        if population not in pop_ids:
            raise PlanError(f"{where}: population {population!r} is not declared")
        estimand = ep.estimand
        eps.append(
            dataclasses.replace(
                ep,
                instrument=inst,
                visits=_visits(ep, tr, where),
                population=population,
                estimand=estimand,
                missing=ep.missing
                or ("observed" if ep.analysis in ("response", "adjusted-response") else None),
                variance=ep.variance
                or {"adjusted-response": "ge", "ancova": "model"}.get(ep.analysis),
                label=ep.label or ep.id,
            )
        )
    by_id = {e.id: e for e in eps}
    for i, est in enumerate(plan.estimands, start=1):
        for j, ev in enumerate(est.intercurrent_events, start=1):
            if ev.column is not None:
                _check_column(
                    trial, ev.column, f"estimands[{i}].intercurrent_events[{j}]", "event column"
                )
    m = plan.multiplicity
    family = m.family or tuple(e.id for e in eps if e.role in ("primary", "key-secondary"))
    mult = dataclasses.replace(m, family=tuple(family))
    sens = []
    for s in plan.sensitivity:
        ep = by_id[s.endpoint]
        sens.append(
            dataclasses.replace(
                s,
                estimand=s.estimand or ep.estimand,
                strategy=s.strategy or ("MAR" if s.analysis in ("mi", "tipping-point") else None),
                method=s.method or ("condmean" if s.analysis == "mi" else None),
                resampling=s.resampling
                or (
                    "jackknife"
                    if s.analysis == "mi" and (s.method or "condmean") == "condmean"
                    else None
                ),
                deltas=s.deltas
                or (
                    tuple(np.arange(-8.0, 8.25, 0.5).round(10))
                    if s.analysis == "tipping-point"
                    else ()
                ),
                label=s.label or _sensitivity_label(s),
            )  # fmt: skip
        )
    subs = []
    for i, g in enumerate(plan.subgroups, start=1):
        ep = by_id[g.endpoint]
        tr = trials[ep.instrument]
        where = f"subgroups[{i}] ({g.id})"
        _check_column(tr, g.column, where, "subgroup column")
        subs.append(dataclasses.replace(g, label=g.label or g.column))
    return AnalysisPlan(
        populations=tuple(pops),
        estimands=plan.estimands,
        endpoints=tuple(eps),
        multiplicity=mult,
        sensitivity=tuple(sens),
        subgroups=tuple(subs),
        declared=plan.declared,
    )


_RULE_NAMES = {"observed": "observed cases", "nri": "non-responder imputation",
               "locf": "last observation carried forward"}  # fmt: skip
_STRATEGY_NAMES = {"MAR": "missing at random", "JR": "jump to reference", "CR": "copy reference",
                   "CIR": "copy increments in reference", "LMCF": "last mean carried forward"}  # fmt: skip


def _sensitivity_label(s) -> str:
    """A reader's name for a sensitivity analysis the plan did not label."""
    if s.analysis == "mi":
        st = s.strategy or "MAR"
        return f"multiple imputation, dropouts {_STRATEGY_NAMES[st]} ({st})"
    if s.analysis == "tipping-point":
        return f"tipping point ({s.strategy or 'MAR'} imputation, shifted)"
    return _RULE_NAMES[s.missing].capitalize() if s.missing else s.id


def _jsonable(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def plan_json(plan: AnalysisPlan, *, relative_to=None, visit_code=None) -> str:
    """``plan.json``: the resolved plan, endpoints as a list in plan order, every default filled.

    Paths of events files are shown relative to ``relative_to`` (when given and inside it),
    never as absolute paths of the machine that ran the report; ``visit_code`` turns the
    endpoints' visits back into the input's codes (``Trial.visit_code``).
    """
    from pathlib import Path

    def path(p):
        if p is None or relative_to is None:
            return None if p is None else Path(p).name
        try:
            return str(Path(p).resolve().relative_to(Path(relative_to).resolve()))
        except ValueError:
            return Path(p).name

    doc = {
        "declared": plan.declared,
        "populations": [dataclasses.asdict(p) for p in plan.populations],
        "estimands": [
            {
                "id": e.id,
                "label": e.label,
                "summary": e.summary,
                "intercurrent_events": [
                    {**dataclasses.asdict(ev), "events": path(ev.events)}
                    for ev in e.intercurrent_events
                ],
            }
            for e in plan.estimands
        ],
        "endpoints": [
            {
                **dataclasses.asdict(e),
                "visits": [visit_code(v) if visit_code else v for v in e.visits],
            }
            for e in plan.endpoints
        ],  # fmt: skip
        "multiplicity": {
            k: v for k, v in dataclasses.asdict(plan.multiplicity).items() if k != "declared"
        },
        "sensitivity": [dataclasses.asdict(s) for s in plan.sensitivity],
        "subgroups": [dataclasses.asdict(g) for g in plan.subgroups],
    }
    return json.dumps(_jsonable(doc), indent=2, ensure_ascii=False) + "\n"
