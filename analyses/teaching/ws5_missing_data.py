"""Worksheet 5: how the missing-data rule changes the conclusion."""

from __future__ import annotations

import pandas as pd
from common import Context
from markupsafe import Markup as M

from ipt_outcomes.estimands.mvn import impute_mvn, mi_contrast, wide_scores
from ipt_outcomes.format import fmt
from ipt_outcomes.report.figures import tipping_point_plot
from ipt_outcomes.stats.response import MISSING_RULES
from ipt_outcomes.teaching import Task, Worksheet, frame

ARM, VISIT = "PeGT", 12.0
MID = 3.0  # minimal clinically important HAM-D difference used by NICE (CG90, 2009)
ALPHA = 0.05
PRIMARY, KEY = "primary", "key-secondary"  # the plan's MMRM and baseline-adjusted response
RULE_NAMES = {"observed": "observed cases", "nri": "non-responder imputation",
              "locf": "last observation carried forward"}  # fmt: skip
RULE_DOES = {"observed": "analyse only patients assessed at {when}",
             "nri": "count every missing {when} assessment as non-response",
             "locf": "carry each patient's last score forward"}  # fmt: skip


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
    # the key secondary analysis (baseline-adjusted response, its own missing-data rule) and
    # the plan's sensitivity analyses of it under the other rules: one report table each
    own = ctx.endpoint(KEY).missing or "observed"
    ids = {r: KEY if r == own else ctx.sensitivity_id(KEY, "missing-rule", missing=r)
           for r in MISSING_RULES}  # fmt: skip
    eff = dict(arm=ARM, visit=VISIT, contrast="risk_difference", fit="observed")

    def count(rule, arm):  # responders / analysed in the report's rates table of the rule
        at = dict(arm=arm, visit=VISIT, fit="observed")
        return M("{}/{}").format(n.q(f"{ids[rule]}__rates", "responders", "int", **at),
                                 n.q(f"{ids[rule]}__rates", "n", "int", **at))  # fmt: skip

    rows, rd_values = [], []
    for rule, sid in ids.items():
        rd_values.append(float(n.value(f"{sid}__effects", "estimate", **eff)))
        rows.append({"rule": RULE_NAMES[rule], f"{ARM} responders": count(rule, ARM),
                     f"{ref} responders": count(rule, ref),
                     "adjusted risk difference": n.q(f"{sid}__effects", "estimate", "pp", **eff),
                     "interval": M("{} to {}").format(n.q(f"{sid}__effects", "ci_low", "pp", **eff),
                                                      n.q(f"{sid}__effects", "ci_high", "pp", **eff)),
                     "p": n.q(f"{sid}__effects", "p", "p", **eff),
                     "report table": n.tlf(f"{sid}-effects")})  # fmt: skip
    rules = frame(rows)
    # who is missing at VISIT among those the report analyses (its full analysis set): the
    # rates of the observed-case rule count those assessed, those of NRI everyone analysed
    assessed, everyone = ids["observed"], ids["nri"]

    def analysed(rule_id, arm):
        return int(n.value(f"{rule_id}__rates", "n", arm=arm, visit=VISIT, fit="observed"))

    share = {a: 1 - analysed(assessed, a) / analysed(everyone, a) for a in (ARM, ref)}
    lost = (
        f"{fmt(share[ARM], 'pct')} of {ARM} and {fmt(share[ref], 'pct')} of {ref} missing at {when}"
    )
    if abs(share[ARM] - share[ref]) < 0.02:  # as good as the same share lost in both arms
        dropout = (f"here the arms lose almost the same share, {lost}, so it pulls both "
                   "response rates down, the higher one the more")  # fmt: skip
    else:
        dropout = f"here {max(share, key=share.get)}: {lost}"
    others = [r for r in ids if r != own]
    n_arm = n.q(f"{everyone}__rates", "n", "int", arm=ARM, visit=VISIT, fit="observed")
    n_missing = analysed(everyone, ARM) - analysed(assessed, ARM)
    spread = max(rd_values) - min(rd_values)
    given = frame({"rule": [RULE_NAMES[r] for r in ids],
                   "what it does": [RULE_DOES[r].format(when=when) for r in ids]})  # fmt: skip
    # this worksheet's own multiple imputation: the primary analysis's patients (its
    # population), ARM and the reference only
    wide = wide_scores(ctx.analysed_observed_arms(PRIMARY))
    wide = wide[wide["arm"].isin([ARM, ref])]
    imputed = impute_mvn(wide, m=ctx.imputations, seed=ctx.seed, workers=ctx.workers)
    mi = mi_contrast(imputed, ARM, ref, VISIT).iloc[0]
    # the tipping point is the report's (the plan's tipping-point sensitivity analysis of the
    # primary endpoint: MAR imputation, shifted): quoted, not recomputed
    rep = ctx.report
    tp = ctx.sensitivity_id(PRIMARY, "tipping-point", strategy="MAR")
    tip = rep[f"{tp}__grid"]
    tip = tip[(tip["arm"].astype(str) == ARM) & (tip["visit"].astype(float) == VISIT)].reset_index(
        drop=True
    )
    exact = rep[f"{tp}__exact"]
    exact_rows = exact.index[
        (exact["arm"].astype(str) == ARM) & (exact["visit"].astype(float) == VISIT)
    ]
    mar = dict(arm=ARM, visit=VISIT)  # the tipping-point analysis at delta = 0: MAR
    mar_p = float(n.value(f"{tp}__contrasts", "p", **mar))
    jr, cir = (ctx.sensitivity_id(PRIMARY, "mi", strategy=s) for s in ("JR", "CIR"))
    mm = dict(arm=ARM, visit=VISIT, fit="observed")
    n_observed_arms = sum(not ctx.design.arm(a).modelled for a in ctx.trial.arms)
    compare = frame({
        "analysis": [f"multiple imputation under MAR, {ARM} and {ref} only, ANCOVA at {when} "
                     "(this worksheet)",
                     M("MMRM of every visit, observed arms ({})").format(n.tlf("primary-contrasts"))],
        "difference in change": [fmt(mi["estimate"], "f2"), n.q("primary__contrasts", "estimate", "f2", **mm)],
        "interval": [f"{fmt(mi['ci_low'], 'f2')} to {fmt(mi['ci_high'], 'f2')}",
                     M("{} to {}").format(n.q("primary__contrasts", "ci_low", "f2", **mm),
                                          n.q("primary__contrasts", "ci_high", "f2", **mm))],
        "p": [fmt(mi["p"], "p"), n.q("primary__contrasts", "p", "p", **mm)],
    })  # fmt: skip
    tasks = [
        Task(
            question=M(
                "{k} of the {n} {arm} patients the report analyses (its full analysis set) have no "
                "HAM-D at {when}. Three simple rules handle this differently. Before looking at the "
                "results: which rule do you expect to favour which arm?"
            ).format(k=n_missing, n=n_arm, arm=ARM, when=when),
            table=given,
            answer=M(
                "Non-responder imputation counts every patient lost as a failure, so it penalises "
                "the arm with more dropout ({dropout}); last observation carried forward "
                "freezes patients at an earlier, usually worse, score and so understates "
                "improvement; the observed-case analysis assumes those lost are like those who "
                "stayed. None is a principled model of why data are missing.\n\nThe report's key "
                "secondary analysis, the risk difference in response adjusted for baseline HAM-D "
                "({t_key}), uses {own}; its sensitivity analyses repeat it with {o1} ({t1}) and "
                "{o2} ({t2}). The adjusted risk difference is {r0} with observed cases, {r1} with "
                "non-responder imputation and {r2} with last observation carried forward: the "
                "rule alone moves the estimate by {spread}. (Adjusting for baseline does not "
                "change what each rule does: it decides who counts as a responder before any "
                "model is fitted.)"
            ).format(
                dropout=dropout,
                own=RULE_NAMES[own],
                t_key=n.tlf(f"{KEY}-effects"),
                o1=RULE_NAMES[others[0]],
                t1=n.tlf(f"{ids[others[0]]}-effects"),
                o2=RULE_NAMES[others[1]],
                t2=n.tlf(f"{ids[others[1]]}-effects"),
                r0=n.q(f"{ids['observed']}__effects", "estimate", "pp", **eff),
                r1=n.q(f"{ids['nri']}__effects", "estimate", "pp", **eff),
                r2=n.q(f"{ids['locf']}__effects", "estimate", "pp", **eff),
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
                "only (the patients of the report's full analysis set) and analyses the {when} scores alone (ANCOVA on baseline), whereas the "
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
                table=n.tlf("primary-contrasts"),
                k=n_observed_arms,
                mm_est=n.q("primary__contrasts", "estimate", "f2", **mm),
                mm_lo=n.q("primary__contrasts", "ci_low", "f2", **mm),
                mm_hi=n.q("primary__contrasts", "ci_high", "f2", **mm),
            ),  # fmt: skip
            answer_table=compare,
        ),
        Task(
            question=M(
                "Missing at random cannot be checked from the data. The report's tipping-point "
                "analysis ({fig}) imputes the missing scores under MAR ({arm} against {ref} at "
                "{when}: {est}, {lo} to {hi}, {p}), then shifts the imputed {when} scores of {arm} "
                "by delta points (positive: those lost did worse than MAR predicts) and asks how "
                "large delta must be to change the conclusion. Read the figure: where is the "
                "tipping point, and is such a shift clinically plausible?"
            ).format(
                fig=n.tlf(f"{tp}-figure"),
                when=when,
                arm=ARM,
                ref=ref,
                est=n.q(f"{tp}__contrasts", "estimate", "f2", **mar),
                lo=n.q(f"{tp}__contrasts", "ci_low", "f2", **mar),
                hi=n.q(f"{tp}__contrasts", "ci_high", "f2", **mar),
                p=n.q(f"{tp}__contrasts", "p", "p_text", **mar),
            ),
            figure=tipping_point_plot(tip),
            answer=(
                M(
                    "The report's tipping point ({table}): delta = {d} ({p}, the shift at which p "
                    "crosses 0.05). "
                ).format(
                    table=n.tlf(f"{tp}-exact"),
                    d=n.q(f"{tp}__exact", "delta", "f2", arm=ARM, visit=VISIT),
                    p=n.q(f"{tp}__exact", "p", "p_text", arm=ARM, visit=VISIT),
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
            + M(
                "\n\nThe report's other sensitivity analyses of the primary endpoint assume two "
                "specific departures from MAR for the patients lost: that from dropout on they "
                "followed the reference arm's mean (jump to reference, {jr_t}: {jr_est}, {jr_p}) or "
                "its changes (copy increments in reference, {cir_t}: {cir_est}, {cir_p})."
            ).format(
                jr_t=n.tlf(f"{jr}-contrasts"),
                jr_est=n.q(f"{jr}__contrasts", "estimate", "f2", **mar),
                jr_p=n.q(f"{jr}__contrasts", "p", "p_text", **mar),
                cir_t=n.tlf(f"{cir}-contrasts"),
                cir_est=n.q(f"{cir}__contrasts", "estimate", "f2", **mar),
                cir_p=n.q(f"{cir}__contrasts", "p", "p_text", **mar),
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
