"""Worksheet 2: why the response comparison and the mixed model can disagree."""

from __future__ import annotations

import warnings

import pandas as pd
from common import Context, p_text
from plotnine import aes, facet_wrap, geom_histogram, geom_vline, ggplot, labs, theme, theme_minimal

from ipt_outcomes.exceptions import ConvergenceWarning
from ipt_outcomes.models.mmrm import fit_mmrm, mmrm_data
from ipt_outcomes.stats.response import binary_outcomes, compare_with_reference
from ipt_outcomes.teaching import Task, Worksheet

ARM = "PeGT"


def build(ctx: Context) -> Worksheet:
    ref, design = ctx.reference, ctx.design
    visits = list(design.key_visits)
    out = binary_outcomes(ctx.scores, "observed", visits=visits)
    resp = compare_with_reference(out, ref, arms=[ARM, ref], visits=visits)
    data = mmrm_data(ctx.scores)
    data = data[data["arm"].isin([ARM, ref])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_mmrm(data, reference=ref, arms=[ref, ARM])
    mm = fit.contrasts()
    rows = []
    for v in visits:
        r = resp[resp["visit"] == v].iloc[0]
        m = mm[(mm["visit"] == v) & (mm["arm"] == ARM)].iloc[0]
        rows.append({"month": f"{v:g}", "patients analysed (response)": int(r["n"] + r["n_reference"]),
                     "response difference": f"{100 * r['risk_difference']:.1f} points", "response p (Fisher)": round(float(r["p_fisher"]), 3),
                     "patients analysed (MMRM)": fit.n_subjects,
                     "MMRM difference in HAM-D change": round(float(m["estimate"]), 2), "MMRM p": round(float(m["p"]), 3)})  # fmt: skip
    table = pd.DataFrame(rows)
    d = ctx.trial.derived
    near = d[(d["visit"] == visits[0]) & d["arm"].isin([ARM, ref]) & d["pct_improvement"].notna()]
    close = near[(near["pct_improvement"] - 0.5).abs() < 0.10]
    fig = (
        ggplot(near.assign(improvement=100 * near["pct_improvement"]), aes("improvement"))
        + geom_histogram(binwidth=10, boundary=50, fill="#0072B2", color="white")
        + geom_vline(xintercept=50, linetype="dashed", color="#D55E00")
        + facet_wrap("arm")
        + labs(
            x=f"percent improvement in HAM-D at month {visits[0]:g}",
            y="patients",
            title="Responders are those right of the dashed line",
        )  # fmt: skip
        + theme_minimal(base_size=10)
        + theme(figure_size=(8, 3.2))
    )
    first, last = rows[0], rows[-1]
    tasks = [
        Task(
            question=(
                f"The table compares {ARM} with {ref} twice: as a response rate (responder or not) and with a "
                "mixed model for repeated measures (MMRM) of the change in HAM-D, which uses every assessment "
                "of every patient with a baseline. Where do the two analyses agree about significance, and "
                "where not?"
            ),
            table=table,
            answer=(
                f"At month {first['month']} the response comparison gives {p_text(first['response p (Fisher)'])} and "
                f"the MMRM {p_text(first['MMRM p'])}; at month {last['month']} the response comparison gives "
                f"{p_text(last['response p (Fisher)'])} and the MMRM {p_text(last['MMRM p'])}. "
                + (
                    "They differ in significance at least once."
                    if any((r["response p (Fisher)"] < 0.05) != (r["MMRM p"] < 0.05) for r in rows)
                    else "They agree about significance here, but the strength of evidence differs."
                )  # fmt: skip
            ),
        ),
        Task(
            question=(
                "Give three reasons why a dichotomised outcome and a model of the continuous score can "
                "disagree. Use the histogram: what happens to a patient who improves by 48% and one who "
                "improves by 52%?"
            ),
            figure=fig,
            answer=(
                "1. Dichotomising throws information away: 48% and 52% improvement count as opposite outcomes, "
                f"while 52% and 100% count the same. Here {len(close)} of {len(near)} patients at month "
                f"{visits[0]:g} are within 10 points of the 50% threshold, so a few patients moving across it "
                "change the response rate a lot; the MMRM sees only small changes in score.\n\n"
                "2. The analysed patients differ: the response comparison uses those assessed at that visit; "
                "the MMRM uses every patient with a baseline and, under missing at random, lets earlier "
                "scores inform the missing ones.\n\n"
                "3. The MMRM adjusts for baseline severity and models the covariance between visits; a "
                "Fisher test of two proportions does neither. Power differs: a continuous analysis usually "
                "needs fewer patients for the same effect (worksheet 4)."
            ),
        ),
        Task(
            question="Which analysis would you pre-specify as primary for a trial like this, and why?",
            answer=(
                "The MMRM (or another likelihood-based analysis of the continuous score) is the usual primary "
                "analysis: it uses all data, is efficient, and is valid under missing at random. Response "
                "rates are easier to communicate and belong as secondary outcomes, with the threshold and "
                "missing-data rule stated in advance. Whatever is chosen must be chosen before seeing the data."
            ),
        ),
    ]
    return Worksheet(2, "response_vs_mixed_model", "Why the response comparison and the mixed model can disagree",
                     "See what dichotomising an outcome and handling missing data do to a trial's conclusion.", tasks,
                     sources=["Altman DG, Royston P. The cost of dichotomising continuous variables. BMJ 2006;332:1080.",
                              "Mallinckrodt CH et al. Recommendations for the primary analysis of continuous endpoints "
                              "in longitudinal clinical trials. Drug Inf J 2008;42:303-319."])  # fmt: skip
