"""The plan in words: what ``ipt-outcomes plan`` prints and the report's plan section states.

Every sentence is built from the resolved plan and the data (population sizes, events counted),
never typed in.
"""

from __future__ import annotations

from ..data.analysis_plan import REFERENCE_BASED, AnalysisPlan
from .analyses import ANALYSIS_NAMES

__all__ = ["describe_endpoint", "describe_sensitivity", "describe_plan", "STRATEGY_TEXT",
           "hypotheses_text", "multiplicity_text", "remission_variable"]  # fmt: skip

STRATEGY_TEXT = {
    "treatment-policy": "treatment policy (scores after the event used as observed)",
    "hypothetical": "hypothetical (scores from the event on left out, missing at random)",
    "MAR": "missing at random (scores from the event on left out, imputed under MAR)",
    "JR": "jump to reference",
    "CR": "copy reference",
    "CIR": "copy increments in reference",
    "LMCF": "last mean carried forward",
}
VARIABLE_TEXT = {
    "change": "change from baseline in {inst}",
    "score": "{inst} score",
    "response": "response ({pct}% improvement in {inst})",
    "remission": "remission on {inst}",
    "reliable-change": "reliable and clinically significant change on {inst}",
}
METHOD_TEXT = {
    "none": "no adjustment (every p-value nominal)",
    "bonferroni": "Bonferroni",
    "holm": "Holm's step-down procedure",
    "hochberg": "Hochberg's step-up procedure",
    "hierarchical": "a fixed testing sequence (hierarchical; each hypothesis tested only if "
    "every earlier one is rejected)",
    "graphical": "the graphical procedure of Bretz et al. (2009)",
}


def _visits(trial, visits) -> str:
    labels = [trial.visit_label(v) for v in visits]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def remission_variable(inst: str, trial) -> str:
    """``"remission (WHO-5 of 52 or more)"``: the remission of the design's instrument called
    ``inst``, with its threshold in the instrument's direction (``"remission on X"`` when the
    instrument defines none)."""
    from ..exceptions import DesignError

    try:
        text = trial.design.find_instrument(inst).remission_text
    except DesignError:
        text = ""
    return f"remission ({text})" if text else VARIABLE_TEXT["remission"].format(inst=inst)


def describe_endpoint(ep, trial) -> str:
    """One sentence: variable, visits, analysis with its covariates."""
    inst = ep.instrument or trial.instrument.name
    pct = f"{100 * trial.instrument.response_improvement:g}"
    var = VARIABLE_TEXT[ep.variable].format(inst=inst, pct=pct)
    if ep.variable == "remission":
        var = remission_variable(inst, trial)
    what = ANALYSIS_NAMES[ep.analysis]
    if ep.analysis == "response" and ep.variable != "response":  # remission, reliable change
        what = "rates and unadjusted comparisons"
    covs = [c for c in ep.covariates]
    if ep.analysis == "mmrm":
        adj = ["visit", "arm by visit", "baseline by visit"] + [c for c in covs if c != "baseline"]
        what += " (fixed effects " + ", ".join(adj) + "; unstructured covariance; REML; " \
                "Kenward-Roger df)"  # fmt: skip
    elif ep.analysis == "ancova":
        what += (
            f" ({'change' if ep.variable == 'change' else 'score'} on arm"
            + "".join(f", {c}" for c in covs)
            + (", robust HC3 SE" if ep.variance == "hc3" else "")
            + ")"
        )
    elif ep.analysis == "adjusted-response":
        rule = "observed cases" if ep.missing == "observed" else f"{ep.missing} rule"
        variance = "Ge et al. 2011" if ep.variance == "ge" else "Ye et al. 2023"
        what += (" (logistic working model on arm" + "".join(f", {c}" for c in covs)
                 + f"; {variance} variance; {rule})")  # fmt: skip
    elif ep.analysis == "response":
        what += f" ({'observed cases' if ep.missing == 'observed' else ep.missing + ' rule'})"
    at = "" if ep.analysis == "lmm" else f" at {_visits(trial, ep.visits)}"
    return f"{var}{at}: {what}"


def describe_sensitivity(s, ep, trial) -> str:
    if s.analysis == "mi":
        how = (f"reference-based multiple imputation, dropouts without an event imputed by "
               f"{s.strategy} ({STRATEGY_TEXT.get(s.strategy, s.strategy)}); {s.method}"
               + (f" with {s.resampling}" if s.resampling else ""))  # fmt: skip
    elif s.analysis == "tipping-point":
        lo, hi = min(s.deltas), max(s.deltas)
        how = (f"tipping point: imputed scores of the compared arms shifted by delta from "
               f"{lo:g} to {hi:g} points ({s.strategy} imputation)")  # fmt: skip
    else:
        names = {"observed": "observed cases", "nri": "non-responder imputation",
                 "locf": "last observation carried forward"}  # fmt: skip
        how = f"missing-data rule: {names[s.missing]}"
    return f"{ep.id}: {how}"


def hypotheses_text(fam, trial) -> list[str]:
    out = []
    for r in fam.itertuples(index=False):
        at = (
            f" at {trial.visit_label(r.visit)}"
            if r.visit is not None and r.visit == r.visit
            else ""
        )
        out.append(
            f"{r.order}. {r.endpoint}: {trial.arm_label(r.arm)} vs "
            f"{trial.arm_label(r.reference)}{at}"
        )
    return out


def multiplicity_text(plan: AnalysisPlan) -> str:
    m = plan.multiplicity
    text = (f"{METHOD_TEXT[m.method]} at two-sided alpha {m.alpha:g} over the family "
            f"{', '.join(m.family) or '(empty)'}")  # fmt: skip
    return text


def graph_text(plan: AnalysisPlan, fam) -> str:
    """The graphical procedure's graph in words: each hypothesis's initial weight and where its
    level goes when it is rejected."""
    m = plan.multiplicity
    if m.method != "graphical" or not len(fam):
        return ""
    names = [f"H{r.order}" for r in fam.itertuples(index=False)]
    parts = []
    for i, w in enumerate(m.weights):
        goes = [f"{m.transitions[i][j]:g} to {names[j]}" for j in range(len(names))
                if m.transitions[i][j] > 0]  # fmt: skip
        parts.append(f"{names[i]} starts with weight {w:g}"
                     + (f" and passes {', '.join(goes)} when rejected" if goes else ""))  # fmt: skip
    return "; ".join(parts)


def describe_plan(plan: AnalysisPlan, trial, counts, events, fam) -> str:
    """The text ``ipt-outcomes plan`` prints."""
    d = trial.design
    lines = [
        f"Analysis plan of {d.name} ({'declared in ' + d.source if plan.declared else 'the default plan: the design declares none'})",
        f"Data: {trial.source}; arms {', '.join(trial.arm_label(a) for a in trial.arms)}; "
        f"reference {trial.arm_label(trial.reference)}",
        "",
        "Populations",
    ]  # fmt: skip
    for p in plan.populations:
        rows = counts[(counts["population"] == p.id) & ~counts["modelled"]]
        how = f"flag {p.flag} = Y" if p.flag else f"rule {p.rule}"
        per = ", ".join(f"{trial.arm_label(r.arm)} {r.n}" for r in rows.itertuples())
        lines.append(f"  {p.id}: {p.display} ({how}): n = {int(rows['n'].sum())} ({per})")
    lines += ["", "Estimands"]
    if not plan.estimands:
        lines.append("  none declared: intercurrent events are not named; missing scores are "
                     "missing data (missing at random in the models)")  # fmt: skip
    for e in plan.estimands:
        lines.append(f"  {e.id}: {e.display}")
        ev = events.get(e.id)
        for ice in e.intercurrent_events:
            where = (
                f"events file {ice.events.split('/')[-1]}" if ice.events else f"column {ice.column}"
            )
            k = int((ev["event"] == ice.name).sum()) if ev is not None and len(ev) else 0
            lines.append(f"    intercurrent event: {ice.name} ({where}; {k} participants), "
                         f"strategy {STRATEGY_TEXT[ice.strategy]}")  # fmt: skip
        if not e.intercurrent_events:
            lines.append("    no intercurrent events named")
    lines += ["", "Endpoints, in the order the report shows them"]
    for i, ep in enumerate(plan.endpoints, start=1):
        lines.append(f"  {i}. {ep.id} ({ep.role}): {describe_endpoint(ep, trial)}")
        lines.append(f"     population {ep.population}; estimand {ep.estimand or 'none'}")
        est = next((e for e in plan.estimands if e.id == ep.estimand), None)
        if est is not None and ep.analysis in ("mmrm", "lmm"):
            for ice in est.intercurrent_events:
                if ice.strategy in REFERENCE_BASED:
                    lines.append(
                        f"     note: {ice.name} has strategy {ice.strategy}; the {ep.analysis} "
                        "leaves scores from the event on out (missing at random); add a "
                        '[[sensitivity]] analysis = "mi" to estimate under '
                        f"{ice.strategy}"
                    )
    lines += ["", "Multiplicity: " + multiplicity_text(plan)]
    lines += [f"  {h}" for h in hypotheses_text(fam, trial)]
    if plan.sensitivity:
        lines += ["", "Sensitivity analyses"]
        for s in plan.sensitivity:
            ep = plan.endpoint(s.endpoint)
            lines.append(f"  {s.id}: {describe_sensitivity(s, ep, trial)}")
            lines.append(f"     population {ep.population}; estimand {s.estimand or ep.estimand}")
    if plan.subgroups:
        lines += ["", "Subgroup analyses"]
        for g in plan.subgroups:
            lines.append(f"  {g.id}: endpoint {g.endpoint} by {g.column} (arm-by-subgroup "
                         "interaction test)")  # fmt: skip
    return "\n".join(lines)
