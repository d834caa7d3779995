"""Worksheet 5: how the missing-data rule changes the conclusion."""

from __future__ import annotations

import pandas as pd
from common import Context, p_text, pct

from ipt_outcomes.estimands.mvn import impute_mvn, mi_contrast, tipping_point, wide_scores
from ipt_outcomes.report.figures import tipping_point_plot
from ipt_outcomes.stats.response import MISSING_RULES, binary_outcomes, compare_with_reference
from ipt_outcomes.teaching import Task, Worksheet

ARM, VISIT = "PeGT", 12.0
MID = 3.0  # minimal clinically important HAM-D difference used by NICE (CG90, 2009)
ALPHA = 0.05


def _reading(significant: bool, flips, arm: str) -> str:
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
        f"({MID:g} points, NICE). A reader should not claim a 12-month benefit from these data."
    )


def build(ctx: Context) -> Worksheet:
    ref = ctx.reference
    rows, rd_values = [], []
    for rule in MISSING_RULES:
        out = binary_outcomes(ctx.scores, rule, visits=[VISIT])
        c = compare_with_reference(out, ref, arms=[ARM, ref], visits=[VISIT]).iloc[0]
        rd_values.append(float(c["risk_difference"]))
        rows.append({"rule": rule, f"{ARM} responders": f"{int(c['events'])}/{int(c['n'])}",
                     f"{ref} responders": f"{int(c['events_reference'])}/{int(c['n_reference'])}",
                     "risk difference": pct(c["risk_difference"]), "p (Fisher)": round(float(c["p_fisher"]), 3)})  # fmt: skip
    rules = pd.DataFrame(rows)
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
    spread = 100 * (max(rd_values) - min(rd_values))
    given = pd.DataFrame({"rule": ["observed", "nri", "locf"],
                          "what it does": ["analyse only patients assessed at 12 months",
                                           "count every missing 12-month assessment as non-response",
                                           "carry each patient's last score forward (baseline if nothing later)"]})  # fmt: skip
    tasks = [
        Task(
            question=(
                f"{n_missing} of {n_arm} {ARM} patients have no 12-month HAM-D. Three simple rules handle this "
                "differently. Before looking at the results: which rule do you expect to favour which arm?"
            ),
            table=given,
            answer=(
                f"Non-responder imputation penalises the arm with more dropout (here {more_missing}: "
                f"{100 * share[ARM]:.0f}% of {ARM} and {100 * share[ref]:.0f}% of {ref} missing at 12 months); "
                "last observation carried forward freezes patients at an earlier, usually worse, score and so "
                "understates improvement; the observed-case analysis assumes those lost are like those who "
                "stayed. None is a principled model of why data are missing.\n\n"
                f"Here the risk difference is {rules.iloc[0]['risk difference']} with observed cases, "
                f"{rules.iloc[1]['risk difference']} with non-responder imputation and "
                f"{rules.iloc[2]['risk difference']} with LOCF: the rule alone moves the estimate by "
                f"{spread:.1f} percentage points."
            ),
            answer_table=rules,
        ),
        Task(
            question=(
                "Multiple imputation under 'missing at random' fills each missing score many times from a model "
                "of the scores observed before and after, and pools the results (Rubin's rules). What does it "
                f"give for the {ARM} - {ref} difference in HAM-D change at 12 months?"
            ),
            answer=(
                f"With {int(mi['m'])} imputations: {mi['estimate']:.2f} HAM-D points (95% CI {mi['ci_low']:.2f} to "
                f"{mi['ci_high']:.2f}), {p_text(mi['p'])}, Barnard-Rubin df {mi['df']:.1f}; the fraction of "
                f"missing information is {mi['fmi']:.2f}, i.e. about {100 * mi['fmi']:.0f}% of the information "
                "about this difference is lost to missing data."
            ),
        ),
        Task(
            question=(
                "Missing at random cannot be checked from the data. A tipping-point analysis shifts the imputed "
                f"12-month scores of {ARM} by delta points (positive: those lost did worse than MAR predicts) "
                "and asks how large delta must be to change the conclusion. Read the figure: where is the "
                "tipping point, and is such a shift clinically plausible?"
            ),
            figure=tipping_point_plot(tip),
            answer=(
                (
                    "Tipping point(s): "
                    + "; ".join(
                        f"delta {r['delta']:+g} ({p_text(r['p'])})" for _, r in flips.iterrows()
                    )
                    + ". "
                )
                if len(flips)
                else f"No tipping point within delta {deltas[0]:g} to {deltas[-1]:+g}. "
            )  # fmt: skip
            + _reading(mi["p"] < ALPHA, flips, ARM),
            answer_table=tip[["delta", "estimate", "ci_low", "ci_high", "p", "significant"]].round(
                3
            ),
        ),
    ]
    return Worksheet(5, "missing_data", "How the missing-data rule changes the conclusion",
                     "Compare simple missing-data rules, multiple imputation and a tipping-point analysis.", tasks,
                     sources=["Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley, 1987.",
                              "Barnard J, Rubin DB. Small-sample degrees of freedom with multiple imputation. "
                              "Biometrika 1999;86:948-955.",
                              "NICE. Depression in adults (CG90), 2009: HAM-D difference of 3 points as clinically important.",
                              "Ratitch B, O'Kelly M, Tosiello R. Missing data in clinical trials: from clinical "
                              "assumptions to statistical analysis using pattern mixture models. Pharm Stat 2013;12:337-347."])  # fmt: skip
