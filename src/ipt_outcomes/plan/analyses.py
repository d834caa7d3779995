"""The plan's analyses, one function per kind: each takes the endpoint (resolved), the trial of its
instrument restricted to its population, and the estimand's events, and returns a
:class:`Result` of tidy tables.

Observed and modelled arms are never analysed together: every model is fitted to the observed
arms, and a modelled arm is fitted with the reference arm alone (its rows marked ``fit =
"modelled"``); modelled arms are never in a multiplicity family.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.analysis_plan import REFERENCE_BASED, Endpoint
from ..exceptions import ConvergenceWarning
from .intercurrent import mi_events, without_post_event_scores

__all__ = ["Result", "run_endpoint", "run_sensitivity", "split_arms", "ANALYSIS_NAMES"]

#: How each analysis is named in prose.
ANALYSIS_NAMES = {
    "mmrm": "MMRM",
    "ancova": "ANCOVA",
    "lmm": "random-effects growth model",
    "response": "response rates and unadjusted comparisons",
    "adjusted-response": "covariate-adjusted response by g-computation",
    "mi": "reference-based multiple imputation",
    "tipping-point": "tipping-point analysis",
    "missing-rule": "missing-data rule",
    "subgroup": "subgroup analysis",
}
OUTCOME = {"response": "responder", "remission": "remitter"}


@dataclass
class Result:
    """What one analysis of the plan found.

    ``tables`` holds its tidy tables by role (``contrasts``, ``lsmeans``, ``fit``, ``rates``,
    ``effects``, ``fixed``, ``tipping_point``, ...); ``n`` the subjects analysed per arm and
    visit (``arm, visit, n``); ``notes`` what the reader must know (a strategy a model cannot
    apply, an arm left out).
    """

    id: str
    kind: str  # endpoint | sensitivity | subgroup
    endpoint: Endpoint
    analysis: str
    population: str
    estimand: str
    label: str
    tables: dict = field(default_factory=dict)
    n: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["arm", "visit", "n"]))
    notes: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)  # e.g. strategy, method, missing rule


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def split_arms(trial):
    """``(observed arms, reference + modelled arms)``; either ``None`` without a comparison."""
    design, ref = trial.design, trial.reference
    modelled = [a for a in trial.arms if a != ref and design.arm(a).modelled]
    if not modelled:
        return trial, None
    observed = [a for a in trial.arms if a not in modelled]
    obs = trial.subset_arms(observed) if len(observed) >= 2 else None
    return obs, trial.subset_arms([ref, *modelled])


def _both(fn, trial, table_names):
    """``fn(trial part)`` -> dict of tables, on the observed arms and on reference + modelled
    arms; tables stacked with ``fit`` = observed | modelled. The modelled fit's reference rows
    stay (its LS mean of the reference is what its contrast is measured from), except in counts
    of participants (``n``), where the reference arm is counted once."""
    obs, mod = split_arms(trial)
    parts: dict[str, list] = {n: [] for n in table_names}
    notes = []
    for tag, tr in (("observed", obs), ("modelled", mod)):
        if tr is None:
            continue
        got = fn(tr)
        notes += got.pop("_notes", [])
        for name in table_names:
            t = got.get(name)
            if t is None:
                continue
            t = t.assign(fit=tag)
            if tag == "modelled" and name == "n":
                t = t[t["arm"] != trial.reference]
            parts[name].append(t)
    out = {n: pd.concat(v, ignore_index=True) for n, v in parts.items() if v}
    out["_notes"] = notes
    return out


def _subject_covariates(trial, columns, numbers: bool = True) -> pd.DataFrame:
    """One row per subject with a baseline: the covariates at baseline (``Trial.baseline_values``:
    a column of numbers enters as numbers unless ``numbers`` is false); ``baseline`` is the
    baseline score."""
    got = trial.baseline_values(["baseline", *columns], numbers=numbers)
    return got.reindex(trial.baseline.index)


def _with_covariates(frame: pd.DataFrame, trial, columns) -> pd.DataFrame:
    covs = _subject_covariates(trial, columns)
    extra = [c for c in columns if c != "baseline" and c not in ("arm", "visit")]
    drop = [c for c in extra if c in frame.columns]
    merged = frame.drop(columns=drop).merge(covs[extra], left_on="subject_id", right_index=True,
                                            how="left")  # fmt: skip
    return merged


_IMPUTED_AS = {"MAR": "missing at random", "JR": "jump to reference", "CR": "copy reference",
               "CIR": "copy increments in reference", "LMCF": "last mean carried forward"}  # fmt: skip


def _events_note(ep: Endpoint, events: pd.DataFrame, analysis: str) -> list[str]:
    if events.empty:
        return []
    notes = []
    kinds = events.groupby(["event", "strategy"], sort=False).size()
    imputed = analysis in ("mi", "tipping-point")
    for (name, strategy), k in kinds.items():
        if imputed and strategy != "treatment-policy":
            how = {"hypothetical": "MAR"}.get(strategy, strategy)
            notes.append(
                f"{name} ({k} participants): strategy {strategy} - scores from the event's visit "
                f"on are set missing and imputed under {how} ({_IMPUTED_AS[how]})."
            )
        elif strategy == "treatment-policy":
            notes.append(
                f"{name} ({k} participants): treatment policy - scores after the event are used "
                "as observed."
            )
        elif strategy in REFERENCE_BASED and analysis in ("mmrm", "lmm"):
            notes.append(
                f"{name} ({k} participants): strategy {strategy}; a likelihood-based model cannot "
                "impute under it, so scores from the event on are left out and treated as missing "
                "at random; a multiple-imputation analysis gives the estimate under "
                f"{strategy}."
            )
        elif strategy in REFERENCE_BASED:
            notes.append(
                f"{name} ({k} participants): strategy {strategy}; scores from the event on are "
                "left out of this single-visit analysis."
            )
        else:
            notes.append(
                f"{name} ({k} participants): {strategy} strategy - scores from the event on are "
                "left out (missing at random)."
            )
    return notes


def _n_by_visit(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    ok = frame[frame[value].notna()]
    return ok.groupby(["arm", "visit"]).size().rename("n").reset_index()


# ------------------------------------------------------------------------------------------
# one function per analysis
# ------------------------------------------------------------------------------------------


def _mmrm(ep: Endpoint, trial, alpha: float) -> dict:
    from ..models.mmrm import fit_mmrm, mmrm_data

    extra = [c for c in ep.covariates if c != "baseline"]

    def fit(tr):
        frame = mmrm_data(tr)
        if ep.variable == "score":
            frame = frame.assign(change=frame["change"] + frame["baseline"])
        frame = _with_covariates(frame, tr, extra)
        res = _quiet(fit_mmrm, frame, reference=tr.reference, arms=list(tr.arms),
                     covariates=extra, alpha=alpha)  # fmt: skip
        keep = {float(v) for v in ep.visits}
        lsm, con = res.lsmeans(), res.contrasts()
        lsm["endpoint_visit"] = lsm["visit"].astype(float).isin(keep)
        con["endpoint_visit"] = con["visit"].astype(float).isin(keep)
        notes = []
        if res.fallback_log:
            notes.append("Covariance fallback: " + " | ".join(res.fallback_log))
        return {
            "lsmeans": lsm,
            "contrasts": con,
            "fit": res.fit_table(),
            "n": _n_by_visit(frame, "change"),
            "_notes": notes,
        }

    return _both(fit, trial, ["lsmeans", "contrasts", "fit", "n"])


def _ancova_frame(ep: Endpoint, trial, visit, rule: str = "observed") -> pd.DataFrame:
    if rule == "locf":
        from ..stats.response import binary_outcomes

        d = binary_outcomes(trial, "locf", visits=[visit])
        d = d.assign(change=d["score"] - d["baseline"])
    else:
        d = trial.derived
        d = d[(d["visit"] == visit) & d["score"].notna()]
    d = d[["subject_id", "arm", "visit", "score", "change", "baseline"]]
    return _with_covariates(d, trial, list(ep.covariates))


def _ancova(ep: Endpoint, trial, alpha: float, rule: str = "observed") -> dict:
    from ..models.ancova import fit_ancova

    outcome = "change" if ep.variable == "change" else "score"

    def fit(tr):
        con, lsm, ns = [], [], []
        for v in ep.visits:
            frame = _ancova_frame(ep, tr, v, rule)
            got = fit_ancova(frame, outcome, reference=tr.reference, arms=list(tr.arms),
                             covariates=list(ep.covariates), variance=ep.variance or "model",
                             alpha=alpha)  # fmt: skip
            con.append(got["contrasts"].assign(visit=v))
            lsm.append(got["lsmeans"].assign(visit=v))
            ns.append(got["lsmeans"][["arm", "n"]].assign(visit=v))
        return {
            "contrasts": pd.concat(con, ignore_index=True),
            "lsmeans": pd.concat(lsm, ignore_index=True),
            "n": pd.concat(ns, ignore_index=True)[["arm", "visit", "n"]],
        }

    out = _both(fit, trial, ["contrasts", "lsmeans", "n"])
    for name, first in (
        ("contrasts", ["arm", "reference", "visit"]),
        ("lsmeans", ["arm", "visit"]),
    ):
        t = out[name]
        out[name] = t[first + [c for c in t.columns if c not in first]]
    return out


def _response(ep: Endpoint, trial, alpha: float, rule: str | None = None) -> dict:
    from ..stats.response import binary_outcomes, compare_with_reference, rates

    outcome = OUTCOME[ep.variable]
    rule = rule or ep.missing or "observed"

    def fit(tr):
        out = binary_outcomes(tr, rule, visits=list(ep.visits))
        arms = list(tr.arms)
        r = rates(out, outcome, alpha=alpha, arms=arms, visits=list(ep.visits))
        c = compare_with_reference(out, tr.reference, outcome, alpha=alpha, arms=arms,
                                   visits=list(ep.visits))  # fmt: skip
        c = c.drop(columns=[x for x in ("p_holm",) if x in c.columns])
        n = r[["arm", "visit", "n"]]
        return {"rates": r, "comparisons": c, "n": n}

    return _both(fit, trial, ["rates", "comparisons", "n"])


def _reliable(ep: Endpoint, trial, alpha: float) -> dict:
    """Reliable and clinically significant change (Jacobson & Truax, cut-off a) at the
    endpoint's visits: category rates per arm and the arms' comparisons with the reference."""
    from ..stats.reliable_change import reliable_change

    def fit(tr):
        res = reliable_change(tr, visits=list(ep.visits), alpha=alpha)
        n = res.rates.groupby(["arm", "visit"], sort=False)["n"].first().reset_index()
        return {"rc_rates": res.rates, "rc_comparisons": res.comparisons,
                "rc_criteria": res.criteria, "n": n, "_notes": list(res.notes)}  # fmt: skip

    return _both(fit, trial, ["rc_rates", "rc_comparisons", "rc_criteria", "n"])


def _adjusted(ep: Endpoint, trial, alpha: float, rule: str | None = None) -> dict:
    from ..stats.adjusted import adjusted_response
    from ..stats.response import binary_outcomes, rates

    outcome = OUTCOME[ep.variable]
    rule = rule or ep.missing or "observed"

    def fit(tr):
        eff = adjusted_response(tr, rule, covariates=list(ep.covariates),
                                variance=ep.variance or "ge", strata=list(ep.strata),
                                alpha=alpha, endpoint=outcome)  # fmt: skip
        eff = eff[eff["visit"].astype(float).isin({float(v) for v in ep.visits})]
        out = binary_outcomes(tr, rule, visits=list(ep.visits))
        r = rates(out, outcome, alpha=alpha, arms=list(tr.arms), visits=list(ep.visits))
        return {"effects": eff.reset_index(drop=True), "rates": r, "n": r[["arm", "visit", "n"]]}

    return _both(fit, trial, ["effects", "rates", "n"])


def _lmm(ep: Endpoint, trial, alpha: float) -> dict:
    from ..models.lmm import group_therapy_arm, growth_model, lmm_fit_table, partially_nested_model

    def fit(tr):
        res = _quiet(growth_model, tr)
        out = {"fixed": res.fixed_effects(), "fit": lmm_fit_table(res, False)}
        scored = tr.scores[tr.scores["score"].notna()]
        out["n"] = scored.groupby(["arm", "visit"]).size().rename("n").reset_index()
        group = group_therapy_arm(tr)
        if group is not None and group != tr.reference:
            out["nested"], out["icc"], _ = _quiet(partially_nested_model, tr, group_arm=group)
        return out

    obs, _ = split_arms(trial)
    got = fit(obs if obs is not None else trial)
    got["_notes"] = []
    return got


def _mi(ep: Endpoint, trial, events, alpha: float, *, strategy: str, method: str,
        resampling: str | None, seed: int, cache=None, progress: bool = False,
        parallel: bool = False) -> tuple[dict, object]:  # fmt: skip
    from ..estimands.reference_based import reference_based_mi

    extra = [c for c in ep.covariates if c != "baseline"]
    obs, _ = split_arms(trial)
    tr = obs if obs is not None else trial
    kw = dict(events=mi_events(events) if len(events) else None, method=method, alpha=alpha,
              seed=seed, covariates=extra, cache=cache, progress=progress,
              workers=None if parallel else 1)  # fmt: skip
    if resampling:
        kw["resampling"] = resampling
    res = _quiet(reference_based_mi, tr, strategy, **kw)
    keep = {float(v) for v in ep.visits}
    con, lsm = res.contrasts(), res.lsmeans()
    # every subject of the population with a baseline is imputed and analysed at every visit
    per_arm = tr.arm_of.reindex(tr.baseline.index).value_counts()
    n = pd.DataFrame([dict(arm=a, visit=v, n=int(per_arm.get(a, 0)))
                      for a in tr.arms for v in ep.visits])  # fmt: skip
    return {
        "contrasts": con[con["visit"].astype(float).isin(keep)].reset_index(drop=True),
        "lsmeans": lsm[lsm["visit"].astype(float).isin(keep)].reset_index(drop=True),
        "n": n[n["visit"].astype(float).isin(keep)],
        "_notes": [_MI_FIT_NOTE] if method in ("condmean", "approxbayes") else [],
    }, res


#: How the report's imputation models are fitted (issue 25: the report keeps rbmi's numbers;
#: its cost is paid once per data set, shared by every strategy and the tipping point).
_MI_FIT_NOTE = (
    "The imputation model and each of its resampled refits are fitted as R rbmi fits them (R "
    "mmrm's L-BFGS-B from the identity covariance, stopped by its relative-reduction rule), so "
    "the results are rbmi's; the exact REML optimum (ipt-outcomes mi --optimizer exact) moves "
    "them by about 1e-5."
)


# ------------------------------------------------------------------------------------------
# entry points
# ------------------------------------------------------------------------------------------


def run_endpoint(ep: Endpoint, trial, events: pd.DataFrame, *, alpha: float, seed: int,
                 cache=None, progress: bool = False, parallel: bool = False) -> Result:  # fmt: skip
    """The endpoint's analysis on ``trial`` (already restricted to the endpoint's population).

    ``cache`` (:class:`~ipt_outcomes.estimands.ImputationCache`): imputation models and refits
    shared with the plan's other multiple imputations of the same data; ``progress``: a progress
    bar on stderr for the long ones (the jackknife); ``parallel``: their samples may run on
    forked processes too when that is quicker."""
    base = without_post_event_scores(trial, events) if ep.analysis != "mi" else trial
    if ep.analysis == "mmrm":
        got = _mmrm(ep, base, alpha)
    elif ep.analysis == "ancova":
        got = _ancova(ep, base, alpha)
    elif ep.analysis == "response" and ep.variable == "reliable-change":
        got = _reliable(ep, base, alpha)
    elif ep.analysis == "response":
        got = _response(ep, base, alpha)
    elif ep.analysis == "adjusted-response":
        got = _adjusted(ep, base, alpha)
    elif ep.analysis == "lmm":
        got = _lmm(ep, base, alpha)
    elif ep.analysis == "mi":
        got, _ = _mi(ep, trial, events, alpha, strategy="MAR", method="condmean",
                     resampling="jackknife", seed=seed, cache=cache,
                     progress=progress, parallel=parallel)  # fmt: skip
    else:  # pragma: no cover - the schema allows no other
        raise ValueError(ep.analysis)
    notes = got.pop("_notes", []) + _events_note(ep, events, ep.analysis)
    n = got.pop("n", pd.DataFrame(columns=["arm", "visit", "n"]))
    return Result(
        id=ep.id, kind="endpoint", endpoint=ep, analysis=ep.analysis, population=ep.population,
        estimand=ep.estimand or "", label=ep.display, tables=got, n=n, notes=notes,
    )  # fmt: skip


def run_sensitivity(s, ep: Endpoint, trial, events: pd.DataFrame, *, alpha: float,
                    seed: int, cache=None, progress: bool = False,
                    parallel: bool = False) -> Result:  # fmt: skip
    """A sensitivity analysis of the endpoint ``ep`` (trial restricted to its population);
    ``cache``, ``progress`` and ``parallel`` as for :func:`run_endpoint`."""
    settings = {"strategy": s.strategy, "method": s.method, "resampling": s.resampling,
                "missing": s.missing}  # fmt: skip
    if s.analysis == "mi":
        got, _ = _mi(ep, trial, events, alpha, strategy=s.strategy, method=s.method,
                     resampling=s.resampling, seed=seed, cache=cache,
                     progress=progress, parallel=parallel)  # fmt: skip
    elif s.analysis == "tipping-point":
        last = ep.visits[-1]
        at = dataclasses.replace(ep, visits=(last,))
        got, res = _mi(at, trial, events, alpha, strategy=s.strategy, method="condmean",
                       resampling="jackknife", seed=seed, cache=cache,
                     progress=progress, parallel=parallel)  # fmt: skip
        deltas = np.asarray(s.deltas, float)
        got["grid"] = res.tipping_point(deltas, last)
        got["exact"] = res.tipping_point_exact(float(deltas.min()), float(deltas.max()), last)
    else:  # missing-rule
        base = without_post_event_scores(trial, events)
        if ep.variable in ("change", "score"):
            if ep.analysis == "ancova":
                rule_ep = ep
            else:  # the MMRM's or imputation's covariates, baseline always among them
                covs = ("baseline", *(c for c in ep.covariates if c != "baseline"))
                rule_ep = dataclasses.replace(ep, variance="model", covariates=covs)
            got = _ancova(rule_ep, base, alpha, rule=s.missing)
        elif ep.analysis == "adjusted-response":
            got = _adjusted(ep, base, alpha, rule=s.missing)
        else:
            got = _response(ep, base, alpha, rule=s.missing)
    notes = got.pop("_notes", []) + _events_note(ep, events, s.analysis)
    n = got.pop("n", pd.DataFrame(columns=["arm", "visit", "n"]))
    return Result(
        id=s.id, kind="sensitivity", endpoint=ep, analysis=s.analysis,
        population=ep.population, estimand=s.estimand or "", label=s.display
        if hasattr(s, "display") else (s.label or s.id), tables=got, n=n, notes=notes,
        settings=settings,
    )  # fmt: skip
