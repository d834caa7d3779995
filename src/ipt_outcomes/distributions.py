"""Tail probabilities and quantiles of the t, F, normal and chi-square distributions.

Thin names over :mod:`scipy.special` (the same Cephes / Boost routines :mod:`scipy.stats` calls
for these distributions, so the numbers are identical), used on the command's hot paths because
importing :mod:`scipy.stats` alone costs about half a second of start-up.
"""

from __future__ import annotations

from scipy import special

__all__ = ["t_sf", "t_ppf", "f_sf", "norm_sf", "norm_ppf", "chi2_sf"]


def t_sf(x, df):
    """P(T > x) for Student's t on ``df`` degrees of freedom (``df = inf``: the normal)."""
    return special.stdtr(df, -x)


def t_ppf(q, df):
    """The ``q`` quantile of Student's t on ``df`` degrees of freedom."""
    return special.stdtrit(df, q)


def f_sf(x, d1, d2):
    """P(F > x) for the F distribution on ``d1`` and ``d2`` degrees of freedom."""
    return special.fdtrc(d1, d2, x)


def norm_sf(x):
    """P(Z > x) for the standard normal."""
    return special.ndtr(-x)


def norm_ppf(q):
    """The ``q`` quantile of the standard normal.

    Examples
    --------
    >>> round(float(norm_ppf(0.975)), 6)
    1.959964
    """
    return special.ndtri(q)


def chi2_sf(x, df):
    """P(X > x) for the chi-square distribution on ``df`` degrees of freedom."""
    return special.chdtrc(df, x)
