"""The report's tables: what the plan found, laid out as tables, and the trial's descriptive
tables (participant flow, baseline, missingness, descriptive statistics, listings).

:func:`report_tables` turns :class:`~.run.PlanResults` into a dict of tidy frames - every table
the report shows, figures draw or the CSV folder holds; the report renders these and computes
nothing. Tables of one analysis are named ``<analysis id>__<role>`` (``primary__contrasts``);
``analyses`` lists the analyses in plan order with their descriptions, ``multiplicity`` the
family with adjusted p-values, ``estimands`` each estimand in the attributes of ICH E9(R1).

Rules that hold for every table:

* Observed and modelled arms are never analysed together; a modelled arm is fitted with the
  reference arm alone, never tested, outside every trial-level count and every multiplicity
  family.
* Risk differences are proportions in the tables (shown in percentage points).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.summary import descriptive_by_visit
from ..data.trial import Trial
from ..exceptions import IptOutcomesError
from ..format import format_p
from ..stats.granularity import consistent_counts, round_half_up_percent
from .analyses import ANALYSIS_NAMES
from .describe import (
    STRATEGY_TEXT,
    describe_endpoint,
    describe_sensitivity,
    graph_text,
    multiplicity_text,
    remission_variable,
)

__all__ = ["report_tables", "load_published", "RULE_LABELS", "table_name"]

GRANULARITY_COLUMNS = [
    "arm", "visit", "published_percent", "reported_n", "reported_n_consistent", "nearest_consistent_n", "note",
]  # fmt: skip

#: How the missing-data rules are named in prose (never the raw codes).
RULE_LABELS = {
    "observed": "Observed cases",
    "nri": "Non-responder imputation",
    "locf": "Last observation carried forward",
}
ROLE_LABELS = {
    "primary": "Primary endpoint",
    "key-secondary": "Key secondary endpoint",
    "secondary": "Secondary endpoint",
    "exploratory": "Exploratory endpoint",
}
SUMMARY_MEASURE = {
    "mmrm": "difference in least-squares mean {variable}, arm minus reference",
    "ancova": "difference in adjusted mean {variable}, arm minus reference",
    "lmm": "difference in the rate of change of the score over time, arm minus reference",
    "response": "difference in the proportion with {variable} (risk difference), with risk ratio "
    "and odds ratio",
    "adjusted-response": "marginal (population-average) risk difference in {variable}, adjusted "
    "for baseline covariates by g-computation",
    "mi": "difference in mean {variable}, arm minus reference, pooled over imputations",
}


def table_name(analysis_id: str, role: str) -> str:
    """The name of one analysis's table: ``<analysis id>__<role>``."""
    return f"{analysis_id}__{role}"


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


def _plan_columns(plan) -> list[str]:
    """The data columns the plan adjusts for or splits by (covariates, strata, subgroups), in plan
    order: the baseline table describes them."""
    cols = []
    for ep in plan.endpoints:
        cols += [c for c in (*ep.covariates, *ep.strata) if c != "baseline"]
    cols += [g.column for g in plan.subgroups]
    return list(dict.fromkeys(cols))


def _baseline(trial: Trial, extra=()):
    d = trial.scores
    base = d[d["visit"] == trial.baseline_visit].drop_duplicates("subject_id")
    arms = list(trial.arms)
    ref = trial.reference
    specs = [(trial.instrument.name, "score", "mean")]
    if "age" in base:
        specs.append(("Age, years", "age", "mean"))
    known = {"age", "antidepressant", "cgi_s", "sofas", "score", "arm", "subject_id"}
    if "sex" in base:
        sexes = set(base["sex"].dropna().astype(str).str.strip().str.lower())
        if sexes <= {"female", "male"}:
            specs.append(("Women", "sex", "female"))
            known.add("sex")
    # the plan's covariates, strata and subgroup columns (and a sex column not written
    # female/male): numbers as mean (SD), anything else as n (%) per level, as written
    values = trial.baseline_values([c for c in extra if c not in known and c in base])
    if "sex" in base and "sex" not in known and "sex" not in values:
        values = values.join(trial.baseline_values(["sex"]))
    base = base.drop(columns=[c for c in values.columns if c in base]).merge(
        values, left_on="subject_id", right_index=True, how="left"
    )
    for col in values.columns:
        if pd.api.types.is_numeric_dtype(values[col]):
            specs.append((col, col, "mean"))
            continue
        for level in sorted(values[col].dropna().astype(str).unique()):
            name = f"{col}: {level}"
            base[name] = np.where(base[col].isna(), np.nan, (base[col].astype(str) == level) * 1.0)
            specs.append((name, name, "one"))
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


def _consort(trial: Trial, fas: set, analysed: str = "Analysed (full analysis set)",
             not_analysed: str = "no baseline or no post-baseline score"):  # fmt: skip
    """Participant flow (CONSORT 2010) from the data and the design's ``[consort]`` counts.

    Returns three tables:

    * ``consort`` - per arm: allocated (``Modelled, not randomised`` for a modelled arm),
      baseline assessed, each visit (``missed`` = not assessed there; ``lost`` = no score at this
      visit or any later one, cumulative; ``lost_new`` = first lost here), analysed (``missed`` =
      excluded from the analysis, for the ``reason`` given);
    * ``consort_enrolment`` - ``stage, reason, n``: assessed for eligibility, excluded (with each
      reason), randomised (the observed arms; the first two only when the design gives them);
    * ``consort_lost`` - ``arm, reason, n``: the participants of each observed arm lost to
      follow-up (no score at the last visit), by the design's reasons, the rest "reason not
      recorded".

    Raises
    ------
    IptOutcomesError
        The design's counts disagree with the data (assessed minus excluded is not the number
        randomised; more reasons for loss than participants lost).
    """
    d = trial.scores
    design = trial.design
    bv = trial.baseline_visit
    scored = d[d["score"].notna()]
    post = list(trial.post_visits)
    last_seen = scored.assign(t=scored["visit"].map(trial.time_of)).groupby("subject_id")["t"].max()
    rows, lost_rows = [], []
    randomised = 0
    for arm in trial.arms:
        modelled = design.arm(arm).modelled
        subjects = d.loc[d["arm"] == arm, "subject_id"].unique()
        n = len(subjects)
        randomised += 0 if modelled else n
        seen = last_seen.reindex(subjects)
        rows.append(dict(arm=arm, step=1, stage="Modelled, not randomised" if modelled
                         else "Allocated", visit=np.nan, n=n, missed=0, lost=0, lost_new=0))  # fmt: skip
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
        rows.append(dict(arm=arm, step=3 + len(post), stage=analysed, visit=np.nan, n=na,
                         missed=n - na, lost=prev, lost_new=0, reason=not_analysed))  # fmt: skip
        if modelled or not prev:
            continue
        given = [r for r in design.consort.lost if r.arm == arm]
        if sum(r.n for r in given) > prev:
            raise IptOutcomesError(
                f"{design.source}: consort.lost: the reasons for arm {arm!r} count "
                f"{sum(r.n for r in given)} participants lost to follow-up, but the data have "
                f"{prev} without a score at {trial.visit_label(post[-1])} or later"
            )
        lost_rows += [dict(arm=arm, reason=r.reason, n=r.n) for r in given]
        if prev - sum(r.n for r in given):
            lost_rows.append(dict(arm=arm, reason="reason not recorded",
                                  n=prev - sum(r.n for r in given)))  # fmt: skip
    c = design.consort
    enrol = []
    if c.assessed is not None:
        excluded = c.assessed - randomised
        if excluded < 0 or (c.excluded and c.excluded_total != excluded):
            given = f" minus the {c.excluded_total} excluded" if c.excluded else ""
            raise IptOutcomesError(
                f"{design.source}: consort: {c.assessed} assessed for eligibility{given} does "
                f"not leave the {randomised} participants randomised to the observed arms in the "
                "data"
            )
        enrol.append(dict(stage="Assessed for eligibility", reason="", n=c.assessed))
        enrol.append(dict(stage="Excluded", reason="", n=excluded))
        enrol += [dict(stage="Excluded", reason=r.reason, n=r.n) for r in c.excluded]
        if not c.excluded and excluded:
            enrol.append(dict(stage="Excluded", reason="reasons not reported", n=excluded))
    enrol.append(dict(stage="Randomised", reason="", n=randomised))
    flow = pd.DataFrame(rows, columns=["arm", "step", "stage", "visit", "n", "missed", "lost",
                                       "lost_new", "reason"])  # fmt: skip
    return (
        flow,
        pd.DataFrame(enrol, columns=["stage", "reason", "n"]),
        pd.DataFrame(lost_rows, columns=["arm", "reason", "n"]),
    )


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


def _waterfall(derived: pd.DataFrame, visit: float, higher_is_better: bool = False) -> pd.DataFrame:
    """Percent change at ``visit`` with the sign of the change in score (negative = the scores
    fell): 100 times the percent improvement, negated when lower is better, as it is when higher
    is better (of the room to improve); sorted from worsening to improvement within arm."""
    w = derived[(derived["visit"] == visit) & derived["score"].notna()]
    sign = 100 if higher_is_better else -100
    out = pd.DataFrame({"subject_id": w["subject_id"], "arm": w["arm"], "visit": visit,
                        "percent_change": sign * w["pct_improvement"].astype(float) + 0.0,
                        "responder": w["responder"].astype(bool)})  # fmt: skip
    return out.sort_values(
        ["arm", "percent_change", "subject_id"], ascending=[True, higher_is_better, True]
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


def _observed_arms(trial) -> list[str]:
    return [a for a in trial.arms if not trial.design.arm(a).modelled]


def _join(items) -> str:
    items = list(items)
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _design_tables(trial: Trial, extra: dict):
    design = trial.design
    inst = trial.instrument
    modelled = [a for a in trial.arms if design.arm(a).modelled]
    observed = [a for a in trial.arms if a not in modelled]
    key_labels = [trial.visit_label(v) for v in trial.key_visits]
    randomised = trial.scores.loc[trial.scores["arm"].isin(observed), "subject_id"].nunique()
    values = {
        "name": design.name,
        "citation": design.citation,
        "reference": trial.reference,
        "reference_label": trial.arm_label(trial.reference),
        "visit_unit": design.visit_unit,
        "key_visits": ", ".join(f"{v:g}" for v in trial.key_visits),
        "key_visit_labels": _join(key_labels),
        "last_key_visit_label": key_labels[-1],
        "last_visit_label": trial.visit_label(trial.post_visits[-1]),
        "baseline_label": trial.visit_label(trial.baseline_visit),
        "instrument": inst.name,
        "instrument_range": f"{inst.minimum:g}-{inst.maximum:g}",
        "response_improvement": f"{inst.response_improvement:g}",
        "response_percent": f"{100 * inst.response_improvement:g}",
        "remission_text": inst.remission_text,
        "favours_note": inst.favours_note(),
        "improvement_note": inst.improvement_note,
        "modelled_arms": ", ".join(trial.arm_label(a) for a in modelled),
        "modelled_descriptions": " ".join(design.arm(a).description for a in modelled).strip(),
        "observed_arms": ", ".join(trial.arm_label(a) for a in observed),
        "compared_arms": ", ".join(trial.arm_label(a) for a in observed if a != trial.reference),
        "arms": ", ".join(trial.arm_label(a) for a in trial.arms),
        "n_arms": str(len(observed)),
        "subjects": str(randomised),
        "p_floor": format_p(0.0),
        "numbering": "ICH E3 section 14 (14.1 demographic and other baseline data, 14.2 efficacy "
        "data including sensitivity and supportive analyses; 14.3 is kept for safety data) and "
        "16.2 (listings)",
        "source": Path(trial.source).name,
        "higher_is_better": str(bool(getattr(inst, "higher_is_better", False))),
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


def _population_text(results, pid: str) -> str:
    p = next(x for x in results.plan.populations if x.id == pid)
    c = results.populations
    rows = c[(c["population"] == pid) & ~c["modelled"].astype(bool)]
    trial = results.trial
    per = "; ".join(f"{trial.arm_label(r.arm)} {r.n}" for r in rows.itertuples())
    how = f"flag {p.flag} = Y" if p.flag else {
        "all": "every randomised participant",
        "baseline": "randomised participants with a baseline score",
        "post-baseline": "randomised participants with a baseline and at least one "
        "post-baseline score",
    }[p.rule]  # fmt: skip
    return f"{p.display} ({how}; n = {int(rows['n'].sum())}: {per})"


def _variable_text(ep, trial) -> str:
    inst = ep.instrument or trial.instrument.name
    return {
        "change": f"change from baseline in {inst}",
        "score": f"{inst} score",
        "response": f"response ({100 * trial.instrument.response_improvement:g}% improvement "
        f"in {inst})",
        "remission": remission_variable(inst, trial),
        "reliable-change": f"reliable and clinically significant change on {inst}",
    }[ep.variable]


def _estimand_rows(results) -> list[dict]:
    """Each estimand in the attributes of ICH E9(R1), from the plan and the data."""
    trial, plan = results.trial, results.plan
    ref = trial.reference
    compared = [a for a in _observed_arms(trial) if a != ref]
    rows = []
    for est in plan.estimands:
        eps = [e for e in plan.endpoints if e.estimand == est.id]
        tags = {e.id: f"{ROLE_LABELS[e.role].lower()} {e.id}" for e in eps}
        if not eps:  # an estimand that only sensitivity analyses target
            sens = [x for x in plan.sensitivity if x.estimand == est.id]
            if not sens:
                continue
            eps = list({x.endpoint: plan.endpoint(x.endpoint) for x in sens}.values())
            tags = {e.id: "; ".join(f"sensitivity analysis {x.id} of {e.id}" for x in sens
                                    if x.endpoint == e.id) for e in eps}  # fmt: skip
        pops = list(dict.fromkeys(e.population for e in eps))
        variables = "; ".join(
            f"{_variable_text(e, trial)} at {_join([trial.visit_label(v) for v in e.visits])} "
            f"({tags[e.id]})"
            if e.analysis != "lmm" else f"{_variable_text(e, trial)} over time ({e.id})"
            for e in eps
        )  # fmt: skip
        ev = results.events.get(est.id)
        ices = []
        for ice in est.intercurrent_events:
            mine = ev[ev["event"] == ice.name] if ev is not None and len(ev) else ev
            k = 0 if mine is None else len(mine)
            by_arm = ""
            if k:
                arm_of = trial.arm_of
                counts = mine["subject_id"].map(arm_of).value_counts()
                by_arm = " (" + ", ".join(f"{trial.arm_label(a)} {int(counts.get(a, 0))}"
                                          for a in _observed_arms(trial)) + ")"  # fmt: skip
            where = (f"recorded in the data's {ice.column} column as a start or change"
                     if ice.column else "listed in the events file")  # fmt: skip
            ices.append(f"{ice.name}, {where}: {k} participants{by_arm}; strategy: "
                        f"{STRATEGY_TEXT[ice.strategy]}")  # fmt: skip
        summary = est.summary or "; ".join(
            f"{e.id}: " + SUMMARY_MEASURE[e.analysis].format(variable=_variable_text(e, trial))
            for e in eps
        )
        attrs = [
            ("Treatment conditions", "; ".join(
                f"{trial.arm_label(a)} versus {trial.arm_label(ref)}, as randomised"
                for a in compared) + "."),
            ("Population", "; ".join(_population_text(results, p) for p in pops) + "."),
            ("Variable", variables[0].upper() + variables[1:] + "."),
            ("Intercurrent events and strategies",
             ("; ".join(ices) + ".") if ices else "None named in the plan."),
            ("Missing data (not intercurrent events)",
             "Missed visits and loss to follow-up are missing data: the mixed models use every "
             "observed score and assume the missing ones missing at random; single-visit "
             "analyses use the participants assessed at the visit unless a missing-data rule "
             "says otherwise; sensitivity analyses vary these assumptions."),
            ("Population-level summary", summary[0].upper() + summary[1:] + ", with its "
             f"{100 * (1 - plan.multiplicity.alpha):g}% confidence interval."),
        ]  # fmt: skip
        for attr, text in attrs:
            rows.append(dict(estimand=est.id, label=est.display, attribute=attr, description=text))
    return rows


def _analysed_text(r) -> str:
    """Who the analysis used, in words, with the number where the analysis has one."""
    fit = r.tables.get("fit")
    if r.analysis in ("mmrm", "lmm") and fit is not None and len(fit):
        obs = fit[fit["fit"] == "observed"] if "fit" in fit else fit
        n = int(obs["n_subjects"].iloc[0])
        what = ("with a baseline and at least one post-baseline score" if r.analysis == "mmrm"
                else "with at least one score")  # fmt: skip
        return f"analysed: {n} participants of the observed arms {what}"
    if r.analysis in ("mi", "tipping-point") and len(r.n):
        v = r.n["visit"].iloc[0]
        n = int(r.n.loc[r.n["visit"] == v, "n"].sum())
        return f"analysed: all {n} participants of the observed arms with a baseline, missing " \
               "scores imputed"  # fmt: skip
    if not r.tables:
        return "not estimated"
    return "analysed: the participants with a value at each visit (n in the table)"


def _measure(ep) -> str:
    """What an endpoint's family estimate is (``family_table``): a risk difference for response
    endpoints (recovery for reliable change), a difference in slopes for the random-effects
    growth model, else a difference in (LS) means."""
    if ep.analysis in ("response", "adjusted-response"):
        return "risk difference"
    return "slope difference" if ep.analysis == "lmm" else "mean difference"


def _plan_tables(results) -> dict[str, pd.DataFrame]:
    trial, plan = results.trial, results.plan
    fam_ids = set(plan.multiplicity.family)
    rows = []
    for r in results.results:
        ep = r.endpoint
        if r.kind == "endpoint":
            text = describe_endpoint(ep, trial)
            role = ep.role
        elif r.kind == "sensitivity":
            s = next(x for x in plan.sensitivity if x.id == r.id)
            text = describe_sensitivity(s, ep, trial)
            role = "sensitivity"
        else:
            text = f"{ep.id} by {r.settings.get('column', '')}"
            role = "subgroup"
        est = next((e for e in plan.estimands if e.id == r.estimand), None)
        inst = results.trials.get(ep.instrument, trial).instrument
        rows.append(dict(
            analysed=_analysed_text(r),
            favours_note=inst.favours_note(),
            improvement_note=inst.improvement_note,
            id=r.id, kind=r.kind, endpoint=ep.id, role=role, variable=ep.variable,
            analysis=r.analysis, analysis_name=ANALYSIS_NAMES[r.analysis], label=r.label,
            instrument=ep.instrument, population=r.population,
            population_text=_population_text(results, r.population),
            estimand=r.estimand, estimand_label=est.display if est else "",
            visits=", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in ep.visits),
            visit_labels=_join([trial.visit_label(v) for v in ep.visits]),
            description=text[0].upper() + text[1:],
            in_family=r.kind == "endpoint" and r.id in fam_ids,
            notes=" ".join(r.notes),
        ))  # fmt: skip
    analyses = pd.DataFrame(rows)
    fam = results.family.copy()
    fam["endpoint_label"] = fam["endpoint"].map({e.id: e.display for e in plan.endpoints})
    # what each hypothesis's estimate is, so that it is shown on its own scale (a risk difference
    # in percentage points, as in its endpoint's table)
    fam["measure"] = fam["endpoint"].map({e.id: _measure(e) for e in plan.endpoints})
    return {
        "analyses": analyses,
        "estimands": pd.DataFrame(_estimand_rows(results),
                                  columns=["estimand", "label", "attribute", "description"]),
        "multiplicity": fam,
        "populations": results.populations.assign(
            text=[_population_text(results, p) for p in results.populations["population"]]
        ),
    }  # fmt: skip


def _analysis_tables(results) -> dict[str, pd.DataFrame]:
    out = {}
    for r in results.results:
        for role, frame in r.tables.items():
            out[table_name(r.id, role)] = frame.reset_index(drop=True)
        out[table_name(r.id, "n")] = r.n.reset_index(drop=True)
    return out


def report_tables(results, *, published: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the report from what the plan found.

    Parameters
    ----------
    results : PlanResults
    published : DataFrame, optional
        ``arm, visit, published_percent, reported_n`` (see :func:`load_published`).

    Returns
    -------
    dict of DataFrame
        The trial's descriptive tables (``consort``, ``consort_enrolment``, ``consort_lost``,
        ``baseline_table``, ``baseline_smd``,
        ``missingness``, ``descriptive_scores``, ``descriptive_change``, ``waterfall``,
        ``dropouts``, ``published_vs_reproduced``, ``granularity``), the design's (``trial``,
        ``arms``, ``visits``), the plan's (``analyses``, ``estimands``, ``multiplicity``,
        ``populations``) and each analysis's (``<id>__<role>``).
    """
    trial = results.trial
    t: dict[str, pd.DataFrame] = {}
    obs_rates = None
    for r in results.results:  # observed-case response rates, for the published comparison
        ep = r.endpoint
        if (ep.variable == "response" and r.kind == "endpoint" and "rates" in r.tables
                and ep.missing == "observed"):  # fmt: skip
            rt = r.tables["rates"]
            if "fit" in rt:  # the reference arm once (the modelled arm's fit repeats it)
                rt = rt[~((rt["fit"] == "modelled") & (rt["arm"] == trial.reference))]
            obs_rates = rt
            break
    if obs_rates is None:
        from ..stats.response import binary_outcomes, rates

        obs_rates = rates(binary_outcomes(trial, "observed"), "responder", arms=list(trial.arms))
    t["published_vs_reproduced"], t["granularity"] = _published_vs_reproduced(published, obs_rates)
    fas_pop = next((p for p in results.plan.populations if p.rule == "post-baseline"), None)
    from .populations import members

    fas = members(trial, fas_pop) if fas_pop else set(trial.baseline.index)
    # the flow's "analysed": the population of the first (primary) endpoint
    pops = {p.id: p for p in results.plan.populations}
    first = results.plan.endpoints[0].population if results.plan.endpoints else None
    flow_pop = pops.get(first) or fas_pop
    why = {"post-baseline": "no baseline or no post-baseline score", "baseline": "no baseline score",
           "all": ""}  # fmt: skip
    if flow_pop is None:
        flow = (set(trial.baseline.index), "Analysed (participants with a baseline)",
                "no baseline score")  # fmt: skip
    else:
        reason = f"{flow_pop.flag} not Y" if flow_pop.flag else why.get(flow_pop.rule, "")
        flow = (members(trial, flow_pop), f"Analysed ({flow_pop.display})", reason)
    t["consort"], t["consort_enrolment"], t["consort_lost"] = _consort(trial, *flow)
    t["baseline_table"], t["baseline_smd"] = _baseline(trial, _plan_columns(results.plan))
    t["missingness"] = _missingness(trial)
    t["descriptive_scores"] = descriptive_by_visit(trial, "score")
    t["descriptive_change"] = descriptive_by_visit(trial, "change")
    t["waterfall"] = _waterfall(
        trial.derived, trial.key_visits[-1], trial.instrument.higher_is_better
    )
    t["dropouts"] = _dropouts(trial)
    t.update(_plan_tables(results))
    t.update(_analysis_tables(results))
    m = results.plan.multiplicity
    arm_of, observed = trial.arm_of, _observed_arms(trial)  # once, not once per subject
    extra = {
        "n_fas": str(len({s for s in fas if arm_of.get(s) in observed})),
        "family_size": str(len(results.family)),
        "multiplicity_text": multiplicity_text(results.plan),
        "multiplicity_graph": graph_text(results.plan, results.family),
        "alpha": f"{m.alpha:g}",
        "confidence_percent": f"{100 * (1 - m.alpha):g}",
        "plan_declared": "declared" if results.plan.declared else "default",
        "n_key_visits": str(len(trial.key_visits)),
        "n_compared_arms": str(len([a for a in _observed_arms(trial) if a != trial.reference])),
    }
    t["trial"], t["arms"], t["visits"] = _design_tables(trial, extra)
    return t
