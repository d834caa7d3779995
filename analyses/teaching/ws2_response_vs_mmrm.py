"""Worksheet 2: why the response comparison and the mixed model can disagree."""

from __future__ import annotations

from common import Context
from markupsafe import Markup as M
from plotnine import aes, facet_wrap, geom_histogram, geom_vline, ggplot, labs, theme, theme_minimal

from ipt_outcomes.teaching import Task, Worksheet, frame

ARM = "PeGT"
PRIMARY = "primary"  # the plan's primary endpoint: the MMRM of the change in score


def build(ctx: Context) -> Worksheet:
    ref, n = ctx.reference, ctx.n
    inst = ctx.trial.instrument.name
    visits = list(ctx.trial.key_visits)
    fit = "observed"  # the MMRM of the observed arms (the modelled arm is fitted apart)
    rows, sig = [], []
    for v in visits:
        at = dict(arm=ARM, visit=v, fit=fit)
        mm = dict(arm=ARM, visit=v, fit=fit)
        rows.append({
            "visit": ctx.visit(v),
            "assessed (response)": M("{} + {}").format(
                n.q("response__comparisons", "n", "int", **at),
                n.q("response__comparisons", "n_reference", "int", **at)),
            "risk difference in response": n.q("response__comparisons", "risk_difference", "pp", **at),
            "Fisher p": n.q("response__comparisons", "p_fisher", "p", **at),
            f"MMRM difference in {inst} change": n.q("primary__contrasts", "estimate", "f2", **mm),
            "MMRM p": n.q("primary__contrasts", "p", "p", **mm),
        })  # fmt: skip
        sig.append((n.value("response__comparisons", "p_fisher", **at) < 0.05,
                    n.value("primary__contrasts", "p", **mm) < 0.05))  # fmt: skip
    table = frame(rows)
    d = ctx.trial.derived
    near = d[(d["visit"] == visits[0]) & d["arm"].isin([ARM, ref]) & d["pct_improvement"].notna()]
    close = near[(near["pct_improvement"] - 0.5).abs() < 0.10]
    fig = (
        ggplot(near.assign(improvement=100 * near["pct_improvement"],
                           arm=near["arm"].map(ctx.label)), aes("improvement"))
        + geom_histogram(binwidth=10, boundary=50, fill="#0072B2", color="white")
        + geom_vline(xintercept=50, linetype="dashed", color="#D55E00")
        + facet_wrap("arm")
        + labs(x=f"percent improvement in {inst} at {ctx.visit(visits[0])}", y="patients",
               title="Responders are those right of the dashed line")
        + theme_minimal(base_size=10)
        + theme(figure_size=(8, 3.2))
    )  # fmt: skip
    first, last = dict(arm=ARM, visit=visits[0]), dict(arm=ARM, visit=visits[-1])
    # the MMRM of ARM at the first key visit in the report's confirmatory family
    family_at = dict(analysis_id=PRIMARY, **first)
    tasks = [
        Task(
            question=M(
                "The table compares {arm} with {ref} twice, with the report's numbers: as a "
                "response rate (responder or not; {t_resp}) and with the mixed model for repeated "
                "measures (MMRM) of the change in {inst} ({t_mmrm}), which uses every assessment "
                "of every patient with a baseline. Where do the two analyses agree about "
                "significance, and where not?"
            ).format(
                arm=ctx.label(ARM),
                ref=ctx.label(ref),
                inst=inst,
                t_resp=n.tlf("response-comparisons"),
                t_mmrm=n.tlf("primary-contrasts"),
            ),  # fmt: skip
            table=table,
            answer=M(
                "At {v1} the response comparison gives Fisher {rp1} and the MMRM {mp1}; at {v2} the "
                "response comparison gives {rp2} and the MMRM {mp2}. {verdict} These are nominal "
                "p-values. The report tests its confirmatory family ({family}) by a pre-specified "
                "multiplicity procedure (method: {method}); after its adjustment the MMRM at {v1} "
                "has adjusted p {adj}: {adj_verdict}."
            ).format(
                v1=ctx.visit(visits[0]),
                v2=ctx.visit(visits[-1]),
                rp1=n.q("response__comparisons", "p_fisher", "p_text", fit=fit, **first),
                mp1=n.q("primary__contrasts", "p", "p_text", fit=fit, **first),
                rp2=n.q("response__comparisons", "p_fisher", "p_text", fit=fit, **last),
                mp2=n.q("primary__contrasts", "p", "p_text", fit=fit, **last),
                verdict=(
                    "They differ in significance at least once."
                    if any(a != b for a, b in sig)
                    else "They agree about significance here, but the strength of evidence differs."
                ),
                family=n.tlf("multiplicity"),
                method=n.q("multiplicity", "method", "text", **family_at),
                adj=n.q("multiplicity", "p_adjusted", "p", **family_at),
                adj_verdict="significant"
                if n.value("multiplicity", "rejected", **family_at)
                else "not significant",
            ),  # fmt: skip
        ),
        Task(
            question=(
                "Give three reasons why a dichotomised outcome and a model of the continuous score "
                "can disagree. Use the histogram: what happens to a patient who improves by 48% and "
                "one who improves by 52%?"
            ),
            figure=fig,
            answer=(
                "1. Dichotomising throws information away: 48% and 52% improvement count as "
                f"opposite outcomes, while 52% and 100% count the same. Here {len(close)} of "
                f"{len(near)} patients at {ctx.visit(visits[0])} are within 10 points of the 50% "
                "threshold, so a few patients moving across it change the response rate a lot; the "
                "MMRM sees only small changes in score.\n\n"
                "2. The analysed patients differ: the response comparison uses those assessed at "
                "that visit; the MMRM uses every patient with a baseline and a later score and, "
                "under missing at random, lets earlier scores inform the missing ones.\n\n"
                "3. The MMRM adjusts for baseline severity and models the covariance between "
                "visits; a Fisher test of two proportions does neither. Power differs: a "
                "continuous analysis usually needs fewer patients for the same effect (worksheet 4)."
            ),
        ),
        Task(
            question="Which analysis would you pre-specify as primary for a trial like this, and why?",
            answer=(
                "The MMRM (or another likelihood-based analysis of the continuous score) is the "
                "usual primary analysis, and the report's analysis plan makes it primary: it uses all "
                "data, is efficient, and is valid under missing at random. Response rates are easier "
                "to communicate and belong as key secondary outcomes, with the threshold, the "
                "missing-data rule and any covariate adjustment stated in advance. Whatever is "
                "chosen must be chosen before seeing the data."
            ),
        ),
    ]
    return Worksheet(2, "response_vs_mixed_model", "Why the response comparison and the mixed model can disagree",
                     "See what dichotomising an outcome and handling missing data do to a trial's conclusion.", tasks,
                     sources=["Altman DG, Royston P. The cost of dichotomising continuous variables. BMJ 2006;332:1080.",
                              "Mallinckrodt CH et al. Recommendations for the primary analysis of continuous endpoints "
                              "in longitudinal clinical trials. Drug Inf J 2008;42:303-319."],
                     data_note=ctx.data_note,
                     objectives=["compare a responder analysis with a mixed model of the same trial;",
                                 "explain what dichotomising a continuous outcome costs;",
                                 "say how multiplicity and the missing-data rule enter a conclusion;",
                                 "choose and justify a primary analysis before seeing the data."],
                     level="intermediate: a course in medical statistics or trial methodology",
                     minutes=45)  # fmt: skip
