"""The one home of numeric derivatives: central differences of a function of a vector.

Used where an analytic derivative is not available (second derivatives of the structured MMRM
covariances, the random-effects models' Hessian and parameter transform) and to check the
analytic ones (the MMRM's Hessian). Central differences are O(h^2); :func:`numeric_hessian`
adds Richardson extrapolation (O(h^4)).
"""

from __future__ import annotations

import numpy as np

__all__ = ["central_jacobian", "numeric_hessian"]


def _steps(x: np.ndarray, rel_step: float) -> np.ndarray:
    return rel_step * np.maximum(1.0, np.abs(x))


def central_jacobian(f, x, rel_step: float = 1e-5, free=None, symmetric: bool = False):
    """Derivatives of ``f`` (array-valued, any shape) in each coordinate of ``x``.

    Parameters
    ----------
    f : callable
        ``f(x) -> ndarray`` of shape ``S``.
    x : array_like (k,)
    rel_step : float
        Step ``rel_step * max(1, |x_j|)``.
    free : sequence of int, optional
        Only these coordinates (default all).
    symmetric : bool
        ``f`` is itself a derivative (``S == (k,)``): return the symmetrised ``(k, k)`` matrix.

    Returns
    -------
    ndarray
        Shape ``S + (len(free),)``: the last axis is the coordinate differentiated.

    Examples
    --------
    >>> import numpy as np
    >>> J = central_jacobian(lambda x: np.array([x[0] * x[1], x[1] ** 2]), [2.0, 3.0])
    >>> J.round(6).tolist()
    [[3.0, 2.0], [0.0, 6.0]]
    """
    x = np.asarray(x, dtype=float)
    free = np.arange(len(x)) if free is None else np.asarray(free, dtype=int)
    h = _steps(x, rel_step)
    cols = []
    for j in free:
        e = np.zeros_like(x)
        e[j] = h[j]
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h[j]))
    J = np.stack(cols, axis=-1)
    if symmetric:
        J = (J + J.T) / 2
    return J


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
    free = np.arange(len(theta)) if free is None else np.asarray(free, dtype=int)
    coarse = central_jacobian(gradient, theta, rel_step, free)
    fine = central_jacobian(gradient, theta, rel_step / 2, free)
    H = ((4 * fine - coarse) / 3)[free]
    return (H + H.T) / 2
