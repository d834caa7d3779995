"""Worksheet 4: how many patients the trial would have needed."""

from __future__ import annotations

import pandas as pd
from common import Context, pct

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
    ref = ctx.reference
    p1 = ctx.published("response_percent", ARM, VISIT) / 100
    p0 = ctx.published("response_percent", ref, VISIT) / 100
    n_rand = int(ctx.published("randomised_n", ARM))
    n_obs = int(ctx.published("observed_n", ARM, VISIT))
    ss = {t: sample_size(p0, p1, TARGET, t) for t in ("chisq", "fisher")}
    grid = sorted({20, n_obs, n_rand, 60, 80, 100, 120, 140, ss["chisq"]["n_per_arm"], 160})
    curve = simulate_power(p0, p1, grid, "chisq", sims=10_000, seed=ctx.seed, workers=ctx.workers)
    have = pd.DataFrame({"n per arm": [n_obs, n_rand],
                         "which": ["assessed at 3 months (PeGT)", "randomised (PeGT)"],
                         "exact power, chi-square": [round(exact_power(p0, p1, n, "chisq"), 3) for n in (n_obs, n_rand)],
                         "exact power, Fisher": [round(exact_power(p0, p1, n, "fisher"), 3) for n in (n_obs, n_rand)]})  # fmt: skip
    scen = mmrm_scenario(ctx.scores, ARM, ref, VISIT)
    mm_grid = [20, n_obs, n_rand, 60]
    mm = simulate_mmrm_power(scen, mm_grid, sims=ctx.sims, seed=ctx.seed, workers=ctx.workers)
    mm_table = pd.DataFrame({"n per arm": mm["n_per_arm"], "MMRM power": mm["power"].round(3),
                             "Monte-Carlo SE": mm["mc_se"].round(3)})  # fmt: skip
    sizes = pd.DataFrame([{"test": t, "n per arm": r["n_per_arm"], "exact power at that n": round(r["power"], 3),
                           "n from which power stays above the target": r["n_stable"],
                           "normal-approximation formula": r["n_normal"]} for t, r in ss.items()])  # fmt: skip
    tasks = [
        Task(
            question=(
                f"Suppose the true response rates are the published ones: {pct(p1, 0)} with {ARM} and {pct(p0, 0)} "
                f"with {ref} at 3 months. How likely was a trial of this size to find the difference "
                "significant at the 5% level (its power)? Use the normal approximation or a calculator."
            ),
            table=have[["n per arm", "which"]],
            answer=(
                f"Exact power (every possible outcome of both arms enumerated): {have.iloc[0, 2]:.0%} with "
                f"{n_obs} per arm and {have.iloc[1, 2]:.0%} with {n_rand} per arm (chi-square); Fisher's test has "
                "less. Even if PeGT really is this much better, the trial would usually have missed it."
            ),
            answer_table=have,
        ),
        Task(
            question=f"How many patients per arm would give {TARGET:.0%} power for this comparison?",
            answer=(
                f"{ss['chisq']['n_per_arm']} per arm for the chi-square test, {ss['fisher']['n_per_arm']} for "
                f"Fisher's test (exact enumeration); the usual normal-approximation formula gives "
                f"{ss['chisq']['n_normal']}. Exact power of a discrete test is saw-toothed in n, so the "
                "smallest n reaching the target is not the n from which it stays above it."
            ),
            answer_table=sizes,
            answer_figure=power_curve(
                curve, target=TARGET, title=f"Power, {ARM} {pct(p1, 0)} vs {ref} {pct(p0, 0)}"
            ),
        ),
        Task(
            question=(
                "Would a continuous primary analysis (the MMRM of HAM-D change) have needed fewer patients for "
                "the effect the trial observed? The power below is simulated from the MMRM fitted to the trial."
            ),
            answer=(
                f"Simulated power of the MMRM contrast at month {VISIT:g} (true difference "
                f"{scen.effect:.2f} HAM-D points, {ctx.sims} trials per n): "
                + ", ".join(
                    f"{n} per arm {pw:.0%}"
                    for n, pw in zip(mm["n_per_arm"], mm["power"], strict=True)
                )
                + ". Analysing the score rather than a yes/no response usually buys power for the same patients."
            ),
            answer_table=mm_table,
        ),
    ]
    return Worksheet(4, "sample_size", "How many patients the trial would have needed",
                     "Compute power exactly and by simulation, and find the sample size for 80% power.", tasks,
                     sources=[ctx.source("response_percent", ARM, VISIT), ctx.source("randomised_n", ARM),
                              "Walters SJ et al. Sample size estimation for randomised controlled trials with "
                              "repeated assessment of patient-reported outcomes. Trials 2019;20:566."])  # fmt: skip
