"""The one numeric Hessian of the package: differences of an analytic gradient.

Used where an analytic Hessian is not available (random-effects models) and to check the
analytic ones (MMRM). Central differences with Richardson extrapolation: error O(h^4).
"""

from __future__ import annotations

import numpy as np

__all__ = ["numeric_hessian"]


def numeric_hessian(gradient, theta, free=None, rel_step: float = 1e-3) -> np.ndarray:
    """Symmetrised Hessian from a gradient function by Richardson-extrapolated central differences.

    Parameters
    ----------
    gradient : callable
        ``gradient(theta) -> ndarray`` of the same length as ``theta``.
    theta : array_like
        Where to differentiate.
    free : sequence of int, optional
        Only these parameters (the others held fixed, e.g. at a boundary); the result is then
        ``len(free) x len(free)``.
    rel_step : float
        Step ``rel_step * max(1, |theta_h|)``; the extrapolation combines it with its half.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import numpy as np
    >>> H = numeric_hessian(lambda x: np.array([2 * x[0] + x[1], x[0] + 6 * x[1]]), [1.0, 2.0])
    >>> np.round(H, 8)
    array([[2., 1.],
           [1., 6.]])
    """
    theta = np.asarray(theta, dtype=float)
    k = len(theta)
    free = np.arange(k) if free is None else np.asarray(free, dtype=int)
    H = np.empty((k, len(free)))
    for col, h in enumerate(free):
        step = rel_step * max(1.0, abs(theta[h]))

        def diff(s, h=h):
            e = np.zeros(k)
            e[h] = s
            return (np.asarray(gradient(theta + e)) - np.asarray(gradient(theta - e))) / (2 * s)

        H[:, col] = (4 * diff(step / 2) - diff(step)) / 3
    Hf = H[free]
    return (Hf + Hf.T) / 2
