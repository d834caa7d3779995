"""Worksheet 1: from 42% vs 61% to a risk difference, an NNT and their intervals."""

from __future__ import annotations

from common import Context
from markupsafe import Markup as M

from ipt_outcomes.teaching import Task, Worksheet, frame

ARM, VISIT = "PeGT", 3.0


def build(ctx: Context) -> Worksheet:
    ref, n = ctx.reference, ctx.n
    at = dict(arm=ARM, visit=VISIT, fit="observed")  # the observed arms' analysis
    when = ctx.visit(VISIT)
    pub_arm = ctx.published("response_percent", ARM, VISIT)
    pub_ref = ctx.published("response_percent", ref, VISIT)

    def c(col, kind):  # the report's comparison of ARM with the reference at VISIT
        return n.q("response__comparisons", col, kind, **at)

    def rate(arm, col="rate"):
        return n.q("response__rates", col, "pct", arm=arm, visit=VISIT, fit="observed")

    lo = n.value("response__comparisons", "rd_ci_low", **at)
    hi = n.value("response__comparisons", "rd_ci_high", **at)
    p = n.value("response__comparisons", "p_fisher", **at)
    adj = dict(arm=ARM, visit=VISIT, contrast="risk_difference", fit="observed")
    given = frame({"arm": [ctx.label(ARM), ctx.label(ref)],
                          f"assessed at {when}": [c("n", "int"), c("n_reference", "int")],
                          "responders": [c("events", "int"), c("events_reference", "int")],
                          "published response": [f"{pub_arm:g}%", f"{pub_ref:g}%"]})  # fmt: skip
    answer_rates = frame({
        "arm": [ctx.label(ARM), ctx.label(ref)],
        "rate": [rate(ARM), rate(ref)],
        "Wilson interval": [M("{} to {}").format(rate(ARM, "ci_low"), rate(ARM, "ci_high")),
                            M("{} to {}").format(rate(ref, "ci_low"), rate(ref, "ci_high"))],
    })  # fmt: skip
    tasks = [
        Task(
            question=M(
                "The abstract reports response (at least 50% fall in HAM-D from baseline) at 3 "
                "months in {pa}% of {arm} and {pr}% of {ref} patients. The table gives the counts "
                "of the reconstructed trial. Compute each arm's response rate and the risk "
                "difference ({arm} minus {ref}), in percentage points.\n\nWhy can you not compute "
                "a confidence interval from the abstract alone?"
            ).format(pa=f"{pub_arm:g}", pr=f"{pub_ref:g}", arm=ctx.label(ARM), ref=ctx.label(ref)),
            table=given,
            answer=M(
                "{arm}: {k1}/{n1} = {r1}; {ref}: {k0}/{n0} = {r0}. Risk difference {r1} - {r0} = "
                "{rd} (percentage points: the difference of two percentages).\n\nAn interval needs "
                "the denominators; the abstract gives percentages only. The same percentages out "
                "of 10 or out of 1000 patients carry very different uncertainty."
            ).format(
                arm=ctx.label(ARM),
                ref=ctx.label(ref),
                k1=c("events", "int"),
                n1=c("n", "int"),
                k0=c("events_reference", "int"),
                n0=c("n_reference", "int"),
                r1=rate(ARM),
                r0=rate(ref),
                rd=c("risk_difference", "pp"),
            ),  # fmt: skip
            answer_table=answer_rates,
        ),
        Task(
            question=(
                "Turn the risk difference into a number needed to treat (NNT = 1 / risk "
                "difference) and say in words what it means. Then give the 95% interval of the "
                "risk difference (Newcombe's hybrid score method is standard; a Wald interval is "
                "acceptable by hand) and invert its limits."
            ),
            answer=M(
                "NNT = 100 / {rdp} (the risk difference in percentage points), {nnt_exact} "
                "before rounding; rounded up to whole patients: {nnt}. For every "
                "{nnt_n} patients offered {arm} instead of {ref}, one more responds by {when} "
                "(Altman: always round an NNT up).\n\nRisk difference {rd} (95% CI {lo} to {hi}, "
                "Newcombe). The NNT interval inverts the limits, as Altman (1998) words it: "
                "{nnt_text}. Fisher's exact test: {p}.\n\nThese are the numbers of the report's "
                "{table} (unadjusted comparisons). Its key secondary analysis ({primary}) adjusts "
                "for baseline HAM-D: risk difference {adj} ({adj_lo} to {adj_hi}); this worksheet "
                "keeps the unadjusted comparison because it is what the paper reported and what you can "
                "compute by hand (worksheet 7 shows what adjustment does)."
            ).format(
                rdp=c("risk_difference", "pp_n"),
                nnt_exact=c("nnt", "f2"),
                nnt=c("nnt", "nnt"),
                nnt_n=c("nnt", "nnt").striptags().split()[-1],
                arm=ctx.label(ARM),
                ref=ctx.label(ref),
                when=when,
                rd=c("risk_difference", "pp"),
                lo=c("rd_ci_low", "pp"),
                hi=c("rd_ci_high", "pp"),
                nnt_text=c("nnt_text", "text"),
                p=c("p_fisher", "p_text"),
                table=n.tlf("response-comparisons"),
                primary=n.tlf("key-secondary-effects"),
                adj=n.q("key-secondary__effects", "estimate", "pp", **adj),
                adj_lo=n.q("key-secondary__effects", "ci_low", "pp", **adj),
                adj_hi=n.q("key-secondary__effects", "ci_high", "pp", **adj),
            ),  # fmt: skip
        ),
        Task(
            question=(
                f"The interval of the risk difference {'includes' if lo < 0 < hi else 'excludes'} 0. "
                "What does that do to the NNT interval, and what may a reader conclude about the "
                "benefit of the group therapy from this comparison?"
            ),
            answer=M(
                "When the risk-difference interval spans 0, the NNT interval runs from a number "
                "needed to harm through infinity to a number needed to benefit: the data are "
                "compatible with no difference and with a modest harm as well as with a large "
                "benefit. With {n1} and {n0} patients the comparison {verdict} ({p}); a "
                "difference of {rd} sounds large but is estimated imprecisely. Worksheet 4 asks "
                "how many patients would have been needed."
            ).format(
                n1=c("n", "int"),
                n0=c("n_reference", "int"),
                p=c("p_fisher", "p_text"),
                rd=c("risk_difference", "pp"),
                verdict="cannot rule out no effect" if p >= 0.05 else "excludes no effect",
            ),  # fmt: skip
        ),
    ]
    return Worksheet(1, "risk_difference_nnt", f"From {pub_ref:g}% vs {pub_arm:g}% to a risk difference and an NNT",
                     "Turn two published percentages into an effect measure with its uncertainty.", tasks,
                     sources=[ctx.source("response_percent", ARM, VISIT),
                              "Newcombe RG. Stat Med 1998;17:873-890 (interval of a difference of proportions).",
                              "Altman DG. BMJ 1998;317:1309-1312 (confidence intervals for the NNT)."],
                     data_note=ctx.data_note,
                     objectives=["compute response rates, a risk difference and an NNT from a 2x2 table;",
                                 "give and read the interval of a risk difference and of the NNT;",
                                 "say what a comparison whose interval includes zero does and does not show."],
                     level="introductory: a first course in evidence-based practice",
                     minutes=30)  # fmt: skip
