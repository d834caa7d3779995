"""Mixed model for repeated measures (MMRM) on numpy and scipy, matching SAS PROC MIXED and R mmrm.

Model: for subject *i* with visits v_i, ``y_i = X_i beta + e_i``, ``e_i ~ N(0, Sigma[v_i, v_i])``,
``Sigma`` a T x T covariance over the visit schedule with a chosen structure (optionally one per
arm). One module per concept:

* :mod:`.covariance` - the ten covariance structures and their derivatives;
* :mod:`.formula` - R mmrm's formula (fixed effects by :class:`~ipt_outcomes.models.design.
  ModelDesign`, the one design-matrix builder, and the covariance term);
* :mod:`.likelihood` - REML / ML criterion per missing-data pattern, analytic gradient and Hessian;
* :mod:`.kenward_roger`, :mod:`.satterthwaite`, :mod:`.empirical` - coefficient covariances,
  degrees of freedom and F tests;
* :mod:`.data` - the rows, factors, groups, coordinates and weights a formula names;
* :mod:`.optimise` - Newton on the analytic Hessian (L-BFGS-B when it stalls), starting values;
* :mod:`.fit` - the fit with its fallback, :func:`mmrm` (a formula) and :func:`fit_mmrm` (the
  SPEC's default model);
* :mod:`.results` - :class:`MMRMResults` (LS means, contrasts, F tests, fit table).
* :mod:`.refit` - many refits to reweighted subjects at once (jackknife,
  bootstrap), to the optimum or as R mmrm's optimiser stops.

The names below are imported when first used, so that a module needing only the covariance
structures or the refits does not load the inference machinery (and scipy.stats) with them.
"""

import importlib

_EXPORTS = {
    "COVARIANCE_STRUCTURES": "fit",
    "CovarianceStructure": "covariance",
    "DF_METHODS": "fit",
    "FALLBACK_ORDER": "fit",
    "MMRMFitError": "fit",
    "MAX_US_PARAMETERS": "fit",
    "VCOV_METHODS": "fit",
    "default_formula": "fit",
    "fit_mmrm": "fit",
    "mmrm": "fit",
    "resolve_vcov": "fit",
    "mmrm_data": "fit",
    "MMRMResults": "results",
}

__all__ = [
    "COVARIANCE_STRUCTURES",
    "DF_METHODS",
    "FALLBACK_ORDER",
    "MAX_US_PARAMETERS",
    "VCOV_METHODS",
    "CovarianceStructure",
    "MMRMFitError",
    "MMRMResults",
    "default_formula",
    "fit_mmrm",
    "mmrm",
    "mmrm_data",
    "resolve_vcov",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*__all__, *globals()])
