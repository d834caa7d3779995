"""Worksheet 1: from 42% vs 61% to a risk difference, an NNT and their intervals."""

from __future__ import annotations

import pandas as pd
from common import Context, p_text, pct

from ipt_outcomes.stats.response import binary_outcomes, compare_with_reference, proportion_ci
from ipt_outcomes.teaching import Task, Worksheet

ARM, VISIT = "PeGT", 3.0


def build(ctx: Context) -> Worksheet:
    ref = ctx.reference
    pub_arm = ctx.published("response_percent", ARM, VISIT)
    pub_ref = ctx.published("response_percent", ref, VISIT)
    out = binary_outcomes(ctx.scores, "observed", visits=[VISIT])
    cmp = compare_with_reference(out, ref, arms=[ARM, ref], visits=[VISIT]).iloc[0]
    k1, n1, k0, n0 = (
        int(cmp["events"]),
        int(cmp["n"]),
        int(cmp["events_reference"]),
        int(cmp["n_reference"]),
    )
    r1, r0 = k1 / n1, k0 / n0
    given = pd.DataFrame({"arm": [ARM, ref], "assessed at 3 months": [n1, n0], "responders": [k1, k0],
                          "published response": [f"{pub_arm:.0f}%", f"{pub_ref:.0f}%"]})  # fmt: skip
    ci1, ci0 = proportion_ci(k1, n1), proportion_ci(k0, n0)
    rd, lo, hi = cmp["risk_difference"], cmp["rd_ci_low"], cmp["rd_ci_high"]
    answer_rates = pd.DataFrame({"arm": [ARM, ref], "rate": [pct(r1), pct(r0)],
                                 "Wilson 95% CI": [f"{pct(ci1[0])} to {pct(ci1[1])}", f"{pct(ci0[0])} to {pct(ci0[1])}"]})  # fmt: skip
    tasks = [
        Task(
            question=(
                f"The abstract reports response (at least 50% fall in HAM-D from baseline) at 3 months in "
                f"{pub_arm:.0f}% of {ARM} and {pub_ref:.0f}% of {ref} patients. The table gives the counts of "
                "the reconstructed trial. Compute each arm's response rate and the risk difference "
                f"({ARM} minus {ref}).\n\nWhy can you not compute a confidence interval from the abstract alone?"
            ),
            table=given,
            answer=(
                f"{ARM}: {k1}/{n1} = {pct(r1)}; {ref}: {k0}/{n0} = {pct(r0)}. Risk difference "
                f"{pct(r1)} - {pct(r0)} = {pct(rd)} (percentage points).\n\n"
                "An interval needs the denominators; the abstract gives percentages only. The same "
                "percentages out of 10 or out of 1000 patients carry very different uncertainty."
            ),
            answer_table=answer_rates,
        ),
        Task(
            question=(
                "Turn the risk difference into a number needed to treat (NNT = 1 / risk difference) and say "
                "in words what it means. Then give the 95% interval of the risk difference (Newcombe's hybrid "
                "score method is standard; a Wald interval is acceptable by hand) and invert its limits."
            ),
            answer=(
                f"NNT = 1 / {rd:.3f} = {cmp['nnt']:.1f}: about {cmp['nnt']:.0f} patients offered {ARM} instead of "
                f"{ref} for one more to respond by 3 months.\n\n"
                f"Risk difference {pct(rd)} (95% CI {pct(lo)} to {pct(hi)}, Newcombe). The NNT interval, as "
                f"Altman (1998) words it: {cmp['nnt_text']}. Fisher's exact test: {p_text(cmp['p_fisher'])}."
            ),
        ),
        Task(
            question=(
                f"The interval of the risk difference {'includes' if lo < 0 < hi else 'excludes'} 0. What does that do to the NNT interval, and "
                "what may a reader conclude about the benefit of the group therapy from this comparison?"
            ),
            answer=(
                "When the risk-difference interval spans 0, the NNT interval runs from a number needed to harm "
                "through infinity to a number needed to benefit: the data are compatible with no difference "
                f"and with a modest harm as well as with a large benefit. With {n1} and {n0} patients the "
                f"comparison cannot rule out no effect ({p_text(cmp['p_fisher'])}); a {100 * rd:.0f}-point difference "
                "sounds large but is estimated imprecisely. Worksheet 4 asks how many patients would have "
                "been needed."
            ),
        ),
    ]
    return Worksheet(1, "risk_difference_nnt", f"From {pub_ref:.0f}% vs {pub_arm:.0f}% to a risk difference and an NNT",
                     "Turn two published percentages into an effect measure with its uncertainty.", tasks,
                     sources=[ctx.source("response_percent", ARM, VISIT),
                              "Newcombe RG. Stat Med 1998;17:873-890 (interval of a difference of proportions).",
                              "Altman DG. BMJ 1998;317:1309-1312 (confidence intervals for the NNT)."])  # fmt: skip
