"""Linear mixed models ``y = X beta + sum_t Z_t u_t + e``: REML / ML fit at the global optimum.

The engine behind :func:`growth_model` and :func:`partially_nested_model`, for any set of random
terms (random intercept, slope and more per subject; a therapy-group intercept switched on in
one arm only):

* :mod:`.structure` cuts the data into independent clusters (no n_obs x n_obs matrix);
* :mod:`.deviance` gives the profiled (RE)ML deviance of lme4 (Bates et al. 2015, sec. 3) with
  its analytic gradient and Hessian;
* :mod:`.optimise` minimises it from several starts and checks the boundary before a fit is
  called singular;
* :mod:`.satterthwaite` and :mod:`.kenward_roger` give the df of lmerTest and pbkrtest;
* :mod:`.results` holds the fit (:class:`LMMResults`).

Validated on a battery of 126 simulated trials, four external trials and the project's trial
against lme4 1.1-31 / lmerTest 3.1-3 / pbkrtest 0.5.2 (``tests/reference/lmm_battery``) and the
published Riesby and Beat-the-Blues models (``tests/reference/lmm``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...exceptions import IptOutcomesError
from .deviance import evaluate
from .optimise import find_optimum
from .results import LMMResults
from .structure import RandomTerm, build_batches, sum_by

__all__ = ["LMMFitError", "RandomTerm", "LMMResults", "fit_lmm", "SINGULAR_TOL"]

#: lme4's ``isSingular`` tolerance on the diagonal of the relative Cholesky factor.
SINGULAR_TOL = 1e-4

DF_METHODS = ("satterthwaite", "kenward-roger")


class LMMFitError(IptOutcomesError):
    """The mixed model cannot be fitted."""


class _LMMModel:
    """Data of one model, cut into clusters, and its profiled deviance."""

    def __init__(self, X, y, frame: pd.DataFrame, terms: list[RandomTerm], reml: bool):
        self.X, self.y, self.reml = X, y, reml
        self.terms = list(terms)
        self.N, self.p = X.shape
        self.XtX, self.Xty, self.yty = X.T @ X, X.T @ y, float(y @ y)
        self.batches, self.layout, self.designs = build_batches(frame, X, y, self.terms)
        self.k = self.layout.k

    def deviance(self, theta, order: int = 2, sigma: float | None = None):
        return evaluate(self, theta, order=order, sigma=sigma)

    def fgh(self, theta):
        """The deviance at theta; its ``gh()`` gives the gradient and Hessian when asked."""
        return evaluate(self, theta, order=0)

    def scales(self) -> np.ndarray:
        """SD of each random-effect column over its active rows (1 for an intercept)."""
        out = []
        for t, (Z, on, _codes) in zip(self.terms, self.designs, strict=True):
            for j, c in enumerate(t.columns):
                sd = 1.0 if c == "1" else float(np.std(Z[on, j])) if on.any() else 1.0
                out.append(sd if sd > 0 else 1.0)
        return np.array(out)

    def starts(self) -> list:
        """lme4's start (identity factors) and a moment-based one."""
        lay = self.layout
        default = np.zeros(self.k)
        default[lay.diagonal] = 1.0
        out = []
        mom = self.moment_start()
        if mom is not None:
            out.append(("moment", mom))
        out.append(("lme4 default", default))
        return out

    def moment_start(self):
        """Per-level least squares of the OLS residuals on each term's Z columns.

        G_t = cov(coefficients) - sigma_w^2 mean((Z'Z)^-1) over levels with more rows than
        columns, sigma_w^2 = pooled within-level residual variance; theta_t = chol(G_t /
        sigma_w^2) with eigenvalues floored. None when no level is usable.
        """
        beta0 = np.linalg.solve(self.XtX, self.Xty)
        e = self.y - self.X @ beta0
        thetas, sigma2 = [], None
        for t, (Z, active, all_codes) in zip(self.terms, self.designs, strict=True):
            on = np.flatnonzero(active)
            if len(on) == 0:
                return None
            codes, _ = pd.factorize(all_codes[on])
            G = int(codes.max()) + 1
            Zo, eo = Z[on], e[on]
            q = t.q
            A = sum_by(codes, G, Zo[:, :, None] * Zo[:, None, :])
            b = sum_by(codes, G, Zo * eo[:, None])
            ee = np.bincount(codes, weights=eo**2, minlength=G)
            n = np.bincount(codes, minlength=G)
            ok = n > q
            if ok.any():
                det = np.linalg.det(A[ok])
                ok[np.flatnonzero(ok)[det <= 1e-10 * np.abs(det).max()]] = False
            if ok.sum() < 2:
                return None
            Ainv = np.linalg.inv(A[ok])
            coef = np.einsum("bij,bj->bi", Ainv, b[ok])
            rss = ee[ok] - np.einsum("bi,bi->b", coef, b[ok])
            s2 = max(float(rss.sum() / (n[ok] - q).sum()), 1e-8 * float(np.var(e)) + 1e-12)
            if sigma2 is None:
                sigma2 = s2
            Gm = np.atleast_2d(np.cov(coef.T)) - sigma2 * Ainv.mean(axis=0)
            Gm = Gm / sigma2
            w, V = np.linalg.eigh(0.5 * (Gm + Gm.T))
            floor = 1e-2 * max(float(np.abs(np.diag(Gm)).max()), 1e-2)
            Gm = (V * np.maximum(w, floor)) @ V.T
            L = np.linalg.cholesky(Gm)
            thetas.append(np.array([L[i, j] for j in range(q) for i in range(j, q)]))
        return np.concatenate(thetas)


def _full_rank(X: np.ndarray) -> bool:
    """X has linearly independent columns (eigenvalues of the scaled X'X; no n x p LAPACK)."""
    XtX = X.T @ X
    d = np.sqrt(np.diag(XtX))
    if np.any(d == 0):
        return False
    w = np.linalg.eigvalsh(XtX / np.outer(d, d))
    return bool(w.min() > 1e-12 * w.max())


def _check_identifiable(data: pd.DataFrame, terms, n_obs: int) -> None:
    """Refuse, as lme4 does by default (``check.nobs.vs.nlev``, ``check.nobs.vs.nRE``), a model
    with no more observations than levels of a grouping factor or than random effects: its
    variance components are not identifiable (the likelihood is flat along a ridge, so any
    values on it would be reported)."""
    n_re = 0
    for term in terms:
        rows = data[term.by].astype(bool) if term.by else slice(None)
        levels = int(data.loc[rows, term.group].nunique())
        if term.by is None and n_obs <= levels:
            raise LMMFitError(
                f"{n_obs} observations for {levels} levels of {term.label}: a random effect per "
                f"{term.label} needs more than one observation of some {term.label}"
            )
        n_re += levels * term.q
    if n_obs <= n_re:
        slope = any(t.q > 1 for t in terms)
        raise LMMFitError(
            f"{n_obs} observations are too few for {n_re} random effects: the variance "
            "components are not identifiable"
            + ("; a random slope needs three or more assessments for most subjects (fit the "
               "random intercept alone, without --random-slope)" if slope else "")
        )  # fmt: skip


def fit_lmm(
    data: pd.DataFrame,
    outcome: str,
    fixed: pd.DataFrame,
    terms: list[RandomTerm],
    *,
    method: str = "reml",
    subject: str = "subject_id",
    df: str = "satterthwaite",
    alpha: float = 0.05,
) -> LMMResults:
    """Fit a linear mixed model by REML or ML at the global optimum.

    Parameters
    ----------
    data : DataFrame
        Rows to analyse (no missing values in the used columns).
    outcome : str
        Outcome column.
    fixed : DataFrame
        Fixed-effects design, one named column per coefficient, aligned with ``data``.
    terms : list of RandomTerm
        Random-effects terms.
    method : {"reml", "ml"}
    subject : str
        Column counted as subjects in the output.
    df : {"satterthwaite", "kenward-roger"}
        Default degrees of freedom of :meth:`LMMResults.fixed_effects` (Kenward-Roger: REML).
    alpha : float

    Returns
    -------
    LMMResults

    Notes
    -----
    The (RE)ML deviance is profiled over beta and sigma and minimised over the relative
    covariance factor theta, as lme4 does (Bates et al. 2015), by a trust-region Newton method
    with analytic derivatives from several starts, followed by a check of the boundary: a
    variance at 0 is reported (``singular``, lme4's ``isSingular``: a Cholesky diagonal element
    below 1e-4) only after the interior optimum was compared. ``loglik`` is lme4's ``logLik``
    (for REML the REML criterion, without a 1/2 log|X'X| term).
    """
    if method not in ("reml", "ml"):
        raise ValueError(f"method must be 'reml' or 'ml', got {method!r}")
    if df not in DF_METHODS:
        raise ValueError(f"df must be one of {DF_METHODS}, got {df!r}")
    if df == "kenward-roger" and method != "reml":
        raise ValueError("Kenward-Roger degrees of freedom need a REML fit (--method reml)")
    if not terms:
        raise ValueError("terms: at least one random-effects term is needed")
    X = fixed.to_numpy(float)
    y = data[outcome].to_numpy(float)
    if len(y) != len(X):
        raise ValueError("fixed: the design has a different number of rows than data")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise LMMFitError("missing or infinite values in the outcome or the fixed effects")
    if not _full_rank(X):
        raise LMMFitError(
            f"singular fixed-effects design: the columns {list(fixed.columns)} are linearly dependent"
        )
    if len(y) <= X.shape[1]:
        raise LMMFitError(f"{len(y)} observations are too few for {X.shape[1]} fixed effects")
    _check_identifiable(data, terms, len(y))
    model = _LMMModel(X, y, data, list(terms), method == "reml")
    if not model.batches:
        raise LMMFitError("no observation has a random effect: nothing to estimate")
    opt = find_optimum(model, model.starts(), model.scales())
    if not np.isfinite(opt.f):
        raise LMMFitError("the likelihood could not be evaluated at any starting point")
    return LMMResults.from_fit(
        model,
        opt,
        fixed_names=list(fixed.columns),
        method=method,
        n_subjects=int(data[subject].nunique()),
        df_method=df,
        alpha=alpha,
        singular_tol=SINGULAR_TOL,
    )
