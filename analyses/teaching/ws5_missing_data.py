"""Worksheet 5: how the missing-data rule changes the conclusion."""

from __future__ import annotations

import pandas as pd
from common import Context
from markupsafe import Markup as M

from ipt_outcomes.estimands.mvn import impute_mvn, mi_contrast, tipping_point, wide_scores
from ipt_outcomes.format import fmt
from ipt_outcomes.report.figures import tipping_point_plot
from ipt_outcomes.stats.response import MISSING_RULES, binary_outcomes
from ipt_outcomes.teaching import Task, Worksheet, frame

ARM, VISIT = "PeGT", 12.0
MID = 3.0  # minimal clinically important HAM-D difference used by NICE (CG90, 2009)
ALPHA = 0.05


def _reading(significant: bool, flips, arm: str, when: str) -> str:
    """How to read the tipping point, in the direction the MAR result needs."""
    if significant:
        worse = flips[flips["delta"] > 0]
        if worse.empty:
            return "The MAR conclusion holds over the whole grid: it does not rest on the MAR assumption."
        d = float(worse["delta"].iloc[0])
        return (
            f"The MAR conclusion holds unless the {arm} patients lost did at least {d:g} HAM-D points worse "
            f"than MAR predicts; {'less' if d < MID else 'more'} than the minimal important difference "
            f"({MID:g} points, NICE), so it is {'fragile' if d < MID else 'robust'} to this departure from MAR."
        )
    better = flips[flips["delta"] < 0]
    if better.empty:
        return "No plausible departure from MAR in the grid makes the result significant."
    d = -float(better["delta"].iloc[-1])
    return (
        f"The result is not significant under MAR; it becomes significant only if the {arm} patients lost did "
        f"at least {d:g} HAM-D points better than MAR predicts - an optimistic assumption about patients "
        f"who left therapy, {'smaller' if d < MID else 'no smaller'} than the minimal important difference "
        f"({MID:g} points, NICE). A reader should not claim a benefit at {when} from these data."
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
    deltas = [x / 2 for x in range(-16, 17)]
    tip = tipping_point(wide, imputed, ARM, ref, VISIT, deltas)
    flips = tip[tip["tipping_point"]]
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
            question=(
                "Missing at random cannot be checked from the data. A tipping-point analysis shifts "
                f"the imputed {when} scores of {ARM} by delta points (positive: those lost did worse "
                "than MAR predicts) and asks how large delta must be to change the conclusion. Read "
                "the figure: where is the tipping point, and is such a shift clinically plausible?"
            ),
            figure=tipping_point_plot(tip),
            answer=(
                (
                    "Tipping point(s): "
                    + "; ".join(
                        f"delta {r['delta']:+g} ({fmt(r['p'], 'p_text')})"
                        for _, r in flips.iterrows()
                    )
                    + ". "
                )
                if len(flips)
                else f"No tipping point within delta {deltas[0]:g} to {deltas[-1]:+g}. "
            )  # fmt: skip
            + _reading(mi["p"] < ALPHA, flips, ARM, when),
            answer_table=pd.DataFrame(
                {
                    "delta": [f"{x:+g}" for x in tip["delta"]],
                    "difference in change": [fmt(x, "f2") for x in tip["estimate"]],
                    "interval": [
                        f"{fmt(a, 'f2')} to {fmt(b, 'f2')}"
                        for a, b in zip(tip["ci_low"], tip["ci_high"], strict=True)
                    ],
                    "p": [fmt(x, "p") for x in tip["p"]],
                    "significant": tip["significant"].astype(bool),
                }
            ),  # fmt: skip
        ),
    ]
    return Worksheet(5, "missing_data", "How the missing-data rule changes the conclusion",
                     "Compare simple missing-data rules, multiple imputation and a tipping-point analysis.", tasks,
                     sources=["Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley, 1987.",
                              "Barnard J, Rubin DB. Small-sample degrees of freedom with multiple imputation. "
                              "Biometrika 1999;86:948-955.",
                              "NICE. Depression in adults (CG90), 2009: HAM-D difference of 3 points as clinically important.",
                              "Ratitch B, O'Kelly M, Tosiello R. Missing data in clinical trials: from clinical "
                              "assumptions to statistical analysis using pattern mixture models. Pharm Stat 2013;12:337-347."],
                     data_note=ctx.data_note)  # fmt: skip
