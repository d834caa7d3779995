"""ANCOVA of the score at a visit on baseline and arm, with HC3 robust standard errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..data.trial import Trial
from ..exceptions import InputWarning
from .design import ModelDesign
from .inference import CONTRAST_COLUMNS, t_summary

__all__ = ["ancova_by_visit", "fit_ancova"]


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
        if not others or X.shape[0] <= X.shape[1] or np.linalg.matrix_rank(X) < X.shape[1]:
            # e.g. visits in continuous time, where a key visit holds one or two scores
            warnings.warn(
                f"ANCOVA at visit {v:g}: {len(sub)} observation{'s' if len(sub) != 1 else ''} "
                f"cannot estimate baseline and the arm differences; the visit is left out",
                InputWarning,
                stacklevel=2,
            )
            continue
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


def fit_ancova(
    data: pd.DataFrame,
    outcome: str,
    *,
    reference: str,
    arms=None,
    covariates=(),
    variance: str = "model",
    alpha: float = 0.05,
) -> dict[str, pd.DataFrame]:
    """One ANCOVA over all arms: ``outcome ~ arm + covariates`` (R ``lm``), with LS means.

    Parameters
    ----------
    data : DataFrame
        One row per analysed subject: ``arm``, the outcome and the covariates (rows with a
        missing value in any of them are left out).
    outcome : str
    reference : str
    arms : sequence, optional
        Arm order (default sorted).
    covariates : sequence of str
        Numeric columns enter as slopes; text columns as treatment-coded factors (first level
        in sorted order as reference).
    variance : {"model", "hc3"}
        The usual OLS covariance (as R ``lm``) or HC3 (MacKinnon & White 1985, as R
        ``sandwich::vcovHC(type = "HC3")``); t on the residual df either way.
    alpha : float

    Returns
    -------
    dict
        ``model``: ``beta, cov, names, df, n, design`` (coefficients, their covariance, names,
        the residual df and the :class:`~.design.ModelDesign`); ``contrasts``: ``arm, reference, estimate, se, df, t, p, ci_low, ci_high, n`` (arm minus
        reference, the arm's coefficient); ``lsmeans``: ``arm, estimate, se, df, ci_low,
        ci_high, n`` - the prediction for each arm with numeric covariates at their means over
        the analysed rows and factor levels weighted equally (as R ``emmeans``).
    """
    if variance not in ("model", "hc3"):
        raise ValueError(f"variance must be 'model' or 'hc3', got {variance!r}")
    covariates = list(covariates)
    from ..data.covariates import present

    d = data.dropna(subset=[outcome, "arm"])
    for c in covariates:  # a blank (or NA) covariate is missing, as in R
        d = d[present(d[c])]
    present = set(d["arm"])
    arms = [a for a in (arms if arms is not None else sorted(present)) if a in present]
    others = [a for a in arms if a != reference]
    # outcome ~ arm + covariates, treatment-coded against the reference (the one builder)
    design = ModelDesign(" + ".join(["arm", *covariates]), d, levels={"arm": [reference, *others]})
    X, names = design.matrix, design.names
    y = d[outcome].to_numpy(float)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        from ..exceptions import IptOutcomesError

        raise IptOutcomesError(
            f"the ANCOVA of {outcome} on arm and {', '.join(covariates) or 'nothing else'} "
            f"cannot be estimated from these {len(d)} rows (a covariate is constant, or arms "
            "and covariates are confounded)"
        )
    n, k = X.shape
    df_resid = n - k
    if df_resid <= 0:
        from ..exceptions import IptOutcomesError

        raise IptOutcomesError(
            f"the ANCOVA of {outcome} has {k} parameters for {n} rows: too few subjects"
        )
    if variance == "hc3":
        beta, cov, _ = _ols_hc3(X, y)
    else:
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        e = y - X @ beta
        sigma2 = float(e @ e) / df_resid
        cov = sigma2 * np.linalg.inv(X.T @ X)
    counts = d["arm"].value_counts()
    grid = design.grid({"arm": arms})  # covariates at their means, factor levels equally weighted
    con, lsm = [], []
    for a in arms:
        x = grid[(a,)]
        est, se = float(x @ beta), float(np.sqrt(x @ cov @ x))
        s_ = t_summary(est, se, df_resid, alpha)
        lsm.append(dict(arm=a, estimate=est, se=se, df=df_resid, ci_low=s_["ci_low"],
                        ci_high=s_["ci_high"], n=int(counts.get(a, 0))))  # fmt: skip
        if a != reference:
            lvec = x - grid[(reference,)]
            est, se = float(lvec @ beta), float(np.sqrt(lvec @ cov @ lvec))
            con.append(dict(arm=a, reference=reference, **t_summary(est, se, df_resid, alpha),
                            n=int(counts.get(a, 0))))  # fmt: skip
    return {
        "model": dict(beta=beta, cov=cov, names=names, df=df_resid, n=n, design=design),
        "contrasts": pd.DataFrame(con, columns=[c for c in CONTRAST_COLUMNS if c != "visit"] + ["n"]),
        "lsmeans": pd.DataFrame(lsm, columns=["arm", "estimate", "se", "df", "ci_low", "ci_high", "n"]),
    }  # fmt: skip
