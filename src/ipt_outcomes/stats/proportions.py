"""Proportions and their comparisons: intervals of a rate, of a risk difference, and the NNT.

Wilson, Clopper-Pearson and Agresti-Coull intervals of a binomial proportion; Newcombe's hybrid
score and Miettinen-Nurminen intervals of a risk difference; the number needed to treat with its
interval worded NNTB / NNTH (Altman 1998). Checked against R in ``tests/reference/response/``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from ..constants import CI_METHODS, RD_METHODS

__all__ = ["CI_METHODS", "RD_METHODS", "proportion_ci", "risk_difference_ci", "nnt_interval"]


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


# ------------------------------------------------------------------------------------------
# intervals
# ------------------------------------------------------------------------------------------


def proportion_ci(k, n, method: str = "wilson", alpha: float = 0.05):
    """Confidence interval of a binomial proportion ``k / n``.

    Parameters
    ----------
    k, n : int or array-like
        Events and trials (``n >= 1``, ``0 <= k <= n``).
    method : {"wilson", "clopper-pearson", "agresti-coull"}
        Wilson score interval (default; R ``prop.test(correct = FALSE)``), exact Clopper-Pearson
        (R ``binom.test``) or Agresti-Coull (Wilson centre with a Wald width, clipped to [0, 1]).
    alpha : float
        1 - confidence level.

    Returns
    -------
    (low, high) : tuple of float or arrays

    Examples
    --------
    >>> [round(x, 4) for x in proportion_ci(16, 38)]
    [0.2785, 0.5781]
    >>> [round(x, 4) for x in proportion_ci(0, 10, "clopper-pearson")]
    [0.0, 0.3085]
    """
    _check_alpha(alpha)
    if method not in CI_METHODS:
        raise ValueError(f"method must be one of {CI_METHODS}, got {method!r}")
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise ValueError("need n >= 1 and 0 <= k <= n")
    z = _z(alpha)
    p = k / n
    if method == "wilson":
        centre = (k + z**2 / 2) / (n + z**2)
        half = z * np.sqrt(n) / (n + z**2) * np.sqrt(p * (1 - p) + z**2 / (4 * n))
        low, high = centre - half, centre + half
        low = np.where(k == 0, 0.0, low)
        high = np.where(k == n, 1.0, high)
    elif method == "clopper-pearson":
        with np.errstate(invalid="ignore"):
            low = np.where(k == 0, 0.0, stats.beta.ppf(alpha / 2, k, n - k + 1))
            high = np.where(k == n, 1.0, stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    else:
        nt = n + z**2
        pt = (k + z**2 / 2) / nt
        half = z * np.sqrt(pt * (1 - pt) / nt)
        low, high = np.clip(pt - half, 0, 1), np.clip(pt + half, 0, 1)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def _mn_restricted(p1, p2, n1, n2, delta):
    """Restricted MLEs (p1~, p2~) with p1~ - p2~ = delta (Miettinen & Nurminen 1985, closed form)."""
    theta = n2 / n1
    a = 1 + theta
    b = -(1 + theta + p1 + theta * p2 + delta * (theta + 2))
    c = delta**2 + delta * (2 * p1 + theta + 1) + p1 + theta * p2
    d = -p1 * delta * (1 + delta)
    v = b**3 / (27 * a**3) - b * c / (6 * a**2) + d / (2 * a)
    s = b**2 / (9 * a**2) - c / (3 * a)
    u = math.copysign(math.sqrt(max(s, 0.0)), v) if v != 0 else math.sqrt(max(s, 0.0))
    if u == 0:
        q1 = -b / (3 * a)
    else:
        w = (math.pi + math.acos(max(-1.0, min(1.0, v / u**3)))) / 3
        q1 = 2 * u * math.cos(w) - b / (3 * a)
    q1 = min(max(q1, 0.0), 1.0)
    q2 = min(max(q1 - delta, 0.0), 1.0)
    return q1, q2


def risk_difference_ci(k1, n1, k2, n2, method: str = "newcombe", alpha: float = 0.05):
    """Interval of the risk difference ``k1/n1 - k2/n2``.

    Parameters
    ----------
    k1, n1, k2, n2 : int
        Events and totals of the arm (1) and the reference (2).
    method : {"newcombe", "miettinen-nurminen"}
        Newcombe's hybrid score interval (1998, method 10: Wilson limits of each proportion
        combined) or the Miettinen-Nurminen (1985) score interval with its ``N / (N - 1)``
        variance correction, found by root-finding on the score statistic.
    alpha : float

    Returns
    -------
    (low, high) : tuple of float

    Examples
    --------
    >>> [round(x, 4) for x in risk_difference_ci(56, 70, 48, 80)]  # Newcombe 1998, example (a)
    [0.0524, 0.3339]
    """
    if method not in RD_METHODS:
        raise ValueError(f"method must be one of {RD_METHODS}, got {method!r}")
    if min(n1, n2) < 1:
        raise ValueError("both groups need at least one subject")
    p1, p2 = k1 / n1, k2 / n2
    d = p1 - p2
    if method == "newcombe":
        l1, u1 = proportion_ci(k1, n1, "wilson", alpha)
        l2, u2 = proportion_ci(k2, n2, "wilson", alpha)
        return (
            d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
            d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
        )
    crit = stats.chi2.ppf(1 - alpha, 1)
    big_n = n1 + n2

    def score(delta):
        if abs(d - delta) <= 1e-15:
            return -crit
        q1, q2 = _mn_restricted(p1, p2, n1, n2, delta)
        var = (q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2) * big_n / (big_n - 1)
        return math.inf if var <= 0 else (d - delta) ** 2 / var - crit

    eps = 1e-10
    low = -1.0 if score(-1 + eps) <= 0 else optimize.brentq(score, -1 + eps, d, xtol=1e-13)
    high = 1.0 if score(1 - eps) <= 0 else optimize.brentq(score, d, 1 - eps, xtol=1e-13)
    return low, high


def nnt_interval(rd: float, low: float, high: float) -> tuple[float, float, float, str]:
    """Number needed to treat and its interval from the risk difference and its limits.

    Returns ``(nnt, nnt_ci_low, nnt_ci_high, text)`` where ``nnt = 1 / rd`` (positive = NNTB),
    the limits are ``1 / high`` and ``1 / low`` (inverted risk-difference limits), and ``text``
    words it as Altman (1998) does, each number rounded up to a whole patient by
    :func:`ipt_outcomes.format.format_nnt`: when the risk-difference interval includes 0 the
    NNT interval runs from NNTH ``1/|low|`` through infinity to NNTB ``1/high``.

    Examples
    --------
    >>> nnt_interval(0.2, 0.05, 0.35)[3]
    'NNTB 5 (95% CI NNTB 3 to NNTB 20)'
    >>> nnt_interval(0.1, -0.1, 0.3)[3]
    'NNTB 10 (95% CI NNTH 10 to infinity to NNTB 4)'
    """
    from ..format import format_nnt

    def inv(x):
        return math.inf if x == 0 else 1.0 / x

    nnt = inv(rd)
    lo_nnt, hi_nnt = inv(high), inv(low)
    if low > 0 or high < 0:  # interval excludes no effect: both limits on one side
        a, b = sorted([lo_nnt, hi_nnt], key=abs)
        text = f"{format_nnt(nnt)} (95% CI {format_nnt(a)} to {format_nnt(b)})"
    else:
        harm = format_nnt(inv(low)) if low < 0 else "infinity"
        benefit = format_nnt(inv(high)) if high > 0 else "infinity"
        text = f"{format_nnt(nnt)} (95% CI {harm} to infinity to {benefit})"
    if math.isinf(nnt):
        text = "not defined: risk difference 0 " + text[text.index("(") :]
    return nnt, lo_nnt, hi_nnt, text
