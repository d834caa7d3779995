"""The report's tables, figures and listings (TLFs), in the plan's order, numbered as ICH E3.

:func:`catalogue` reads the report's tables (the plan's ``analyses``, ``estimands`` and
``multiplicity`` and each analysis's ``<id>__<role>`` tables) and lists every TLF the report shows:
the trial's description (14.1: participant flow, baseline, populations, missing scores), then the
efficacy analyses in the plan's order (14.2: each endpoint, the multiplicity family, the
sensitivity analyses, the subgroup analyses), then the listings (16.2). 14.3 is kept for safety
data, which this toolkit does not analyse. Each TLF names its layout (:data:`~.views.VIEWS`) or
figure (:data:`~.figures.FIGURES`), the table it shows and any others it reads, its title,
population and footnotes; the catalogue is written as two generated tables, ``tlf`` and
``tlf_footnotes``, so that the HTML, the RTF and the PDF read the same numbers, titles and notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .views import prose

__all__ = ["Spec", "catalogue", "TLF_COLUMNS", "args_of"]

TLF_COLUMNS = ["number", "kind", "label", "name", "part", "section", "group", "group_title",
               "title", "population", "program", "view", "figure", "src", "args"]  # fmt: skip
ROLE_TITLES = {
    "primary": "Primary endpoint",
    "key-secondary": "Key secondary endpoint",
    "secondary": "Secondary endpoint",
    "exploratory": "Exploratory endpoint",
}


@dataclass
class Spec:
    """One TLF: what it shows and what it says about itself (texts already worded)."""

    name: str  # identifier: the figure's file stem, the RTF's name, the HTML anchor
    kind: str  # Table, Figure or Listing
    part: str  # 14.1, 14.2 or 16.2 (ICH E3)
    section: str  # report section (sections.SECTIONS)
    title: str
    population: str
    footnotes: list = field(default_factory=list)
    program: str = ""
    view: str = ""  # a layout of views.VIEWS (tables and listings)
    figure: str = ""  # a figure of figures.FIGURES
    src: str = ""  # the table shown
    args: dict = field(default_factory=dict)  # other tables the layout or figure reads
    group: str = ""  # the analysis it belongs to (a heading in the section)
    group_title: str = ""


def args_of(text) -> dict:
    """``{"rates": "x__rates", ...}`` from the ``args`` cell of the ``tlf`` table."""
    if not isinstance(text, str) or not text.strip():
        return {}
    return dict(part.split("=", 1) for part in text.split(";") if "=" in part)


class _Text:
    """What the texts call things, read from the ``trial`` table."""

    def __init__(self, tables: dict):
        self.t = tables
        self._v = tables["trial"].set_index("key")["value"].astype(str).replace("nan", "")

    def __getattr__(self, key: str) -> str:
        if key.startswith("_") or key == "t":
            raise AttributeError(key)
        return str(self._v.get(key, ""))

    @property
    def ci(self) -> str:
        return f"CI: {self.confidence_percent}% confidence interval, two-sided."

    @property
    def modelled_note(self) -> str:
        if not self.modelled_arms:
            return ""
        return (
            f"{self.modelled_arms}: modelled, not observed (its rows in italics). Its data are "
            "assumptions from the literature; it is analysed with the reference arm alone, never "
            "with the observed arms, is outside every trial-level count and is not tested."
        )

    @property
    def modelled_figure_note(self) -> str:
        if not self.modelled_arms:
            return ""
        return (
            f"{self.modelled_arms}: modelled, not observed (drawn dashed, with diamond markers, "
            "and labelled modelled). Its data are assumptions from the literature; it is analysed "
            "with the reference arm alone and is not tested."
        )


def _has(tables: dict, name: str) -> bool:
    return name in tables and tables[name] is not None and len(tables[name]) > 0


def _enrolment_note(tables: dict) -> str:
    e = tables.get("consort_enrolment")
    if e is not None and (e["stage"].astype(str) == "Assessed for eligibility").any():
        return ("Enrolment (assessed for eligibility, excluded with reasons) from the trial's "
                "design file; randomised and everything after it from the score file.")  # fmt: skip
    return ("Enrolment before randomisation (assessed for eligibility, excluded) is not in the "
            "score file and the design file does not give it; the flow starts at randomisation.")  # fmt: skip


def _modelled_flow_note(T) -> str:
    if not T.modelled_arms:
        return ""
    return (f"{T.modelled_arms}: modelled, not randomised: shown apart from the randomised flow, "
            "in a dashed panel, and outside every count of the trial.")  # fmt: skip


def _clean(row: dict) -> dict:
    """A row of a generated table with its empty cells as "" (never "nan" in a sentence)."""
    return {k: "" if v is None or (isinstance(v, float) and v != v) or str(v) == "nan" else v
            for k, v in row.items()}  # fmt: skip


def _participants(tables: dict, T: _Text) -> list[Spec]:
    everyone = f"Randomised participants (n = {T.subjects})"
    specs = [
        Spec("consort_diagram", "Figure", "14.1", "participants",
             "Participant flow (CONSORT 2010 diagram)", everyone,
             [_enrolment_note(tables),
              f"Follow-up from the score file: assessed at a visit = a {T.instrument} score is "
              f"present; lost to follow-up = no score at {T.last_visit_label}.",
              _modelled_flow_note(T)],
             "ipt_outcomes.plan.tables (participant flow), report.figures.consort_diagram",
             figure="consort", src="consort"),
        Spec("consort", "Table", "14.1", "participants",
             "Participant flow by stage and arm (CONSORT 2010)", everyone,
             [_enrolment_note(tables),
              "Not assessed: randomised participants without a score at that visit. Lost to "
              "follow-up: no score at that visit or any later one (cumulative); newly lost: lost "
              "to follow-up from this visit on. Reasons for loss as the design file gives them; "
              "reason not recorded for the others.", T.modelled_note],
             "ipt_outcomes.plan.tables", view="consort", src="consort"),
        Spec("baseline", "Table", "14.1", "participants", "Baseline characteristics by arm",
             everyone,
             ["Mean (SD) for continuous characteristics; n (%) for binary ones, percent of those "
              "with the characteristic recorded.",
              f"SMD: standardised difference against {T.reference_label} (difference in means or "
              "proportions over the pooled SD). No p-values: baseline differences in a randomised "
              "trial are due to chance (CONSORT 2010, item 15).", T.modelled_note],
             "ipt_outcomes.plan.tables", view="baseline", src="baseline_table"),
        Spec("populations", "Table", "14.1", "participants",
             "Analysis populations by arm", everyone,
             ["Each population as the analysis plan defines it; the n of every analysis is "
              "stated in its table's population line.", T.modelled_note],
             "ipt_outcomes.plan.populations", view="populations", src="populations"),
        Spec("missingness", "Table", "14.1", "participants",
             f"Participants with and without a {T.instrument} score by arm and visit", everyone,
             ["Missing: randomised participants without a score at the visit, whatever the "
              "reason (missing data, not intercurrent events).", T.modelled_note],
             "ipt_outcomes.plan.tables", view="missingness", src="missingness"),
        Spec("missingness_figure", "Figure", "14.1", "participants",
             f"Missing {T.instrument} scores by arm and visit (percent of randomised)", everyone,
             ["Drawn from the table of participants with and without a score.", T.modelled_figure_note],
             "ipt_outcomes.report.figures.missingness_plot", figure="missingness",
             src="missingness"),
    ]  # fmt: skip
    if _has(tables, "published_vs_reproduced"):
        specs += [
            Spec("published", "Table", "14.1", "participants",
                 "Published response rates and the rates the synthetic data were calibrated to",
                 "Observed cases at each visit",
                 [f"Published: {T.citation}. Calibrated: the response rates of the synthetic "
                  "data, rounded half up to whole percent as published.",
                  "The synthetic data were generated to match these published figures: their "
                  "agreement is a check of the calibration, not a reproduction and not evidence "
                  "about the trial."],
                 "ipt_outcomes.plan.tables, stats.granularity", view="published",
                 src="published_vs_reproduced"),
        ]  # fmt: skip
    if _has(tables, "granularity"):
        specs += [
            Spec("granularity", "Table", "14.1", "participants",
                 "Granularity check of the published percentages against reported denominators",
                 "Denominators reported in secondary sources",
                 ["A percentage of whole patients can take only the values k/n; a published "
                  "percentage that no whole k gives out of the reported n cannot describe that "
                  "denominator (GRIM test, Brown and Heathers 2017)."],
                 "ipt_outcomes.stats.granularity", view="granularity", src="granularity"),
        ]  # fmt: skip
    return specs


def _descriptive(T: _Text) -> list[Spec]:
    direction = (
        "higher scores mean better outcomes"
        if T.higher_is_better == "True"
        else "higher scores mean more severe symptoms"
    )
    return [
        Spec("descriptive_scores", "Table", "14.2", "efficacy",
             f"{T.instrument} score by arm and visit: descriptive statistics",
             "Randomised participants with a score at the visit",
             [f"Range of the scale {T.instrument_range}; {direction}. SD: standard deviation; "
              "quartiles as R's default (type 7).",
              "Missing data: none imputed; n is the number with a score.", T.modelled_note],
             "ipt_outcomes.data.summary.descriptive_by_visit", view="descriptive",
             src="descriptive_scores", group="descriptive", group_title="Descriptive statistics"),
        Spec("descriptive_change", "Table", "14.2", "efficacy",
             f"Change from baseline in {T.instrument} by arm and visit: descriptive statistics",
             "Participants with a baseline and a score at the visit",
             [f"Change: score at the visit minus baseline; {T.improvement_note}.",
              "Missing data: none imputed; n is the number with a baseline and a score.",
              T.modelled_note],
             "ipt_outcomes.data.summary.descriptive_by_visit", view="descriptive",
             src="descriptive_change", group="descriptive", group_title="Descriptive statistics"),
        Spec("spaghetti", "Figure", "14.2", "efficacy",
             f"Individual {T.instrument} trajectories by arm",
             "Randomised participants with a score",
             ["One line per participant through the observed scores; gaps are missed visits. "
              "In a large trial a random sample of participants per arm is drawn, as the "
              "figure's subtitle says.", T.modelled_figure_note],
             "ipt_outcomes.report.figures.spaghetti_plot", figure="spaghetti",
             group="descriptive", group_title="Descriptive statistics"),
        Spec("waterfall", "Figure", "14.2", "efficacy",
             f"Percent improvement from baseline in {T.instrument} at {T.last_key_visit_label}, "
             "one bar per participant",
             f"Participants assessed at {T.last_key_visit_label}",
             [f"Dashed line: the response threshold ({T.response_percent}% improvement).",
              T.modelled_figure_note],
             "ipt_outcomes.report.figures.waterfall_plot", figure="waterfall", src="waterfall",
             group="descriptive", group_title="Descriptive statistics"),
    ]  # fmt: skip


def _notes(row) -> list[str]:
    text = str(row.get("notes", "") or "")
    return [prose(text)] if text and text != "nan" else []


def _analysis_specs(tables: dict, row, T: _Text) -> list[Spec]:
    """The TLFs of one analysis (a row of the ``analyses`` table)."""
    row = _clean(row)
    rid, kind, a = str(row["id"]), str(row["kind"]), str(row["analysis"])
    if kind == "endpoint":
        group_title = f"{ROLE_TITLES.get(str(row['role']), 'Endpoint')}: {row['label']}"
    elif kind == "sensitivity":
        group_title = f"Sensitivity analysis of {row['endpoint']}: {row['label']}"
    else:
        group_title = f"Subgroup analysis: {row['label']}"
    pop = "; ".join(str(x) for x in (row["population_text"], row["analysed"]) if str(x))
    est = f"Estimand: {row['estimand_label']} (Section 1)." if row.get("estimand_label") else ""
    desc = prose(str(row["description"])) + "."
    nominal = ("Adjusted p: multiplicity-adjusted over the confirmatory family (table of the "
               "multiplicity family); every other p-value is nominal."
               if row.get("in_family") in (True, "True") else "All p-values nominal.")  # fmt: skip
    base = [desc, est, *_notes(row)]
    g = dict(group=rid, group_title=group_title)
    n = f"{rid}__"
    visits = str(row["visit_labels"])
    specs: list[Spec] = []

    def has(role):
        return _has(tables, n + role)

    if a == "mmrm" and has("contrasts"):
        specs += [
            Spec(f"{rid}-lsmeans", "Table", "14.2", "efficacy",
                 f"{row['label']}: least-squares means by arm and visit", pop,
                 base + ["Missing scores are assumed missing at random (likelihood-based, no "
                         "imputation). LS means hold baseline and any other numeric covariate at "
                         f"its mean and weight factor levels equally. The endpoint's visits ({visits}) in bold.", T.ci,
                         T.modelled_note],
                 "ipt_outcomes.models.mmrm.fit_mmrm", view="lsmeans", src=n + "lsmeans", **g),
            Spec(f"{rid}-contrasts", "Table", "14.2", "efficacy",
                 f"{row['label']}: difference against {T.reference_label} by visit", pop,
                 base + [f"Difference: arm minus {T.reference_label}; {row['favours_note']}. The "
                         f"endpoint's visits ({visits}) are in bold and carry the conclusions, "
                         "the others are supportive.", nominal, T.ci, T.modelled_note],
                 "ipt_outcomes.models.mmrm.fit_mmrm", view="contrasts", src=n + "contrasts", **g),
            Spec(f"{rid}-figure", "Figure", "14.2", "efficacy",
                 f"{row['label']}: least-squares means by arm over time", pop,
                 base + [f"Error bars: {T.confidence_percent}% confidence intervals. The "
                         "reference arm is drawn from the fit of the observed arms.",
                         T.modelled_figure_note],
                 "ipt_outcomes.models.mmrm.fit_mmrm, report.figures.mmrm_plot", figure="mmrm",
                 src=n + "lsmeans", **g),
        ]  # fmt: skip
    elif a in ("ancova", "mi") or (a == "missing-rule" and has("contrasts")):
        what = {"ancova": "ANCOVA", "mi": "Multiple imputation",
                "missing-rule": "Missing-data rule"}[a]  # fmt: skip
        specs += [
            Spec(f"{rid}-contrasts", "Table", "14.2", "efficacy",
                 f"{row['label']}: difference against {T.reference_label}", pop,
                 base + [f"{what}; difference: arm minus {T.reference_label}; "
                         f"{row['favours_note']}.", nominal, T.ci, T.modelled_note],
                 f"ipt_outcomes.plan.analyses ({a})", view="differences", src=n + "contrasts",
                 **g),
        ]  # fmt: skip
        if has("lsmeans"):
            specs.append(
                Spec(
                    f"{rid}-lsmeans",
                    "Table",
                    "14.2",
                    "efficacy",
                    f"{row['label']}: least-squares means by arm",
                    pop,
                    base + [T.ci, T.modelled_note],
                    f"ipt_outcomes.plan.analyses ({a})",
                    view="lsmeans",
                    src=n + "lsmeans",
                    **g,
                )  # fmt: skip
            )
    if kind == "sensitivity":  # no figure of its own, unless it is a tipping point
        figure_ok = a == "tipping-point"
    else:
        figure_ok = True
    if a in ("response", "adjusted-response", "missing-rule") and has("rates"):
        specs.append(
            Spec(
                f"{rid}-rates",
                "Table",
                "14.2",
                "efficacy",
                f"{row['label']}: rates by arm and visit",
                pop,
                base + [f"Wilson score {T.confidence_percent}% intervals.", T.modelled_note],
                "ipt_outcomes.stats.response.rates",
                view="rates",
                src=n + "rates",
                **g,
            )  # fmt: skip
        )
    if has("comparisons"):
        specs.append(
            Spec(
                f"{rid}-comparisons",
                "Table",
                "14.2",
                "efficacy",
                f"{row['label']}: unadjusted comparisons against {T.reference_label}",
                pop,
                base
                + [
                    "Risk difference (pp) with Newcombe's hybrid score interval; risk ratio "
                    "with the log interval; odds ratio with Woolf's interval; Fisher's exact "
                    "test. An undefined ratio (a zero cell) is shown as not defined.",
                    "NNT: number needed to treat, one over the risk difference, rounded up and "
                    "worded NNTB (benefit) or NNTH (harm), with the inverted interval (Altman "
                    "1998). When the risk difference's interval includes zero the NNT's interval "
                    "runs through infinity: the NNT is then not estimable with useful precision "
                    "and the risk difference is the result to read.",
                    nominal,
                    T.ci,
                    T.modelled_note,
                ],
                "ipt_outcomes.stats.response.compare_with_reference",
                view="comparisons",
                src=n + "comparisons",
                **g,
            )  # fmt: skip
        )
    if has("rc_rates"):
        crit = (
            "Jacobson and Truax (1991): reliable change index against 1.96 (the instrument's "
            "reliability), clinical cut-off a (two SDs from the baseline mean, towards health)"
        )
        specs += [
            Spec(f"{rid}-rc-rates", "Table", "14.2", "efficacy",
                 f"{row['label']}: reliable and clinically significant change by arm and visit",
                 pop, base + [f"Categories of {crit}: recovered, improved, unchanged, "
                              "deteriorated, harmed; Wilson intervals.", T.modelled_note],
                 "ipt_outcomes.stats.reliable_change", view="rc_rates", src=n + "rc_rates", **g),
            Spec(f"{rid}-rc-comparisons", "Table", "14.2", "efficacy",
                 f"{row['label']}: recovery, reliable improvement and deterioration against "
                 f"{T.reference_label}", pop,
                 base + ["Risk difference (pp) with Newcombe's interval, odds ratio with Woolf's, "
                         "Fisher's exact test; a family hypothesis is recovery.", nominal, T.ci,
                         T.modelled_note],
                 "ipt_outcomes.stats.reliable_change.reliable_change_comparisons",
                 view="rc_comparisons", src=n + "rc_comparisons", **g),
        ]  # fmt: skip
    if has("effects"):
        specs.append(
            Spec(f"{rid}-effects", "Table", "14.2", "efficacy",
                 f"{row['label']}: covariate-adjusted effects against {T.reference_label}", pop,
                 base + ["Marginal (population-average) effects by g-computation under a "
                         "logistic working model (FDA 2023 guidance on covariate adjustment); "
                         "risk differences in percentage points.", nominal, T.ci,
                         T.modelled_note],
                 "ipt_outcomes.stats.adjusted.adjusted_response", view="effects",
                 src=n + "effects", **g))  # fmt: skip
        if figure_ok:
            specs.append(Spec(f"{rid}-forest", "Figure", "14.2", "efficacy",
                 f"{row['label']}: adjusted risk difference against {T.reference_label}", pop,
                 base + [f"Points and bars: risk difference and {T.confidence_percent}% interval "
                         "in percentage points.", T.modelled_figure_note],
                 "ipt_outcomes.report.figures.forest_plot", figure="forest", src=n + "effects",
                 **g))  # fmt: skip
    if a == "lmm" and has("fixed"):
        specs += [
            Spec(f"{rid}-fixed", "Table", "14.2", "efficacy",
                 f"{row['label']}: fixed effects", pop,
                 base + [f"Score on arm by time (time in {T.visit_unit or 'visit units'}) with a "
                         "random intercept per participant; REML; Satterthwaite degrees of "
                         "freedom (as lmerTest). Terms name the arm against the reference.",
                         nominal, T.ci],
                 "ipt_outcomes.models.lmm.growth_model", view="lmm_fixed", src=n + "fixed", **g),
            Spec(f"{rid}-fit", "Table", "14.2", "efficacy",
                 f"{row['label']}: variance components and fit", pop,
                 ["Restricted maximum likelihood; a fit on the boundary of the parameter space is "
                  "reported as singular."],
                 "ipt_outcomes.models.lmm.lmm_fit_table", view="lmm_fit", src=n + "fit", **g),
        ]  # fmt: skip
        if has("icc"):
            specs += [
                Spec(f"{rid}-icc", "Table", "14.2", "efficacy",
                     "Therapy-group clustering: partially nested model, variance components", pop,
                     ["Partially nested model (Roberts and Roberts 2005; Baldwin et al. 2011): a "
                      "therapy-group random intercept in the group-therapy arm only, a "
                      "participant random intercept in every arm; REML."],
                     "ipt_outcomes.models.lmm.partially_nested_model", view="lmm_icc",
                     src=n + "icc", **g),
                Spec(f"{rid}-nested", "Table", "14.2", "efficacy",
                     "Therapy-group clustering: the group arm's effect with and without the group "
                     "term", pop,
                     ["Ignoring the therapy groups understates the standard error of the group "
                      "arm's effect.", "All p-values nominal.", T.ci],
                     "ipt_outcomes.models.lmm.partially_nested_model", view="lmm_nested",
                     src=n + "nested", **g),
            ]  # fmt: skip
    if a == "tipping-point" and has("grid"):
        specs += [
            Spec(f"{rid}-figure", "Figure", "14.2", "efficacy",
                 f"{row['label']}: the difference against {T.reference_label} as imputed scores "
                 "are shifted", pop,
                 base + ["Delta-adjusted multiple imputation: delta points added to every imputed "
                         "post-dropout score of the compared arm (the reference arm unchanged); "
                         "conditional mean imputation with jackknife standard errors.", T.ci],
                 "ipt_outcomes.estimands (MIResults.tipping_point)", figure="tipping_point",
                 src=n + "grid", **g),
        ]  # fmt: skip
        if has("exact"):
            specs.append(
                Spec(
                    f"{rid}-exact",
                    "Table",
                    "14.2",
                    "efficacy",
                    f"{row['label']}: the shift at which the conclusion changes",
                    pop,
                    [
                        "The delta (points added to imputed scores) at which the two-sided "
                        "p-value crosses the conventional level, found by root search on the "
                        "delta-adjusted analysis; none within the grid when a row is absent.",
                        T.ci,
                    ],
                    "ipt_outcomes.estimands (MIResults.tipping_point_exact)",
                    view="tipping_point_exact",
                    src=n + "exact",
                    **g,
                )  # fmt: skip
            )
    if a == "subgroup" and has("contrasts"):
        specs += [
            Spec(f"{rid}-table", "Table", "14.2", "efficacy",
                 f"{row['label']}: difference against {T.reference_label} within each subgroup",
                 pop,
                 base + ["The endpoint's model with the arm-by-visit-by-subgroup interaction; "
                         "interaction p: the joint test that the arm differences are equal "
                         "across the subgroup's levels (Kenward-Roger F for an MMRM). Subgroup "
                         "analyses are exploratory; all p-values nominal.", T.ci],
                 "ipt_outcomes.plan.subgroups", view="subgroup", src=n + "contrasts",
                 args={"interaction": n + "interaction"}, **g),
            Spec(f"{rid}-forest", "Figure", "14.2", "efficacy",
                 f"{row['label']}: difference against {T.reference_label} by subgroup", pop,
                 base + [f"Points and bars: difference and {T.confidence_percent}% interval."],
                 "ipt_outcomes.report.figures.subgroup_plot", figure="subgroup",
                 src=n + "contrasts", **g),
        ]  # fmt: skip
    return specs


def catalogue(tables: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Number the report's TLFs in order; their titles, populations and footnotes.

    Returns
    -------
    tlf : DataFrame
        ``number, kind, label, name, part, section, group, group_title, title, population,
        program, view, figure, src, args`` - one row per TLF in report order; ``label`` is e.g.
        "Table 14.2.1".
    footnotes : DataFrame
        ``name, order, text`` - the footnotes of each TLF, in order.
    """
    from .page import Furniture

    T = _Text(tables)
    synthetic = Furniture.from_tables(tables).note  # on every TLF when the data are generated
    specs = _participants(tables, T) + _descriptive(T)
    analyses = tables["analyses"]
    endpoint_rows = analyses[analyses["kind"] == "endpoint"]
    for row in endpoint_rows.to_dict("records"):
        specs += _analysis_specs(tables, row, T)
    if _has(tables, "multiplicity"):
        specs.append(
            Spec(
                "multiplicity",
                "Table",
                "14.2",
                "efficacy",
                "Confirmatory family: p-values before and after the multiplicity adjustment",
                "As for each endpoint of the family",
                [
                    f"Rule: {T.multiplicity_text}. Hypotheses in testing order: each endpoint of "
                    "the family in plan order, within it each compared arm in the design's order, "
                    "within that each of the endpoint's visits.",
                    "Estimate: arm minus reference, on each endpoint's own scale (a difference "
                    "in means or slopes on the instrument, a risk difference in percentage "
                    "points).",
                    "Modelled arms are outside the family.",
                ],
                "ipt_outcomes.plan.multiplicity",
                view="multiplicity",
                src="multiplicity",
                group="multiplicity",
                group_title="Multiplicity",
            )  # fmt: skip
        )
    for row in analyses[analyses["kind"] != "endpoint"].to_dict("records"):
        specs += _analysis_specs(tables, row, T)
    specs.append(
        Spec(
            "dropouts",
            "Listing",
            "16.2",
            "listings",
            f"Participants without a score at the last visit ({T.last_visit_label})",
            f"Randomised participants (n = {T.subjects})",
            [
                "Last visit with a score: the latest visit at which the participant has a "
                f"{T.instrument} score ({T.baseline_label} if none later).",
                T.modelled_note,
            ],
            "ipt_outcomes.plan.tables",
            view="dropouts",
            src="dropouts",
        )  # fmt: skip
    )
    counters: dict[tuple[str, str], int] = {}
    rows, notes = [], []
    for s in specs:
        if s.src and s.view and not _has(tables, s.src):
            continue
        counters[(s.part, s.kind)] = counters.get((s.part, s.kind), 0) + 1
        number = f"{s.part}.{counters[(s.part, s.kind)]}"
        rows.append(dict(number=number, kind=s.kind, label=f"{s.kind} {number}", name=s.name,
                         part=s.part, section=s.section, group=s.group,
                         group_title=s.group_title, title=s.title, population=s.population,
                         program=s.program, view=s.view, figure=s.figure, src=s.src,
                         args=";".join(f"{k}={v}" for k, v in s.args.items())))  # fmt: skip
        for i, text in enumerate(t for t in [*s.footnotes, synthetic] if t):
            notes.append(dict(name=s.name, order=i + 1, text=text))
    return (
        pd.DataFrame(rows, columns=TLF_COLUMNS),
        pd.DataFrame(notes, columns=["name", "order", "text"]),
    )
