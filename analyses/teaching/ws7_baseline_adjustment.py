"""Worksheet 7: why one adjusts for baseline - the precision gain, shown by simulation."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
from common import Context
from markupsafe import Markup as M

from ipt_outcomes.format import fmt
from ipt_outcomes.stats.adjusted import adjusted_response
from ipt_outcomes.teaching import (
    Task,
    Worksheet,
    adjustment_plot,
    adjustment_scenario,
    simulate_adjustment,
    summarise_adjustment,
)

ARM, VISIT, N_PER_ARM = "PeGT", 3.0, 100
ENDPOINTS = {"responder": "response", "remitter": "remission"}
STRONG = "hypothetical strong covariate"
STRONG_OR = 3.0  # odds ratio per SD of baseline in the hypothetical scenario
KEY = "key-secondary"  # the plan's baseline-adjusted response endpoint


def _standard_errors(ctx: Context, effects: dict) -> tuple[float, float]:
    """The standard error of the risk difference at ``effects`` (arm, visit), by the report's
    key secondary analysis with its covariates and by the same analysis without them (same
    patients, g-computation and variance). The report gives only the first; both are computed
    here, and the first must be the report's, so that the two differ only by the adjustment."""
    ep = ctx.endpoint(KEY)
    trial = ctx.analysed_observed_arms(KEY)

    def se(covariates) -> float:
        eff = adjusted_response(trial, ep.missing or "observed", covariates=covariates,
                                variance=ep.variance or "ge", strata=list(ep.strata),
                                endpoint="responder")  # fmt: skip
        hit = eff[(eff["arm"] == effects["arm"]) & (eff["visit"].astype(float) == effects["visit"])
                  & (eff["contrast"] == "risk_difference")]  # fmt: skip
        return float(hit["se"].iloc[0])

    adjusted, plain = se(list(ep.covariates)), se([])
    reported = float(ctx.n.value(f"{KEY}__effects", "se", **effects))
    if abs(adjusted - reported) > 1e-9 * max(1.0, reported):
        raise RuntimeError(f"worksheet 7 re-ran the report's {KEY} analysis and got SE {adjusted}, "
                           f"not the report's {reported}: the comparison would not be like with like")  # fmt: skip
    return adjusted, plain


def build(ctx: Context) -> Worksheet:
    ref, n = ctx.reference, ctx.n
    inst = ctx.trial.instrument.name
    when = ctx.visit(VISIT)
    at = dict(arm=ARM, visit=VISIT, fit="observed")  # the observed arms' analyses
    adj = dict(arm=ARM, visit=VISIT, contrast="risk_difference", fit="observed")
    fitted = {ENDPOINTS[e]: adjustment_scenario(ctx.trial, ARM, VISIT, e, n_per_arm=N_PER_ARM)
              for e in ENDPOINTS}  # fmt: skip
    strength = pd.DataFrame({
        "outcome": list(fitted),
        f"odds ratio per SD of baseline {inst}": [fmt(s.odds_ratio_per_sd, "f2") for s in fitted.values()],
        f"SD of baseline {inst}": [fmt(s.baseline_sd, "f1") for s in fitted.values()],
    })  # fmt: skip
    # the remission model with a baseline as prognostic as STRONG_OR per SD (same risk at the mean)
    rem = fitted["remission"]
    slope = -math.log(STRONG_OR) / rem.baseline_sd
    strong = dataclasses.replace(rem, endpoint=STRONG, slope=slope,
                                 intercept=rem.intercept + (rem.slope - slope) * rem.baseline_mean)  # fmt: skip
    scenarios = {**fitted, STRONG: strong}
    results, summaries = [], []
    for i, (name, s) in enumerate(scenarios.items()):
        r = simulate_adjustment(s, sims=ctx.sims, seed=ctx.seed + i)
        results.append(r.assign(outcome=name))
        summaries.append(summarise_adjustment(r, s).assign(outcome=name))
    sims = pd.concat(results, ignore_index=True).dropna(subset=["estimate"])
    summary = pd.concat(summaries, ignore_index=True)
    shown = pd.DataFrame({
        "outcome": summary["outcome"], "analysis": summary["method"],
        "true risk difference": [fmt(x, "pp") for x in summary["true_rd"]],
        "mean estimate": [fmt(x, "pp") for x in summary["mean_estimate"]],
        "SD of the estimates": [fmt(x, "pp") for x in summary["empirical_sd"]],
        "mean standard error": [fmt(x, "pp") for x in summary["mean_se"]],
        "coverage of the interval": [f"{fmt(c, 'pct')} (MC SE {fmt(m, 'pct')})"
                                     for c, m in zip(summary["coverage"], summary["coverage_mc_se"], strict=True)],
        "variance relative to unadjusted": [fmt(x, "f2") for x in summary["variance_ratio"]],
    })  # fmt: skip
    gain = {
        o: 1 - float(summary.loc[(summary["outcome"] == o) & (summary["method"] == "baseline-adjusted"),
                                 "variance_ratio"].iloc[0])
        for o in scenarios
    }  # fmt: skip
    fig = adjustment_plot(sims, {o: s.true_risk_difference for o, s in scenarios.items()},
                          title=f"{ctx.sims} simulated trials of {N_PER_ARM} per arm")  # fmt: skip
    se_adj, se_plain = _standard_errors(ctx, adj)
    se_change = 100 * (se_adj / se_plain - 1)
    se_verdict = (
        "unchanged" if round(se_change, 1) == 0 else "smaller" if se_change < 0 else "larger"
    )
    unbiased = (summary["bias"].abs() <= 2 * summary["bias_mc_se"]).all()
    covered = (
        (summary["coverage"] - 0.95).abs() <= 2 * summary["coverage_mc_se"].clip(lower=0.01)
    ).all()
    cov = summary.pivot(index="outcome", columns="method", values="coverage")
    alike = ((cov["baseline-adjusted"] - cov["unadjusted"]).abs()
             <= 2 * summary["coverage_mc_se"].max()).all()  # fmt: skip
    bias_text = (
        "Every mean estimate is within two Monte-Carlo standard errors of the true value: both "
        "analyses are unbiased for the same marginal risk difference."
        if unbiased
        else "Some mean estimate is more than two Monte-Carlo standard errors from the true value: "
        "with this few simulated trials that can be chance; run more before reading it as bias."
    )
    coverage_text = (
        "Every interval's coverage is within two Monte-Carlo standard errors of 95%."
        if covered
        else "Some coverage is more than two Monte-Carlo standard errors from 95%"
        + (
            ", for both analyses alike: the normal-approximation interval is a little liberal "
            "with this many patients, adjusted or not."
            if alike
            else "; compare the two analyses' coverage in the table."
        )
    )

    def saving(o):
        g = gain[o]
        return f"{'saves' if g >= 0 else 'costs'} {fmt(abs(g), 'pct')} of the patients"

    tasks = [
        Task(
            question=M(
                "The report gives the risk difference in response twice: unadjusted ({unadj}) and, "
                "as its key secondary analysis, adjusted for baseline {inst} ({table}). For {arm} "
                "against {ref} at {when}: unadjusted {un} ({un_lo} to {un_hi}); adjusted {ad} "
                "({ad_lo} to {ad_hi}). What does each estimate, and why are they so close?"
            ).format(
                table=n.tlf("key-secondary-effects"),
                arm=ctx.label(ARM),
                ref=ctx.label(ref),
                when=when,
                inst=inst,
                unadj=n.tlf("response-comparisons"),
                un=n.q("response__comparisons", "risk_difference", "pp", **at),
                un_lo=n.q("response__comparisons", "rd_ci_low", "pp", **at),
                un_hi=n.q("response__comparisons", "rd_ci_high", "pp", **at),
                ad=n.q(f"{KEY}__effects", "estimate", "pp", **adj),
                ad_lo=n.q(f"{KEY}__effects", "ci_low", "pp", **adj),
                ad_hi=n.q(f"{KEY}__effects", "ci_high", "pp", **adj),
            ),  # fmt: skip
            answer=M(
                "Both estimate the same thing: the marginal (population-average) difference in the "
                "chance of response between everyone getting {arm} and everyone getting {ref}. The "
                "adjusted estimate predicts each participant's chance of response under each arm "
                "from a logistic model with baseline {inst} and averages (g-computation), as the "
                "FDA's 2023 guidance recommends; randomisation makes the two targets equal, and "
                "adjustment only removes the noise of chance baseline imbalance.\n\nThey are close "
                "because baseline severity predicts response only weakly here: adjusting leaves the "
                "standard error {verdict} ({se_adj} with baseline, the report's; {se_un} without, "
                "computed for this worksheet by the same g-computation and variance on the same "
                "patients with the covariate left out). The unadjusted interval in the report is Newcombe's, which is "
                "a different interval method, so compare the standard errors, not the interval "
                "widths, to see what adjustment does."
            ).format(
                arm=ctx.label(ARM),
                ref=ctx.label(ref),
                inst=inst,
                verdict="practically unchanged"
                if se_verdict == "unchanged"
                else f"{fmt(abs(se_change), 'f1')}% {se_verdict}",
                se_adj=n.q(f"{KEY}__effects", "se", "pp", **adj),
                se_un=fmt(se_plain, "pp"),
            ),  # fmt: skip
        ),
        Task(
            question=(
                f"How strongly does baseline {inst} predict the outcome? The table gives the odds "
                f"ratio per standard deviation of baseline from a logistic model of each outcome on "
                f"arm and baseline, fitted to the trial at {when}. Why does baseline predict "
                "remission so much better than response?"
            ),
            table=strength,
            answer=(
                f"Response is defined relative to baseline (at least {ctx.trial.instrument.response_improvement:.0%} "
                "improvement), so patients with severe and mild depression have similar chances of "
                f"responding. Remission is an absolute threshold ({inst} of "
                f"{ctx.trial.instrument.remission_max:g} or less): the more severe the patient at "
                "baseline, the further they have to fall, so baseline predicts remission strongly "
                "(an odds ratio per SD far from 1). Adjustment gains precision in proportion to "
                "how much of the outcome's variation the covariate explains."
            ),
        ),
        Task(
            question=(
                f"The simulation draws {ctx.sims} trials of {N_PER_ARM} patients per arm from each "
                "model of the previous task, and from a third, hypothetical one in which baseline "
                f"predicts remission strongly (odds ratio {STRONG_OR:g} per SD), and estimates the "
                "risk difference in each trial without and with adjustment for baseline (the "
                "report's g-computation and variance). Compare bias, spread, standard errors and "
                "coverage. How many patients does adjustment save?"
            ),
            figure=fig,
            answer=(
                "; ".join(
                    f"{r['outcome']}, {r['method']}: bias {fmt(r['bias'], 'pp')}, coverage "
                    f"{fmt(r['coverage'], 'pct')} (Monte-Carlo SE {fmt(r['coverage_mc_se'], 'pct')})"
                    for _, r in summary.iterrows()
                )
                + f". {bias_text} {coverage_text} What differs is the spread: one minus the "
                "variance ratio in the table is the share of patients adjustment saves for the "
                "same precision. With the hypothetical strong "
                f"covariate (odds ratio {STRONG_OR:g} per SD) adjustment {saving(STRONG)}; with "
                f"baseline as prognostic of remission as in this trial it {saving('remission')}, "
                f"and for response, which baseline hardly predicts, it {saving('response')}. "
                "Adjustment buys precision in proportion to how well the covariate predicts the "
                "outcome, and costs little when it does not."
            ),
            answer_table=shown,
        ),
        Task(
            question="What must be decided before the data are seen for an adjusted analysis to be credible?",
            answer=(
                "The covariates (measured before randomisation, chosen for being prognostic, "
                "baseline severity first), the working model, the estimand (marginal risk "
                "difference) and the variance estimator, all in the analysis plan. Choosing "
                "covariates after seeing the results invites selecting the most favourable "
                "analysis. With those fixed, adjusting is recommended because it never targets a "
                "different effect and usually gains precision."
            ),
        ),
    ]
    return Worksheet(7, "baseline_adjustment", "Why one adjusts for baseline",
                     "See what covariate adjustment does to a risk difference, and how much precision it buys.",
                     tasks,
                     sources=["FDA. Adjusting for Covariates in Randomized Clinical Trials for Drugs and Biological "
                              "Products. Guidance for industry, 2023.",
                              "Ge M, Durham LK, Meyer RD, Xie W, Thomas N. Covariate-adjusted difference in proportions "
                              "from clinical trials using logistic regression and weighted risk differences. Drug Inf J "
                              "2011;45:481-493.",
                              "Kahan BC, Jairath V, Dore CJ, Morris TP. The risks and rewards of covariate adjustment "
                              "in randomized trials. Trials 2014;15:139."],
                     data_note=ctx.data_note,
                     objectives=["explain what a covariate-adjusted (g-computation) risk difference estimates;",
                                 "say why baseline predicts remission better than response;",
                                 "read a simulation study: bias, spread, standard error and coverage;",
                                 "state what must be pre-specified for an adjusted analysis to be credible."],
                     level="advanced: a course in trial methodology or applied statistics (MSc level)",
                     minutes=50)  # fmt: skip
