"""Stage 1 of the report: every table, computed from the validated data and the design."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.trial import Trial
from ..exceptions import ConvergenceWarning
from ..stats.granularity import consistent_counts, round_half_up_percent
from ..stats.response import analyse_response, binary_outcomes, compare_with_reference

__all__ = ["build_tables", "load_published", "TABLE_NAMES"]

GRANULARITY_COLUMNS = [
    "arm", "visit", "published_percent", "reported_n", "reported_n_consistent", "nearest_consistent_n", "note",
]  # fmt: skip

TABLE_NAMES = (
    "trial", "arms", "visits", "consort", "baseline_table", "baseline_smd", "response_rates", "remission_rates",
    "response_comparisons", "published_vs_reproduced", "granularity", "mmrm_lsmeans",
    "mmrm_contrasts", "mmrm_fit", "lmm_fixed", "lmm_fit", "lmm_icc", "lmm_nested", "ancova_hc3",
    "hedges_g", "missingness", "waterfall", "sensitivity",
)  # fmt: skip


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
    t = pd.read_csv(path, dtype={"arm": str, "value": str})
    t["visit"] = pd.to_numeric(t["visit"])
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


def _consort(trial: Trial, mmrm_subjects) -> pd.DataFrame:
    d = trial.scores
    bv = trial.baseline_visit
    rows = []
    for arm in trial.arms:
        da = d[d["arm"] == arm]
        rows.append(
            dict(arm=arm, step=1, stage="randomised", visit=np.nan, n=da["subject_id"].nunique())
        )
        base_ok = da[(da["visit"] == bv) & da["score"].notna()]["subject_id"].nunique()
        rows.append(dict(arm=arm, step=2, stage="baseline assessed", visit=bv, n=base_ok))
        for i, v in enumerate(trial.post_visits):
            n = da[(da["visit"] == v) & da["score"].notna()]["subject_id"].nunique()
            rows.append(dict(arm=arm, step=3 + i, stage="assessed", visit=v, n=n))
        rows.append(
            dict(
                arm=arm,
                step=99,
                stage="analysed (MMRM)",
                visit=np.nan,
                n=int(sum(1 for s in mmrm_subjects if s[1] == arm)),
            )
        )
    return pd.DataFrame(rows)


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


def _missingness(trial: Trial):
    d = trial.scores
    rows = []
    for arm in trial.arms:
        da = d[d["arm"] == arm]
        n = da["subject_id"].nunique()
        for v in trial.visits:
            obs = da[(da["visit"] == v) & da["score"].notna()]["subject_id"].nunique()
            rows.append(
                dict(
                    arm=arm,
                    visit=v,
                    randomised=n,
                    observed=obs,
                    missing=n - obs,
                    percent_missing=100 * (n - obs) / n if n else np.nan,
                )
            )
    return pd.DataFrame(rows)


def _waterfall(derived, visit):
    w = derived[(derived["visit"] == visit) & derived["score"].notna()]
    out = pd.DataFrame({"subject_id": w["subject_id"], "arm": w["arm"], "visit": visit,
                        "percent_change": -100 * w["pct_improvement"].astype(float), "responder": w["responder"].astype(bool)})  # fmt: skip
    return out.sort_values(
        ["arm", "percent_change", "subject_id"], ascending=[True, False, True]
    ).reset_index(drop=True)


def _design_tables(trial: Trial) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    design = trial.design
    inst = trial.instrument
    trial_t = pd.DataFrame(
        [
            dict(key="name", value=design.name), dict(key="citation", value=design.citation),
            dict(key="reference", value=trial.reference),
            dict(key="reference_label", value=trial.arm_label(trial.reference)),
            dict(key="visit_unit", value=design.visit_unit),
            dict(key="key_visits", value=", ".join(f"{v:g}" for v in trial.key_visits)),
            dict(key="instrument", value=inst.name),
            dict(key="instrument_range", value=f"{inst.minimum:g}-{inst.maximum:g}"),
            dict(key="response_improvement", value=f"{inst.response_improvement:g}"),
            dict(key="remission_max", value=f"{inst.remission_max:g}"),
            dict(key="modelled_arms", value=", ".join(trial.arm_label(a) for a in trial.arms if design.arm(a).modelled)),
            dict(key="subjects", value=str(trial.scores["subject_id"].nunique())),
            dict(key="arms", value=", ".join(trial.arm_label(a) for a in trial.arms)),
            dict(key="confidence_percent", value="95"),
            dict(key="source", value=Path(trial.source).name),
        ]
    )  # fmt: skip
    arms = pd.DataFrame(
        [
            dict(arm=a, label=trial.arm_label(a), modelled=design.arm(a).modelled,
                 reference=a == trial.reference)
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


def build_tables(trial: Trial, *, published: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the report, each model fitted once.

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
    from ..stats.effect_sizes import hedges_g

    trial.require_analysable()
    ref = trial.reference
    arms = list(trial.arms)
    key = list(trial.key_visits)
    t: dict[str, pd.DataFrame] = {}
    t["trial"], t["arms"], t["visits"] = _design_tables(trial)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = analyse_response(trial, "observed", gee_correlations=())
        mdata = mmrm_data(trial)
        mm = fit_mmrm(mdata, reference=ref, arms=arms)
    t["response_rates"] = res.response_rates
    t["remission_rates"] = res.remission_rates
    t["response_comparisons"] = res.response_comparisons
    t["published_vs_reproduced"], t["granularity"] = _published_vs_reproduced(
        published, t["response_rates"]
    )
    subjects = set(zip(mdata["subject_id"], mdata["arm"], strict=True))
    t["consort"] = _consort(trial, subjects)
    t["baseline_table"], t["baseline_smd"] = _baseline(trial)
    t["mmrm_lsmeans"] = mm.lsmeans()
    t["mmrm_contrasts"] = mm.contrasts()
    t["mmrm_fit"] = mm.fit_table()
    lm = growth_model(trial)
    t["lmm_fixed"] = lm.fixed_effects()
    t["lmm_fit"] = lmm_fit_table(lm, False)
    group_arm = group_therapy_arm(trial)
    if group_arm is not None and group_arm != ref:
        t["lmm_nested"], t["lmm_icc"], _ = partially_nested_model(trial, group_arm=group_arm)
    else:
        t["lmm_nested"] = pd.DataFrame(
            columns=["model", "term", "estimate", "se", "df", "t", "p", "ci_low", "ci_high"]
        )
        t["lmm_icc"] = pd.DataFrame(
            columns=[
                "arm",
                "var_group",
                "var_subject",
                "var_residual",
                "icc",
                "singular",
                "n_groups",
            ]
        )
    t["ancova_hc3"] = ancova_by_visit(trial, key)
    t["hedges_g"] = hedges_g(trial, key)
    t["missingness"] = _missingness(trial)
    t["waterfall"] = _waterfall(trial.derived, key[-1])
    # sensitivity of the last key visit's conclusions to the missing-data rule
    last = key[-1]
    rows = []
    for rule in ("observed", "nri", "locf"):
        out = binary_outcomes(trial, rule, visits=[last])
        c = compare_with_reference(out, ref, arms=arms, visits=[last])
        for r in c.itertuples(index=False):
            rows.append(dict(rule=rule, arm=r.arm, reference=ref, visit=last, measure="risk difference (response)",
                             estimate=r.risk_difference, ci_low=r.rd_ci_low, ci_high=r.rd_ci_high, p=r.p_fisher))  # fmt: skip
    measure = f"LS-mean difference in change ({trial.instrument.name})"
    for r in t["mmrm_contrasts"][t["mmrm_contrasts"]["visit"] == last].itertuples(index=False):
        rows.append(dict(rule="mmrm", arm=r.arm, reference=ref, visit=last, measure=measure,
                         estimate=r.estimate, ci_low=r.ci_low, ci_high=r.ci_high, p=r.p))  # fmt: skip
    sens = pd.DataFrame(rows)
    sens["significant"] = sens["p"] < 0.05
    t["sensitivity"] = sens
    return {name: t[name] for name in TABLE_NAMES}
