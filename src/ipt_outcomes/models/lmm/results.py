"""A fitted linear mixed model: estimates, fit diagnostics, Satterthwaite and Kenward-Roger tests."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..inference import t_summary
from ..results import ModelResults
from .deviance import evaluate
from .kenward_roger import kr_ddf, kr_pieces
from .satterthwaite import satterthwaite_df, satterthwaite_pieces

__all__ = ["LMMResults", "FIXED_COLUMNS", "FIT_COLUMNS"]

#: SPEC ``lmm_fixed.csv``.
FIXED_COLUMNS = ["term", "estimate", "se", "df", "t", "p", "ci_low", "ci_high"]
#: SPEC ``lmm_fit.csv`` (first, in this order), then the diagnostics.
FIT_COLUMNS = [
    "method", "random_slope", "loglik", "n_fixed", "var_intercept", "var_slope",
    "var_residual", "n_obs", "n_subjects",
]  # fmt: skip


@dataclass(repr=False, eq=False)
class LMMResults(ModelResults):
    """A fitted linear mixed model.

    Attributes
    ----------
    beta : Series
        Fixed effects.
    vcov : DataFrame
        Model-based covariance of beta, sigma^2 (X' V^-1 X)^-1.
    variance_components : dict
        ``{term name: G matrix (DataFrame)}`` and ``"residual"`` (sigma^2).
    loglik : float
        lme4's ``logLik``: the REML criterion for REML fits (no 1/2 log|X'X| term).
    method : {"reml", "ml"}
    n_obs, n_subjects : int
    converged : bool
        The optimiser stopped at a stationary point with a positive semi-definite Hessian.
    singular : bool
        lme4's ``isSingular``: a diagonal element of the relative Cholesky factor below 1e-4.
    message : str
        What is singular and any convergence problem, in words.
    theta : ndarray
        Relative Cholesky factors, term by term, lower triangles column by column (lme4's
        ``getME(fit, "theta")`` for one term).
    """

    beta: pd.Series
    vcov: pd.DataFrame
    variance_components: dict
    loglik: float
    method: str
    n_obs: int
    n_subjects: int
    converged: bool
    singular: bool
    message: str = ""
    theta: np.ndarray = field(default=None)
    theta_names: list = field(default_factory=list)
    sigma: float = math.nan
    min_diag_theta: float = math.nan
    max_abs_gradient: float = math.nan
    hessian_min_eigenvalue: float = math.nan
    hessian_pd: bool = False
    n_evaluations: int = 0
    starts: list = field(default_factory=list)
    boundary_checked: list = field(default_factory=list)
    df_method: str = "satterthwaite"
    alpha: float = 0.05
    terms: list = field(default_factory=list)
    _model: object = field(default=None)
    _satt: dict = field(default=None)
    _kr: dict = field(default=None)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_fit(cls, model, opt, *, fixed_names, method, n_subjects, df_method, alpha,
                 singular_tol) -> LMMResults:  # fmt: skip
        theta = opt.theta
        ev = evaluate(model, theta, order=2)
        nprime = model.N - model.p if model.reml else model.N
        sigma2 = ev.r2 / nprime
        sigma = math.sqrt(sigma2)
        lay = model.layout
        vc, boundary = {}, []
        for t_i, t in enumerate(model.terms):
            L = lay.factor(theta, t_i)
            names = t.column_names
            vc[t.label] = pd.DataFrame(sigma2 * L @ L.T, index=names, columns=names)
            boundary += _boundary_words(t, L, singular_tol)
        vc["residual"] = sigma2
        diag = theta[lay.diagonal]
        w = np.linalg.eigvalsh(ev.hess)
        grad = float(np.abs(ev.grad).max()) if len(ev.grad) else 0.0
        scale = max(1.0, float(np.abs(w).max()))
        hess_pd = bool(w.min() > 1e-8 * scale)
        singular = bool(np.any(diag < singular_tol))
        converged = bool(opt.converged and (hess_pd or w.min() > -1e-6 * scale))
        msg = list(boundary)
        if not converged:
            msg.append(
                f"optimiser did not reach a clean optimum (max |gradient| {grad:.2g}, "
                f"smallest Hessian eigenvalue {w.min():.2g})"
            )
        res = cls(
            beta=pd.Series(ev.beta, index=fixed_names),
            vcov=pd.DataFrame(sigma2 * ev.Phi, index=fixed_names, columns=fixed_names),
            variance_components=vc,
            loglik=-0.5 * float(ev.f),
            method=method,
            n_obs=int(model.N),
            n_subjects=n_subjects,
            converged=converged,
            singular=singular,
            message="; ".join(msg),
            theta=theta,
            theta_names=lay.names(),
            sigma=sigma,
            min_diag_theta=float(diag.min()),
            max_abs_gradient=grad,
            hessian_min_eigenvalue=float(w.min()),
            hessian_pd=hess_pd,
            n_evaluations=int(opt.evaluations),
            starts=list(opt.starts),
            boundary_checked=list(opt.boundary_checked),
            df_method=df_method,
            alpha=alpha,
            terms=list(model.terms),
            _model=model,
        )
        res._satt = satterthwaite_pieces(model, theta, sigma)
        if df_method == "kenward-roger":
            res.kenward_roger()
        return res

    # -- inference ------------------------------------------------------------------------
    def kenward_roger(self) -> dict:
        """pbkrtest's adjusted covariance ``vcov_adjusted`` and the pieces of its df (REML)."""
        if self.method != "reml":
            raise ValueError("Kenward-Roger degrees of freedom need a REML fit")
        if self._kr is None:
            self._kr = kr_pieces(self._model, self.theta, self.sigma)
        return self._kr

    @property
    def vcov_adjusted(self) -> pd.DataFrame:
        """Kenward-Roger adjusted covariance of beta (REML fits)."""
        names = self.beta.index
        return pd.DataFrame(self.kenward_roger()["vcov_adjusted"], index=names, columns=names)

    def estimate(self, lvec, df: str | None = None) -> dict:
        """``estimate, se, df, t, p, ci_low, ci_high`` of ``l' beta``.

        ``df``: "satterthwaite" (lmerTest; model-based SE) or "kenward-roger" (pbkrtest;
        adjusted SE); default the fit's ``df_method``.
        """
        lvec = np.asarray(lvec, dtype=float)
        method = df or self.df_method
        est = float(lvec @ self.beta.to_numpy())
        if method == "kenward-roger":
            kr = self.kenward_roger()
            se = math.sqrt(float(lvec @ kr["vcov_adjusted"] @ lvec))
            ddf = kr_ddf(lvec, kr)
        elif method == "satterthwaite":
            V = self.vcov.to_numpy()
            se = math.sqrt(float(lvec @ V @ lvec))
            ddf = satterthwaite_df(lvec, V, self._satt)
        else:
            raise ValueError(f"df must be 'satterthwaite' or 'kenward-roger', got {method!r}")
        return t_summary(est, se, ddf, self.alpha)

    def fixed_effects(self, df: str | None = None) -> pd.DataFrame:
        """``term, estimate, se, df, t, p, ci_low, ci_high`` (SPEC ``lmm_fixed.csv``)."""
        rows = []
        for i, name in enumerate(self.beta.index):
            lvec = np.zeros(len(self.beta))
            lvec[i] = 1.0
            rows.append(dict(term=name, **self.estimate(lvec, df)))
        return pd.DataFrame(rows, columns=FIXED_COLUMNS)

    def summary(self) -> pd.DataFrame:
        """Same as :meth:`fixed_effects`."""
        return self.fixed_effects()

    # -- fit table ------------------------------------------------------------------------
    @property
    def random_slope(self) -> bool:
        return bool(self.terms) and self.terms[0].q > 1

    def fit_table(self) -> pd.DataFrame:
        """SPEC ``lmm_fit.csv``: ``method, random_slope, loglik, n_fixed, var_intercept,
        var_slope, var_residual, n_obs, n_subjects``, then ``cov_intercept_slope``, the other
        terms' variances (``var_<term>``), ``deviance`` (-2 loglik), ``converged``, ``singular``
        (lme4's ``isSingular``), ``min_diag_theta``, ``max_abs_gradient`` (of the deviance over
        theta), ``hessian_pd`` and ``hessian_min_eigenvalue`` (its Hessian), ``n_evaluations``,
        ``df_method`` and ``message``."""
        first = self.terms[0]
        G = self.variance_components[first.label].to_numpy()
        row = dict(
            method=self.method,
            random_slope=self.random_slope,
            loglik=self.loglik,
            n_fixed=len(self.beta),
            var_intercept=float(G[0, 0]),
            var_slope=float(G[1, 1]) if G.shape[0] > 1 else np.nan,
            var_residual=float(self.variance_components["residual"]),
            n_obs=self.n_obs,
            n_subjects=self.n_subjects,
            cov_intercept_slope=float(G[0, 1]) if G.shape[0] > 1 else np.nan,
        )
        for t in self.terms[1:]:
            Gt = self.variance_components[t.label].to_numpy()
            row[f"var_{t.label}"] = float(Gt[0, 0])
        row.update(
            deviance=-2.0 * self.loglik,
            converged=self.converged,
            singular=self.singular,
            min_diag_theta=self.min_diag_theta,
            max_abs_gradient=self.max_abs_gradient,
            hessian_pd=self.hessian_pd,
            hessian_min_eigenvalue=self.hessian_min_eigenvalue,
            n_evaluations=self.n_evaluations,
            df_method=self.df_method,
            message=self.message,
        )
        return pd.DataFrame([row])

    @property
    def title(self) -> str:
        first = self.terms[0] if self.terms else None
        what = "intercept and slope" if self.random_slope else "intercept"
        extra = "".join(f" + {t.label} intercept" for t in self.terms[1:])
        per = first.label if first else "subject"
        return (
            f"Linear mixed model ({self.method.upper()}, random {what} per {per}{extra}; "
            f"{self.df_method} df)"
        )

    def describe(self) -> str:
        flag = ", singular" if self.singular else ""
        return (
            f"{self.n_obs} observations of {self.n_subjects} subjects, log-likelihood "
            f"{self.loglik:.4f}{flag}"
        )


def _boundary_words(term, L: np.ndarray, tol: float) -> list[str]:
    """What a Cholesky diagonal below ``tol`` means for this term, in words."""
    out = []
    names = term.column_names
    for j in range(L.shape[0]):
        if L[j, j] >= tol:
            continue
        if L.shape[0] == 1:
            out.append(f"{term.label}: variance of {names[0]} at zero (singular fit)")
        elif np.all(np.abs(L[j, : j + 1]) < tol):
            out.append(f"{term.label}: covariance matrix singular (variance of {names[j]} at zero)")
        else:
            out.append(
                f"{term.label}: covariance matrix singular ({names[j]} perfectly correlated "
                f"with {', '.join(names[:j])})"
            )
    return out
