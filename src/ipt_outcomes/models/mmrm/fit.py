"""Mixed model for repeated measures (MMRM) on numpy and scipy, matching SAS PROC MIXED and R mmrm.

Model: for subject *i* with visits v_i, ``y_i = X_i beta + e_i``, ``e_i ~ N(0, Sigma[v_i, v_i])``,
``Sigma`` a T x T covariance over the visit schedule with a chosen structure (optionally one per
group, e.g. per arm). Estimation by REML (default) or ML; inference with Kenward-Roger (the
linear form that matches SAS ``DDFM=KR`` for unstructured covariance; R mmrm's
"Kenward-Roger-Linear"), Satterthwaite, residual or between-within degrees of freedom.

Computation
-----------
* Work is done once per **missing-data pattern**, not per subject: for each pattern (group,
  observed visits) the sums ``sum_i X_i (x) X_i``, ``sum_i X_i (x) y_i`` and ``sum_i y_i y_i'``
  are formed once, after which the likelihood, its gradient and the Kenward-Roger terms cost
  O(patterns x T^2 p^2), whatever the number of subjects. No n_obs x n_obs matrix is formed.
* The REML gradient is analytic: ``d(-2 l)/d theta_h = tr(dSigma_h G)`` with
  ``G = sum_k embed(m_k W_k - W_k (S_k + M_k) W_k)`` (W_k the pattern's inverse covariance, S_k
  its residual cross-products, M_k = sum_i X_i Phi X_i'). Derivatives of Sigma with respect to
  theta are taken by complex-step differentiation, exact to rounding.
* The covariance of theta, W, is the inverse observed information (Hessian of -l), obtained
  by Richardson-extrapolated central differences of the analytic gradient, as R mmrm uses the
  Hessian of its objective.
* Kenward-Roger: ``Phi_A = Phi + 2 Phi {sum_hj W_hj (Q_hj - P_h Phi P_j)} Phi`` (Kenward &
  Roger 1997, without the second-derivative term R_hj, which is zero for the linear
  parameterisation SAS uses for unstructured covariance; with R dropped the result does not
  depend on how theta is parameterised). Degrees of freedom for a contrast l:
  ``2 / (a' W a)`` with ``a_h = l' Phi P_h Phi l / l' Phi l`` - the same as Satterthwaite's
  ``2 (l' Phi l)^2 / (g' W g)``, ``g_h = d(l' Phi l)/d theta_h``; KR differs in using Phi_A for
  the standard error.

Validated against R mmrm 0.3 (``../shared/reference/mmrm``) and ``nlme::gls`` for the other
covariance structures (``tests/reference/mmrm``).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from ...exceptions import ConvergenceWarning, IptOutcomesError
from ..inference import CONTRAST_COLUMNS, profile_gls, t_summary

__all__ = [
    "COVARIANCE_STRUCTURES",
    "DF_METHODS",
    "FALLBACK_ORDER",
    "CovarianceStructure",
    "MMRMResults",
    "fit_mmrm",
    "mmrm_data",
]

DF_METHODS = ("kenward-roger", "satterthwaite", "residual", "between-within")
FALLBACK_ORDER = ("us", "toeph", "ar1h", "csh", "cs")
_EPS_CS = 1e-30


class MMRMFitError(IptOutcomesError):
    """The model cannot be fitted (singular design, no convergence with any structure)."""


# ------------------------------------------------------------------------------------------
# covariance structures
# ------------------------------------------------------------------------------------------


def _rho(x):
    """Correlation in (-1, 1) from an unconstrained parameter (complex-step safe)."""
    return x / np.sqrt(1 + x * x)


def _rho_inv(r):
    r = float(r)
    r = 0.3 if not math.isfinite(r) else min(max(r, -0.95), 0.95)
    return r / math.sqrt(1 - r * r)


@functools.lru_cache(maxsize=64)
def _tril(T: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tril_indices(T, -1)


def _chol_factor(th, T: int) -> np.ndarray:
    """Lower Cholesky factor of the unstructured Sigma: log diagonal, then the lower triangle."""
    L = np.zeros((T, T), dtype=th.dtype)
    d = np.arange(T)
    L[d, d] = np.exp(th[:T])
    L[_tril(T)] = th[T:]
    return L


def _us_dl(L: np.ndarray, k: int) -> np.ndarray:
    """dL/dtheta_h for the unstructured parameterisation, shape (k, T, T)."""
    T = L.shape[0]
    dL = np.zeros((k, T, T))
    d = np.arange(T)
    dL[d, d, d] = L[d, d]
    rows, cols = _tril(T)
    dL[np.arange(T, k), rows, cols] = 1.0
    return dL


@dataclass(frozen=True)
class CovarianceStructure:
    """A within-subject covariance structure over ``T`` visits.

    Names follow SAS / R mmrm: ``us`` unstructured; ``cs`` / ``csh`` (heterogeneous) compound
    symmetry; ``ar1`` / ``ar1h`` first-order autoregressive; ``toep`` / ``toeph`` Toeplitz;
    ``ad`` / ``adh`` first-order ante-dependence. Correlations are by visit index (as SAS AR(1)
    and TOEP), not by time elapsed.
    """

    name: str
    n_visits: int

    @property
    def n_theta(self) -> int:
        T = self.n_visits
        return {
            "us": T * (T + 1) // 2,
            "cs": 2,
            "csh": T + 1,
            "ar1": 2,
            "ar1h": T + 1,
            "toep": T,
            "toeph": 2 * T - 1,
            "ad": T,
            "adh": 2 * T - 1,
        }[self.name]

    def sigma(self, theta):
        """Sigma(theta) as a T x T array; complex input gives complex output (complex step)."""
        T = self.n_visits
        th = np.asarray(theta)
        dt = th.dtype
        name = self.name
        if name == "us":
            L = _chol_factor(th, T)
            return L @ L.T
        hetero = name in ("csh", "ar1h", "toeph", "adh")
        sd = np.exp(th[:T]) if hetero else np.exp(th[0]) * np.ones(T, dtype=dt)
        rest = th[T:] if hetero else th[1:]
        idx = np.arange(T)
        lag = np.abs(idx[:, None] - idx[None, :])
        if name in ("cs", "csh"):
            a = 1.0 / (T - 1) if T > 1 else 0.0
            r = (1 / (1 + np.exp(-rest[0]))) * (1 + a) - a
            corr = np.where(lag == 0, 1.0 + 0 * r, r)
        elif name in ("ar1", "ar1h"):
            r = _rho(rest[0])
            corr = np.ones((T, T), dtype=dt)
            for k in range(1, T):
                corr = np.where(lag == k, r**k, corr)
        elif name in ("toep", "toeph"):
            rs = _rho(rest)
            corr = np.ones((T, T), dtype=dt)
            for k in range(1, T):
                corr = np.where(lag == k, rs[k - 1], corr)
        elif name in ("ad", "adh"):
            rs = _rho(rest)
            corr = np.ones((T, T), dtype=dt)
            for i in range(T):
                for j in range(i + 1, T):
                    val = np.prod(rs[i:j])
                    corr[i, j] = corr[j, i] = val
        else:  # pragma: no cover - checked in fit_mmrm
            raise ValueError(name)
        return corr * sd[:, None] * sd[None, :]

    def dsigma(self, theta) -> np.ndarray:
        """Derivatives dSigma/dtheta_h, shape (n_theta, T, T).

        Analytic for ``us`` (dL_h L' + L dL_h'); by complex step (exact) for the others.
        """
        th = np.asarray(theta, dtype=float)
        if self.name == "us":
            T = self.n_visits
            L = _chol_factor(th, T)
            dL = _us_dl(L, len(th))
            out = dL @ L.T
            return out + out.transpose(0, 2, 1)
        out = np.empty((len(th), self.n_visits, self.n_visits))
        for h in range(len(th)):
            z = th.astype(complex)
            z[h] += 1j * _EPS_CS
            out[h] = np.imag(self.sigma(z)) / _EPS_CS
        return out

    def d2sigma(self, theta) -> np.ndarray:
        """Second derivatives, shape (n_theta, n_theta, T, T).

        Analytic for ``us`` (Sigma = L L', L with log diagonal); for the other structures,
        central differences of the exact (complex-step) first derivatives.
        """
        th = np.asarray(theta, dtype=float)
        k, T = len(th), self.n_visits
        if self.name == "us":
            L = _chol_factor(th, T)
            dL = _us_dl(L, k)
            out = np.einsum("hab,jcb->hjac", dL, dL)  # dL_h dL_j'
            out = out + out.transpose(1, 0, 3, 2)  # + dL_j dL_h'
            for h in range(T):  # d2L_hh = dL_h on the log-diagonal
                extra = dL[h] @ L.T
                out[h, h] += extra + extra.T
            return out
        out = np.empty((k, k, T, T))
        for j in range(k):
            e = np.zeros(k)
            e[j] = 1e-5 * max(1.0, abs(th[j]))
            out[:, j] = (self.dsigma(th + e) - self.dsigma(th - e)) / (2 * e[j])
        return (out + out.transpose(1, 0, 2, 3)) / 2

    def start(self, cov: np.ndarray) -> np.ndarray:
        """Starting values from an empirical covariance matrix."""
        T = self.n_visits
        cov = np.asarray(cov, dtype=float)
        sd = np.sqrt(np.clip(np.diag(cov), 1e-8, None))
        corr = cov / np.outer(sd, sd)
        off = corr[np.triu_indices(T, 1)] if T > 1 else np.array([0.0])
        with np.errstate(all="ignore"):
            rbar = float(np.nanmean(off)) if np.isfinite(off).any() else 0.3
        rbar = float(np.clip(rbar if np.isfinite(rbar) else 0.3, -0.5, 0.9))
        name = self.name
        if name == "us":
            w, v = np.linalg.eigh(cov)
            cov = (v * np.clip(w, 1e-6 * max(w.max(), 1e-8), None)) @ v.T
            L = np.linalg.cholesky(cov)
            return np.concatenate([np.log(np.diag(L)), L[np.tril_indices(T, -1)]])
        hetero = name in ("csh", "ar1h", "toeph", "adh")
        lead = np.log(sd) if hetero else np.array([np.log(np.sqrt(np.mean(sd**2)))])
        if name in ("cs", "csh"):
            a = 1.0 / (T - 1) if T > 1 else 0.0
            q = min(max((rbar + a) / (1 + a), 0.05), 0.95)
            return np.concatenate([lead, [math.log(q / (1 - q))]])
        if name in ("ar1", "ar1h"):
            lag1 = (
                np.nanmean(np.diag(corr, 1))
                if T > 1 and np.isfinite(np.diag(corr, 1)).any()
                else rbar
            )
            return np.concatenate([lead, [_rho_inv(lag1)]])
        if name in ("toep", "toeph"):
            return np.concatenate(
                [lead, [_rho_inv(np.nanmean(np.diag(corr, k))) for k in range(1, T)]]
            )
        return np.concatenate([lead, [_rho_inv(corr[k, k + 1]) for k in range(T - 1)]])


COVARIANCE_STRUCTURES = ("us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh")


# ------------------------------------------------------------------------------------------
# data: patterns and their sufficient statistics
# ------------------------------------------------------------------------------------------


@dataclass
class _Pattern:
    group: int
    idx: np.ndarray  # visit indices observed
    m: int  # subjects with this pattern
    C: np.ndarray  # (t*t, p*p): sum_i X_i[t,a] X_i[u,b], contiguous for one matmul per use
    D: np.ndarray  # (t*t, p):   sum_i X_i[t,a] y_i[u]
    Y: np.ndarray  # (t, t):     sum_i y_i[t] y_i[u]

    def __post_init__(self):
        self.ix = np.ix_(self.idx, self.idx)


def _patterns(X, y, subject, visit_idx, group_idx, T):
    order = np.lexsort((visit_idx, subject))
    X, y, subject, visit_idx, group_idx = (
        X[order],
        y[order],
        subject[order],
        visit_idx[order],
        group_idx[order],
    )
    starts = np.flatnonzero(np.r_[True, subject[1:] != subject[:-1]])
    ends = np.r_[starts[1:], len(subject)]
    keys: dict[tuple, list[int]] = {}
    for s, e in zip(starts, ends, strict=True):
        key = (int(group_idx[s]), tuple(visit_idx[s:e].tolist()))
        keys.setdefault(key, []).append(s)
    patterns = []
    for (g, idx), first_rows in keys.items():
        t = len(idx)
        rows = np.asarray(first_rows)[:, None] + np.arange(t)[None, :]
        Xs = X[rows]  # (m, t, p)
        ys = y[rows]  # (m, t)
        m, p = len(first_rows), Xs.shape[2]
        A = Xs.reshape(m, t * p)
        C = (A.T @ A).reshape(t, p, t, p).transpose(0, 2, 1, 3)  # sum_i X_i[t,a] X_i[u,b]
        D = (A.T @ ys).reshape(t, p, t).transpose(0, 2, 1)  # sum_i X_i[t,a] y_i[u]
        patterns.append(
            _Pattern(
                group=g,
                idx=np.asarray(idx),
                m=len(first_rows),
                C=np.ascontiguousarray(C.reshape(t * t, p * p)),
                D=np.ascontiguousarray(D.reshape(t * t, p)),
                Y=ys.T @ ys,
            )
        )
    return patterns


# ------------------------------------------------------------------------------------------
# likelihood
# ------------------------------------------------------------------------------------------


class _Model:
    def __init__(self, X, y, subject, visit_idx, group_idx, structure, n_groups, reml):
        self.N, self.p = X.shape
        self.T = structure.n_visits
        self.structure = structure
        self.n_groups = n_groups
        self.reml = reml
        self.k = structure.n_theta
        self.patterns = _patterns(X, y, subject, visit_idx, group_idx, self.T)

    def split(self, theta):
        return [theta[g * self.k : (g + 1) * self.k] for g in range(self.n_groups)]

    def sigmas(self, theta):
        return [self.structure.sigma(th) for th in self.split(theta)]

    def evaluate(self, theta, grad: bool = True):
        """-2 log-likelihood (REML or ML), its gradient and the pieces inference needs."""
        p = self.p
        sig = self.sigmas(theta)
        XtWX = np.zeros((p, p))
        XtWy = np.zeros(p)
        yWy = 0.0
        logdet = 0.0
        Ws = []
        for pat in self.patterns:
            S = sig[pat.group][pat.ix]
            if not np.all(np.isfinite(S)):
                return math.inf, None, None
            try:
                c = np.linalg.cholesky(S)
            except np.linalg.LinAlgError:
                return math.inf, None, None
            d = np.diag(c)
            if np.any(d <= 0):
                return math.inf, None, None
            ci = np.linalg.inv(c)
            W = ci.T @ ci
            Ws.append(W)
            logdet += pat.m * 2.0 * np.sum(np.log(d))
            w = W.ravel()
            XtWX += (w @ pat.C).reshape(p, p)
            XtWy += w @ pat.D
            yWy += float(np.sum(W * pat.Y))
        prof = profile_gls(XtWX, XtWy, yWy, logdet, self.N, self.reml)
        if prof is None:
            return math.inf, None, None
        value, beta, cx = prof
        pieces = dict(beta=beta, XtWX=XtWX, cx=cx, Ws=Ws, sig=sig)
        if not grad:
            return value, None, pieces
        Phi = linalg.cho_solve(cx, np.eye(p), check_finite=False)
        pieces["Phi"] = Phi
        G = [np.zeros((self.T, self.T)) for _ in range(self.n_groups)]
        bb = np.outer(beta, beta).ravel()
        if self.reml:
            bb = bb + Phi.ravel()  # M_k = sum_i X_i Phi X_i' joins the residual cross-products
        for pat, W in zip(self.patterns, Ws, strict=True):
            t = len(pat.idx)
            Db = (pat.D @ beta).reshape(t, t)  # sum_i (X_i beta)_t y_iu
            S = pat.Y - Db - Db.T + (pat.C @ bb).reshape(t, t)
            Gk = pat.m * W - W @ S @ W
            G[pat.group][pat.ix] += Gk
        grads = []
        for g, th in enumerate(self.split(theta)):
            dS = self.structure.dsigma(th)
            grads.append(np.tensordot(dS, G[g], axes=([1, 2], [0, 1])))
        return value, np.concatenate(grads), pieces


def _hessian(model: _Model, theta: np.ndarray, pieces=None) -> np.ndarray:
    """Analytic observed Hessian of -2 l (REML or ML, beta profiled out).

    With V the block-diagonal covariance, r = y - X beta, z_h = X' V^-1 V_h V^-1 r and
    P_h = -X' V^-1 V_h V^-1 X (the Kenward-Roger P):

    ML:   tr(V^-1 V_hj) - tr(V^-1 V_h V^-1 V_j) + 2 r'V^-1 V_h V^-1 V_j V^-1 r
          - r'V^-1 V_hj V^-1 r - 2 z_h' Phi z_j
    REML: the same, plus - tr(Phi X'V^-1 V_hj V^-1 X) + 2 tr(Phi Q_hj) - tr(Phi P_h Phi P_j),

    every term a sum over missing-data patterns of traces of t x t matrices.
    """
    if pieces is None:
        pieces = model.evaluate(theta)[2]
    beta, Phi, Ws = pieces["beta"], pieces["Phi"], pieces["Ws"]
    p, k = model.p, model.k
    n = k * model.n_groups
    H = np.zeros((n, n))
    Z = np.zeros((n, p))
    Pm = np.zeros((n, p * p))
    d1 = [model.structure.dsigma(th) for th in model.split(theta)]
    d2 = [model.structure.d2sigma(th) for th in model.split(theta)]
    bb = np.outer(beta, beta).ravel()
    phi = Phi.ravel()
    for pat, W in zip(model.patterns, Ws, strict=True):
        t = len(pat.idx)
        g0 = pat.group * k
        sl = slice(g0, g0 + k)
        A = d1[pat.group][:, pat.idx][:, :, pat.idx]
        A2 = d2[pat.group][:, :, pat.idx][:, :, :, pat.idx]
        Db = (pat.D @ beta).reshape(t, t)
        S = pat.Y - Db - Db.T + (pat.C @ bb).reshape(t, t)
        E = W @ A  # (k, t, t): W A_h
        WSW = W @ S @ W
        blk = pat.m * np.einsum("hjab,ba->hj", A2, W)
        blk -= pat.m * np.einsum("hab,jba->hj", E, E)
        EW = E @ (W @ S)  # W A_h W S
        blk += 2 * np.einsum("hab,jba->hj", E, EW)
        blk -= np.einsum("hjab,ba->hj", A2, WSW)
        WAW = (E @ W).reshape(k, t * t)  # W A_h W
        Rk = pat.D - (pat.C.reshape(t * t, p, p) @ beta)  # sum_i X_i[t,a] r_i[u]
        Z[sl] += WAW @ Rk
        Pm[sl] -= WAW @ pat.C
        if model.reml:
            Mk = (pat.C @ phi).reshape(t, t)
            WMW = W @ Mk @ W
            blk -= np.einsum("hjab,ba->hj", A2, WMW)
            EM = E @ (W @ Mk)
            blk += 2 * np.einsum("hab,jba->hj", E, EM)
        H[sl, sl] += blk
    H -= 2 * Z @ Phi @ Z.T
    if model.reml:
        PP = (Pm.reshape(n, p, p) @ Phi).reshape(n, p * p)  # P_h Phi
        H -= np.einsum("hab,jba->hj", PP.reshape(n, p, p), PP.reshape(n, p, p))
    return (H + H.T) / 2


def _hessian_numeric(model: _Model, theta: np.ndarray) -> np.ndarray:
    """Richardson-extrapolated central differences of the analytic gradient (for checking)."""
    k = len(theta)
    H = np.empty((k, k))
    for h in range(k):
        step = 1e-3 * max(1.0, abs(theta[h]))

        def diff(s, h=h):
            e = np.zeros(k)
            e[h] = s
            return (model.evaluate(theta + e)[1] - model.evaluate(theta - e)[1]) / (2 * s)

        H[:, h] = (4 * diff(step / 2) - diff(step)) / 3
    return (H + H.T) / 2


# ------------------------------------------------------------------------------------------
# design
# ------------------------------------------------------------------------------------------


@dataclass
class _Design:
    arms: list
    reference: str
    visits: list
    covariates: list
    levels: dict  # categorical covariate -> levels
    names: list
    baseline_mean: float
    covariate_means: dict

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        n = len(frame)
        cols = []
        v = frame["visit"].to_numpy()
        a = frame["arm"].to_numpy()
        b = frame["baseline"].to_numpy(float)
        for vv in self.visits:
            cols.append((v == vv).astype(float))
        for arm in self.arms:
            if arm == self.reference:
                continue
            for vv in self.visits:
                cols.append(((a == arm) & (v == vv)).astype(float))
        for vv in self.visits:
            cols.append(b * (v == vv))
        for cov in self.covariates:
            if cov in self.levels:
                x = frame[cov].astype(str).to_numpy()
                for lev in self.levels[cov][1:]:
                    cols.append((x == lev).astype(float))
            else:
                cols.append(frame[cov].to_numpy(float))
        return np.column_stack(cols) if cols else np.zeros((n, 0))

    def grid_row(self, arm, visit) -> np.ndarray:
        """Row of the LS-means reference grid: covariates at their means (emmeans convention)."""
        x = np.zeros(len(self.names))
        i = 0
        for vv in self.visits:
            x[i] = float(vv == visit)
            i += 1
        for a in self.arms:
            if a == self.reference:
                continue
            for vv in self.visits:
                x[i] = float(a == arm and vv == visit)
                i += 1
        for vv in self.visits:
            x[i] = self.baseline_mean * float(vv == visit)
            i += 1
        for cov in self.covariates:
            if cov in self.levels:
                levs = self.levels[cov]
                for _lev in levs[1:]:
                    x[i] = 1.0 / len(levs)  # equal weights over levels, as emmeans
                    i += 1
            else:
                x[i] = self.covariate_means[cov]
                i += 1
        return x


def _build_design(frame, reference, arms, covariates) -> _Design:
    visits = sorted(frame["visit"].unique())
    names = [f"visit[{v:g}]" for v in visits]
    names += [f"arm[{a}]:visit[{v:g}]" for a in arms if a != reference for v in visits]
    names += [f"baseline:visit[{v:g}]" for v in visits]
    levels, means = {}, {}
    for cov in covariates:
        col = frame[cov]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            names.append(cov)
            means[cov] = float(col.astype(float).mean())
        else:
            levs = sorted(col.astype(str).unique())
            levels[cov] = levs
            names += [f"{cov}[{lev}]" for lev in levs[1:]]
    return _Design(
        arms=list(arms),
        reference=reference,
        visits=visits,
        covariates=list(covariates),
        levels=levels,
        names=names,
        baseline_mean=float(frame["baseline"].astype(float).mean()),
        covariate_means=means,
    )


def mmrm_data(scores, covariates=()) -> pd.DataFrame:
    """Rows an MMRM analyses: post-baseline scores with a baseline, as change from baseline.

    Parameters
    ----------
    scores : ValidatedScores
    covariates : sequence of str
        Extra columns to carry (e.g. ``antidepressant``); rows missing any of them are dropped.

    Returns
    -------
    DataFrame
        ``subject_id, arm, visit, change, baseline`` and the covariates, one row per observed
        post-baseline score of a subject with a baseline.
    """
    from ...data.derive import derive_outcomes

    d = derive_outcomes(scores)
    d = d[d["hamd17"].notna()]
    cols = ["subject_id", "arm", "visit", "change", "baseline", *covariates]
    missing = [c for c in covariates if c not in d.columns]
    if missing:
        raise IptOutcomesError(f"covariate column(s) not in the data: {', '.join(missing)}")
    return d[cols].dropna().reset_index(drop=True)


# ------------------------------------------------------------------------------------------
# fitting
# ------------------------------------------------------------------------------------------


def _newton(model: _Model, theta, val, g, pieces, n_eval: int, max_iter: int = 20):
    """Newton steps on the analytic Hessian, halving the step until -2 l does not increase."""
    for _ in range(max_iter):
        if np.max(np.abs(g)) < 1e-9:
            break
        H = _hessian(model, theta, pieces)
        n_eval += 1
        try:
            step = -linalg.solve(H, g, assume_a="sym")
        except (linalg.LinAlgError, ValueError):
            break
        t = 1.0
        improved = False
        for _ls in range(30):
            cand = theta + t * step
            v2, g2, p2 = model.evaluate(cand)
            n_eval += 1
            if np.isfinite(v2) and v2 <= val + 1e-12:
                theta, val, g, pieces = cand, v2, g2, p2
                improved = True
                break
            t /= 2
        if not improved or np.max(np.abs(t * step)) < 1e-10:
            break
    return theta, val, g, pieces, n_eval


def _optimise(model: _Model, theta0: np.ndarray, newton_first: bool = False):
    """L-BFGS-B with the analytic gradient, then Newton steps on the analytic Hessian.

    With ``newton_first`` (a warm start near the optimum, as in simulations from a known
    covariance) Newton steps are tried first and L-BFGS-B only if they do not reach a
    stationary point with a positive definite Hessian.
    """
    if newton_first:
        val, g, pieces = model.evaluate(theta0)
        if np.isfinite(val) and pieces is not None:
            theta, val, g, pieces, n_eval = _newton(model, theta0, val, g, pieces, 1)
            H = _hessian(model, theta, pieces)
            if _converged(val, g, H)[0]:
                return theta, val, g, H, n_eval

    def fun(th):
        val, g, _ = model.evaluate(th)
        if not np.isfinite(val):
            return 1e300, np.zeros_like(th)
        return val, g

    res = optimize.minimize(
        fun, theta0, jac=True, method="L-BFGS-B",
        options=dict(maxiter=5000, ftol=1e-15, gtol=1e-10, maxcor=30),
    )  # fmt: skip
    theta = res.x
    val, g, pieces = model.evaluate(theta)
    if not np.isfinite(val) or pieces is None:
        return theta, val, None, None, res.nfev
    theta, val, g, pieces, n_eval = _newton(model, theta, val, g, pieces, res.nfev + 1)
    H = _hessian(model, theta, pieces)
    return theta, val, g, H, n_eval


@dataclass
class MMRMResults:
    """A fitted MMRM: estimates, covariances and the tables of SPEC ``mmrm_*.csv``.

    Attributes
    ----------
    beta : Series
        Fixed effects (cell-means parameterisation: visit intercepts, arm x visit differences,
        baseline x visit slopes, covariates).
    vcov : DataFrame
        Model-based covariance of beta, Phi = (X' V^-1 X)^-1.
    vcov_adjusted : DataFrame or None
        Kenward-Roger adjusted covariance Phi_A (df method ``kenward-roger``).
    theta, theta_vcov : ndarray
        Covariance parameters and their covariance (inverse observed information).
    sigma : list of DataFrame
        Estimated visit covariance matrix (one per group).
    """

    beta: pd.Series
    vcov: pd.DataFrame
    vcov_adjusted: pd.DataFrame | None
    theta: np.ndarray
    theta_vcov: np.ndarray
    sigma: list
    neg2_loglik: float
    method: str
    df_method: str
    covariance: str
    covariance_requested: str
    converged: bool
    fallback_log: list
    n_subjects: int
    n_obs: int
    n_evaluations: int
    max_gradient: float
    design: _Design = field(repr=False)
    _P: np.ndarray = field(repr=False, default=None)
    groups: list = field(default_factory=list)
    alpha: float = 0.05
    _bw: tuple = field(repr=False, default=(np.nan, np.nan))

    # --- inference on one contrast -------------------------------------------------------
    def _df_1d(self, lvec: np.ndarray) -> float:
        Phi = self.vcov.to_numpy()
        if self.df_method == "residual":
            return float(self.n_obs - len(self.beta))
        if self.df_method == "between-within":
            return float(self._bw[1])
        v = float(lvec @ Phi @ lvec)
        # a_h = l' Phi P_h Phi l / l' Phi l; df = 2 / (a' W a)
        a = np.einsum("a,hab,b->h", lvec @ Phi, self._P, Phi @ lvec) / v
        return float(2.0 / (a @ self.theta_vcov @ a))

    def estimate(self, lvec) -> dict:
        """Estimate, SE, df, t, p and CI of the linear combination ``l' beta``."""
        lvec = np.asarray(lvec, dtype=float)
        V = (self.vcov_adjusted if self.vcov_adjusted is not None else self.vcov).to_numpy()
        est = float(lvec @ self.beta.to_numpy())
        se = float(math.sqrt(lvec @ V @ lvec))
        return t_summary(est, se, self._df_1d(lvec), self.alpha)

    # --- tables ----------------------------------------------------------------------------
    def lsmeans(self) -> pd.DataFrame:
        """LS means per arm and visit (baseline and numeric covariates at their means).

        Returns
        -------
        DataFrame
            ``arm, visit, estimate, se, df, ci_low, ci_high`` (SPEC ``mmrm_lsmeans.csv``).
        """
        rows = []
        for v in self.design.visits:
            for a in self.design.arms:
                r = self.estimate(self.design.grid_row(a, v))
                rows.append(
                    dict(
                        arm=a,
                        visit=v,
                        **{k: r[k] for k in ("estimate", "se", "df", "ci_low", "ci_high")},
                    )
                )
        return pd.DataFrame(
            rows, columns=["arm", "visit", "estimate", "se", "df", "ci_low", "ci_high"]
        )

    def contrasts(self) -> pd.DataFrame:
        """Each arm minus the reference at each visit.

        Returns
        -------
        DataFrame
            ``arm, reference, visit, estimate, se, df, t, p, ci_low, ci_high`` (SPEC
            ``mmrm_contrasts.csv``).
        """
        ref = self.design.reference
        rows = []
        for v in self.design.visits:
            for a in self.design.arms:
                if a == ref:
                    continue
                lvec = self.design.grid_row(a, v) - self.design.grid_row(ref, v)
                rows.append(dict(arm=a, reference=ref, visit=v, **self.estimate(lvec)))
        return pd.DataFrame(rows, columns=CONTRAST_COLUMNS)

    def fit_table(self) -> pd.DataFrame:
        """One row: ``neg2_reml_loglik, n_subjects, n_obs, covariance, converged`` and more."""
        k = len(self.theta)
        n_par = k + (0 if self.method == "reml" else len(self.beta))
        neg2 = self.neg2_loglik
        n_aic = self.n_obs - (len(self.beta) if self.method == "reml" else 0)
        return pd.DataFrame(
            [
                dict(
                    neg2_reml_loglik=neg2 if self.method == "reml" else np.nan,
                    n_subjects=self.n_subjects,
                    n_obs=self.n_obs,
                    covariance=self.covariance,
                    converged=self.converged,
                    method=self.method,
                    df_method=self.df_method,
                    neg2_loglik=neg2,
                    aic=neg2 + 2 * n_par,
                    bic=neg2 + n_par * math.log(self.n_subjects),
                    n_theta=k,
                    n_beta=len(self.beta),
                    covariance_requested=self.covariance_requested,
                    fallback=" | ".join(self.fallback_log),
                    max_gradient=self.max_gradient,
                    evaluations=self.n_evaluations,
                    aicc_n=n_aic,
                )
            ]
        ).drop(columns=["aicc_n"])

    def anova(self) -> pd.DataFrame:
        """Type III-style F tests of the model terms.

        Returns
        -------
        DataFrame
            ``term, num_df, den_df, f, p``: ``arm within visit`` (all arm differences at all
            visits, as R's ``visit:arm`` term), ``arm`` (arm differences averaged over visits),
            ``arm:visit`` (arm differences equal across visits), ``visit`` (visit means,
            averaged over arms, equal), ``baseline:visit`` (all slopes zero).
        """
        d = self.design
        ref = d.reference
        others = [a for a in d.arms if a != ref]
        diff = {(a, v): d.grid_row(a, v) - d.grid_row(ref, v) for a in others for v in d.visits}
        tests = {}
        tests["arm within visit"] = np.array(list(diff.values()))
        tests["arm"] = np.array([np.mean([diff[(a, v)] for v in d.visits], axis=0) for a in others])
        if len(d.visits) > 1:
            tests["arm:visit"] = np.array(
                [diff[(a, v)] - diff[(a, d.visits[0])] for a in others for v in d.visits[1:]]
            )
            marg = [np.mean([d.grid_row(a, v) for a in d.arms], axis=0) for v in d.visits]
            tests["visit"] = np.array([m - marg[0] for m in marg[1:]])
        slopes = np.zeros((len(d.visits), len(self.beta)))
        for i, v in enumerate(d.visits):
            slopes[i, d.names.index(f"baseline:visit[{v:g}]")] = 1.0
        tests["baseline:visit"] = slopes
        rows = [dict(term=term, **self._f_test(L)) for term, L in tests.items() if len(L)]
        return pd.DataFrame(rows, columns=["term", "num_df", "den_df", "f", "p"])

    def _f_test(self, L: np.ndarray) -> dict:
        beta = self.beta.to_numpy()
        Phi = self.vcov.to_numpy()
        c = L.shape[0]
        if c == 1:
            r = self.estimate(L[0])
            return dict(num_df=1, den_df=r["df"], f=r["t"] ** 2, p=r["p"])
        if self.df_method == "kenward-roger":
            V = self.vcov_adjusted.to_numpy()
            Lb = L @ beta
            F = float(Lb @ linalg.solve(L @ V @ L.T, Lb)) / c
            M = L.T @ linalg.solve(L @ Phi @ L.T, L)
            MPhi = M @ Phi
            Fh = np.einsum("ab,hbc,cd->had", MPhi, self._P, Phi)  # M Phi P_h Phi
            tr = np.einsum("haa->h", Fh)
            A1 = float(tr @ self.theta_vcov @ tr)
            A2 = float(np.einsum("hj,hab,jba->", self.theta_vcov, Fh, Fh))
            B = (A1 + 6 * A2) / (2 * c)
            g = ((c + 1) * A1 - (c + 4) * A2) / ((c + 2) * A2)
            den = 3 * c + 2 * (1 - g)
            c1, c2, c3 = g / den, (c - g) / den, (c + 2 - g) / den
            e_star = 1 / (1 - A2 / c)
            v_star = 2 / c * (1 + c1 * B) / ((1 - c2 * B) ** 2 * (1 - c3 * B))
            rho = v_star / (2 * e_star**2)
            m = 4 + (c + 2) / (c * rho - 1)
            lam = m / (e_star * (m - 2))
            Fs = F * lam
            return dict(num_df=c, den_df=m, f=Fs, p=float(stats.f.sf(Fs, c, m)))
        # Satterthwaite (mmrm's eigen-decomposition), or residual / between-within
        cov = L @ Phi @ L.T
        w, U = np.linalg.eigh(cov)
        order = np.argsort(w)[::-1]
        w, U = w[order], U[:, order]
        rank = int(np.sum(w > max(np.sqrt(np.finfo(float).eps) * w[0], 0)))
        Lr = U[:, :rank].T @ L
        t2 = (Lr @ beta) ** 2 / w[:rank]
        F = float(np.sum(t2) / rank)
        if self.df_method == "satterthwaite":
            dfs = np.array([self._df_1d(Lr[m]) for m in range(rank)])
            if np.all(np.abs(np.diff(dfs)) < np.sqrt(np.finfo(float).eps)):
                den = float(np.mean(dfs))
            elif np.any(dfs <= 2):
                den = 2.0
            else:
                E = float(np.sum(dfs / (dfs - 2)))
                den = 2 * E / (E - rank)
        else:
            den = self._df_1d(Lr[0])
        return dict(num_df=rank, den_df=den, f=F, p=float(stats.f.sf(F, rank, den)))

    def summary(self) -> pd.DataFrame:
        """The fixed effects with SE (adjusted for KR), df, t, p and CI."""
        rows = []
        for i, name in enumerate(self.beta.index):
            lvec = np.zeros(len(self.beta))
            lvec[i] = 1
            rows.append(dict(term=name, **self.estimate(lvec)))
        return pd.DataFrame(rows)

    def print_summary(self, file=None) -> None:
        """Print the fit, the covariance matrix, LS means and contrasts."""
        import sys

        out = file or sys.stdout
        fit = self.fit_table().iloc[0]
        print(
            f"MMRM ({self.method.upper()}, {self.covariance} covariance, {self.df_method} df): "
            f"{self.n_obs} observations of {self.n_subjects} subjects; -2 log-likelihood "
            f"{self.neg2_loglik:.4f}; converged {fit['converged']}",
            file=out,
        )
        if self.fallback_log:
            print("Fallback: " + " | ".join(self.fallback_log), file=out)
        for g, s in zip(self.groups or ["all"], self.sigma, strict=False):
            print(f"\nCovariance ({g}):\n{s.round(3).to_string()}", file=out)
        print("\nLS means:\n" + self.lsmeans().round(4).to_string(index=False), file=out)
        print("\nContrasts:\n" + self.contrasts().round(4).to_string(index=False), file=out)


def fit_mmrm(
    data: pd.DataFrame,
    *,
    reference: str,
    arms=None,
    covariance: str = "us",
    df: str = "kenward-roger",
    method: str = "reml",
    covariates=(),
    group_by_arm: bool = False,
    fallback: bool = True,
    alpha: float = 0.05,
    start=None,
) -> MMRMResults:
    """Fit an MMRM of change from baseline.

    Parameters
    ----------
    data : DataFrame
        ``subject_id, arm, visit, change, baseline`` (and covariates), one row per observed
        post-baseline assessment (see :func:`mmrm_data`).
    reference : str
        Reference arm of the contrasts.
    arms : sequence, optional
        Arm order (default: order of appearance).
    covariance : {"us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh"}
        Within-subject covariance structure (default unstructured).
    df : {"kenward-roger", "satterthwaite", "residual", "between-within"}
        Degrees-of-freedom method; Kenward-Roger also adjusts the covariance of beta.
    method : {"reml", "ml"}
    covariates : sequence of str
        Extra fixed effects (numeric: one slope; text: treatment-coded levels).
    group_by_arm : bool
        One covariance matrix per arm.
    fallback : bool
        If the requested structure does not converge, try the next simpler one in
        ``FALLBACK_ORDER`` (us, toeph, ar1h, csh, cs); what happened is in ``fallback_log`` and
        the fit table. With ``False`` a failure raises.
    alpha : float
    start : array_like, optional
        A T x T covariance matrix to start the optimiser from (e.g. the generating covariance
        of a simulation). Newton steps are then tried first, which is much faster near the
        optimum; the fit found is the same.

    Returns
    -------
    MMRMResults

    Raises
    ------
    MMRMFitError
        Singular design (a fixed effect not estimable, e.g. a visit with too few
        observations), or no structure converged.

    Notes
    -----
    Fixed effects: visit + arm:visit + baseline:visit (+ covariates) - the SPEC's default MMRM,
    in a cell-means parameterisation of the same model space as R's
    ``chg ~ visit + arm:visit + base:visit``. LS means hold baseline and numeric covariates at
    their means over the analysed rows and weight the levels of text covariates equally, as
    emmeans and SAS do.
    """
    if df not in DF_METHODS:
        raise ValueError(f"df must be one of {DF_METHODS}, got {df!r}")
    if method not in ("reml", "ml"):
        raise ValueError(f"method must be 'reml' or 'ml', got {method!r}")
    if covariance not in COVARIANCE_STRUCTURES:
        raise ValueError(f"covariance must be one of {COVARIANCE_STRUCTURES}, got {covariance!r}")
    if df == "kenward-roger" and method != "reml":
        raise ValueError("Kenward-Roger degrees of freedom need REML")
    data = data.dropna(subset=["change", "baseline", *covariates]).reset_index(drop=True)
    arms = list(arms) if arms is not None else list(dict.fromkeys(data["arm"]))
    present = set(pd.unique(data["arm"]))
    arms = [a for a in arms if a in present]
    if reference not in arms:
        raise MMRMFitError(
            f"reference arm {reference!r} has no analysed observations (arms: {', '.join(map(str, arms))})"
        )
    if len(arms) < 2:
        raise MMRMFitError("the MMRM needs at least two arms with observations")
    design = _build_design(data, reference, arms, covariates)
    X = design.matrix(data)
    _check_estimable(X, design, data)
    y = data["change"].to_numpy(float)
    subj = pd.factorize(data["subject_id"])[0]
    vis = np.searchsorted(design.visits, data["visit"].to_numpy())
    groups = arms if group_by_arm else ["all"]
    gidx = (
        pd.Categorical(data["arm"], categories=arms).codes
        if group_by_arm
        else np.zeros(len(data), int)
    )
    T = len(design.visits)
    if start is not None and np.shape(start) != (len(design.visits),) * 2:
        raise ValueError(
            f"start must be a {len(design.visits)} x {len(design.visits)} covariance matrix"
        )

    def empirical():
        """Starting covariance: covariance of OLS residuals by visit pair."""
        beta_ols = np.linalg.lstsq(X, y, rcond=None)[0]
        resid = pd.DataFrame({"s": subj, "v": vis, "r": y - X @ beta_ols}).pivot(
            index="s", columns="v", values="r"
        )
        emp = resid.reindex(columns=range(T)).cov(min_periods=2).to_numpy()
        emp = np.where(np.isfinite(emp), emp, 0.0)
        np.fill_diagonal(emp, np.where(np.diag(emp) > 0, np.diag(emp), np.nanvar(y) or 1.0))
        return emp

    order = [covariance] + (
        [
            s
            for s in FALLBACK_ORDER
            if s != covariance
            and FALLBACK_ORDER.index(s)
            > (FALLBACK_ORDER.index(covariance) if covariance in FALLBACK_ORDER else -1)
        ]
        if fallback
        else []
    )
    log = []
    for name in order:
        structure = CovarianceStructure(name, T)
        model = _Model(X, y, subj, vis, gidx, structure, len(groups), method == "reml")
        warm = start is not None and name == covariance
        base_cov = start if warm else empirical()
        theta0 = np.concatenate([structure.start(base_cov) for _ in groups])
        try:
            with np.errstate(all="ignore"):
                theta, val, g, H, n_eval = _optimise(model, theta0, newton_first=warm)
        except (linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            log.append(f"{name}: failed ({exc})")
            continue
        ok, why = _converged(val, g, H)
        if ok:
            break
        log.append(f"{name}: did not converge ({why})")
    else:
        raise MMRMFitError(
            "the MMRM did not converge with any covariance structure tried: " + "; ".join(log)
            + ". Check for visits with very few observations or a covariate that is constant."
        )  # fmt: skip
    if log:
        log.append(f"used {name}")
        warnings.warn("MMRM fallback: " + "; ".join(log), ConvergenceWarning, stacklevel=2)
    val, grad, pieces = model.evaluate(theta)
    Phi = pieces["Phi"]
    W = 2.0 * linalg.inv(H)  # covariance of theta: inverse Hessian of -l (H is of -2 l)
    P = _kr_p(model, theta, pieces)
    Vadj = _kr_adjusted(model, theta, pieces, P, W) if df == "kenward-roger" else None
    if Vadj is not None and not (
        np.all(np.isfinite(Vadj)) and np.linalg.eigvalsh((Vadj + Vadj.T) / 2).min() > 0
    ):
        raise MMRMFitError(
            "the Kenward-Roger adjusted covariance is not positive definite (too few subjects per "
            "visit for the covariance parameters); use --df satterthwaite or a simpler --covariance"
        )
    names = design.names
    n_sub = int(data["subject_id"].nunique())
    bw = (n_sub - 0, len(data) - n_sub - np.linalg.matrix_rank(X) + 0)
    visit_labels = [f"{v:g}" for v in design.visits]
    return MMRMResults(
        beta=pd.Series(pieces["beta"], index=names),
        vcov=pd.DataFrame(Phi, index=names, columns=names),
        vcov_adjusted=None if Vadj is None else pd.DataFrame(Vadj, index=names, columns=names),
        theta=theta,
        theta_vcov=W,
        sigma=[pd.DataFrame(s, index=visit_labels, columns=visit_labels) for s in pieces["sig"]],
        neg2_loglik=float(val),
        method=method,
        df_method=df,
        covariance=name,
        covariance_requested=covariance,
        converged=True,
        fallback_log=log,
        n_subjects=n_sub,
        n_obs=len(data),
        n_evaluations=int(n_eval),
        max_gradient=float(np.max(np.abs(grad))) if len(grad) else 0.0,
        design=design,
        _P=P,
        groups=groups,
        alpha=alpha,
        _bw=bw,
    )


def _converged(val, g, H) -> tuple[bool, str]:
    if not np.isfinite(val):
        return False, "the likelihood is not finite"
    if g is None or np.max(np.abs(g)) > 1e-3 * max(1.0, abs(val)) * 1e-2:
        return False, f"gradient {np.max(np.abs(g)) if g is not None else np.nan:.2g} not near zero"
    try:
        w = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:
        return False, "Hessian not computable"
    if not np.all(np.isfinite(w)) or w.min() <= 1e-10 * max(1.0, w.max()):
        return False, "Hessian not positive definite (a variance parameter at its boundary)"
    return True, ""


def _check_estimable(X, design, data):
    rank = np.linalg.matrix_rank(X)
    if rank == X.shape[1]:
        return
    # name every column involved in a linear dependence (the null space of X'X)
    XtX = X.T @ X
    w, v = np.linalg.eigh(XtX / max(np.abs(XtX).max(), 1e-300))
    null = v[:, w < 1e-10]
    involved = np.flatnonzero(np.abs(null).max(axis=1) > 1e-6)
    bad = [design.names[i] for i in involved]
    counts = data.groupby("visit").size()
    few = [
        f"visit {v:g} has {n} observation{'s' if n != 1 else ''}"
        for v, n in counts.items()
        if n <= len(design.arms) + 1
    ]
    raise MMRMFitError(
        "singular design: these fixed effects are linearly dependent, so not all can be "
        "estimated: " + ", ".join(bad)
        + (" (" + "; ".join(few) + ")" if few else "")
        + ". Remove or merge sparse visits, or drop covariates that are constant or collinear."
    )  # fmt: skip


def _dsigma_patterns(model, theta):
    """For each pattern, dSigma_k/dtheta_h for the pattern's group parameters: list of (h0, array)."""
    out = []
    dS = [model.structure.dsigma(th) for th in model.split(theta)]
    for pat in model.patterns:
        d = dS[pat.group][:, pat.idx][:, :, pat.idx]
        out.append((pat.group * model.k, d))
    return out


def _kr_p(model, theta, pieces) -> np.ndarray:
    """P_h = X' dV^-1/dtheta_h X = -sum_k X_k' W_k dSigma_kh W_k X_k, shape (n_theta, p, p)."""
    p = model.p
    n_theta = model.k * model.n_groups
    P = np.zeros((n_theta, p, p))
    for pat, W, (h0, dS) in zip(
        model.patterns, pieces["Ws"], _dsigma_patterns(model, theta), strict=True
    ):
        t = len(pat.idx)
        A = np.einsum("ab,hbc,cd->had", W, dS, W)  # W dSigma_h W
        P[h0 : h0 + model.k] -= (A.reshape(len(A), t * t) @ pat.C).reshape(-1, p, p)
    return P


def _kr_adjusted(model, theta, pieces, P, W) -> np.ndarray:
    """Phi_A = Phi + 2 Phi [sum_hj W_hj (Q_hj - P_h Phi P_j)] Phi (R_hj omitted: linear KR)."""
    Phi = pieces["Phi"]
    p = model.p
    k = model.k
    inner = np.zeros((p, p))
    for pat, Wk, (h0, dS) in zip(
        model.patterns, pieces["Ws"], _dsigma_patterns(model, theta), strict=True
    ):
        t = len(pat.idx)
        Wg = W[h0 : h0 + k, h0 : h0 + k]
        U = np.tensordot(Wg, dS, axes=([0], [0]))  # U_j = sum_h W_hj dSigma_h
        B = np.einsum(
            "ab,jbc,cd,jde,ef->af", Wk, U, Wk, dS, Wk, optimize=True
        )  # sum_hj W_hj W A_h W A_j W
        inner += (B.reshape(t * t) @ pat.C).reshape(p, p)
    PP = np.einsum("hab,bc->hac", P, Phi)
    inner -= np.einsum("hj,hab,jbc->ac", W, PP, P)
    return Phi + 2 * Phi @ inner @ Phi
