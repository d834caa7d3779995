"""Mixed model for repeated measures (MMRM) on numpy and scipy, matching SAS PROC MIXED and R mmrm.

Model: for subject *i* with visits v_i, ``y_i = X_i beta + e_i``, ``e_i ~ N(0, Sigma[v_i, v_i])``,
``Sigma`` a T x T covariance over the visit schedule with a chosen structure (optionally one per
arm). One module per concept:

* :mod:`.covariance` - the nine covariance structures and their derivatives;
* :mod:`.design` - fixed effects and the LS-means grid;
* :mod:`.likelihood` - REML / ML criterion per missing-data pattern, analytic gradient and Hessian;
* :mod:`.kenward_roger`, :mod:`.satterthwaite` - degrees of freedom and F tests;
* :mod:`.fit` - optimisation, fallback, :func:`fit_mmrm`;
* :mod:`.results` - :class:`MMRMResults` (LS means, contrasts, F tests, fit table).
"""

from .covariance import COVARIANCE_STRUCTURES, CovarianceStructure
from .fit import DF_METHODS, FALLBACK_ORDER, MMRMFitError, fit_mmrm, mmrm_data
from .results import MMRMResults

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
