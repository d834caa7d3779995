"""Random-effects meta-analysis of published trials, as R metafor's ``rma`` (``ipt-outcomes meta``).

One module per concept: :mod:`.readers` (the Metapsy data standard and other tables),
:mod:`.aggregate` (several effect sizes per study), :mod:`.estimators` (tau^2: REML, ML, PM,
DL), :mod:`.heterogeneity` (Q, I^2, H^2, the Q-profile interval), :mod:`.pooling` (the pooled
effect, Knapp-Hartung or z, the prediction interval, weights), :mod:`.egger` (small-study
effects), :mod:`.analysis` (the whole analysis with subgroups) and :mod:`.plots` (forest and
funnel plots). Every number is checked against metafor in ``tests/reference/meta``.
"""

from .aggregate import aggregate_effects, duplicated_studies
from .analysis import MISSING_LEVEL, MetaAnalysis, meta_analysis, subgroup_levels
from .egger import EGGER_COLUMNS, egger_table, egger_test
from .estimators import TAU2_METHODS, Tau2Estimate, estimate_tau2, generalised_q, log_likelihood
from .heterogeneity import cochran_q, h_squared, i_squared, tau2_confint, typical_variance
from .plots import funnel_plot, meta_forest_plot
from .pooling import POOLED_COLUMNS, STUDY_COLUMNS, TESTS, RandomEffectsResults, random_effects
from .readers import MISSING_TOKENS, effect_sizes_from_frame, parse_number, read_effect_sizes

__all__ = [
    "read_effect_sizes",
    "effect_sizes_from_frame",
    "parse_number",
    "MISSING_TOKENS",
    "aggregate_effects",
    "duplicated_studies",
    "TAU2_METHODS",
    "Tau2Estimate",
    "estimate_tau2",
    "generalised_q",
    "log_likelihood",
    "cochran_q",
    "typical_variance",
    "i_squared",
    "h_squared",
    "tau2_confint",
    "TESTS",
    "POOLED_COLUMNS",
    "STUDY_COLUMNS",
    "RandomEffectsResults",
    "random_effects",
    "EGGER_COLUMNS",
    "egger_test",
    "egger_table",
    "MetaAnalysis",
    "meta_analysis",
    "subgroup_levels",
    "MISSING_LEVEL",
    "meta_forest_plot",
    "funnel_plot",
]
