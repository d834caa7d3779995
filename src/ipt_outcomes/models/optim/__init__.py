"""The models' workshop: optimisers and numeric derivatives shared by the model families.

* :mod:`.lbfgsb` - L-BFGS-B as R's ``optim`` runs it, vectorised over many problems (the MMRM
  refits that rbmi-style resampling needs);
* :mod:`.derivatives` - central differences (:func:`central_jacobian`) and the numeric Hessian
  (:func:`numeric_hessian`), the package's one home for numeric derivatives.
"""

from .derivatives import central_jacobian, numeric_hessian
from .lbfgsb import minimize_batch

__all__ = ["central_jacobian", "minimize_batch", "numeric_hessian"]
