"""Stage 1 of the report: every table, computed from the validated data and the design.

Rules that hold for every table (the report's first section states them once):

* **Observed and modelled arms are never analysed together.** Every model of the observed arms
  (MMRM, adjusted response, random-effects models, ANCOVA) is fitted to the observed arms only;
  a modelled arm is fitted with the reference arm alone and its rows are marked by the arms
  table. Modelled arms are outside the multiplicity family and are never tested.
* **Multiplicity**: the confirmatory family is every observed arm against the reference at each
  key visit on the primary endpoint (MMRM change from baseline) and the key secondary endpoint
  (response, baseline-adjusted risk difference); Holm's step-down procedure over that family
  (``multiplicity``). Every other p-value is nominal.
* Risk differences are proportions in the tables (shown in percentage points).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.summary import descriptive_by_visit
from ..data.trial import Trial
from ..exceptions import ConvergenceWarning, IptOutcomesError
from ..format import format_p
from ..stats.granularity import consistent_counts, round_half_up_percent
from ..stats.response import analyse_response, binary_outcomes, compare_with_reference
from .background import Background

__all__ = ["build_tables", "load_published", "TABLE_NAMES", "RULE_LABELS", "ALPHA"]

ALPHA = 0.05

GRANULARITY_COLUMNS = [
    "arm", "visit", "published_percent", "reported_n", "reported_n_consistent", "nearest_consistent_n", "note",
]  # fmt: skip

TABLE_NAMES = (
    "trial", "arms", "visits", "consort", "baseline_table", "baseline_smd", "missingness",
    "published_vs_reproduced", "granularity", "descriptive_scores", "descriptive_change",
    "response_rates", "remission_rates", "response_comparisons", "remission_comparisons",
    "response_adjusted", "adjustment_effect", "mmrm_lsmeans", "mmrm_contrasts", "mmrm_fit",
    "multiplicity", "lmm_fixed", "lmm_fit", "lmm_icc", "lmm_nested", "ancova_hc3", "hedges_g",
    "waterfall", "sensitivity", "dropouts", "estimand", "mi_contrasts", "tipping_point",
    "tipping_point_exact", "tlf", "tlf_footnotes",
)  # fmt: skip

#: How the missing-data rules and the models are named in prose (never the raw codes).
RULE_LABELS = {
    "observed": "Observed cases",
    "nri": "Non-responder imputation",
    "locf": "Last observation carried forward",
    "mmrm": "MMRM (all observed scores, missing at random)",
}
COVARIANCE_LABELS = {
    "us": "unstructured", "cs": "compound symmetry", "csh": "heterogeneous compound symmetry",
    "ar1": "first-order autoregressive", "ar1h": "heterogeneous first-order autoregressive",
    "toep": "Toeplitz", "toeph": "heterogeneous Toeplitz", "ad": "ante-dependence",
    "adh": "heterogeneous ante-dependence",
}  # fmt: skip
DF_LABELS = {
    "kenward-roger": "Kenward-Roger",
    "satterthwaite": "Satterthwaite",
    "residual": "residual",
    "between-within": "between-within",
}
ENDPOINTS = {
    "mmrm": "Primary: change from baseline (MMRM)",
    "response": "Key secondary: response (baseline-adjusted risk difference)",
}


def load_published(path: str | Path) -> pd.DataFrame:
    """Published response percentages (and reported denominators) from a targets-style CSV.

    The file has ``quantity, arm, visit, value, kind, source`` rows: ``response_percent`` rows of
    kind ``published`` give the percentages, ``observed_n`` rows of kind ``secondary`` the
    denominators reported elsewhere.

    Returns
    -------
    DataFrame
        ``arm, visit, published_percent, reported_n, source``.
    """
    need = ["quantity", "arm", "visit", "value", "kind", "source"]
    try:
        t = pd.read_csv(path, dtype={"arm": str, "value": str})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise IptOutcomesError(f"{path}: the published figures cannot be read ({exc})") from None
    missing = [c for c in need if c not in t.columns]
    if missing:
        raise IptOutcomesError(
            f"{path}: published figures need the columns {', '.join(need)}; "
            f"missing {', '.join(missing)}"
        )
    t["visit"] = pd.to_numeric(t["visit"], errors="coerce")
    t["number"] = pd.to_numeric(t["value"], errors="coerce")
    used = t["quantity"].isin(["response_percent", "observed_n"])
    bad = t.index[used & t["number"].isna()]
    if len(bad):
        raise IptOutcomesError(
            f"{path}, row {bad[0] + 2}, column value: {t.at[bad[0], 'value']!r} is not a number"
        )
    resp = t[(t["quantity"] == "response_percent") & (t["kind"] == "published")]
    n = t[(t["quantity"] == "observed_n") & (t["kind"] == "secondary")].set_index(["arm", "visit"])[
        "value"
    ]
    out = pd.DataFrame(
        {
            "arm": resp["arm"].to_numpy(),
            "visit": resp["visit"].astype(float).to_numpy(),
            "published_percent": resp["value"].astype(float).to_numpy(),
            "reported_n": [
                float(n.get((a, v), np.nan))
                for a, v in zip(resp["arm"], resp["visit"], strict=True)
            ],
            "source": resp["source"].to_numpy(),
        }
    )
    return out


def _smd(x1, x2, binary=False):
    if binary:
        p1, p2 = np.mean(x1), np.mean(x2)
        s = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
        return (p1 - p2) / s if s > 0 else np.nan
    s = math.sqrt((np.var(x1, ddof=1) + np.var(x2, ddof=1)) / 2)
    return (np.mean(x1) - np.mean(x2)) / s if s > 0 else np.nan


def _baseline(trial: Trial):
    d = trial.scores
    base = d[d["visit"] == trial.baseline_visit].drop_duplicates("subject_id")
    arms = list(trial.arms)
    ref = trial.reference
    specs = [(trial.instrument.name, "score", "mean")]
    if "age" in base:
        specs.append(("Age, years", "age", "mean"))
    if "sex" in base:
        specs.append(("Women", "sex", "female"))
    if "antidepressant" in base:
        specs.append(("Antidepressant use", "antidepressant", "one"))
    if "cgi_s" in base:
        specs.append(("CGI-S", "cgi_s", "mean"))
    if "sofas" in base:
        specs.append(("SOFAS", "sofas", "mean"))
    rows, smds = [], []
    for label, col, kind in specs:
        for arm in arms:
            x = base.loc[base["arm"] == arm, col].dropna()
            if kind == "mean":
                xv = x.astype(float)
                rows.append(
                    dict(
                        variable=label,
                        arm=arm,
                        n=len(xv),
                        statistic="mean (SD)",
                        value=xv.mean(),
                        spread=xv.std(),
                    )
                )
            else:
                hit = (
                    (x.astype(str).str.lower() == "female")
                    if kind == "female"
                    else (x.astype(float) == 1)
                )
                rows.append(
                    dict(
                        variable=label,
                        arm=arm,
                        n=len(x),
                        statistic="n (%)",
                        value=float(hit.sum()),
                        spread=100 * hit.mean() if len(x) else np.nan,
                    )
                )
        xr = base.loc[base["arm"] == ref, col].dropna()
        for arm in arms:
            if arm == ref:
                continue
            x = base.loc[base["arm"] == arm, col].dropna()
            if kind == "mean":
                smd = _smd(x.astype(float).to_numpy(), xr.astype(float).to_numpy())
            elif kind == "female":
                smd = _smd(
                    (x.astype(str).str.lower() == "female").to_numpy(float),
                    (xr.astype(str).str.lower() == "female").to_numpy(float),
                    True,
                )
            else:
                smd = _smd(x.astype(float).to_numpy(), xr.astype(float).to_numpy(), True)
            smds.append(dict(variable=label, arm=arm, reference=ref, smd=smd))
    return pd.DataFrame(rows), pd.DataFrame(smds)


def _published_vs_reproduced(published, rates):
    if published is None or published.empty:
        empty = pd.DataFrame(
            columns=["arm", "visit", "published_percent", "reproduced_percent", "n", "responders"]
        )
        return empty, pd.DataFrame(columns=GRANULARITY_COLUMNS)
    r = rates.set_index(["arm", "visit"])
    rows, notes = [], []
    for rec in published.itertuples(index=False):
        key = (rec.arm, float(rec.visit))
        n = int(r.loc[key, "n"]) if key in r.index else 0
        k = int(r.loc[key, "responders"]) if key in r.index else 0
        rows.append(dict(arm=rec.arm, visit=rec.visit, published_percent=rec.published_percent,
                         reproduced_percent=round_half_up_percent(k, n) if n else np.nan, n=n, responders=k))  # fmt: skip
        rn = rec.reported_n
        if np.isfinite(rn):
            ok = bool(consistent_counts(rec.published_percent, int(rn)))
            near = min(
                (m for m in range(1, int(rn) * 2) if consistent_counts(rec.published_percent, m)),
                key=lambda m: (abs(m - rn), -m),
            )
            if ok:
                note = f"{rec.published_percent:g}% is possible out of the reported n = {int(rn)}"
            else:
                lo = math.floor(rec.published_percent * rn / 100)
                opts = " or ".join(
                    f"{k2}/{int(rn)} = {100 * k2 / rn:.1f}%" for k2 in (lo, lo + 1) if 0 <= k2 <= rn
                )
                note = f"{rec.published_percent:g}% cannot be a whole count out of the reported n = {int(rn)} ({opts}); nearest possible n = {near}"
            notes.append(dict(arm=rec.arm, visit=rec.visit, published_percent=rec.published_percent, reported_n=rn,
                              reported_n_consistent=ok, nearest_consistent_n=near, note=note))  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(notes, columns=GRANULARITY_COLUMNS)


def _consort(trial: Trial, fas: set) -> pd.DataFrame:
    """Participant flow per arm: randomised, baseline, each visit (with losses), analysed.

    ``missed`` = randomised minus those at the stage; ``lost`` = subjects with no score at this
    visit or any later one (gone for good); ``lost_new`` = those first lost at this visit.
    """
    d = trial.scores
    bv = trial.baseline_visit
    scored = d[d["score"].notna()]
    post = list(trial.post_visits)
    last_seen = scored.assign(t=scored["visit"].map(trial.time_of)).groupby("subject_id")["t"].max()
    rows = []
    for arm in trial.arms:
        subjects = d.loc[d["arm"] == arm, "subject_id"].unique()
        n = len(subjects)
        seen = last_seen.reindex(subjects)
        rows.append(dict(arm=arm, step=1, stage="Randomised", visit=np.nan, n=n, missed=0,
                         lost=0, lost_new=0))  # fmt: skip
        at_base = scored.loc[(scored["arm"] == arm) & (scored["visit"] == bv), "subject_id"]
        nb = at_base.nunique()
        rows.append(dict(arm=arm, step=2, stage="Baseline assessed", visit=bv, n=nb,
                         missed=n - nb, lost=0, lost_new=0))  # fmt: skip
        prev = 0
        for i, v in enumerate(post):
            k = scored.loc[(scored["arm"] == arm) & (scored["visit"] == v), "subject_id"].nunique()
            lost = int((seen.fillna(-np.inf) < trial.time_of(v)).sum())
            rows.append(dict(arm=arm, step=3 + i, stage="Assessed", visit=v, n=k, missed=n - k,
                             lost=lost, lost_new=lost - prev))  # fmt: skip
            prev = lost
        na = sum(1 for s in subjects if s in fas)
        rows.append(dict(arm=arm, step=3 + len(post), stage="Analysed (full analysis set)",
                         visit=np.nan, n=na, missed=n - na, lost=prev, lost_new=0))  # fmt: skip
    return pd.DataFrame(rows)


def _missingness(trial: Trial) -> pd.DataFrame:
    d = trial.scores
    rows = []
    for arm in trial.arms:
        da = d[d["arm"] == arm]
        n = da["subject_id"].nunique()
        for v in trial.visits:
            obs = da[(da["visit"] == v) & da["score"].notna()]["subject_id"].nunique()
            rows.append(dict(arm=arm, visit=v, randomised=n, observed=obs, missing=n - obs,
                             percent_missing=100 * (n - obs) / n if n else np.nan))  # fmt: skip
    return pd.DataFrame(rows)


def _waterfall(derived: pd.DataFrame, visit: float) -> pd.DataFrame:
    w = derived[(derived["visit"] == visit) & derived["score"].notna()]
    out = pd.DataFrame({"subject_id": w["subject_id"], "arm": w["arm"], "visit": visit,
                        "percent_change": -100 * w["pct_improvement"].astype(float),
                        "responder": w["responder"].astype(bool)})  # fmt: skip
    return out.sort_values(
        ["arm", "percent_change", "subject_id"], ascending=[True, False, True]
    ).reset_index(drop=True)


def _dropouts(trial: Trial) -> pd.DataFrame:
    """Listing: subjects without a score at the last scheduled visit, with their last score."""
    d = trial.scores
    last_visit = trial.post_visits[-1]
    scored = d[d["score"].notna()].assign(t=lambda x: x["visit"].map(trial.time_of))
    done = set(scored.loc[scored["visit"] == last_visit, "subject_id"])
    base = trial.baseline
    rows = []
    for arm in trial.arms:
        for subject in sorted(d.loc[d["arm"] == arm, "subject_id"].unique(), key=str):
            if subject in done:
                continue
            mine = scored[scored["subject_id"] == subject].sort_values("t")
            post = mine[mine["visit"] != trial.baseline_visit]
            last = mine.iloc[-1] if len(mine) else None
            rows.append(dict(subject_id=subject, arm=arm,
                             baseline=base.get(subject, np.nan),
                             post_baseline_scores=len(post),
                             last_visit=last["visit"] if last is not None else np.nan,
                             last_score=last["score"] if last is not None else np.nan))  # fmt: skip
    out = pd.DataFrame(rows, columns=["subject_id", "arm", "baseline", "post_baseline_scores",
                                      "last_visit", "last_score"])  # fmt: skip
    return out


def _split_arms(trial: Trial) -> tuple[Trial | None, Trial | None]:
    """(observed arms, reference + modelled arms); either is None when it has no comparison."""
    design, ref = trial.design, trial.reference
    modelled = [a for a in trial.arms if a != ref and design.arm(a).modelled]
    if not modelled:
        return trial, None
    observed = [a for a in trial.arms if a not in modelled]
    obs = trial.subset_arms(observed) if len(observed) >= 2 else None
    return obs, trial.subset_arms([ref, *modelled])


def _design_tables(trial: Trial, extra: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    design = trial.design
    inst = trial.instrument
    modelled = [a for a in trial.arms if design.arm(a).modelled]
    observed = [a for a in trial.arms if a not in modelled]
    key_labels = [trial.visit_label(v) for v in trial.key_visits]
    values = {
        "name": design.name,
        "citation": design.citation,
        "reference": trial.reference,
        "reference_label": trial.arm_label(trial.reference),
        "visit_unit": design.visit_unit,
        "key_visits": ", ".join(f"{v:g}" for v in trial.key_visits),
        "key_visit_labels": " and ".join([", ".join(key_labels[:-1]), key_labels[-1]])
        if len(key_labels) > 1
        else key_labels[0],
        "last_key_visit_label": key_labels[-1],
        "last_visit_label": trial.visit_label(trial.post_visits[-1]),
        "baseline_label": trial.visit_label(trial.baseline_visit),
        "instrument": inst.name,
        "instrument_range": f"{inst.minimum:g}-{inst.maximum:g}",
        "response_improvement": f"{inst.response_improvement:g}",
        "response_percent": f"{100 * inst.response_improvement:g}",
        "remission_max": f"{inst.remission_max:g}",
        "modelled_arms": ", ".join(trial.arm_label(a) for a in modelled),
        "modelled_descriptions": " ".join(design.arm(a).description for a in modelled).strip(),
        "observed_arms": ", ".join(trial.arm_label(a) for a in observed),
        "compared_arms": ", ".join(trial.arm_label(a) for a in observed if a != trial.reference),
        "arms": ", ".join(trial.arm_label(a) for a in trial.arms),
        "n_arms": str(len(trial.arms)),
        "subjects": str(trial.scores["subject_id"].nunique()),
        "confidence_percent": f"{100 * (1 - ALPHA):g}",
        "alpha": f"{ALPHA:g}",
        "p_floor": format_p(0.0),
        "numbering": "ICH E3 section 14 (14.1 participants, 14.2 efficacy, 14.3 sensitivity and "
        "supportive analyses) and 16.2 (listings)",
        "source": Path(trial.source).name,
        **extra,
    }
    trial_t = pd.DataFrame({"key": list(values), "value": list(values.values())})
    arms = pd.DataFrame(
        [
            dict(arm=a, label=trial.arm_label(a), modelled=design.arm(a).modelled,
                 reference=a == trial.reference, description=design.arm(a).description)
            for a in trial.arms
        ]
    )  # fmt: skip
    visits = pd.DataFrame(
        [
            dict(visit=v, time=trial.time_of(v), label=trial.visit_label(v),
                 baseline=v == trial.baseline_visit, key=v in trial.key_visits)
            for v in trial.visits
        ]
    )  # fmt: skip
    return trial_t, arms, visits


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def _both(fn, obs: Trial | None, mod: Trial | None, *, drop_reference_of_modelled=False):
    """``fn`` on the observed arms and on the reference + modelled arms, rows stacked."""
    parts = []
    if obs is not None:
        parts.append(_quiet(fn, obs).assign(fit="observed arms"))
    if mod is not None:
        t = _quiet(fn, mod).assign(fit="modelled arm with the reference")
        if drop_reference_of_modelled:
            t = t[t["arm"] != mod.reference]
        parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _adjustment_effect(adjusted, plain, unadjusted, key) -> pd.DataFrame:
    """What adjusting for baseline does to the risk difference and its precision at key visits.

    ``adjusted`` and ``plain`` are the same g-computation with Ge's variance, with and without
    the baseline covariate, so their standard errors differ only by the adjustment;
    ``unadjusted`` gives the usual unadjusted (Newcombe) interval shown beside the adjusted one.
    """

    def rd(t):
        return t[(t["contrast"] == "risk_difference") & t["visit"].isin(key)].set_index(
            ["arm", "visit"]
        )

    a, p0 = rd(adjusted), rd(plain)
    u = unadjusted.set_index(["arm", "visit"])
    rows = []
    for (arm, visit), r in a.iterrows():
        if (arm, visit) not in u.index or (arm, visit) not in p0.index:
            continue
        un, pl = u.loc[(arm, visit)], p0.loc[(arm, visit)]
        change = 100 * (r["se"] / pl["se"] - 1) if pl["se"] > 0 else np.nan
        if not np.isfinite(change):
            continue  # not estimable with or without baseline: Table 14.2.x's footnote says why
        if round(change, 1) == 0:
            direction = "unchanged"
        else:
            direction = "smaller" if change < 0 else "larger"
        rows.append(dict(arm=arm, reference=r["reference"], visit=visit,
                         rd_adjusted=r["estimate"], rd_unadjusted=un["risk_difference"],
                         se_adjusted=r["se"], se_without_covariates=pl["se"],
                         se_change_percent=abs(change), direction=direction,
                         width_adjusted=r["ci_high"] - r["ci_low"],
                         width_unadjusted=un["rd_ci_high"] - un["rd_ci_low"], n=r["n"]))  # fmt: skip
    return pd.DataFrame(rows, columns=["arm", "reference", "visit", "rd_adjusted", "rd_unadjusted",
                                       "se_adjusted", "se_without_covariates", "se_change_percent",
                                       "direction", "width_adjusted", "width_unadjusted", "n"])  # fmt: skip


def _multiplicity(contrasts, adjusted, compared, key) -> pd.DataFrame:
    """The confirmatory family with Holm-adjusted p-values (the one multiplicity rule)."""
    from statsmodels.stats.multitest import multipletests

    rows = []
    for endpoint, table, est in (
        ("mmrm", contrasts, "estimate"),
        ("response", adjusted, "estimate"),
    ):
        if table.empty:
            continue
        t = table[table["arm"].isin(compared) & table["visit"].isin(key)]
        if endpoint == "response":
            t = t[t["contrast"] == "risk_difference"]
        for r in t.itertuples(index=False):
            rows.append(dict(endpoint=endpoint, endpoint_label=ENDPOINTS[endpoint], arm=r.arm,
                             reference=r.reference, visit=r.visit, estimate=getattr(r, est),
                             p=r.p))  # fmt: skip
    out = pd.DataFrame(rows, columns=["endpoint", "endpoint_label", "arm", "reference", "visit",
                                      "estimate", "p"])  # fmt: skip
    ok = out["p"].notna()
    out["p_holm"] = np.nan
    if ok.any():
        out.loc[ok, "p_holm"] = multipletests(out.loc[ok, "p"].to_numpy(), method="holm")[1]
    out["significant"] = out["p_holm"] < ALPHA
    out["family_size"] = int(ok.sum())
    return out


def _sensitivity(trial: Trial, contrasts: pd.DataFrame, last: float) -> pd.DataFrame:
    ref = trial.reference
    rows = []
    for rule in ("observed", "nri", "locf"):
        out = binary_outcomes(trial, rule, visits=[last])
        c = compare_with_reference(out, ref, arms=list(trial.arms), visits=[last])
        for r in c.itertuples(index=False):
            rows.append(dict(rule=rule, arm=r.arm, reference=ref, visit=last, measure="response",
                             estimate=r.risk_difference, ci_low=r.rd_ci_low, ci_high=r.rd_ci_high,
                             p=r.p_fisher, n=r.n + r.n_reference))  # fmt: skip
    for r in contrasts[contrasts["visit"] == last].itertuples(index=False):
        rows.append(dict(rule="mmrm", arm=r.arm, reference=ref, visit=last, measure="change",
                         estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, p=r.p,
                         n=np.nan))  # fmt: skip
    sens = pd.DataFrame(rows)
    sens["rule_label"] = sens["rule"].map(RULE_LABELS)
    sens["measure_label"] = sens["measure"].map(
        {"response": "Risk difference in response (percentage points)",
         "change": f"Difference in change in {trial.instrument.name} (points)"}
    )  # fmt: skip
    sens["significant"] = sens["p"] < ALPHA
    return sens


def _estimands(trial: Trial, primary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The estimand (ICH E9(R1) attributes), the primary MMRM beside reference-based multiple
    imputation under each strategy (conditional mean, jackknife) at the last key visit, and the
    delta-adjusted tipping point; observed arms only."""
    from ..estimands.tables import estimand_tables

    e = _quiet(estimand_tables, trial, primary=primary)
    analyses = e["analyses"].copy()
    analyses["arm"] = analyses["arm"].fillna("")  # a strategy that could not be applied: its note
    analyses["reference"] = analyses["reference"].fillna(trial.reference)
    return {
        "estimand": e["estimand"],
        "mi_contrasts": analyses,
        "tipping_point": e["tipping_point"],
        "tipping_point_exact": e["tipping_point_exact"],
    }


def build_tables(trial: Trial, *, published: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the report, each model fitted once, and the TLF catalogue.

    Parameters
    ----------
    trial : Trial
    published : DataFrame, optional
        ``arm, visit, published_percent, reported_n`` (see :func:`load_published`).

    Returns
    -------
    dict of DataFrame
        Keyed by the names in ``TABLE_NAMES``.
    """
    from ..models.ancova import ancova_by_visit
    from ..models.lmm import group_therapy_arm, growth_model, lmm_fit_table, partially_nested_model
    from ..models.mmrm import fit_mmrm, mmrm_data
    from ..stats.adjusted import adjusted_response
    from ..stats.effect_sizes import hedges_g
    from .tlf import catalogue

    trial.require_analysable()
    ref = trial.reference
    key = list(trial.key_visits)
    last = key[-1]
    obs, mod = _split_arms(trial)
    compared = [a for a in (obs.arms if obs is not None else ()) if a != ref]
    t: dict[str, pd.DataFrame] = {}

    res = _quiet(analyse_response, trial, "observed", gee_correlations=())
    t["response_rates"] = res.response_rates
    t["remission_rates"] = res.remission_rates
    # Holm over every arm of compare_with_reference is not the report's rule: see multiplicity
    t["response_comparisons"] = res.response_comparisons.drop(columns=["p_holm"])
    t["remission_comparisons"] = res.remission_comparisons.drop(columns=["p_holm"])
    t["published_vs_reproduced"], t["granularity"] = _published_vs_reproduced(
        published, t["response_rates"]
    )

    def mmrm(tr):
        fit = fit_mmrm(mmrm_data(tr), reference=ref, arms=list(tr.arms))
        return fit

    fits = {}
    if obs is not None:
        fits["observed arms"] = _quiet(mmrm, obs)
    if mod is not None:
        fits["modelled arm with the reference"] = _quiet(mmrm, mod)
    ls, con, fit_rows = [], [], []
    for name, f in fits.items():
        lsm = f.lsmeans().assign(fit=name)
        if name.startswith("modelled"):
            lsm = lsm[lsm["arm"] != ref]
        ls.append(lsm)
        con.append(f.contrasts().assign(fit=name))
        fit_rows.append(f.fit_table().assign(fit=name))
    t["mmrm_lsmeans"] = pd.concat(ls, ignore_index=True)
    t["mmrm_contrasts"] = pd.concat(con, ignore_index=True)
    fit_t = pd.concat(fit_rows, ignore_index=True)
    fit_t["covariance_label"] = (
        fit_t["covariance"].map(COVARIANCE_LABELS).fillna(fit_t["covariance"])
    )
    fit_t["df_label"] = fit_t["df_method"].map(DF_LABELS).fillna(fit_t["df_method"])
    t["mmrm_fit"] = fit_t
    # the reference-based imputation (the costliest table) in a child process meanwhile
    primary = t["mmrm_contrasts"]
    primary = primary[primary["fit"] == "observed arms"] if obs is not None else primary
    estimands = Background(
        _estimands, obs if obs is not None else trial, primary.drop(columns=["fit"])
    )
    fas = set(mmrm_data(trial)["subject_id"])

    t["response_adjusted"] = _both(lambda tr: adjusted_response(tr, "observed"), obs, mod)
    plain = _both(lambda tr: adjusted_response(tr, "observed", covariates=()), obs, mod)
    t["adjustment_effect"] = _adjustment_effect(
        t["response_adjusted"], plain, t["response_comparisons"], key
    )
    t["multiplicity"] = _multiplicity(t["mmrm_contrasts"], t["response_adjusted"], compared, key)

    t["consort"] = _consort(trial, fas)
    t["baseline_table"], t["baseline_smd"] = _baseline(trial)
    t["missingness"] = _missingness(trial)
    t["descriptive_scores"] = descriptive_by_visit(trial, "score")
    t["descriptive_change"] = descriptive_by_visit(trial, "change")

    lm_trial = obs if obs is not None else trial
    lm = _quiet(growth_model, lm_trial)
    t["lmm_fixed"] = lm.fixed_effects()
    t["lmm_fit"] = lmm_fit_table(lm, False)
    group_arm = group_therapy_arm(lm_trial)
    if group_arm is not None and group_arm != ref:
        t["lmm_nested"], t["lmm_icc"], _ = _quiet(
            partially_nested_model, lm_trial, group_arm=group_arm
        )
    else:
        t["lmm_nested"] = pd.DataFrame(
            columns=["model", "term", "estimate", "se", "df", "t", "p", "ci_low", "ci_high"]
        )
        t["lmm_icc"] = pd.DataFrame(columns=["arm", "var_group", "var_subject", "var_residual",
                                             "icc", "singular", "n_groups"])  # fmt: skip
    t["ancova_hc3"] = _both(lambda tr: ancova_by_visit(tr, key), obs, mod)
    t["hedges_g"] = hedges_g(trial, key)
    t["waterfall"] = _waterfall(trial.derived, last)
    t["sensitivity"] = _sensitivity(trial, t["mmrm_contrasts"], last)
    t["dropouts"] = _dropouts(trial)
    t.update(estimands.result())

    family = t["multiplicity"]
    extra = {
        "n_fas": str(len(fas)),
        "family_size": str(int(family["family_size"].iloc[0]) if len(family) else 0),
        "n_key_visits": str(len(key)),
        "n_compared_arms": str(len(compared)),
    }
    t["trial"], t["arms"], t["visits"] = _design_tables(trial, extra)
    t["tlf"], t["tlf_footnotes"] = catalogue(t)
    return {name: t[name] for name in TABLE_NAMES}
