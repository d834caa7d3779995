"""Mixed model for repeated measures (MMRM)."""

from .fit import (
    COVARIANCE_STRUCTURES,
    DF_METHODS,
    FALLBACK_ORDER,
    CovarianceStructure,
    MMRMFitError,
    MMRMResults,
    fit_mmrm,
    mmrm_data,
)

__all__ = [
    "COVARIANCE_STRUCTURES",
    "DF_METHODS",
    "FALLBACK_ORDER",
    "CovarianceStructure",
    "MMRMFitError",
    "MMRMResults",
    "fit_mmrm",
    "mmrm_data",
]
