"""Covariate-adjusted marginal response effects: g-computation under a logistic working model.

The FDA's 2023 guidance "Adjusting for Covariates in Randomized Clinical Trials for Drugs and
Biological Products" recommends adjusting a binary endpoint for prognostic baseline covariates
(in depression trials above all the baseline score) and reporting an unconditional, population
average (marginal) treatment effect with a robust variance. This module does that:

1. fit a logistic working model of the outcome on arm and the covariates (maximum likelihood,
   Newton-Raphson to convergence);
2. predict every analysed subject's risk under each arm in turn and average: the marginal risk
   of each arm (g-computation, standardisation);
3. contrast each arm with the reference (risk difference, risk ratio, odds ratio) with a
   delta-method standard error from the covariance of the marginal risks, by Ge et al. (2011)
   (sandwich or model-based) or Ye et al. (2023) (optionally stratification-aware).

It reproduces R beeca 0.2.0 ``get_marginal_effect`` (openpharma; Ge and Ye, with and without
strata, two and three arms) and the SAS ``%Margins`` macro and the SAS macro of Ge et al.
(model-based variance): ``tests/reference/adjusted/`` and ``tests/test_adjusted_reference.py``.

One file per step, as R beeca's verbs (``predict_counterfactuals`` -> ``average_predictions`` ->
``estimate_varcov`` -> ``apply_contrast``): :mod:`.working_model`, :mod:`.predictions`,
:mod:`.averaging`, :mod:`.variance`, :mod:`.contrasts`; :mod:`.effects` puts them together.
Only numpy and pandas are imported at module level; scipy is imported where it is needed, so
that the command line starts quickly.
"""

from __future__ import annotations

from .averaging import MarginalRisks
from .checks import VARIANCES
from .contrasts import CONTRASTS
from .effects import (
    adjusted_response,
    marginal_effects,
    marginal_effects_by_visit,
    marginal_risks,
)

__all__ = [
    "adjusted_response",
    "VARIANCES",
    "CONTRASTS",
    "MarginalRisks",
    "marginal_risks",
    "marginal_effects",
    "marginal_effects_by_visit",
]
