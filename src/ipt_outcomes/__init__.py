"""ipt-outcomes: outcomes research and trial analysis for depression psychotherapy trials.

A score file and a design file become one validated, derived :class:`Trial`
(:func:`load_trial`); every analysis takes it::

    import ipt_outcomes as ipt

    trial = ipt.load_trial("data/synthetic/trial.csv", "analyses/saloheimo2016.toml")
    ipt.analyse_response(trial, "nri").response_comparisons
    ipt.fit_mmrm(trial).contrasts()
    ipt.growth_model(trial, random_slope=True).fixed_effects()
    ipt.run_plan(trial).ard()  # the design file's analysis plan, every number one row

Names are imported on first use, so ``import ipt_outcomes`` (and the command line) start fast.
"""

from __future__ import annotations

import importlib

#: public name -> module that defines it
_EXPORTS = {
    # data
    "Trial": "data.trial",
    "load_trial": "data.trial",
    "trial_from_frame": "data.trial",
    "TrialDesign": "data.design",
    "ColumnMap": "data.design",
    "Instrument": "data.design",
    "Arm": "data.design",
    "load_design": "data.design",
    "default_design": "data.design",
    "read_table": "data.readers",
    "validate_scores": "data.validation",
    "derive_outcomes": "data.derive",
    "is_responder": "data.derive",
    "simulate_trial": "datasets",
    "assessment_counts": "data.summary",
    "observed_response": "data.summary",
    "descriptive_by_visit": "data.summary",
    # response
    "analyse_response": "stats.response",
    "binary_outcomes": "stats.response",
    "rates": "stats.response",
    "compare_with_reference": "stats.response",
    "chi_square_by_visit": "stats.response",
    "proportion_ci": "stats.proportions",
    "risk_difference_ci": "stats.proportions",
    "nnt_interval": "stats.proportions",
    "gee_response": "models.gee",
    "hedges_g": "stats.effect_sizes",
    # reliable and clinically significant change
    "reliable_change": "stats.reliable_change",
    "jacobson_truax": "stats.reliable_change",
    "reliable_change_plot": "stats.reliable_change",
    "lookup_instrument": "data.instruments",
    # models
    "fit_mmrm": "models.mmrm",
    "mmrm": "models.mmrm",
    "mmrm_data": "models.mmrm",
    "MMRMResults": "models.mmrm",
    "fit_lmm": "models.lmm",
    "growth_model": "models.lmm",
    "fit_growth_model": "models.lmm",
    "partially_nested_model": "models.lmm",
    "LMMResults": "models.lmm",
    "ancova_by_visit": "models.ancova",
    # estimands
    "impute_mvn": "estimands.mvn",
    "mi_contrast": "estimands.mvn",
    "tipping_point": "estimands.mvn",
    "pool_rubin": "estimands.mvn",
    "reference_based_mi": "estimands.reference_based",
    "estimand_tables": "estimands.tables",
    "read_events": "estimands.events",
    "intercurrent_events": "estimands.events",
    # appraisal and planning
    "fragility_index": "stats.appraisal",
    "grim_table": "stats.appraisal",
    "grim_mean": "stats.appraisal",
    "simulate_power": "stats.power",
    "exact_power": "stats.power",
    "sample_size": "stats.power",
    "mmrm_scenario": "stats.power",
    "simulate_mmrm_power": "stats.power",
    "adjusted_response": "stats.adjusted",
    "marginal_effects": "stats.adjusted",
    "fit_ancova": "models.ancova",
    # the analysis plan
    "run_plan": "plan.run",
    "resolve_plan": "plan.resolve",
    "default_plan": "plan.resolve",
    "report_tables": "plan.tables",
    # meta-analysis of published trials
    "read_effect_sizes": "meta",
    "aggregate_effects": "meta",
    "estimate_tau2": "meta",
    "random_effects": "meta",
    "tau2_confint": "meta",
    "cochran_q": "meta",
    "egger_test": "meta",
    "meta_analysis": "meta",
    "MetaAnalysis": "meta",
    "RandomEffectsResults": "meta",
    "meta_forest_plot": "meta",
    "funnel_plot": "meta",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("ipt-outcomes")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0+unknown"
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ipt_outcomes' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
