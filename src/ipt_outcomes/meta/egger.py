"""Egger's regression test for funnel-plot asymmetry (small-study effects), classic form.

Egger et al. (BMJ 1997) regress the standardised effect ``y_i / se_i`` on the precision
``1 / se_i`` by ordinary least squares; the **intercept** measures asymmetry. The same model is
the weighted regression ``y_i = b0 + b1 se_i`` with weights ``1 / se_i^2`` and the residual
variance estimated from the data (multiplicative dispersion): Egger's intercept is ``b1`` and
``b0`` is the "limit estimate", the effect expected of a study with standard error 0. This is
R metafor's ``regtest(model = "lm", predictor = "sei")``; its test statistic is t with ``k - 2``
degrees of freedom.

The test needs at least three studies (with two, the line passes through both points and has
no residual variance; metafor returns NA) and standard errors that are not all equal. With fewer
than about ten studies it has little power (Sterne et al., BMJ 2011): a non-significant result
is no evidence of symmetry.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["EGGER_COLUMNS", "egger_test", "egger_table"]

#: meta_egger.csv (SPEC)
EGGER_COLUMNS = ["intercept", "se", "p"]


def egger_test(effect, se, level: float = 0.95) -> dict:
    """Egger's regression test.

    Parameters
    ----------
    effect, se : array_like
        Effect sizes and their standard errors (one per study).
    level : float
        Confidence level of the limit estimate's interval.

    Returns
    -------
    dict
        ``intercept, se, t, df, p`` (Egger's intercept and its test), ``limit_estimate,
        limit_se, limit_ci_low, limit_ci_high`` and ``note`` (why the values are empty, when
        they are: fewer than three studies, or standard errors all equal).

    Notes
    -----
    Validated against metafor 3.8-1 ``regtest(fit, model = "lm", predictor = "sei")``
    (``tests/reference/meta``) to 1e-10.

    Examples
    --------
    >>> r = egger_test([0.3, 0.5, 0.1], [0.1, 0.2, 0.3])  # metafor: -0.07692, t = -0.04762, p = 0.9697
    >>> round(r["intercept"], 5), round(r["t"], 5), r["df"], round(r["p"], 4)
    (-0.07692, -0.04762, 1, 0.9697)
    >>> round(r["limit_estimate"], 5)  # metafor: b = 0.33077
    0.33077
    >>> egger_test([0.3, 0.5], [0.1, 0.2])["note"]
    'the test needs at least 3 studies (k = 2)'
    """
    from scipy.stats import t

    y = np.asarray(effect, dtype=float)
    s = np.asarray(se, dtype=float)
    k = len(y)
    out = dict.fromkeys(["intercept", "se", "t", "p", "limit_estimate", "limit_se",
                         "limit_ci_low", "limit_ci_high"], float("nan"))  # fmt: skip
    out["df"] = k - 2
    out["note"] = ""
    if k < 3:
        out["note"] = f"the test needs at least 3 studies (k = {k})"
        return out
    if np.ptp(s) <= 1e-12 * float(np.max(s)):
        out["note"] = "the standard errors are all equal: asymmetry cannot be tested"
        return out
    # OLS of y/se on [1/se, 1]: coefficients (limit estimate b0, Egger's intercept b1)
    x = np.column_stack([1.0 / s, np.ones(k)])
    z = y / s
    coef, *_ = np.linalg.lstsq(x, z, rcond=None)
    resid = z - x @ coef
    rss = float(resid @ resid)
    if rss <= 1e-20 * float(z @ z):
        out["note"] = (
            "the effects lie on a straight line in the standard error (all equal, "
            "say): no residual variance, so the test is undefined"
        )
        return out
    sigma2 = rss / (k - 2)
    cov = sigma2 * np.linalg.inv(x.T @ x)
    b0, b1 = float(coef[0]), float(coef[1])
    se0, se1 = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    tval = b1 / se1 if se1 > 0 else float("nan")
    crit = float(t.ppf(1 - (1 - level) / 2, k - 2))
    out.update(
        intercept=b1, se=se1, t=tval, p=float(2 * t.sf(abs(tval), k - 2)) if se1 > 0 else float("nan"),
        limit_estimate=b0, limit_se=se0, limit_ci_low=b0 - crit * se0, limit_ci_high=b0 + crit * se0,
    )  # fmt: skip
    return out


def egger_table(result: dict) -> pd.DataFrame:
    """The one row of ``meta_egger.csv`` (SPEC columns) from :func:`egger_test`."""
    return pd.DataFrame([{c: result[c] for c in EGGER_COLUMNS}], columns=EGGER_COLUMNS)
