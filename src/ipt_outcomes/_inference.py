"""Shared pieces of t-based inference for the model modules."""

from __future__ import annotations

from scipy import stats

__all__ = ["CONTRAST_COLUMNS", "t_summary"]

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
    q = stats.t.ppf(1 - alpha / 2, df)
    return dict(estimate=estimate, se=se, df=df, t=t, p=float(2 * stats.t.sf(abs(t), df)),
                ci_low=estimate - q * se, ci_high=estimate + q * se)  # fmt: skip
