"""Running the plan: each analysis once, in the plan's order, then the multiplicity rule, then the
analysis results data.

:func:`run_plan` turns a trial and its (resolved) plan into :class:`PlanResults`: the populations
counted, the estimands' intercurrent events, one :class:`~.analyses.Result` per endpoint,
sensitivity analysis and subgroup analysis, the multiplicity family with adjusted p-values, and
``ard`` - every number, one row per statistic. The report only renders these.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.analysis_plan import AnalysisPlan
from ..exceptions import IptOutcomesError
from . import ard as _ard
from .analyses import Result, run_endpoint, run_sensitivity
from .intercurrent import EVENT_COLUMNS, estimand_events
from .multiplicity import adjust
from .populations import members, population_counts, restrict
from .resolve import resolve_plan

__all__ = ["PlanResults", "run_plan", "family_table", "family_hypotheses"]

FAMILY_COLUMNS = ["order", "endpoint", "role", "analysis_id", "arm", "reference", "visit",
                  "estimate", "p", "p_adjusted", "rejected", "method", "alpha"]  # fmt: skip


@dataclass
class PlanResults:
    """Everything the plan found; what the report renders and ``ard.csv`` holds."""

    plan: AnalysisPlan
    trial: object
    trials: dict
    populations: pd.DataFrame  # population, label, arm, n, modelled
    events: dict  # estimand id -> subject_id, visit, strategy, event
    results: list = field(default_factory=list)
    family: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAMILY_COLUMNS))

    def result(self, rid: str) -> Result:
        return next(r for r in self.results if r.id == rid)

    def ard(self) -> pd.DataFrame:
        """The analysis results data: one row per statistic (see :mod:`.ard`)."""
        rows = _ard.population_rows(self.populations)
        for r in self.results:
            rows += _ard.result_rows(r, r.endpoint.instrument or "", self.populations)
        return _ard.frame(rows)


def _p_of(res: Result, arm, visit) -> tuple[float, float]:
    """(estimate, p) of the arm-versus-reference hypothesis of an endpoint at a visit."""
    t = res.tables
    if res.analysis in ("mmrm", "ancova", "mi"):
        c = t["contrasts"]
        hit = c[(c["arm"] == arm) & (c["visit"].astype(float) == float(visit))]
        if "fit" in hit:
            hit = hit[hit["fit"] == "observed"]
        return (float(hit["estimate"].iloc[0]), float(hit["p"].iloc[0])) if len(hit) else (
            np.nan, np.nan)  # fmt: skip
    if res.analysis == "adjusted-response":
        e = t["effects"]
        hit = e[(e["arm"] == arm) & (e["visit"].astype(float) == float(visit))
                & (e["contrast"] == "risk_difference")]  # fmt: skip
        if "fit" in hit:
            hit = hit[hit["fit"] == "observed"]
        return (float(hit["estimate"].iloc[0]), float(hit["p"].iloc[0])) if len(hit) else (
            np.nan, np.nan)  # fmt: skip
    if res.analysis == "response" and "rc_comparisons" in t:  # recovery, as Jacobson and Truax
        c = t["rc_comparisons"]
        hit = c[(c["arm"] == arm) & (c["visit"].astype(float) == float(visit))
                & (c["outcome"] == "recovered")]  # fmt: skip
        if "fit" in hit:
            hit = hit[hit["fit"] == "observed"]
        return (float(hit["risk_difference"].iloc[0]), float(hit["p_fisher"].iloc[0])) if len(
            hit) else (np.nan, np.nan)  # fmt: skip
    if res.analysis == "response":
        c = t["comparisons"]
        hit = c[(c["arm"] == arm) & (c["visit"].astype(float) == float(visit))]
        if "fit" in hit:
            hit = hit[hit["fit"] == "observed"]
        return (float(hit["risk_difference"].iloc[0]), float(hit["p_fisher"].iloc[0])) if len(
            hit) else (np.nan, np.nan)  # fmt: skip
    if res.analysis == "lmm":
        f = t["fixed"]
        hit = f[f["term"] == f"arm[{arm}]:time"]
        return (float(hit["estimate"].iloc[0]), float(hit["p"].iloc[0])) if len(hit) else (
            np.nan, np.nan)  # fmt: skip
    return np.nan, np.nan


def family_hypotheses(plan: AnalysisPlan, trial) -> pd.DataFrame:
    """The multiplicity family's hypotheses in testing order (``order, endpoint, role,
    analysis_id, arm, reference, visit``).

    Each family endpoint (``family`` order), each observed non-reference arm (the design's
    order), each of the endpoint's visits (time order); the random-effects model contributes one
    hypothesis per arm (its arm-by-time term).
    """
    m = plan.multiplicity
    eps = {e.id: e for e in plan.endpoints}
    ref = trial.reference
    compared = [a for a in trial.arms if a != ref and not trial.design.arm(a).modelled]
    rows = []
    for eid in m.family:
        ep = eps[eid]
        visits = [None] if ep.analysis == "lmm" else list(ep.visits)
        for arm in compared:
            for v in visits:
                rows.append(dict(endpoint=eid, role=ep.role, analysis_id=eid, arm=arm,
                                 reference=ref, visit=v))  # fmt: skip
    fam = pd.DataFrame(rows, columns=FAMILY_COLUMNS[1:7])
    fam.insert(0, "order", np.arange(1, len(fam) + 1))
    if m.method == "graphical" and len(m.weights) != len(fam):
        from .resolve import PlanError

        listed = "; ".join(
            f"{r.endpoint} {r.arm}" + (f" at {trial.visit_label(r.visit)}" if r.visit is not None
                                       else "")
            for r in fam.itertuples()
        )  # fmt: skip
        raise PlanError(
            f"multiplicity: the graphical method has {len(m.weights)} weights for "
            f"{len(fam)} hypotheses ({listed}); give one weight, and one row and column of "
            "transitions, per hypothesis in this order"
        )
    return fam


def family_table(plan: AnalysisPlan, results: list, trial) -> pd.DataFrame:
    """The multiplicity family (:func:`family_hypotheses`) with raw and adjusted p-values."""
    m = plan.multiplicity
    by_id = {r.id: r for r in results if r.kind == "endpoint"}
    fam = family_hypotheses(plan, trial)
    got = [_p_of(by_id[r.analysis_id], r.arm, r.visit if r.visit is not None else 0)
           for r in fam.itertuples(index=False)]  # fmt: skip
    fam["estimate"] = [g[0] for g in got]
    fam["p"] = [g[1] for g in got]
    fam["p_adjusted"] = adjust(fam["p"].to_numpy(float), m.method, weights=m.weights or None,
                               transitions=m.transitions or None)  # fmt: skip
    fam["rejected"] = fam["p_adjusted"] <= m.alpha
    fam["method"] = m.method
    fam["alpha"] = m.alpha
    return fam[FAMILY_COLUMNS]


def _attach_adjusted(results: list, fam: pd.DataFrame) -> None:
    """Write each family hypothesis's adjusted p into its result's table (``p_adjusted``)."""
    for r in results:
        if r.kind != "endpoint":
            continue
        mine = fam[fam["analysis_id"] == r.id]
        name = {"mmrm": "contrasts", "ancova": "contrasts", "mi": "contrasts",
                "adjusted-response": "effects", "response": "comparisons",
                "lmm": "fixed"}[r.analysis]  # fmt: skip
        if "rc_comparisons" in r.tables:
            name = "rc_comparisons"
        t = r.tables.get(name)
        if t is None:
            continue
        t = t.copy()
        t["p_adjusted"] = np.nan
        for h in mine.itertuples(index=False):
            if r.analysis == "lmm":
                mask = t["term"] == f"arm[{h.arm}]:time"
            else:
                mask = (t["arm"] == h.arm) & (t["visit"].astype(float) == float(h.visit))
                if "fit" in t:
                    mask &= t["fit"] == "observed"
                if "contrast" in t:
                    mask &= t["contrast"] == "risk_difference"
                if "outcome" in t:
                    mask &= t["outcome"] == "recovered"
            t.loc[mask, "p_adjusted"] = h.p_adjusted
        r.tables[name] = t


def _not_estimated(rid, kind, ep, analysis, estimand, label, exc) -> Result:
    return Result(id=rid, kind=kind, endpoint=ep, analysis=analysis, population=ep.population,
                  estimand=estimand or "", label=label, notes=[f"Not estimated: {exc}"])  # fmt: skip


def run_plan(trial, plan: AnalysisPlan | None = None, *, trials=None, seed: int = 2016,
             progress: bool = False, parallel: bool = False) -> PlanResults:  # fmt: skip
    """Run the plan on the trial: every analysis once, the multiplicity rule, the ARD.

    Parameters
    ----------
    trial : Trial
        The trial of the design's first instrument.
    plan : AnalysisPlan, optional
        Declared or default (default: the design's plan if declared, else the default plan);
        resolved here (:func:`~.resolve.resolve_plan`).
    trials : dict, optional
        ``{instrument: Trial}`` for endpoints on other instruments.
    seed : int
        Seed of the multiple imputations that draw (conditional mean imputation does not).
    progress : bool
        Say on stderr which analysis is running (with a progress bar for the long ones).
    parallel : bool
        Share the analyses out between this process and a forked child
        (:func:`ipt_outcomes.runtime.side_by_side`; the multiple imputations of the same data
        stay together, so that they fit their imputation model once, and a long jackknife
        takes another forked process). The results are the same as in one process.

    Returns
    -------
    PlanResults
    """
    trial.require_analysable()
    plan = resolve_plan(trial, plan, trials=trials)
    trials = dict(trials or {})
    trials.setdefault(trial.instrument.name, trial)
    for ep in plan.endpoints:  # an endpoint on another instrument: from the same table
        if ep.instrument not in trials:
            trials[ep.instrument] = trial.for_instrument(ep.instrument)
    counts = population_counts(trial, plan.populations)
    pops = {p.id: p for p in plan.populations}
    events = {e.id: estimand_events(trial, e) for e in plan.estimands}
    no_events = pd.DataFrame(columns=EVENT_COLUMNS)
    alpha = plan.multiplicity.alpha
    members_of: dict = {}
    by_id = {ep.id: ep for ep in plan.endpoints}
    from ..estimands.reference_based import ImputationCache

    cache = ImputationCache()  # one imputation model (and its refits) per data, every strategy

    def say(text):
        if progress:
            print(f"ipt-outcomes: {text}", file=sys.stderr, flush=True)

    def population_trial(ep):
        tr = trials[ep.instrument]
        key = (ep.instrument, ep.population)
        if key not in members_of:
            members_of[key] = members(tr, pops[ep.population])
        return restrict(tr, members_of[key])

    def one(item) -> tuple[Result, list[str]]:
        """One analysis: its result and the warnings to give."""
        kind, i = item
        if kind == "endpoint":
            ep = plan.endpoints[i]
            say(f"analysing endpoint {ep.id} ({ep.analysis})")
            ev = events.get(ep.estimand, no_events) if ep.estimand else no_events
            return run_endpoint(ep, population_trial(ep), ev, alpha=alpha, seed=seed,
                                cache=cache, progress=progress, parallel=parallel), []  # fmt: skip
        if kind == "sensitivity":
            s = plan.sensitivity[i]
            ep = by_id[s.endpoint]
            say(f"sensitivity analysis {s.id} ({s.analysis})")
            ev = events.get(s.estimand, no_events) if s.estimand else no_events
            try:
                return run_sensitivity(s, ep, population_trial(ep), ev, alpha=alpha, seed=seed,
                                       cache=cache, progress=progress, parallel=parallel), []  # fmt: skip
            except IptOutcomesError as exc:  # said in the report and on stderr, not fatal
                return _not_estimated(s.id, "sensitivity", ep, s.analysis, s.estimand,
                                      s.label or s.id, exc), [
                    f"sensitivity analysis {s.id} not estimated: {exc}"]  # fmt: skip
        from .subgroups import run_subgroup

        g = plan.subgroups[i]
        ep = by_id[g.endpoint]
        say(f"subgroup analysis {g.id}")
        ev = events.get(ep.estimand, no_events) if ep.estimand else no_events
        try:
            return run_subgroup(g, ep, population_trial(ep), ev, alpha=alpha), []
        except IptOutcomesError as exc:
            return _not_estimated(g.id, "subgroup", ep, "subgroup", ep.estimand,
                                  g.label or g.column, exc), [
                f"subgroup analysis {g.id} not estimated: {exc}"]  # fmt: skip

    items = ([("endpoint", i) for i in range(len(plan.endpoints))]
             + [("sensitivity", i) for i in range(len(plan.sensitivity))]
             + [("subgroup", i) for i in range(len(plan.subgroups))])  # fmt: skip
    if parallel:
        done = _side_by_side(plan, items, one)
    else:
        done = [one(item) for item in items]
    results = []
    for res, warned in done:
        for text in warned:
            warnings.warn(text, stacklevel=2)
        results.append(res)
    fam = family_table(plan, results, trial)
    _attach_adjusted(results, fam)
    return PlanResults(plan=plan, trial=trial, trials=trials, populations=counts, events=events,
                       results=results, family=fam)  # fmt: skip


def _side_by_side(plan: AnalysisPlan, items: list, one) -> list:
    """``[one(item) for item in items]`` on both cores: the multiple imputations as one task
    (first: usually the longest, and they share their imputation model), every other analysis
    a task of its own."""
    from ..runtime import side_by_side

    def imputes(item) -> bool:
        kind, i = item
        if kind == "endpoint":
            return plan.endpoints[i].analysis == "mi"
        return kind == "sensitivity" and plan.sensitivity[i].analysis in ("mi", "tipping-point")

    mi = [it for it in items if imputes(it)]
    tasks = ([mi] if mi else []) + [[it] for it in items if not imputes(it)]
    got = side_by_side(lambda task: [one(it) for it in task], tasks)
    by_item = {it: r for task, rs in zip(tasks, got, strict=True) for it, r in zip(task, rs,
                                                                                   strict=True)}  # fmt: skip
    return [by_item[it] for it in items]
