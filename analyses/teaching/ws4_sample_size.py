"""Worksheet 4: how many patients the trial would have needed."""

from __future__ import annotations

import pandas as pd
from common import Context
from markupsafe import Markup as M
from scipy.stats import norm

from ipt_outcomes.format import fmt
from ipt_outcomes.report.figures import power_curve
from ipt_outcomes.stats.power import (
    exact_power,
    mmrm_scenario,
    sample_size,
    simulate_mmrm_power,
    simulate_power,
)
from ipt_outcomes.teaching import Task, Worksheet

ARM, VISIT, TARGET = "PeGT", 3.0, 0.80


def build(ctx: Context) -> Worksheet:
    ref, n = ctx.reference, ctx.n
    inst = ctx.trial.instrument.name
    p1 = ctx.published("response_percent", ARM, VISIT) / 100
    p0 = ctx.published("response_percent", ref, VISIT) / 100
    n_rand = int(ctx.published("randomised_n", ARM))
    n_obs = int(ctx.published("observed_n", ARM, VISIT))
    ss = {t: sample_size(p0, p1, TARGET, t) for t in ("chisq", "fisher")}
    grid = sorted({20, n_obs, n_rand, 60, 80, 100, 120, 140, ss["chisq"]["n_per_arm"], 160})
    curve = simulate_power(p0, p1, grid, "chisq", sims=max(2000, 20 * ctx.sims), seed=ctx.seed,
                           workers=ctx.workers)  # fmt: skip
    have = pd.DataFrame({"n per arm": [n_obs, n_rand],
                         "which": [f"assessed at {ctx.visit(VISIT)} ({ARM}, published, secondary source)",
                                   f"randomised ({ARM}, published)"],
                         "exact power, chi-square": [fmt(exact_power(p0, p1, k, "chisq"), "pct") for k in (n_obs, n_rand)],
                         "exact power, Fisher": [fmt(exact_power(p0, p1, k, "fisher"), "pct") for k in (n_obs, n_rand)]})  # fmt: skip
    # the MMRM power scenario: the trial's covariance, and the report's estimate as the effect
    mm_at = dict(arm=ARM, visit=VISIT, fit="observed")  # the primary MMRM, observed arms
    effect = float(n.value("primary__contrasts", "estimate", **mm_at))
    scen = mmrm_scenario(ctx.scores, ARM, ref, VISIT, effect=effect)
    rc_at = dict(arm=ARM, visit=VISIT, fit="observed")  # the unadjusted response comparison
    mm_grid = [20, n_obs, n_rand, 60]
    mm = simulate_mmrm_power(scen, mm_grid, sims=ctx.sims, seed=ctx.seed, workers=ctx.workers)
    mm_table = pd.DataFrame({"n per arm": mm["n_per_arm"], "MMRM power": [fmt(x, "pct") for x in mm["power"]],
                             "Monte-Carlo SE": [fmt(x, "pct") for x in mm["mc_se"]]})  # fmt: skip
    # observed ('post-hoc') power of a two-sided z test at the effect that gives p: a function of p
    z_crit = norm.ppf(0.975)
    p_grid = [0.01, 0.05, 0.1, 0.2, 0.5, 0.8]
    observed = pd.DataFrame({"p-value of the result": [fmt(x, "f2") for x in p_grid],
                             "power at the observed effect": [
                                 fmt(norm.cdf(norm.isf(x / 2) - z_crit) + norm.cdf(-norm.isf(x / 2) - z_crit), "pct")
                                 for x in p_grid]})  # fmt: skip
    sizes = pd.DataFrame([{"test": t, "n per arm": r["n_per_arm"], "exact power at that n": fmt(r["power"], "pct"),
                           "n from which power stays above the target": r["n_stable"],
                           "normal-approximation formula": r["n_normal"]} for t, r in ss.items()])  # fmt: skip
    tasks = [
        Task(
            question=(
                f"Suppose the true response rates are the published ones: {p1:.0%} with {ARM} and "
                f"{p0:.0%} with {ref} at 3 months. How likely was a trial of this size to find the "
                "difference significant at the 5% level (its power)? Use the normal approximation "
                "or a calculator."
            ),
            table=have[["n per arm", "which"]],
            answer=(
                "Exact power (every possible outcome of both arms enumerated): "
                f"{have.iloc[0, 2]} with {n_obs} per arm and {have.iloc[1, 2]} with {n_rand} per "
                "arm (chi-square); Fisher's test has less. Even if PeGT really is this much better, "
                "a trial of this size would usually have missed it.\n\nCareful: this is power "
                "at the effect the trial itself observed ('post-hoc' or 'observed' power). It is "
                "a useful planning number for the next trial, if one believes the published rates, "
                "but it says nothing new about this trial's result (task 4)."
            ),
            answer_table=have,
        ),
        Task(
            question=f"How many patients per arm would give {TARGET:.0%} power for this comparison?",
            answer=(
                f"{ss['chisq']['n_per_arm']} per arm for the chi-square test, "
                f"{ss['fisher']['n_per_arm']} for Fisher's test (exact enumeration); the usual "
                f"normal-approximation formula gives {ss['chisq']['n_normal']}. Exact power of a "
                "discrete test is saw-toothed in n, so the smallest n reaching the target is not "
                "the n from which it stays above it."
            ),
            answer_table=sizes,
            answer_figure=power_curve(
                curve, target=TARGET, title=f"Power, {ARM} {p1:.0%} vs {ref} {p0:.0%}"
            ),  # fmt: skip
        ),
        Task(
            question=M(
                "Would a continuous primary analysis (the MMRM of {inst} change) have needed fewer "
                "patients for the effect the trial observed? The power below is simulated from the "
                "MMRM fitted to the trial, with the report's estimate of the difference at {when} "
                "({est} points, {table}) as the true effect."
            ).format(
                inst=inst,
                when=ctx.visit(VISIT),
                est=n.q("primary__contrasts", "estimate", "f2", **mm_at),
                table=n.tlf("primary-contrasts"),
            ),  # fmt: skip
            answer=M(
                "Simulated power of the MMRM contrast at {when} (true difference {est} {inst} "
                "points, {sims} trials per n): {powers}. Analysing the score rather than a yes/no "
                "response usually buys power for the same patients. Each simulated trial is "
                "analysed as the report analyses the real one (unstructured covariance, "
                "Kenward-Roger degrees of freedom)."
            ).format(
                when=ctx.visit(VISIT),
                est=n.q("primary__contrasts", "estimate", "f2", **mm_at),
                inst=inst,
                sims=ctx.sims,
                powers=", ".join(
                    f"{k} per arm {fmt(pw, 'pct')}"
                    for k, pw in zip(mm["n_per_arm"], mm["power"], strict=True)
                ),
            ),  # fmt: skip
            answer_table=mm_table,
        ),
        Task(
            question=M(
                'A letter about the trial says: "The comparison of {arm} with {ref} was '
                "underpowered: its power to detect the observed difference was only {pw}, so the "
                'non-significant result ({p}) is inconclusive and the therapy may well work." '
                "The table gives, for a z test, the power computed at the observed effect for "
                "several p-values. What is wrong with the letter's argument, and what should it "
                "use instead?"
            ).format(
                arm=ctx.label(ARM),
                ref=ctx.label(ref),
                pw=have.iloc[0, 2],
                p=n.q("response__comparisons", "p_fisher", "p_text", **rc_at),
            ),
            table=observed,
            answer=M(
                "Power computed at the observed effect is a fixed function of the p-value "
                "(Hoenig and Heisey 2001): a result with p = 0.05 always has an observed power of "
                "50% (exactly so for a z test), and every non-significant result has an observed power below that. "
                "So 'low observed power' only restates 'not significant'; it cannot make a "
                "non-significant result more or less convincing, and reading it as support for "
                "the therapy is circular.\n\nTo interpret this trial, use the confidence "
                "interval of the difference ({table}: {rd}, {lo} to {hi}): it shows which effects "
                "the data are compatible with, large benefit and no benefit alike. Power belongs "
                "to planning, computed for an effect that matters clinically and is fixed before "
                "the data are seen (the minimal important difference, or an effect justified by "
                "earlier trials), as in tasks 2 and 3."
            ).format(
                table=n.tlf("response-comparisons"),
                rd=n.q("response__comparisons", "risk_difference", "pp", **rc_at),
                lo=n.q("response__comparisons", "rd_ci_low", "pp", **rc_at),
                hi=n.q("response__comparisons", "rd_ci_high", "pp", **rc_at),
            ),
        ),
    ]
    return Worksheet(4, "sample_size", "How many patients the trial would have needed",
                     "Compute power exactly and by simulation, find the sample size for 80% power, "
                     "and see why power computed after the fact explains nothing.", tasks,
                     sources=[ctx.source("response_percent", ARM, VISIT), ctx.source("randomised_n", ARM),
                              "Walters SJ et al. Sample size estimation for randomised controlled trials with "
                              "repeated assessment of patient-reported outcomes. Trials 2019;20:566.",
                              "Hoenig JM, Heisey DM. The abuse of power: the pervasive fallacy of power "
                              "calculations for data analysis. Am Stat 2001;55:19-24."],
                     data_note=ctx.data_note,
                     objectives=["compute the power of a comparison of two response rates, exactly and by simulation;",
                                 "find the sample size for a target power, and see why exact power is saw-toothed in n;",
                                 "compare the power of a binary and a continuous analysis of the same trial;",
                                 "explain why power computed at the observed effect adds nothing to the p-value."],
                     level="intermediate: a first course in trial design or medical statistics",
                     minutes=50)  # fmt: skip
