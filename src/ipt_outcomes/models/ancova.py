"""ANCOVA of the score at a visit on baseline and arm, with HC3 robust standard errors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.trial import Trial
from .design import ModelDesign
from .inference import CONTRAST_COLUMNS, t_summary

__all__ = ["ancova_by_visit"]


def _ols_hc3(X: np.ndarray, y: np.ndarray):
    """OLS with the HC3 covariance (MacKinnon & White 1985): (X'X)^-1 X' diag(e^2 / (1 - h)^2)
    X (X'X)^-1, h the leverages. Returns (beta, covariance, residual df)."""
    q, r = np.linalg.qr(X)
    beta = np.linalg.solve(r, q.T @ y)
    e = y - X @ beta
    h = np.sum(q * q, axis=1)
    xtx_inv = np.linalg.inv(r.T @ r)
    u = X * (e / (1 - h))[:, None]
    cov = xtx_inv @ (u.T @ u) @ xtx_inv
    return beta, cov, X.shape[0] - X.shape[1]


def ancova_by_visit(
    trial: Trial, visits=None, *, reference: str | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """ANCOVA of the score at each visit on baseline and arm, with HC3 robust standard errors.

    Returns
    -------
    DataFrame
        ``arm, reference, visit, estimate, se, df, t, p, ci_low, ci_high, n`` - the adjusted
        difference arm - reference, HC3 (MacKinnon & White 1985) SE, t on the residual df.
    """
    if reference is not None and reference != trial.reference:
        trial = trial.with_reference(reference)
    trial.require_analysable()
    reference = trial.reference
    visits = list(visits) if visits is not None else list(trial.key_visits)
    d = trial.derived
    arms = list(trial.arms)
    rows = []
    for v in visits:
        sub = d[(d["visit"] == v) & d["score"].notna()]
        others = [a for a in arms if a != reference and (sub["arm"] == a).any()]
        # score ~ baseline + arm, treatment-coded against the reference (the one builder)
        X = ModelDesign("baseline + arm", sub, levels={"arm": [reference, *others]}).matrix
        beta, cov, df_resid = _ols_hc3(X, sub["score"].to_numpy(float))
        for j, a in enumerate(others, start=2):
            est, se = float(beta[j]), float(np.sqrt(cov[j, j]))
            rows.append(
                dict(
                    arm=a,
                    reference=reference,
                    visit=v,
                    **t_summary(est, se, df_resid, alpha),
                    n=len(sub),
                )
            )
    return pd.DataFrame(rows, columns=[*CONTRAST_COLUMNS, "n"])
