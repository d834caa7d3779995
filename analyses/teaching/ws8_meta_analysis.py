"""Worksheet 8: how strong is the evidence for IPT? The trial among all trials of IPT.

Every number comes from the shipped excerpt of the Metapsy database, analysed by the functions
``ipt-outcomes meta`` runs (read_effect_sizes -> meta_analysis -> forest and funnel plots), with
the command's defaults: several effect sizes of a study pooled at rho = 0.5, REML tau^2,
Knapp-Hartung intervals. Nothing here is typed in: texts that depend on a result are chosen by it.
The exceptions are the synthetic trial's Hedges' g, computed here from its 3-month scores, and
the report's MMRM difference quoted beside it.
"""

from __future__ import annotations

import pandas as pd
from common import METAPSY_NOTE, Context
from markupsafe import Markup as M

from ipt_outcomes.format import fmt
from ipt_outcomes.meta import meta_analysis, parse_number, read_effect_sizes
from ipt_outcomes.meta.plots import funnel_plot, meta_forest_plot
from ipt_outcomes.stats.effect_sizes import hedges_g
from ipt_outcomes.teaching import Task, Worksheet

TRIAL = "Saloheimo, 2016"
RHO = 0.5  # assumed correlation of a trial's effect sizes (the common Metapsy default)
MID = 3.0  # HAM-D points judged clinically important (NICE CG90, 2009), as worksheet 5
THERAPIES = {"cbt": "CBT", "bat": "behavioural activation", "pst": "problem solving",
             "ipt": "IPT", "dyn": "psychodynamic", "3rd": "third-wave", "lrt": "life review",
             "sup": "supportive counselling", "other psy": "other psychotherapy"}  # fmt: skip
CONTROLS = {"cau": "care as usual", "wl": "waiting list", "other ctr": "other control"}
METHODS = {"reml": "REML", "ml": "ML", "pm": "Paule-Mandel", "dl": "DerSimonian-Laird"}
SOURCES = [
    "Cuijpers P, Miguel C, Harrer M, Plessen CY, Ciharova M, Ebert D, Karyotaki E. Depression: "
    "Psychotherapy vs. Control (Metapsy database depression-psyctr), commit ceeabb7, 2025. "
    "doi:10.5281/zenodo.7254845. ODC-By 1.0 (data/README.md).",
    "Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw "
    "2010;36(3):1-48 (the reference the numbers are checked against).",
    "IntHout J, Ioannidis JPA, Rovers MM, Goeman JJ. Plea for routinely presenting prediction "
    "intervals in meta-analysis. BMJ Open 2016;6:e010247.",
    "Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. Stat Med "
    "2002;21:1539-1558.",
    "Egger M, Davey Smith G, Schneider M, Minder C. Bias in meta-analysis detected by a simple, "
    "graphical test. BMJ 1997;315:629-634.",
    "Sterne JAC et al. Recommendations for examining and interpreting funnel plot asymmetry in "
    "meta-analyses of randomised controlled trials. BMJ 2011;343:d4002.",
    "Knapp G, Hartung J. Improved tests for a random effects meta-regression with a single "
    "covariate. Stat Med 2003;22:2693-2710.",
]


def _num(cell) -> float:
    """A number kept as text by the reader (the excerpt writes decimal commas)."""
    v = parse_number(cell, ",")
    return float("nan") if v is None else v


def _g(x) -> str:
    return fmt(x, "f2")


def _ci(fit) -> str:
    return f"{_g(fit.ci_low)} to {_g(fit.ci_high)}"


def _pi(fit) -> str:
    return f"{_g(fit.pi_low)} to {_g(fit.pi_high)}"


def _unavailable(ctx: Context) -> Worksheet:
    """Without the excerpt: say how to get it (the build fetches nothing)."""
    task = Task(
        question=(
            f"This worksheet needs the Metapsy excerpt ({ctx.metapsy}), which is not there. The "
            "database is open (ODC-By 1.0): clone https://github.com/metapsy-project/"
            "data-depression-psyctr and run python analyses/teaching/data/make_excerpt.py "
            "PATH/TO/data-depression-psyctr, then build the worksheets again."
        )
    )
    return Worksheet(8, "meta_analysis", "How strong is the evidence for IPT?",
                     "Judge claims about IPT against all the trials of IPT.", [task],
                     sources=SOURCES[:1], data_note=METAPSY_NOTE)  # fmt: skip


def _table(rows) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _row(label: str, fit, **extra) -> dict:
    return {**extra, "what": label, "trials (k)": fit.k, "pooled g": _g(fit.estimate),
            "95% CI": _ci(fit), "95% prediction interval": _pi(fit),
            "I² (%)": fmt(fit.i2, "f0")}  # fmt: skip


def build(ctx: Context) -> Worksheet:
    if ctx.metapsy is None or not ctx.metapsy.exists():
        return _unavailable(ctx)
    keep = ["condition_arm1", "condition_arm2", "rob", "mean_change_arm1", "mean_change_arm2",
            "sd_change_arm1", "n_change_arm1", "n_change_arm2", "outcome_type", "instrument"]  # fmt: skip
    every = read_effect_sizes(ctx.metapsy, keep=keep)
    ipt = every[every["condition_arm1"] == "ipt"].copy()
    ipt.attrs = dict(every.attrs, notes=[])
    res = meta_analysis(
        ipt, rho=RHO
    )  # what `ipt-outcomes meta FILE --where condition_arm1=ipt --aggregate 0.5` runs
    o = res.overall
    n_effects, k = len(ipt), o.k
    several = int((res.data["n_effects"] > 1).sum())

    # --- the trial of interest, as the database records it
    trial_rows = ipt[ipt["study"] == TRIAL]
    in_db = len(trial_rows) == 1
    trial = o.studies.set_index("study").loc[TRIAL] if in_db else None
    rank = int((o.studies["estimate"] < trial["estimate"]).sum()) + 1 if in_db else None
    below_zero = int((o.studies["estimate"] < 0).sum())

    # --- heterogeneity, methods, small-study effects
    tau = o.tau2**0.5
    by_method = []
    for m, name in METHODS.items():
        for t, tname in (("knha", "Knapp-Hartung"), ("z", "z (normal)")):
            f = meta_analysis(ipt, rho=RHO, method=m, test=t).overall
            by_method.append({"tau² estimator": name, "interval": tname, "pooled g": _g(f.estimate),
                              "95% CI": _ci(f), "95% prediction interval": _pi(f),
                              "tau²": fmt(f.tau2, "f3"), "I² (%)": fmt(f.i2, "f0")})  # fmt: skip
    methods = _table(by_method)
    e = res.egger

    # --- risk of bias: a trial is at low risk only if all four criteria hold for every outcome
    low = ipt.groupby("study")["rob"].transform(lambda r: bool((pd.to_numeric(r) == 4).all()))
    rob_data = ipt.assign(risk_of_bias=low.map({True: "low (all four criteria met)",
                                                False: "some or high"}))  # fmt: skip
    rob = meta_analysis(rob_data, rho=RHO, by="risk_of_bias")
    rob_low = rob.subgroups["low (all four criteria met)"]
    rob_high = rob.subgroups["some or high"]
    rob_table = _table([_row(f"risk of bias {lev}", f) for lev, f in rob.subgroups.items()]
                       + [_row("all trials", rob.overall)])  # fmt: skip
    b = rob.between

    # --- the claims: every therapy against control, and IPT and CBT by kind of control
    therapies = meta_analysis(every, rho=RHO, by="condition_arm1")
    by_therapy = _table([_row(THERAPIES.get(lev, lev), f) for lev, f in
                         sorted(therapies.subgroups.items(), key=lambda kv: -kv[1].estimate)])  # fmt: skip
    controls = []
    for code in ("ipt", "cbt"):
        sub = every[every["condition_arm1"] == code].copy()
        sub.attrs = dict(every.attrs, notes=[])
        fit = meta_analysis(sub, rho=RHO, by="condition_arm2")
        controls += [_row(f"{THERAPIES[code]} against {CONTROLS.get(c, c)}", f)
                     for c, f in fit.subgroups.items()]  # fmt: skip
    controls = _table(controls)
    cbt = therapies.subgroups["cbt"]

    # --- where the trial sits, and the sign of its effect
    flipped = ipt.copy()
    flipped.loc[flipped["study"] == TRIAL, "effect"] *= -1
    flip = meta_analysis(flipped, rho=RHO).overall
    pegt = every[(every["study"] == TRIAL) & (every["condition_arm1"] != "ipt")]
    rec = trial_rows.iloc[0] if in_db else None
    pegt_rec = pegt.iloc[0] if len(pegt) == 1 else None
    sd = _num(rec["sd_change_arm1"]) if in_db else float("nan")
    # Hedges' g of the synthetic trial's 3-month scores, IPT against the reference: computed
    # here (the report analyses change by MMRM and has no g); observed scores, no covariates
    g_rows = hedges_g(ctx.trial, [3.0])
    own_g = float(g_rows.loc[g_rows["arm"] == "IPT", "g"].iloc[0])

    # --- the IPT + medication claim: the literature figures the project's modelled arm uses
    rr = ctx.published("response_rr_vs_ipt", "IPT+MED")
    smd = ctx.published("smd_vs_ipt", "IPT+MED")

    forest = meta_forest_plot(res, highlight=TRIAL if in_db else None,
                              title=f"IPT against control: {k} trials ({n_effects} effect sizes)")  # fmt: skip
    funnel = funnel_plot(res, highlight=TRIAL if in_db else None,
                         title="Funnel plot: IPT against control")  # fmt: skip
    verdict_pi = "includes" if o.pi_low < 0 < o.pi_high else "excludes"
    egger_word = "no evidence of" if e["p"] >= 0.05 else "evidence of"

    tasks = [
        Task(
            question=(
                f"The Metapsy database holds {n_effects} effect sizes (Hedges' g; positive favours "
                f"the therapy) from {k} randomised trials of interpersonal psychotherapy (IPT) "
                f"against a control condition at the end of treatment. {several} trials report "
                f"more than one instrument; their effect sizes were pooled within the trial, "
                f"assuming a correlation of {RHO:g}, so that each trial counts once. The forest "
                "plot shows the random-effects meta-analysis (REML, Knapp-Hartung), computed with "
                "the command\n\nipt-outcomes meta data/depression-psyctr_excerpt.csv --where "
                f'condition_arm1=ipt --aggregate {RHO:g} --highlight "{TRIAL}"\n\nWhat is the '
                "pooled effect, what do its confidence interval and its prediction interval each "
                f"say, and how large is the effect in HAM-D points (take an SD of {fmt(sd, 'f1')} "
                "points, the trial's own)?"
            ),
            figure=forest,
            answer=(
                f"Pooled g = {_g(o.estimate)} (95% CI {_ci(o)}; {fmt(o.p, 'p_text')}): in IPT "
                "trials patients did better than with the control condition, by "
                f"{_g(o.estimate)} standard deviations on average, {fmt(o.estimate * sd, 'f1')} HAM-D "
                f"points at an SD of {fmt(sd, 'f1')} (NICE's clinically important difference is "
                f"{MID:g} points).\n\nThe confidence interval is about the *average* "
                "effect over trials like these. The 95% prediction interval, "
                f"{_pi(o)}, is where the true effect of a new trial in a new setting is expected "
                f"to lie: it {verdict_pi} zero, so in some settings IPT may not beat the control "
                "it is compared with, and in others it does much better. Both intervals are "
                "Knapp-Hartung (t with k - 1 df), as the command does by default."
            ),
        ),
        Task(
            question=(
                f"The trials disagree more than chance explains: Q = {fmt(o.q, 'f1')} on "
                f"{o.q_df} df ({fmt(o.q_p, 'p_text')}). The between-trial variance is tau² = "
                f"{fmt(o.tau2, 'f3')} (tau = {_g(tau)}), I² = {fmt(o.i2, 'f0')}% (95% CI "
                f"{fmt(o.i2_ci_low, 'f0')}% to {fmt(o.i2_ci_high, 'f0')}%). A classmate says: "
                f'"I² = {fmt(o.i2, "f0")}%, so the effect of IPT varies a lot." Is that what I² '
                'measures? Which number answers the question "how much does the effect vary?"'
            ),
            answer=(
                "I² is the share of the variation in the observed effects that is not sampling "
                "error; it grows with the precision of the trials, so the same spread of true "
                "effects gives a larger I² when trials are larger. It does not say how much the "
                "effect varies. tau (the SD of the true effects, in g units: "
                f"{_g(tau)}) and the prediction interval ({_pi(o)}) do: true effects "
                f"typically lie within two tau ({_g(2 * tau)}) of the average. The interval of I² "
                f"({fmt(o.i2_ci_low, 'f0')}% to {fmt(o.i2_ci_high, 'f0')}%, from the Q-profile "
                "interval of tau²) shows how imprecisely even the heterogeneity is known "
                f"from {k} trials."
            ),
        ),
        Task(
            question=(
                "The table repeats the analysis with every estimator of tau² and both kinds of "
                "interval. Does the conclusion depend on the choice? Which combination would you "
                "pre-specify, and why?"
            ),
            table=methods,
            answer=(
                "The pooled estimate moves little between estimators (they weight small and large "
                "trials slightly differently, through tau²); the intervals move more. The classic "
                "DerSimonian-Laird estimator with a z interval gives the narrowest interval: "
                "with few or heterogeneous trials its coverage falls below 95%. REML (or "
                "Paule-Mandel) with the Knapp-Hartung adjustment, which uses t with k - 1 df and "
                "the observed scatter, keeps coverage close to 95% and is the usual "
                "recommendation; it is the command's default. Pre-specify it in the protocol, "
                "before looking at the results."
            ),
        ),
        Task(
            question=(
                "Small trials of a therapy are more likely to be published when they find a large "
                "effect. The funnel plot shows each trial's effect against its standard error, "
                "with Egger's regression test. Do you see small-study effects? What does the test "
                "tell you, and what can it not tell you?"
            ),
            figure=funnel,
            answer=(
                f"Egger's test: intercept {_g(e['intercept'])} (SE {_g(e['se'])}), "
                f"t({e['df']}) = {_g(e['t'])}, {fmt(e['p'], 'p_text')}: {egger_word} funnel-plot "
                f"asymmetry. "
                + (
                    f"With only {k} trials the test should not be used (Sterne et al. 2011 ask "
                    "for at least 10)"
                    if k < 10
                    else f"Even with {k} trials the test has limited power (Sterne et al. 2011)"
                )
                + ", so a non-significant result does not show that there is no publication "
                "bias. And asymmetry, when "
                "present, need not be publication bias: small trials may differ in patients, "
                "therapists, control conditions or quality (the next task). The regression's "
                f"limit estimate, the effect of an infinitely large trial, is {_g(e['limit_estimate'])} "
                f"(95% CI {_g(e['limit_ci_low'])} to {_g(e['limit_ci_high'])})."
            ),
        ),
        Task(
            question=(
                "The database rates each trial on four Cochrane risk-of-bias criteria (sequence "
                "generation, allocation concealment, blinded assessment, intention-to-treat "
                "analysis). Here a trial counts as at low risk of bias only if all four are met "
                "for every outcome it contributes. Compare the two subgroups (each its own "
                "random-effects model). What do you conclude, and how sure can you be?"
            ),
            table=rob_table,
            answer=(
                f"Trials at low risk of bias: g = {_g(rob_low.estimate)} ({_ci(rob_low)}, k = "
                f"{rob_low.k}); the others: g = {_g(rob_high.estimate)} ({_ci(rob_high)}, k = "
                f"{rob_high.k}). Test of subgroup differences: Q = {fmt(b['q'], 'f2')} on "
                f"{b['df']} df, {fmt(b['p'], 'p_text')}. "
                + (
                    "The best-conducted trials find a clearly smaller effect: much of the average "
                    "effect may come from weaker trials. "
                    if rob_low.estimate < rob_high.estimate
                    else "The best-conducted trials do not find a smaller effect. "
                )
                + f"But with only {rob_low.k} low-risk trials the estimate is imprecise, and "
                "subgroups are not randomised: low-risk trials may also differ in population, "
                "control condition and year. A subgroup comparison is observational evidence, "
                "a reason to weigh the best trials most, not proof that bias explains the gap."
            ),  # fmt: skip
        ),
        Task(
            question=(
                (
                    f"Find the trial this project reconstructs ({TRIAL}) in the forest plot. The "
                    f"database records its IPT-versus-care-as-usual comparison as g = "
                    f"{_g(trial['estimate'])} ({_g(trial['ci_low'])} to {_g(trial['ci_high'])}), "
                    f"computed from change scores: IPT {fmt(_num(rec['mean_change_arm1']), 'f1')}, usual "
                    f"care {fmt(_num(rec['mean_change_arm2']), 'f1')} HAM-D points (SD {fmt(sd, 'f1')}; "
                    f"n {fmt(_num(rec['n_change_arm1']), 'int')} and {fmt(_num(rec['n_change_arm2']), 'int')}). "
                    + (
                        f"Its psychoeducative group arm (PeGT) is recorded against the same control "
                        f"with change {fmt(_num(pegt_rec['mean_change_arm1']), 'f1')}, g = "
                        f"{_g(pegt_rec['effect'])}. "
                        if pegt_rec is not None
                        else ""
                    )
                    + "The trial description (saloheimo2016_trial.md) gives the same numbers as "
                    "HAM-D *scores* at 3 months, and the abstract says PeGT was significantly better "
                    "than TAU (response 61% against 42%). Which reading of the numbers fits the "
                    "abstract? What would the correct sign do to the trial's place and to the "
                    "pooled estimate?"
                )
                if in_db
                else (
                    f"{TRIAL} is not in this version of the database. How would you place its "
                    "published results among the trials in the forest plot?"
                )
            ),  # fmt: skip
            answer=M(
                (
                    f"As recorded, its effect ranks {rank} of {k} from the smallest: it is one of "
                    f"{below_zero} trials in which the control did better. But read as changes, the "
                    "numbers say usual care improved more than PeGT, which contradicts the abstract; "
                    "read as 3-month scores (lower is better) they fit it: PeGT lowest, then IPT, then "
                    "usual care. The database has most likely taken scores for changes and so "
                    f"reversed the sign: IPT against usual care would be g = {_g(-trial['estimate'])}, "
                    "favouring IPT. Only the paper's table can settle it. This project's synthetic "
                    "trial, calibrated to the same figures read as scores, gives Hedges' g for IPT "
                    "against TAU at 3 months of {own_g} (computed for this worksheet from the "
                    "synthetic 3-month scores, unadjusted, as the database computes g; the report "
                    "itself analyses change from baseline with an MMRM, {mmrm} HAM-D points in "
                    "its {mmrm_table}): the same size, with the report's sign convention (IPT minus "
                    "TAU in HAM-D score, so negative favours IPT).\n\nWith the sign "
                    f"reversed the pooled g moves from {_g(o.estimate)} to {_g(flip.estimate)} "
                    f"({_ci(flip)}): one trial among {k} hardly changes the pooled estimate, but it "
                    'changes the story told about the trial ("a trial that found IPT worse than '
                    'usual care"). Data extraction errors happen in every database; check the '
                    "direction of the effect sizes you rely on."
                )
                if in_db
                else "Compare its effect size, computed as the database computes g, with the forest plot."
            ).format(
                own_g=_g(own_g),
                mmrm=ctx.n.q(
                    "primary__contrasts", "estimate", "f2", arm="IPT", visit=3.0, fit="observed"
                ),
                mmrm_table=ctx.n.tlf("primary-contrasts"),
            ),  # fmt: skip
        ),
        Task(
            question=(
                'A popular book says: "IPT works as well as CBT." The first table pools every '
                "therapy in the database against control (each its own model); the second splits "
                "IPT and CBT by the kind of control condition. Does this evidence support the "
                "claim? What evidence would?"
            ),
            table=by_therapy,
            answer_table=controls,
            answer=(
                f"Against control, CBT trials find g = {_g(cbt.estimate)} ({_ci(cbt)}, k = {cbt.k}) "
                f"and IPT trials g = {_g(o.estimate)} ({_ci(o)}, k = {k}). This is an indirect "
                "comparison: the trials differ in control conditions (waiting lists give larger "
                "effects than care as usual, second table), populations, formats and quality, so a "
                "difference between the two pooled effects is not an effect of IPT against CBT. "
                'Nor does an overlap of the intervals show equivalence: "works as well as" is a '
                "claim of equivalence, which needs trials that randomise patients to IPT or CBT "
                "(head-to-head comparisons, or a network meta-analysis that includes them) and a "
                "pre-stated margin of difference that would not matter to patients. This database "
                "holds only comparisons with control conditions, so it cannot support the claim; "
                "at most it shows both therapies beat control."
            ),
        ),
        Task(
            question=(
                'The same book says: "IPT with medication is more effective than either alone." '
                "Can this database answer that? The project's report shows an arm 'IPT+MED' with "
                "results: are they evidence for the claim?"
            ),
            answer=(
                "No: the database compares psychotherapies with control conditions and holds no "
                "trial of IPT combined with medication, nor of medication alone. The claim needs "
                "trials randomising patients to the combination and to each treatment alone. "
                f"Other meta-analyses support part of it: combined treatment against psychotherapy "
                f"alone, response RR {fmt(rr, 'f2')}, and g = {fmt(smd, 'f2')} against IPT alone "
                "(the last two sources below).\n\nThe report's IPT+MED arm is "
                "modelled, not observed: the project generated it from exactly these literature "
                "figures. Its results return the assumption that went in; quoting them as support "
                "for the claim would be circular, like praising a synthetic trial for matching the "
                "figures it was calibrated to (worksheet 3)."
            ),
        ),
    ]
    sources = [*SOURCES, ctx.source("response_rr_vs_ipt", "IPT+MED"),
               ctx.source("smd_vs_ipt", "IPT+MED")]  # fmt: skip
    return Worksheet(
        8, "meta_analysis", "How strong is the evidence for IPT?",
        "Place one trial among all trials of IPT, and judge popular claims against the evidence "
        "that can and cannot answer them.",
        tasks, sources=sources, data_note=METAPSY_NOTE,
        objectives=[
            "read a forest plot: each trial's effect and weight, the pooled effect, its confidence "
            "interval and the prediction interval;",
            "say what tau², I² and the prediction interval each measure about heterogeneity;",
            "check whether the choice of estimator and interval changes a conclusion;",
            "judge small-study effects from a funnel plot and Egger's test, knowing their limits;",
            "use risk of bias as a subgroup and explain why a subgroup comparison is observational;",
            "check the direction of an extracted effect size against the trial's own report;",
            "tell which claims a database of therapy-versus-control trials can and cannot test.",
        ],
        level="intermediate: a postgraduate course in evidence-based practice or meta-analysis "
        "(worksheets 1 and 3 first)",
        minutes=75,
    )  # fmt: skip
