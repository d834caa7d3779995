"""Worksheet 6: a risk-of-bias (RoB 2) assessment, recorded in a TOML file and drawn."""

from __future__ import annotations

from common import Context

from ipt_outcomes.teaching import Task, Worksheet, load_rob2, rob2_overall, rob2_traffic_light

#: the trial description handed out with the worksheets (copied beside them by build.py)
DESCRIPTION = "saloheimo2016_trial.md"


def build(ctx: Context) -> Worksheet:
    rob = load_rob2(ctx.rob2)
    domains = rob[rob["domain"] != "Overall"]
    overall = rob[rob["domain"] == "Overall"].iloc[0]
    evidence = domains[["domain", "name"]].assign(
        **{"what is known": domains["support"].str.split(";").str[0]}
    )  # fmt: skip
    tasks = [
        Task(
            question=(
                f"Judge the risk of bias of {rob.attrs.get('name', 'the trial')} for the outcome "
                f"'{rob.attrs.get('outcome', '')}' in each of the five RoB 2 domains (low, some concerns, high). "
                "The table gives a starting fact for each domain; the trial description "
                f"({DESCRIPTION}, handed out beside these worksheets; in the project it is "
                f"analyses/teaching/{DESCRIPTION}) has the rest."
            ),
            table=evidence,
            answer="\n\n".join(
                f"{r['domain']} {r['name']}: {r['judgement']}. {r['support']}"
                for _, r in domains.iterrows()
            ),
            answer_table=domains[["domain", "name", "judgement", "signalling"]],
        ),
        Task(
            question=(
                "Combine the domain judgements into the overall risk of bias, following the RoB 2 algorithm, and "
                "draw the traffic-light plot. Record your assessment in a TOML file like "
                f"analyses/teaching/{ctx.rob2.name} so that the figure is made from it."
            ),
            answer=(
                f"Overall: {overall['judgement']} (the algorithm gives {rob2_overall(domains['judgement'])}: "
                "low only if every domain is low, high if any domain is high). It is driven by "
                + ", ".join(
                    f"{r['domain']} ({r['name'].lower()})"
                    for _, r in domains[domains["judgement"] == overall["judgement"]].iterrows()
                )
                + "."
            ),
            answer_figure=rob2_traffic_light(rob),
        ),
        Task(
            question="How should the risk of bias change the weight a reader gives to the 3- and 12-month comparisons?",
            answer=(
                f"With an overall risk of bias judged {overall['judgement']}, the response comparisons (which use only "
                "patients assessed, or impute crudely) should be read as uncertain in direction as well as size; "
                "sensitivity analyses (worksheet 5) are essential, and a meta-analysis would down-weight or "
                "exclude the trial in a sensitivity analysis."
            ),
        ),
    ]
    return Worksheet(6, "risk_of_bias", "A risk-of-bias (RoB 2) assessment",
                     "Assess a trial with RoB 2, keep the assessment in a structured file, and draw it.", tasks,
                     sources=["Sterne JAC et al. RoB 2: a revised tool for assessing risk of bias in randomised trials. "
                              "BMJ 2019;366:l4898.", "McGuinness LA, Higgins JPT. Risk-of-bias VISualization (robvis). "
                              "Res Synth Methods 2021;12:55-61."],
                     data_note="This worksheet judges the published trial from what is public about it "
                               "and uses no patient data (the other worksheets use the project's synthetic "
                               "reconstruction of the trial).",
                     objectives=["apply the five domains of the Cochrane RoB 2 tool to a published trial;",
                                 "record an assessment with its support in a structured file and draw it;",
                                 "say how a trial's risk of bias should change how its results are read."],
                     level="introductory: evidence-based practice, journal club",
                     minutes=45)  # fmt: skip
