"""The MMRM likelihood, worked per missing-data pattern: value, gradient, Hessian, P matrices.

For each pattern (group, observed visits) the sums ``sum_i X_i (x) X_i``, ``sum_i X_i (x) y_i``
and ``sum_i y_i y_i'`` are formed once; the REML / ML criterion, its analytic gradient
``tr(dSigma_h G)`` and analytic Hessian then cost O(patterns x T^2 p^2), whatever the number of
subjects. No n_obs x n_obs matrix is formed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ..hessian import numeric_hessian
from ..inference import profile_gls

__all__ = ["Model", "hessian", "hessian_numeric", "p_matrices", "dsigma_patterns"]


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


class Model:
    def __init__(self, X, y, subject, visit_idx, group_idx, structure, n_groups, reml):
        self.N, self.p = X.shape
        self.T = structure.n_visits
        self.structure = structure
        self.n_groups = n_groups
        self.reml = reml
        self.k = structure.n_theta
        self.patterns = _patterns(X, y, subject, visit_idx, group_idx, self.T)

    @classmethod
    def from_patterns(cls, patterns, n_obs, p, structure, n_groups, reml):
        """A model from pattern sums already formed (see :mod:`.refit`: reweighted subjects)."""
        self = cls.__new__(cls)
        self.N, self.p = n_obs, p
        self.T = structure.n_visits
        self.structure = structure
        self.n_groups = n_groups
        self.reml = reml
        self.k = structure.n_theta
        self.patterns = patterns
        return self

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


def hessian(model: Model, theta: np.ndarray, pieces=None) -> np.ndarray:
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
        PP = PP.reshape(n, p, p)
        H -= PP.reshape(n, p * p) @ PP.transpose(0, 2, 1).reshape(n, p * p).T  # tr(PP_h PP_j)
    return (H + H.T) / 2


def hessian_numeric(model: Model, theta: np.ndarray) -> np.ndarray:
    """Numeric Hessian of -2 l from the analytic gradient (for checking the analytic one)."""
    return numeric_hessian(lambda th: model.evaluate(th)[1], theta)


def dsigma_patterns(model, theta):
    """For each pattern, dSigma_k/dtheta_h for the pattern's group parameters: list of (h0, array)."""
    out = []
    dS = [model.structure.dsigma(th) for th in model.split(theta)]
    for pat in model.patterns:
        d = dS[pat.group][:, pat.idx][:, :, pat.idx]
        out.append((pat.group * model.k, d))
    return out


def p_matrices(model, theta, pieces) -> np.ndarray:
    """P_h = X' dV^-1/dtheta_h X = -sum_k X_k' W_k dSigma_kh W_k X_k, shape (n_theta, p, p)."""
    p = model.p
    n_theta = model.k * model.n_groups
    P = np.zeros((n_theta, p, p))
    for pat, W, (h0, dS) in zip(
        model.patterns, pieces["Ws"], dsigma_patterns(model, theta), strict=True
    ):
        t = len(pat.idx)
        A = np.einsum("ab,hbc,cd->had", W, dS, W)  # W dSigma_h W
        P[h0 : h0 + model.k] -= (A.reshape(len(A), t * t) @ pat.C).reshape(-1, p, p)
    return P
