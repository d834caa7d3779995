"""Shared pieces of t-based inference for the model modules."""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

from ..distributions import t_ppf, t_sf

__all__ = ["CONTRAST_COLUMNS", "t_summary", "profile_gls"]

#: SPEC ``mmrm_contrasts.csv`` columns, also used for other arm - reference contrasts.
CONTRAST_COLUMNS = [
    "arm",
    "reference",
    "visit",
    "estimate",
    "se",
    "df",
    "t",
    "p",
    "ci_low",
    "ci_high",
]


def t_summary(estimate: float, se: float, df: float, alpha: float = 0.05) -> dict:
    """``estimate, se, df, t, p, ci_low, ci_high`` for a t statistic on ``df`` degrees of freedom."""
    t = estimate / se
    q = t_ppf(1 - alpha / 2, df)
    return dict(estimate=estimate, se=se, df=df, t=t, p=float(2 * t_sf(abs(t), df)),
                ci_low=estimate - q * se, ci_high=estimate + q * se)  # fmt: skip


def profile_gls(XtWX, XtWy, yWy: float, logdet: float, n_obs: int, reml: bool):
    """-2 log-likelihood with beta profiled out, from the weighted cross-products.

    ``-2 l = log|V| + r'V^-1 r + (N - p) log 2 pi + log|X'V^-1 X|`` for REML (the last term
    dropped and N in place of N - p for ML). Returns ``(value, beta, chol of X'V^-1 X)`` or
    ``None`` when X'V^-1 X is not positive definite.
    """
    try:
        cx = linalg.cho_factor(XtWX, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return None
    beta = linalg.cho_solve(cx, XtWy, check_finite=False)
    quad = yWy - 2 * beta @ XtWy + beta @ XtWX @ beta
    p = len(XtWy)
    value = logdet + quad + (n_obs - (p if reml else 0)) * math.log(2 * math.pi)
    if reml:
        value += 2.0 * float(np.sum(np.log(np.diag(cx[0]))))
    return value, beta, cx
