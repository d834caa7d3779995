"""Worksheet 5: how the missing-data rule changes the conclusion."""

from __future__ import annotations

import pandas as pd
from common import Context
from markupsafe import Markup as M

from ipt_outcomes.estimands.mvn import impute_mvn, mi_contrast, wide_scores
from ipt_outcomes.format import fmt
from ipt_outcomes.report.figures import tipping_point_plot
from ipt_outcomes.stats.response import MISSING_RULES, binary_outcomes
from ipt_outcomes.teaching import Task, Worksheet, frame

ARM, VISIT = "PeGT", 12.0
MID = 3.0  # minimal clinically important HAM-D difference used by NICE (CG90, 2009)
ALPHA = 0.05


def _reading(significant: bool, delta: float | None, direction: str, arm: str, when: str) -> str:
    """How to read the report's tipping point, in the direction the MAR result needs."""
    if delta is None:
        return (
            "The conclusion does not change anywhere on the grid: it does not rest on the MAR "
            "assumption within these shifts."
        )
    size = abs(delta)
    small = size < MID
    if significant:
        return (
            f"The MAR conclusion holds unless the {arm} patients lost did at least {size:.2f} HAM-D "
            f"points worse than MAR predicts; {'less' if small else 'more'} than the minimal "
            f"important difference ({MID:g} points, NICE), so the result is "
            f"{'fragile' if small else 'robust'} to this departure from MAR."
        )
    return (
        f"Under MAR the difference is not significant. It becomes significant if the {arm} "
        f"patients lost did {size:.2f} HAM-D points {direction} than MAR predicts"
        + (
            f": a shift well below the minimal important difference ({MID:g} points, NICE). "
            "So neither 'no difference' nor 'a benefit' is secure: a small, untestable "
            f"assumption about the patients who left decides between them. A reader should not "
            f"claim a benefit at {when}, nor that the trial showed there is none."
            if small
            else f", more than the minimal important difference ({MID:g} points, NICE): only an "
            f"implausibly optimistic assumption about those who left would give a benefit at {when}."
        )
    )


def build(ctx: Context) -> Worksheet:
    ref, n = ctx.reference, ctx.n
    when = ctx.visit(VISIT)
    rows, rd_values = [], []
    for rule in MISSING_RULES:
        out = binary_outcomes(ctx.scores, rule, visits=[VISIT])
        counts = out[out["arm"].isin([ARM, ref])].groupby("arm")["responder"].agg(["sum", "size"])
        at = dict(rule=rule, arm=ARM)
        rd_values.append(float(n.value("sensitivity", "estimate", **at)))
        rows.append({"rule": n.q("sensitivity", "rule_label", "text", **at),
                     f"{ARM} responders": f"{counts.loc[ARM, 'sum']:.0f}/{counts.loc[ARM, 'size']:.0f}",
                     f"{ref} responders": f"{counts.loc[ref, 'sum']:.0f}/{counts.loc[ref, 'size']:.0f}",
                     "risk difference": n.q("sensitivity", "estimate", "pp", **at),
                     "interval": M("{} to {}").format(n.q("sensitivity", "ci_low", "pp", **at),
                                                      n.q("sensitivity", "ci_high", "pp", **at)),
                     "Fisher p": n.q("sensitivity", "p", "p", **at)})  # fmt: skip
    rules = frame(rows)
    wide = wide_scores(ctx.scores)
    wide = wide[wide["arm"].isin([ARM, ref])]
    imputed = impute_mvn(wide, m=ctx.imputations, seed=ctx.seed, workers=ctx.workers)
    mi = mi_contrast(imputed, ARM, ref, VISIT).iloc[0]
    # the tipping point is the report's (estimand_tables: reference-based MI under MAR with
    # conditional mean imputation, every observed arm): quoted, not recomputed
    rep = ctx.report
    tip = rep["tipping_point"]
    tip = tip[(tip["arm"].astype(str) == ARM) & (tip["visit"].astype(float) == VISIT)].reset_index(
        drop=True
    )
    exact = rep["tipping_point_exact"]
    exact_rows = exact.index[
        (exact["arm"].astype(str) == ARM) & (exact["visit"].astype(float) == VISIT)
    ]
    mar_row = n.row("mi_contrasts", analysis="Multiple imputation (MAR)", arm=ARM, visit=VISIT)
    mar_p = float(rep["mi_contrasts"].iloc[mar_row]["p"])
    n_missing = int(wide.loc[wide["arm"] == ARM, VISIT].isna().sum())
    n_arm = int((wide["arm"] == ARM).sum())
    share = {a: float(wide.loc[wide["arm"] == a, VISIT].isna().mean()) for a in (ARM, ref)}
    more_missing = max(share, key=share.get)
    spread = max(rd_values) - min(rd_values)
    given = frame({"rule": [n.q("sensitivity", "rule_label", "text", rule=r, arm=ARM) for r in MISSING_RULES],
                          "what it does": [f"analyse only patients assessed at {when}",
                                           f"count every missing {when} assessment as non-response",
                                           "carry each patient's last score forward (baseline if nothing later)"]})  # fmt: skip
    mm = dict(arm=ARM, visit=VISIT, fit="observed arms")
    n_observed_arms = sum(not ctx.design.arm(a).modelled for a in ctx.trial.arms)
    compare = frame({
        "analysis": [f"multiple imputation under MAR, {ARM} and {ref} only, ANCOVA at {when} "
                     "(this worksheet)",
                     M("MMRM of every visit, observed arms ({})").format(n.tlf("contrasts"))],
        "difference in change": [fmt(mi["estimate"], "f2"), n.q("mmrm_contrasts", "estimate", "f2", **mm)],
        "interval": [f"{fmt(mi['ci_low'], 'f2')} to {fmt(mi['ci_high'], 'f2')}",
                     M("{} to {}").format(n.q("mmrm_contrasts", "ci_low", "f2", **mm),
                                          n.q("mmrm_contrasts", "ci_high", "f2", **mm))],
        "p": [fmt(mi["p"], "p"), n.q("mmrm_contrasts", "p", "p", **mm)],
    })  # fmt: skip
    tasks = [
        Task(
            question=(
                f"{n_missing} of {n_arm} {ARM} patients have no HAM-D at {when}. Three simple rules "
                "handle this differently. Before looking at the results: which rule do you expect "
                "to favour which arm?"
            ),
            table=given,
            answer=M(
                "Non-responder imputation penalises the arm with more dropout (here {more}: {s1} of "
                "{arm} and {s0} of {ref} missing at {when}); last observation carried forward "
                "freezes patients at an earlier, usually worse, score and so understates "
                "improvement; the observed-case analysis assumes those lost are like those who "
                "stayed. None is a principled model of why data are missing.\n\nThe report's "
                "{table} gives the risk difference under each rule: {r0} with observed cases, {r1} "
                "with non-responder imputation and {r2} with last observation carried forward: the "
                "rule alone moves the estimate by {spread}."
            ).format(
                more=more_missing,
                s1=fmt(share[ARM], "pct"),
                s0=fmt(share[ref], "pct"),
                arm=ARM,
                ref=ref,
                when=when,
                table=n.tlf("sensitivity"),
                r0=n.q("sensitivity", "estimate", "pp", rule="observed", arm=ARM),
                r1=n.q("sensitivity", "estimate", "pp", rule="nri", arm=ARM),
                r2=n.q("sensitivity", "estimate", "pp", rule="locf", arm=ARM),
                spread=fmt(spread, "pp"),
            ),  # fmt: skip
            answer_table=rules,
        ),
        Task(
            question=(
                "Multiple imputation under 'missing at random' fills each missing score many times "
                "from a model of the scores observed before and after, and pools the results "
                f"(Rubin's rules). What does it give for the {ARM} - {ref} difference in HAM-D "
                f"change at {when}, and how does it compare with the report's MMRM?"
            ),
            answer=M(
                "With {m} imputations: {est} HAM-D points (95% CI {lo} to {hi}), {p}, Barnard-Rubin "
                "df {df}; the fraction of missing information is {fmi}: {fmi_pct} of the "
                "information about this difference is lost to missing data.\n\nThis is a "
                "deliberately simpler analysis than the report's: it imputes within {arm} and {ref} "
                "only and analyses the {when} scores alone (ANCOVA on baseline), whereas the "
                "report's MMRM ({table}) models every visit of the {k} observed arms at once: "
                "{mm_est} ({mm_lo} to {mm_hi}). Both assume missing at random; they differ because "
                "the models differ (two arms or {k}, one visit or all, a covariance per arm or "
                "shared) and because imputation adds Monte-Carlo error. The table sets them side "
                "by side."
            ).format(
                m=int(mi["m"]),
                est=fmt(mi["estimate"], "f2"),
                lo=fmt(mi["ci_low"], "f2"),
                hi=fmt(mi["ci_high"], "f2"),
                p=fmt(mi["p"], "p_text"),
                df=fmt(mi["df"], "f1"),
                fmi=fmt(mi["fmi"], "f2"),
                fmi_pct=fmt(mi["fmi"], "pct"),
                arm=ARM,
                ref=ref,
                when=when,
                table=n.tlf("contrasts"),
                k=n_observed_arms,
                mm_est=n.q("mmrm_contrasts", "estimate", "f2", **mm),
                mm_lo=n.q("mmrm_contrasts", "ci_low", "f2", **mm),
                mm_hi=n.q("mmrm_contrasts", "ci_high", "f2", **mm),
            ),  # fmt: skip
            answer_table=compare,
        ),
        Task(
            question=M(
                "Missing at random cannot be checked from the data. The report's tipping-point "
                "analysis ({fig}) shifts the imputed {when} scores of {arm} by delta points "
                "(positive: those lost did worse than MAR predicts) and asks how large delta must "
                "be to change the conclusion. It imputes under MAR as the report's multiple "
                "imputation does ({table}: {est}, {lo} to {hi}, {p}). Read the figure: where is "
                "the tipping point, and is such a shift clinically plausible?"
            ).format(
                fig=n.tlf("tipping_point"),
                when=when,
                arm=ARM,
                table=n.tlf("mi_contrasts"),
                est=n.q(
                    "mi_contrasts",
                    "estimate",
                    "f2",
                    analysis="Multiple imputation (MAR)",
                    arm=ARM,
                    visit=VISIT,
                ),
                lo=n.q(
                    "mi_contrasts",
                    "ci_low",
                    "f2",
                    analysis="Multiple imputation (MAR)",
                    arm=ARM,
                    visit=VISIT,
                ),
                hi=n.q(
                    "mi_contrasts",
                    "ci_high",
                    "f2",
                    analysis="Multiple imputation (MAR)",
                    arm=ARM,
                    visit=VISIT,
                ),
                p=n.q(
                    "mi_contrasts",
                    "p",
                    "p_text",
                    analysis="Multiple imputation (MAR)",
                    arm=ARM,
                    visit=VISIT,
                ),
            ),
            figure=tipping_point_plot(tip),
            answer=(
                M(
                    "The report's tipping point ({table}): delta = {d} ({p}, the shift at which p "
                    "crosses 0.05). "
                ).format(
                    table=n.tlf("tipping_point_exact"),
                    d=n.q("tipping_point_exact", "delta", "f2", arm=ARM, visit=VISIT),
                    p=n.q("tipping_point_exact", "p", "p_text", arm=ARM, visit=VISIT),
                )
                if len(exact_rows)
                else M("No tipping point within delta {} to {}. ").format(
                    fmt(tip["delta"].min(), "f1"), fmt(tip["delta"].max(), "f1")
                )
            )
            + _reading(
                mar_p < ALPHA,
                float(exact.loc[exact_rows[0], "delta"]) if len(exact_rows) else None,
                str(exact.loc[exact_rows[0], "direction"]) if len(exact_rows) else "",
                ARM,
                when,
            )
            + " (The multiple imputation of task 2 is a simpler, two-arm analysis for "
            "illustration; the tipping point is the report's, so that the worksheet and the "
            "report draw one conclusion.)",
            answer_table=pd.DataFrame(
                {
                    "delta": [f"{x:+g}" for x in tip["delta"]],
                    "difference in change": [fmt(x, "f2") for x in tip["estimate"]],
                    "interval": [
                        f"{fmt(a, 'f2')} to {fmt(b, 'f2')}"
                        for a, b in zip(tip["ci_low"], tip["ci_high"], strict=True)
                    ],
                    "p": [fmt(x, "p") for x in tip["p"]],
                    "significant": tip["significant"].astype(str) == "True",
                }
            ),  # fmt: skip
        ),
    ]
    return Worksheet(5, "missing_data", "How the missing-data rule changes the conclusion",
                     "Compare simple missing-data rules, multiple imputation and a tipping-point analysis.", tasks,
                     objectives=["say which way observed-case, non-responder and last-observation rules bias a comparison;",
                                 "explain what multiple imputation under missing at random assumes and what Rubin's rules pool;",
                                 "read a tipping-point analysis and judge whether the shift that changes the conclusion is plausible."],
                     level="advanced: a course in trial methodology or applied statistics (MSc level)",
                     minutes=60,
                     sources=["Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley, 1987.",
                              "Barnard J, Rubin DB. Small-sample degrees of freedom with multiple imputation. "
                              "Biometrika 1999;86:948-955.",
                              "NICE. Depression in adults (CG90), 2009: HAM-D difference of 3 points as clinically important.",
                              "Ratitch B, O'Kelly M, Tosiello R. Missing data in clinical trials: from clinical "
                              "assumptions to statistical analysis using pattern mixture models. Pharm Stat 2013;12:337-347."],
                     data_note=ctx.data_note)  # fmt: skip
