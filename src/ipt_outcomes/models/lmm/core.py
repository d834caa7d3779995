"""Linear mixed models ``y = X beta + sum_t Z_t u_t + e``: REML / ML fit and Satterthwaite inference.

Random effects per grouping (random intercept, and optionally slope and quadratic term, per
subject; a therapy-group intercept for the group-therapy arm only).

Computation: the covariance of each independent cluster (a subject, or a therapy group with its
patients) is ``V_c = sum_t (Z_t G_t Z_t') o [same level] + sigma^2 I``; G_t is parameterised by
its log-Cholesky factor and sigma by its log. -2 log-likelihood and its analytic gradient
``tr(G_c dV_c)`` are summed over clusters; the Hessian (for the covariance of the variance
parameters) is taken by Richardson-extrapolated differences of that gradient. Satterthwaite df
of ``l' beta``: ``2 (l' Phi l)^2 / (g' W g)``, g the gradient of ``l' Phi l`` in the variance
parameters, W twice the inverse Hessian of -2 l - the lmerTest definition, which does not depend
on how the variance parameters are parameterised. Variance parameters at the boundary (a
variance at zero: a singular fit) are reported in the fit table and left out of W, as their
derivatives vanish there. Validated against lme4 / lmerTest and the published Riesby and
Beat-the-Blues models (``tests/reference/lmm``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize

from ...exceptions import IptOutcomesError
from ..hessian import numeric_hessian
from ..inference import profile_gls, t_summary

__all__ = ["LMMFitError", "RandomTerm", "LMMResults", "fit_lmm"]

_CS = 1e-30


class LMMFitError(IptOutcomesError):
    """The mixed model cannot be fitted."""


@dataclass(frozen=True)
class RandomTerm:
    """A random-effects term: columns of Z (names) varying by levels of a grouping column.

    ``columns`` are data columns (``"1"`` for an intercept); ``group`` the grouping column;
    ``by`` an optional 0/1 column that switches the term on (partially nested designs).
    """

    group: str
    columns: tuple[str, ...] = ("1",)
    by: str | None = None
    name: str = ""

    @property
    def q(self) -> int:
        return len(self.columns)

    @property
    def n_theta(self) -> int:
        return self.q * (self.q + 1) // 2


def _chol_params_to_g(th):
    """G = L L' from the Cholesky factor's diagonal (>= 0) and off-diagonal entries.

    The entries enter linearly, as lme4's relative Cholesky factor does, so a variance at zero
    is an ordinary point (diagonal entry 0) rather than a limit at minus infinity.
    """
    n = len(th)
    q = int((math.isqrt(8 * n + 1) - 1) // 2)
    L = np.zeros((q, q), dtype=np.asarray(th).dtype)
    L[np.diag_indices(q)] = th[:q]
    L[np.tril_indices(q, -1)] = th[q:]
    return L @ L.T


def _g_to_chol_params(G):
    q = G.shape[0]
    w, v = np.linalg.eigh(G)
    G = (v * np.clip(w, 1e-6 * max(w.max(), 1e-6), None)) @ v.T
    L = np.linalg.cholesky(G)
    return np.concatenate([np.diag(L), L[np.tril_indices(q, -1)]])


@dataclass
class _Cluster:
    rows: np.ndarray
    X: np.ndarray
    y: np.ndarray
    blocks: list  # per term: (q, q, n, n) array of (Z[:, a] Z[:, b]') o same-level


class _LMMModel:
    def __init__(self, X, y, frame: pd.DataFrame, terms: list[RandomTerm], reml: bool):
        self.X, self.y, self.terms, self.reml = X, y, terms, reml
        self.N, self.p = X.shape
        self.k_terms = [t.n_theta for t in terms]
        self.k = sum(self.k_terms) + 1
        # clusters: rows linked by any shared grouping level (union-find over levels)
        parent = np.arange(len(frame))

        def find(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for t in terms:
            codes = pd.factorize(frame[t.group])[0]
            first = {}
            for i, c in enumerate(codes):
                if c in first:
                    a, b = find(i), find(first[c])
                    if a != b:
                        parent[a] = b
                else:
                    first[c] = i
        roots = np.array([find(i) for i in range(len(frame))])
        self.clusters = []
        Zs = []
        for t in terms:
            Z = np.column_stack(
                [np.ones(len(frame)) if c == "1" else frame[c].to_numpy(float) for c in t.columns]
            )
            if t.by is not None:
                Z = Z * frame[t.by].to_numpy(float)[:, None]
            Zs.append((Z, pd.factorize(frame[t.group])[0]))
        for r in pd.unique(roots):
            rows = np.flatnonzero(roots == r)
            blocks = []
            for Z, codes in Zs:
                Zc = Z[rows]
                same = (codes[rows][:, None] == codes[rows][None, :]).astype(float)
                blocks.append(np.einsum("ia,jb,ij->abij", Zc, Zc, same))
            self.clusters.append(_Cluster(rows, X[rows], y[rows], blocks))

    def gs(self, theta):
        out, i = [], 0
        for k in self.k_terms:
            out.append(_chol_params_to_g(theta[i : i + k]))
            i += k
        return out, np.exp(2 * theta[-1])

    def dgs(self, theta):
        """d(G_t, sigma^2)/d theta_h for every parameter (complex step)."""
        out = []
        for h in range(self.k):
            z = theta.astype(complex)
            z[h] += 1j * _CS
            gs, s2 = self.gs(z)
            out.append(([np.imag(g) / _CS for g in gs], np.imag(s2) / _CS))
        return out

    def v(self, cl, gs, s2):
        n = len(cl.rows)
        V = s2 * np.eye(n)
        for G, B in zip(gs, cl.blocks, strict=True):
            V = V + np.tensordot(G, B, axes=([0, 1], [0, 1]))
        return V

    def evaluate(self, theta, grad=True):
        gs, s2 = self.gs(theta)
        p = self.p
        XtVX, XtVy, yVy, logdet = np.zeros((p, p)), np.zeros(p), 0.0, 0.0
        cache = []
        for cl in self.clusters:
            V = self.v(cl, gs, s2)
            try:
                c = linalg.cho_factor(V, lower=True, check_finite=False)
            except linalg.LinAlgError:
                return math.inf, None, None
            Vi = linalg.cho_solve(c, np.eye(len(cl.rows)), check_finite=False)
            logdet += 2 * np.sum(np.log(np.diag(c[0])))
            ViX = Vi @ cl.X
            XtVX += cl.X.T @ ViX
            XtVy += ViX.T @ cl.y
            yVy += cl.y @ Vi @ cl.y
            cache.append(Vi)
        prof = profile_gls(XtVX, XtVy, yVy, logdet, self.N, self.reml)
        if prof is None:
            return math.inf, None, None
        val, beta, cx = prof
        Phi = linalg.cho_solve(cx, np.eye(p), check_finite=False)
        pieces = dict(beta=beta, Phi=Phi, Vi=cache, gs=gs, s2=s2)
        if not grad:
            return val, None, pieces
        dg = self.dgs(theta)
        g = np.zeros(self.k)
        for cl, Vi in zip(self.clusters, cache, strict=True):
            r = cl.y - cl.X @ beta
            Vr = Vi @ r
            M = Vi - np.outer(Vr, Vr)
            if self.reml:
                ViX = Vi @ cl.X
                M = M - ViX @ Phi @ ViX.T
            for h, (dG, ds2) in enumerate(dg):
                g[h] += ds2 * np.trace(M) + sum(
                    np.sum(np.tensordot(G_h, B, axes=([0, 1], [0, 1])) * M)
                    for G_h, B in zip(dG, cl.blocks, strict=True)
                    if np.any(G_h)
                )
        return val, g, pieces

    def p_matrices(self, theta, pieces):
        """P_h = -sum_c X_c' V^-1 dV_h V^-1 X_c."""
        dg = self.dgs(theta)
        P = np.zeros((self.k, self.p, self.p))
        for cl, Vi in zip(self.clusters, pieces["Vi"], strict=True):
            ViX = Vi @ cl.X
            for h, (dG, ds2) in enumerate(dg):
                dV = ds2 * np.eye(len(cl.rows))
                for G_h, B in zip(dG, cl.blocks, strict=True):
                    if np.any(G_h):
                        dV = dV + np.tensordot(G_h, B, axes=([0, 1], [0, 1]))
                P[h] -= ViX.T @ dV @ ViX
        return P


def _hessian(model, theta, free):
    """Hessian of -2 l over the free parameters: numeric differences of the analytic gradient."""
    return numeric_hessian(lambda th: model.evaluate(th)[1], theta, free=free)


@dataclass
class LMMResults:
    """A fitted linear mixed model.

    Attributes
    ----------
    beta : Series
        Fixed effects.
    vcov : DataFrame
        Covariance of beta.
    variance_components : dict
        ``{term name: G matrix (DataFrame)}`` and ``"residual"``.
    loglik : float
        Log-likelihood (REML criterion for REML fits, as lme4 reports).
    singular : list of str
        Variance parameters at the boundary (variances at zero).
    """

    beta: pd.Series
    vcov: pd.DataFrame
    variance_components: dict
    loglik: float
    method: str
    n_obs: int
    n_subjects: int
    converged: bool
    singular: list
    theta: np.ndarray = field(repr=False)
    theta_vcov: np.ndarray = field(repr=False)
    free: np.ndarray = field(repr=False)
    P: np.ndarray = field(repr=False)
    alpha: float = 0.05
    message: str = ""

    def estimate(self, lvec) -> dict:
        """Estimate, SE, Satterthwaite df, t, p and CI of ``l' beta``."""
        lvec = np.asarray(lvec, dtype=float)
        Phi = self.vcov.to_numpy()
        est = float(lvec @ self.beta.to_numpy())
        var = float(lvec @ Phi @ lvec)
        se = math.sqrt(var)
        g = -np.einsum(
            "a,hab,b->h", lvec @ Phi, self.P[self.free], Phi @ lvec
        )  # d(l'Phi l)/d theta
        denom = float(g @ self.theta_vcov @ g)
        df = 2 * var**2 / denom if denom > 0 else np.inf
        return t_summary(est, se, df, self.alpha)

    def fixed_effects(self) -> pd.DataFrame:
        """``term, estimate, se, df, t, p, ci_low, ci_high`` (SPEC ``lmm_fixed.csv``)."""
        rows = []
        for i, name in enumerate(self.beta.index):
            lvec = np.zeros(len(self.beta))
            lvec[i] = 1.0
            rows.append(dict(term=name, **self.estimate(lvec)))
        return pd.DataFrame(
            rows, columns=["term", "estimate", "se", "df", "t", "p", "ci_low", "ci_high"]
        )

    def summary(self) -> pd.DataFrame:
        """Same as :meth:`fixed_effects`."""
        return self.fixed_effects()


def fit_lmm(
    data: pd.DataFrame,
    outcome: str,
    fixed: pd.DataFrame,
    terms: list[RandomTerm],
    *,
    method: str = "reml",
    subject: str = "subject_id",
    alpha: float = 0.05,
) -> LMMResults:
    """Fit a linear mixed model by REML or ML.

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
    alpha : float

    Returns
    -------
    LMMResults
    """
    if method not in ("reml", "ml"):
        raise ValueError(f"method must be 'reml' or 'ml', got {method!r}")
    X = fixed.to_numpy(float)
    y = data[outcome].to_numpy(float)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise LMMFitError(
            f"singular fixed-effects design: the columns {list(fixed.columns)} are linearly dependent"
        )
    model = _LMMModel(X, y, data.reset_index(drop=True), list(terms), method == "reml")
    # start: OLS residual variance split between random effects and residual
    beta0 = np.linalg.lstsq(X, y, rcond=None)[0]
    s2 = float(np.var(y - X @ beta0)) or 1.0
    theta0 = []
    for t in terms:
        G = np.eye(t.q) * s2 / (2 * len(terms))
        for j, c in enumerate(t.columns):
            if c != "1":
                sd = float(data[c].astype(float).std()) or 1.0
                G[j, j] = s2 / (4 * sd**2)
        theta0.append(_g_to_chol_params(G))
    theta0 = np.concatenate([*theta0, [0.5 * math.log(s2 / 2)]])

    def fun(th):
        val, g, _ = model.evaluate(th)
        return (1e300, np.zeros_like(th)) if not np.isfinite(val) else (val, g)

    bounds = []
    for t in terms:
        bounds += [(0.0, None)] * t.q + [(None, None)] * (t.n_theta - t.q)
    bounds.append((None, None))
    res = optimize.minimize(
        fun, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
        options=dict(maxiter=5000, ftol=1e-15, gtol=1e-9),
    )  # fmt: skip
    theta = res.x
    val, grad, pieces = model.evaluate(theta)
    # boundary: a random-effect standard deviation (Cholesky diagonal) at zero
    singular = []
    i = 0
    for t in terms:
        q = t.q
        tiny = [theta[i + j] ** 2 < 1e-6 * math.exp(2 * theta[-1]) for j in range(q)]
        for j in range(q):
            if tiny[j]:
                col = "intercept" if t.columns[j] == "1" else t.columns[j]
                what = (
                    f"variance of {col} at zero"
                    if j == 0
                    else f"covariance matrix singular ({col} perfectly correlated with the terms before it, or its variance at zero)"
                )
                singular.append(f"{t.name or t.group}: {what}")
        i += t.n_theta
    # every variance parameter enters W, as in lmerTest: with the linear Cholesky
    # parameterisation the Hessian stays finite at the boundary
    free = np.arange(model.k)
    H = _hessian(model, theta, free)
    w = np.linalg.eigvalsh(H)
    W = 2 * np.linalg.pinv(H)
    ok_h = bool(np.all(np.isfinite(w)) and (w.min() > 0 or singular))
    at_bound = np.array([b[0] is not None and theta[h] <= 1e-10 for h, b in enumerate(bounds)])
    g_free = np.where(at_bound & (grad > 0), 0.0, grad)  # a positive gradient at a bound is optimal
    converged = bool(np.isfinite(val) and np.max(np.abs(g_free)) < 1e-3 and ok_h)
    gs, s2 = model.gs(theta)
    vc = {}
    for t, G in zip(terms, gs, strict=True):
        names = ["(Intercept)" if c == "1" else c for c in t.columns]
        vc[t.name or t.group] = pd.DataFrame(G, index=names, columns=names)
    vc["residual"] = s2
    P = model.p_matrices(theta, pieces)
    msg = "; ".join(singular) if singular else ""
    if not converged:
        msg = (
            msg + "; " if msg else ""
        ) + "optimiser did not reach a clean optimum (check the fit)"
    return LMMResults(
        beta=pd.Series(pieces["beta"], index=fixed.columns),
        vcov=pd.DataFrame(pieces["Phi"], index=fixed.columns, columns=fixed.columns),
        variance_components=vc,
        loglik=-0.5 * float(val),
        method=method,
        n_obs=len(y),
        n_subjects=int(data[subject].nunique()),
        converged=converged,
        singular=singular,
        theta=theta,
        theta_vcov=W,
        free=free,
        P=P,
        alpha=alpha,
        message=msg,
    )
