"""The report's tables, figures and listings (TLFs), numbered as ICH E3 section 14 does.

Every TLF of the report is one :class:`Spec` here: its kind, where it belongs (14.1
participants, 14.2 efficacy, 14.3 sensitivity and supportive analyses, 16.2 listings), the
section of the report that shows it, its title, population and footnotes (method, missing-data
rule, what it is), the tables it needs and its layout (:mod:`ipt_outcomes.report.views`) or
figure. :func:`catalogue` numbers the TLFs whose tables exist - Table 14.2.1, Figure 14.2.1, ...
in order - and writes them as two generated tables, ``tlf`` and ``tlf_footnotes``, so that the
HTML, the RTF and the PDF read their numbers, titles and footnotes from the same place.

A new analysis joins the report by adding its tables to :func:`~.tables.build_tables`, a layout
to :mod:`~.views` and a spec here naming the section (see :data:`~.sections.SECTIONS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

__all__ = ["Spec", "SPECS", "catalogue", "Labels"]

KINDS = ("Table", "Figure", "Listing")


class Labels:
    """What the texts call things, read from the report's ``trial`` and ``mmrm_fit`` tables."""

    def __init__(self, tables: dict):
        self.t = tables
        self._v = tables["trial"].set_index("key")["value"].astype(str).replace("nan", "")

    def __getattr__(self, key: str) -> str:
        if key.startswith("_") or key == "t":
            raise AttributeError(key)
        return str(self._v.get(key, ""))

    @property
    def ref(self) -> str:
        return self.reference_label

    @property
    def conf(self) -> str:
        return self.confidence_percent

    @property
    def mmrm_model(self) -> str:
        fit = self.t.get("mmrm_fit")
        cov, df = "unstructured", "Kenward-Roger"
        if fit is not None and len(fit):
            cov, df = str(fit.iloc[0]["covariance_label"]), str(fit.iloc[0]["df_label"])
        return (
            "MMRM of the change from baseline at every post-baseline visit: fixed effects visit, "
            f"arm by visit and baseline by visit; {cov} covariance within participant; REML; "
            f"{df} degrees of freedom. LS means hold baseline at its mean."
        )

    @property
    def modelled_note(self) -> str:
        if not self.modelled_arms:
            return ""
        return (
            f"{self.modelled_arms}: modelled, not observed (rows marked). Its data are assumptions "
            "from the literature; it is analysed with the reference arm alone, never with the "
            "observed arms, and is not tested."
        )

    @property
    def adjusted_not_estimable(self) -> str:
        """Which key-visit adjusted effects are empty and why (arms and visits by label)."""
        a = self.t.get("response_adjusted")
        if a is None or not len(a):
            return ""
        arms, visits = self.t["arms"], self.t["visits"]
        key = set(visits.loc[visits["key"].astype(str) == "True", "visit"].astype(float))
        empty = a[(a["contrast"] == "risk_difference") & a["visit"].astype(float).isin(key)
                  & a["estimate"].isna()]  # fmt: skip
        if not len(empty):
            return ""
        arm_label = dict(zip(arms["arm"].astype(str), arms["label"].astype(str), strict=True))
        visit_label = dict(zip(visits["visit"].astype(float), visits["label"], strict=True))

        def labelled(note: str) -> str:
            for code in sorted(arm_label, key=len, reverse=True):
                note = re.sub(
                    rf"\barm {re.escape(code)}(?=[;,:)]|$)", f"arm {arm_label[code]}", note
                )
            return note

        parts = [
            f"{arm_label.get(str(r.arm), str(r.arm))} at {visit_label.get(float(r.visit), r.visit)}"
            f" ({labelled(str(r.note))})"
            for r in empty.itertuples(index=False)
        ]
        return (
            "Baseline-adjusted effect not estimable for " + "; ".join(parts) + "; the unadjusted "
            "effects are shown."
        )

    @property
    def holm_note(self) -> str:
        return (
            "Holm p: Holm's step-down adjustment over the confirmatory family defined in the "
            "analysis plan (every observed arm against the reference at each key visit, primary "
            "and key secondary endpoint); every other p-value is nominal."
        )


@dataclass(frozen=True)
class Spec:
    """One TLF: what it shows and what it says about itself."""

    name: str  # identifier: the figure's file stem, the RTF's name, the HTML anchor
    kind: str  # Table, Figure or Listing
    part: str  # 14.1, 14.2, 14.3 or 16.2 (ICH E3)
    section: str  # the report section that shows it (sections.SECTIONS)
    title: Callable[[Labels], str]
    population: Callable[[Labels], str]
    footnotes: Callable[[Labels], list[str]]
    program: str  # the functions that made the numbers
    requires: tuple[str, ...] = ()  # tables that must exist and have rows
    view: str = ""  # a layout of views.VIEWS (tables and listings)
    figure: str = ""  # a figure of figures.FIGURES (figures)


def _ci(L: Labels) -> str:
    return f"CI: {L.conf}% confidence interval."


def _obs_cases(L: Labels) -> str:
    return "Missing data: observed cases - participants with a baseline and a score at the visit; no imputation."


SPECS: tuple[Spec, ...] = (
    # ---------------------------------------------------------------- 14.1 participants
    Spec("consort_diagram", "Figure", "14.1", "participants",
         lambda L: "Participant flow by arm (CONSORT diagram)",
         lambda L: f"All randomised participants (n = {L.subjects})",
         lambda L: ["Drawn from the score file: a participant counts as assessed at a visit when "
                    f"the {L.instrument} score is present. Lost: no score at that visit or later.",
                    "Full analysis set: randomised participants with a baseline and at least one "
                    "post-baseline score.", L.modelled_note],
         "ipt_outcomes.report.tables (participant flow), figures.consort_diagram",
         requires=("consort",), figure="consort"),
    Spec("consort", "Table", "14.1", "participants",
         lambda L: "Participant flow by arm and stage",
         lambda L: f"All randomised participants (n = {L.subjects})",
         lambda L: ["Not at this stage: randomised participants without a score at that visit "
                    "(or outside the full analysis set). Lost for good: no score at that visit or "
                    "any later one; first lost here: lost for good from this visit on.",
                    L.modelled_note],
         "ipt_outcomes.report.tables", requires=("consort",), view="consort"),
    Spec("baseline", "Table", "14.1", "participants",
         lambda L: "Baseline characteristics by arm",
         lambda L: f"All randomised participants (n = {L.subjects})",
         lambda L: ["Mean (SD) for continuous characteristics; n (%) for binary ones, percent of "
                    "those with the characteristic recorded.",
                    f"SMD: standardised difference against {L.ref} (difference in means or "
                    "proportions over the pooled SD). No p-values: baseline differences in a "
                    "randomised trial are due to chance (CONSORT 2010, item 15).", L.modelled_note],
         "ipt_outcomes.report.tables", requires=("baseline_table",), view="baseline"),
    Spec("missingness", "Table", "14.1", "participants",
         lambda L: f"Participants with and without a {L.instrument} score by arm and visit",
         lambda L: f"All randomised participants (n = {L.subjects})",
         lambda L: ["Missing: randomised participants without a score at the visit, whatever "
                    "the reason.", L.modelled_note],
         "ipt_outcomes.report.tables", requires=("missingness",), view="missingness"),
    Spec("missingness_figure", "Figure", "14.1", "participants",
         lambda L: f"Missing {L.instrument} scores by arm and visit (percent of randomised)",
         lambda L: f"All randomised participants (n = {L.subjects})",
         lambda L: ["Drawn from the table of participants with and without a score.", L.modelled_note],
         "ipt_outcomes.report.figures.missingness_plot", requires=("missingness",),
         figure="missingness"),
    Spec("published", "Table", "14.1", "participants",
         lambda L: "Published and reproduced response rates",
         lambda L: "Observed cases at each visit",
         lambda L: [f"Published: {L.citation}. Reproduced: the response rates of the analysed "
                    "data, rounded half up to whole percent as published.",
                    "The data are a synthetic reconstruction made to match the published "
                    "summary figures; they are not the trial's patients.", _obs_cases(L)],
         "ipt_outcomes.report.tables, stats.granularity", requires=("published_vs_reproduced",),
         view="published"),
    Spec("granularity", "Table", "14.1", "participants",
         lambda L: "Granularity check of the published percentages against reported denominators",
         lambda L: "Denominators reported in secondary sources",
         lambda L: ["A percentage of whole patients can take only the values k/n; a published "
                    "percentage that no whole k gives out of the reported n cannot describe that "
                    "denominator (GRIM test, Brown and Heathers 2017)."],
         "ipt_outcomes.stats.granularity", requires=("granularity",), view="granularity"),
    # ---------------------------------------------------------------- 14.2 efficacy
    Spec("descriptive_scores", "Table", "14.2", "efficacy",
         lambda L: f"{L.instrument} total score by arm and visit: descriptive statistics",
         lambda L: "All randomised participants with a score at the visit",
         lambda L: [f"Range of the scale {L.instrument_range}; higher scores mean more severe "
                    "symptoms. SD: standard deviation; quartiles as R's default (type 7).",
                    "Missing data: none imputed; n is the number with a score.", L.modelled_note],
         "ipt_outcomes.data.summary.descriptive_by_visit", requires=("descriptive_scores",),
         view="descriptive_scores"),
    Spec("descriptive_change", "Table", "14.2", "efficacy",
         lambda L: f"Change from baseline in {L.instrument} by arm and visit: descriptive statistics",
         lambda L: "Participants with a baseline and a score at the visit",
         lambda L: ["Change: score at the visit minus baseline; negative values are improvement.",
                    "Missing data: none imputed; n is the number with a baseline and a score.",
                    L.modelled_note],
         "ipt_outcomes.data.summary.descriptive_by_visit", requires=("descriptive_change",),
         view="descriptive_change"),
    Spec("lsmeans", "Table", "14.2", "efficacy",
         lambda L: f"MMRM: least-squares mean change from baseline in {L.instrument} by arm and visit",
         lambda L: f"Full analysis set (n = {L.n_fas})",
         lambda L: [L.mmrm_model, "Missing data: every observed score is used; missing scores are "
                    "assumed missing at random (likelihood-based, no imputation).", _ci(L),
                    L.modelled_note],
         "ipt_outcomes.models.mmrm.fit_mmrm", requires=("mmrm_lsmeans",), view="lsmeans"),
    Spec("contrasts", "Table", "14.2", "efficacy",
         lambda L: f"MMRM: difference in change from baseline against {L.ref} (primary endpoint)",
         lambda L: f"Full analysis set (n = {L.n_fas})",
         lambda L: [f"Difference: arm minus {L.ref}; negative values favour the arm. Key visits "
                    f"({L.key_visit_labels}) carry the conclusions; other visits are supportive.",
                    L.mmrm_model, "Missing data: missing at random (likelihood-based).",
                    L.holm_note, _ci(L), L.modelled_note],
         "ipt_outcomes.models.mmrm.fit_mmrm", requires=("mmrm_contrasts",), view="contrasts"),
    Spec("mmrm_figure", "Figure", "14.2", "efficacy",
         lambda L: f"MMRM: least-squares mean change from baseline in {L.instrument} by arm",
         lambda L: f"Full analysis set (n = {L.n_fas})",
         lambda L: [L.mmrm_model, f"Error bars: {L.conf}% confidence intervals.", L.modelled_note],
         "ipt_outcomes.models.mmrm.fit_mmrm, report.figures.mmrm_plot",
         requires=("mmrm_lsmeans",), figure="mmrm"),
    Spec("rates", "Table", "14.2", "efficacy",
         lambda L: "Response and remission by arm and visit",
         lambda L: "Observed cases at each visit",
         lambda L: [f"Response: at least {L.response_percent}% improvement from baseline (the "
                    f"boundary counts as response); remission: {L.instrument} of {L.remission_max} "
                    "or less.", f"Wilson score {L.conf}% intervals.", _obs_cases(L),
                    L.modelled_note],
         "ipt_outcomes.stats.response.analyse_response", requires=("response_rates",),
         view="rates"),
    Spec("rates_figure", "Figure", "14.2", "efficacy",
         lambda L: "Response and remission by arm and visit",
         lambda L: "Observed cases at each visit",
         lambda L: [f"Error bars: Wilson score {L.conf}% intervals.", _obs_cases(L), L.modelled_note],
         "ipt_outcomes.stats.response, report.figures.rates_plot", requires=("response_rates",),
         figure="rates"),
    Spec("response_primary", "Table", "14.2", "efficacy",
         lambda L: f"Response at the key visits against {L.ref}: baseline-adjusted and unadjusted "
                   "effects (key secondary endpoint)",
         lambda L: "Observed cases at each key visit",
         lambda L: [f"Baseline-adjusted: marginal (population-average) effect by g-computation "
                    f"under a logistic working model of response on arm and baseline "
                    f"{L.instrument}, with the variance of Ge et al. (2011) (delta method, HC0 "
                    "sandwich), as the FDA's 2023 guidance on covariate adjustment recommends.",
                    "Unadjusted: risk difference with Newcombe's hybrid score interval, risk ratio "
                    "with the log interval, odds ratio with Woolf's interval, Fisher's exact test; "
                    "NNT = one over the risk difference, rounded up and worded NNTB/NNTH (Altman "
                    "1998). Risk differences in percentage points (pp).",
                    L.adjusted_not_estimable, L.holm_note, _obs_cases(L), _ci(L),
                    L.modelled_note],
         "ipt_outcomes.stats.adjusted.adjusted_response, stats.response.compare_with_reference",
         requires=("response_comparisons",), view="response_primary"),
    Spec("forest", "Figure", "14.2", "efficacy",
         lambda L: f"Risk difference in response against {L.ref} at the key visits, "
                   "baseline-adjusted and unadjusted",
         lambda L: "Observed cases at each key visit",
         lambda L: [f"Points and bars: risk difference and {L.conf}% interval in percentage points "
                    "(adjusted: g-computation with Ge's variance; unadjusted: Newcombe).",
                    L.adjusted_not_estimable, _obs_cases(L), L.modelled_note],
         "ipt_outcomes.stats.adjusted, report.figures.forest_plot",
         requires=("response_comparisons",), figure="forest"),
    Spec("multiplicity", "Table", "14.2", "efficacy",
         lambda L: "Confirmatory family: p-values before and after Holm's adjustment",
         lambda L: "As for the primary and key secondary analyses",
         lambda L: [f"Family: every observed arm against {L.ref} at each key visit "
                    f"({L.key_visit_labels}) on the primary endpoint (MMRM) and the key secondary "
                    f"endpoint (baseline-adjusted risk difference in response); Holm's step-down "
                    f"procedure keeps the familywise error rate at {L.alpha} (two-sided).",
                    "Modelled arms are outside the family."],
         "statsmodels.stats.multitest.multipletests (Holm)", requires=("multiplicity",),
         view="multiplicity"),
    Spec("response_comparisons", "Table", "14.2", "efficacy",
         lambda L: f"Response at every visit against {L.ref}: unadjusted comparisons",
         lambda L: "Observed cases at each visit",
         lambda L: ["Risk difference (pp) with Newcombe's hybrid score interval; risk ratio with the "
                    "log interval; odds ratio with Woolf's interval; NNT rounded up and worded "
                    "NNTB/NNTH with the inverted risk-difference interval (Altman 1998); Fisher's "
                    "exact test. An undefined ratio (a zero cell) is shown as not defined.",
                    "All p-values nominal.", _obs_cases(L), _ci(L), L.modelled_note],
         "ipt_outcomes.stats.response.compare_with_reference", requires=("response_comparisons",),
         view="response_comparisons"),
    Spec("remission_comparisons", "Table", "14.2", "efficacy",
         lambda L: f"Remission at every visit against {L.ref}: unadjusted comparisons",
         lambda L: "Observed cases at each visit",
         lambda L: [f"Remission: {L.instrument} of {L.remission_max} or less. Methods as for "
                    "response.", "All p-values nominal.", _obs_cases(L), _ci(L), L.modelled_note],
         "ipt_outcomes.stats.response.compare_with_reference",
         requires=("remission_comparisons",), view="remission_comparisons"),
    Spec("spaghetti", "Figure", "14.2", "efficacy",
         lambda L: f"Individual {L.instrument} trajectories by arm",
         lambda L: "All randomised participants with a score",
         lambda L: ["One line per participant through the observed scores; gaps are missed "
                    "visits.", L.modelled_note],
         "ipt_outcomes.report.figures.spaghetti_plot", figure="spaghetti"),
    Spec("waterfall", "Figure", "14.2", "efficacy",
         lambda L: f"Percent change from baseline in {L.instrument} at {L.last_key_visit_label}, "
                   "one bar per participant",
         lambda L: f"Observed cases at {L.last_key_visit_label}",
         lambda L: [f"Dashed line: the response threshold ({L.response_percent}% improvement).",
                    _obs_cases(L), L.modelled_note],
         "ipt_outcomes.report.figures.waterfall_plot", requires=("waterfall",),
         figure="waterfall"),
    # ---------------------------------------------------------------- 14.3 sensitivity
    Spec("sensitivity", "Table", "14.3", "sensitivity",
         lambda L: f"Comparisons at {L.last_key_visit_label} under each missing-data rule",
         lambda L: "Observed cases; every participant with a baseline (non-responder imputation, "
                   "last observation carried forward); full analysis set (MMRM)",
         lambda L: ["Observed cases: those assessed at the visit. Non-responder imputation: a "
                    "missing visit counts as non-response. Last observation carried forward: the "
                    "last score at or before the visit (baseline if none). MMRM: all observed "
                    "scores, missing at random.",
                    "Response: risk difference (pp), Newcombe interval, Fisher's test; change: "
                    "MMRM difference, t-test. All p-values nominal.", _ci(L), L.modelled_note],
         "ipt_outcomes.stats.response.binary_outcomes, models.mmrm", requires=("sensitivity",),
         view="sensitivity"),
    Spec("sensitivity_figure", "Figure", "14.3", "sensitivity",
         lambda L: f"Does the conclusion at {L.last_key_visit_label} depend on the missing-data rule?",
         lambda L: "As in the table of comparisons under each missing-data rule",
         lambda L: [f"Points and bars: estimate and {L.conf}% interval against {L.ref}.",
                    L.modelled_note],
         "ipt_outcomes.report.figures.sensitivity_plot", requires=("sensitivity",),
         figure="sensitivity"),
    Spec("ancova", "Table", "14.3", "sensitivity",
         lambda L: f"ANCOVA of {L.instrument} at the key visits on baseline and arm, with robust "
                   "standard errors",
         lambda L: "Observed cases at each key visit",
         lambda L: [f"Adjusted difference: arm minus {L.ref}, adjusted for baseline; HC3 robust "
                    "standard errors (MacKinnon and White 1985); t on the residual df.",
                    "All p-values nominal.", _obs_cases(L), _ci(L), L.modelled_note],
         "ipt_outcomes.models.ancova.ancova_by_visit (statsmodels OLS)", requires=("ancova_hc3",),
         view="ancova"),
    Spec("hedges", "Table", "14.3", "sensitivity",
         lambda L: f"Hedges' g of the {L.instrument} score at the key visits (unadjusted)",
         lambda L: "Observed cases at each key visit",
         lambda L: ["Unadjusted: the observed scores, no covariates (not adjusted for baseline); "
                    "negative g favours the arm. Small-sample corrected, variance of Hedges and "
                    "Olkin (1985), normal-theory interval.", _obs_cases(L), _ci(L),
                    L.modelled_note],
         "ipt_outcomes.stats.effect_sizes.hedges_g", requires=("hedges_g",), view="hedges"),
    Spec("lmm_fixed", "Table", "14.3", "sensitivity",
         lambda L: f"Random-effects growth model of {L.instrument}: fixed effects",
         lambda L: f"Observed arms ({L.observed_arms}), every score including baseline",
         lambda L: [f"Score on arm by time (time in {L.visit_unit or 'visit units'}) with a random "
                    "intercept per participant; REML; Satterthwaite degrees of freedom (as "
                    "lmerTest). Terms name the arm against the reference.",
                    "Missing data: every observed score is used (missing at random).",
                    "All p-values nominal.", _ci(L)],
         "ipt_outcomes.models.lmm.growth_model", requires=("lmm_fixed",), view="lmm_fixed"),
    Spec("lmm_fit", "Table", "14.3", "sensitivity",
         lambda L: "Random-effects growth model: variance components and fit",
         lambda L: f"Observed arms ({L.observed_arms})",
         lambda L: ["Restricted maximum likelihood; a fit on the boundary of the parameter space "
                    "is reported as singular."],
         "ipt_outcomes.models.lmm.lmm_fit_table", requires=("lmm_fit",), view="lmm_fit"),
    Spec("lmm_icc", "Table", "14.3", "sensitivity",
         lambda L: "Therapy-group clustering: partially nested model, variance components",
         lambda L: f"Observed arms ({L.observed_arms}), post-baseline scores",
         lambda L: ["Partially nested model (Roberts and Roberts 2005; Baldwin et al. 2011): a "
                    "therapy-group random intercept in the group-therapy arm only, a participant "
                    "random intercept in every arm; REML."],
         "ipt_outcomes.models.lmm.partially_nested_model", requires=("lmm_icc",), view="lmm_icc"),
    Spec("lmm_nested", "Table", "14.3", "sensitivity",
         lambda L: "Therapy-group clustering: the group arm's effect with and without the group term",
         lambda L: f"Observed arms ({L.observed_arms}), post-baseline scores",
         lambda L: ["Ignoring the therapy groups understates the standard error of the group "
                    "arm's effect.", "All p-values nominal.", _ci(L)],
         "ipt_outcomes.models.lmm.partially_nested_model", requires=("lmm_nested",),
         view="lmm_nested"),
    Spec("estimand", "Table", "14.3", "estimands",
         lambda L: "The primary estimand in the attributes of ICH E9(R1)",
         lambda L: "Every randomised participant with a baseline, observed arms",
         lambda L: ["Intercurrent event: discontinuation or dropout before the last visit (the "
                    "first visit without a score after which none follows); a missed visit "
                    "followed by an observed one is missing at random.", L.modelled_note],
         "ipt_outcomes.estimands.estimand_tables", requires=("estimand",), view="estimand"),
    Spec("mi_contrasts", "Table", "14.3", "estimands",
         lambda L: f"Primary MMRM and reference-based multiple imputation: difference in change "
                   f"from baseline against {L.ref}, {L.last_visit_label}",
         lambda L: "Every participant with a baseline, observed arms",
         lambda L: ["Strategies for dropouts (Carpenter, Roger and Kenward 2013): MAR, missing at "
                    "random; JR, jump to reference; CR, copy reference; CIR, copy increments in "
                    "reference; LMCF, last mean carried forward. Conditional mean imputation with "
                    "jackknife standard errors (Wolbers et al. 2022), normal intervals; imputation "
                    "model: the MMRM (unstructured covariance, REML); analysis: ANCOVA of change on "
                    "arm and baseline. A strategy that cannot be applied says why.",
                    "All p-values nominal.", _ci(L), L.modelled_note],
         "ipt_outcomes.estimands.reference_based_mi (checked against R rbmi)",
         requires=("mi_contrasts",), view="mi_contrasts"),
    Spec("tipping_point", "Figure", "14.3", "estimands",
         lambda L: f"Tipping point: the difference against {L.ref} as imputed scores are made worse",
         lambda L: "Every participant with a baseline, observed arms",
         lambda L: ["Delta-adjusted multiple imputation under MAR: delta points added to every "
                    "imputed post-dropout score of the compared arm (the reference arm unchanged); "
                    f"conditional mean imputation with jackknife standard errors; {L.last_visit_label}.",
                    _ci(L)],
         "ipt_outcomes.estimands (MIResults.tipping_point)", requires=("tipping_point",),
         figure="tipping_point"),
    Spec("tipping_point_exact", "Table", "14.3", "estimands",
         lambda L: "Tipping point: the shift at which the conclusion changes",
         lambda L: "Every participant with a baseline, observed arms",
         lambda L: ["The delta (points added to imputed scores) at which the two-sided p-value "
                    "crosses the conventional level, found by root search on the delta-adjusted "
                    "analysis; none within the grid when a row is absent.", _ci(L)],
         "ipt_outcomes.estimands (MIResults.tipping_point_exact)",
         requires=("tipping_point_exact",), view="tipping_point_exact"),
    # ---------------------------------------------------------------- 16.2 listings
    Spec("dropouts", "Listing", "16.2", "listings",
         lambda L: f"Participants without a score at the last visit ({L.last_visit_label})",
         lambda L: f"All randomised participants (n = {L.subjects})",
         lambda L: ["Last visit with a score: the latest visit at which the participant has a "
                    f"{L.instrument} score ({L.baseline_label} if none later).", L.modelled_note],
         "ipt_outcomes.report.tables", requires=("dropouts",), view="dropouts"),
)  # fmt: skip


def _present(tables: dict, names) -> bool:
    return all(n in tables and tables[n] is not None and len(tables[n]) for n in names)


def catalogue(tables: dict, specs=SPECS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Number the TLFs whose tables exist; their titles, populations and footnotes.

    Returns
    -------
    tlf : DataFrame
        ``number, kind, label, name, part, section, title, population, program`` - one row per
        TLF in report order; ``label`` is e.g. "Table 14.2.1".
    footnotes : DataFrame
        ``name, order, text`` - the footnotes of each TLF, in order.
    """
    L = Labels(tables)
    counters: dict[tuple[str, str], int] = {}
    rows, notes = [], []
    for s in specs:
        if s.requires and not _present(tables, s.requires):
            continue
        counters[(s.part, s.kind)] = counters.get((s.part, s.kind), 0) + 1
        number = f"{s.part}.{counters[(s.part, s.kind)]}"
        rows.append(dict(number=number, kind=s.kind, label=f"{s.kind} {number}", name=s.name,
                         part=s.part, section=s.section, title=s.title(L),
                         population=s.population(L), program=s.program))  # fmt: skip
        for i, text in enumerate(t for t in s.footnotes(L) if t):
            notes.append(dict(name=s.name, order=i + 1, text=text))
    return (
        pd.DataFrame(
            rows,
            columns=[
                "number",
                "kind",
                "label",
                "name",
                "part",
                "section",
                "title",
                "population",
                "program",
            ],
        ),  # fmt: skip
        pd.DataFrame(notes, columns=["name", "order", "text"]),
    )


def spec(name: str) -> Spec:
    """The spec called ``name``."""
    for s in SPECS:
        if s.name == name:
            return s
    raise KeyError(name)
