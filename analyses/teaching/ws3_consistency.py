"""Worksheet 3: checking the published numbers for consistency (GRIM) and fragility."""

from __future__ import annotations

import pandas as pd
from common import Context
from markupsafe import Markup as M

from ipt_outcomes.format import fmt
from ipt_outcomes.stats.appraisal import fragility_index, grim_mean, grim_table
from ipt_outcomes.teaching import Task, Worksheet, frame


def build(ctx: Context) -> Worksheet:
    ref = ctx.reference
    arms = [a for a in ("IPT", "PeGT", ref) if a in set(ctx.targets["arm"])]
    rows = []
    for arm in arms:
        randomised = int(ctx.published("randomised_n", arm))
        observed = int(ctx.published("observed_n", arm, 3))
        for visit in (3, 12):
            pct = ctx.published("response_percent", arm, visit)
            for label, n in (
                ("randomised", randomised),
                ("assessed at 3 months (secondary)", observed),
            ):
                g = grim_table(pct, [n]).iloc[0]
                rows.append({"arm": arm, "month": visit, "published %": f"{pct:.0f}%", "denominator": label, "n": n,
                             "possible?": bool(g["consistent"]), "nearest possible %": g["nearest_percent"],
                             "responders giving it": g["counts"]})  # fmt: skip
    grim = pd.DataFrame(rows)
    given = grim[["arm", "month", "published %", "denominator", "n"]]
    bad = grim[~grim["possible?"]]
    means = []
    for arm in arms:
        m = ctx.published("baseline_hamd_mean", arm, 0)
        n = int(ctx.published("randomised_n", arm))
        r = grim_mean(m, n, decimals=1)
        means.append({"arm": arm, "baseline HAM-D mean": m, "n": n, "possible?": r["consistent"],
                      "GRIM informative (n < 10)?": r["informative"]})  # fmt: skip
    means = pd.DataFrame(means)
    n = ctx.n
    at = dict(arm="PeGT", visit=3.0, fit="observed")

    def c(col, kind="int"):  # the report's 3-month comparison of PeGT with the reference
        return n.q("response__comparisons", col, kind, **at)

    counts = [int(n.value("response__comparisons", k, **at))
              for k in ("events", "n", "events_reference", "n_reference")]  # fmt: skip
    fi = fragility_index(*counts)
    frag_given = frame({"arm": [ctx.label("PeGT"), ctx.label(ref)],
                               "responders": [c("events"), c("events_reference")],
                               "assessed": [c("n"), c("n_reference")]})  # fmt: skip
    pv = ctx.report["published_vs_reproduced"]
    title = str(n.value("tlf", "title", name="published")).lower()  # the report's own title
    reproduced_word = "reproduc" in title
    calibrated = frame([{"arm": ctx.label(str(a)), "month": ctx.visit(float(v)),
                         "published %": n.q("published_vs_reproduced", "published_percent", "f0", arm=a, visit=v),
                         "synthetic trial, calibrated to it, %": n.q("published_vs_reproduced",
                                                                     "reproduced_percent", "f0", arm=a, visit=v),
                         "responders / assessed": M("{} / {}").format(
                             n.q("published_vs_reproduced", "responders", "int", arm=a, visit=v),
                             n.q("published_vs_reproduced", "n", "int", arm=a, visit=v))}
                        for a, v in zip(pv["arm"], pv["visit"].astype(float), strict=True)])  # fmt: skip
    n_ex = int(ctx.published("observed_n", "PeGT", 3))
    k_ex = int(ctx.published("response_percent", "PeGT", 3) / 100 * n_ex)
    tasks = [
        Task(
            question=(
                f"A percentage of whole patients can only take certain values: with {n_ex} patients, "
                f"{k_ex}/{n_ex} = {100 * k_ex / n_ex:.1f}% and {k_ex + 1}/{n_ex} = {100 * (k_ex + 1) / n_ex:.1f}% are "
                "possible, nothing in between. For every published response percentage, check whether it "
                "can be a whole number of responders out of each candidate denominator (GRIM test)."
            ),
            table=given,
            answer=(
                f"{len(bad)} of {len(grim)} combinations are impossible: "
                + "; ".join(
                    f"{r['arm']} {r['published %']} at month {r['month']} out of {r['n']} ({r['denominator']}; nearest possible {r['nearest possible %']:.0f}%)"
                    for _, r in bad.iterrows()
                )  # fmt: skip
                + ". So the percentage and that denominator cannot both describe the same patients: the "
                "percentages were computed on another set (e.g. those assessed at that visit), or a figure "
                "was mistyped. Either way a reader cannot rebuild the 2x2 table from the paper."
            ),
            answer_table=grim,
        ),
        Task(
            question=(
                "The GRIM test also applies to means of whole-number scores. Check the baseline HAM-D means "
                "(reported to one decimal) against the randomised numbers. What do you find, and why?"
            ),
            answer=(
                "Every mean is possible: with one decimal, GRIM can only detect an impossible mean when n is "
                "below 10, because with 10 or more patients the steps of 1/n are finer than the reported "
                "precision. A consistent result is not evidence that a number is right; only an inconsistent "
                "one is informative."
            ),
            answer_table=means,
        ),
        Task(
            question=(
                "Fragility index (Walsh et al. 2014): how many patients' outcomes would have to change to turn "
                "the 3-month PeGT vs TAU comparison from non-significant to significant (reverse fragility) "
                "or the other way round? Use the reconstructed counts (the report's, as in the table) and "
                "Fisher's exact test."
            ),
            table=frag_given,
            answer=M(
                "Fisher's exact test gives {p} (the report's {table}), so the comparison is {sig}. "
                "The {kind} index is {fi}: changing {fi} patient outcome(s) makes it {after} (p after "
                "the change {p_after}). Compare it with the number of patients lost to follow-up: "
                "when more patients are missing than the index, the conclusion hangs on how they "
                "would have done."
            ).format(
                p=c("p_fisher", "p_text"),
                table=n.tlf("response-comparisons"),
                sig="significant" if fi["significant"] else "not significant",
                kind=fi["kind"],
                fi=fi["fragility_index"],
                after="non-significant" if fi["significant"] else "significant",
                p_after=fmt(fi["p_after"], "p"),
            ),  # fmt: skip
        ),
        Task(
            question=M(
                'The report\'s {table} (titled "{title}") sets the published response rates beside '
                "those of the project's synthetic trial, which was calibrated to them: its "
                "generator chose, arm by arm, which patients respond so that each observed-case "
                "rate rounds to the published percentage (data/synthetic/README.md). Every rate "
                "agrees. Does this agreement show that the reconstruction is faithful to the real "
                "trial, or that the analysis code is right?{word}"
            ).format(
                table=n.tlf("published"),
                title=n.q("tlf", "title", "text", name="published"),
                word=' Is "reproduced" the right word?' if reproduced_word else "",
            ),
            table=calibrated,
            answer=(
                "No. The rates agree because the generator was made to produce them: a check "
                "that cannot fail tests nothing. Agreement with a calibration target shows only "
                "that the calibration worked"
                + (
                    '; calling the rates "reproduced" suggests an independent confirmation that '
                    'did not happen ("calibrated to" is the honest word)'
                    if reproduced_word
                    else '; that is why the report\'s title says "calibrated to": "reproduced" '
                    "would suggest an independent confirmation that did not happen"
                    if "calibrated to" in title
                    else ""
                )
                + ". It says nothing about the real patients (their trajectories, dropout, "
                "correlations were assumed) and nothing about the code's correctness, which must "
                "be shown against independent references (the project compares every estimate "
                "with R, in tests/reference).\n\nAn informative check uses a quantity that was "
                "not a target: for example a published figure left out of the calibration, or "
                "the trial's individual data if they were released. The same circularity hides in "
                "modelled arms (worksheet 8) and in any model judged by the data it was fitted to."
            ),
        ),
    ]
    return Worksheet(3, "consistency_checks", "Checking the published numbers for consistency",
                     "Test whether reported percentages and means can be true, how fragile a result is, "
                     "and what agreement with a calibration target can prove.", tasks,
                     objectives=["check whether a reported percentage or mean can be true (GRIM);",
                                 "compute a fragility index and compare it with the patients lost to follow-up;",
                                 "explain why agreement with a calibration target proves nothing."],
                     level="introductory to intermediate: evidence-based practice, journal club",
                     minutes=45,
                     sources=["Brown NJL, Heathers JAJ. The GRIM test. Soc Psychol Personal Sci 2017;8:363-369.",
                              "Walsh M et al. The statistical significance of randomized controlled trial results is "
                              "frequently fragile. J Clin Epidemiol 2014;67:622-628.",
                              ctx.source("response_percent", "PeGT", 3)],
                     data_note=ctx.data_note)  # fmt: skip
