"""The MMRM likelihood, worked per missing-data pattern: value, gradient, Hessian, P matrices.

For each pattern (covariance group, observed visits, or coordinates for a spatial structure)
the sums ``sum_i X_i (x) X_i``, ``sum_i X_i (x) y_i`` and ``sum_i y_i y_i'`` are formed once;
the REML / ML criterion, its analytic gradient ``tr(dSigma_h G)`` and analytic Hessian then
cost O(patterns x k t^2 p) whatever the number of subjects. No n_obs x n_obs matrix and no
(k, k, T, T) array of second derivatives is formed.

Weights (R mmrm's ``weights``): subject i's covariance is ``G_i^-1/2 Sigma G_i^-1/2`` with
``G_i`` the diagonal of its rows' weights, which is the unweighted model of the rows scaled by
``sqrt(w)`` plus ``-sum(log w)`` in -2 log-likelihood; the rows are scaled once here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ..inference import profile_gls
from ..optim.derivatives import numeric_hessian

__all__ = ["Model", "hessian", "hessian_numeric", "p_matrices", "dsigma_patterns"]


#: Largest pattern sum C (t^2 x p^2 entries) formed; bigger patterns keep their subjects' rows.
SUMS_MAX = 2_000_000


@dataclass
class _Pattern:
    """Subjects sharing a covariance block: their sums, or (when those would be larger than the
    rows themselves, or too large) their rows. Every use goes through the methods below, so
    either form gives the same numbers; memory stays within the data's size plus ``SUMS_MAX``
    per pattern."""

    group: int
    idx: np.ndarray | None  # visit indices observed (None for a spatial structure)
    m: float  # subjects with this pattern
    C: np.ndarray | None  # (t*t, p*p): sum_i X_i[t,a] X_i[u,b], contiguous for one matmul per use
    D: np.ndarray | None  # (t*t, p):   sum_i X_i[t,a] y_i[u]
    Y: np.ndarray  # (t, t):     sum_i y_i[t] y_i[u]
    dist: np.ndarray | None = None  # (t, t) distances between the coordinates (spatial)
    rows: np.ndarray | None = None  # (m, t) rows of the sorted data (for per-subject pieces)
    Xs: np.ndarray | None = None  # (m, t, p) the subjects' rows, when C is not formed
    ys: np.ndarray | None = None  # (m, t)

    def __post_init__(self):
        self.ix = np.ix_(self.idx, self.idx) if self.idx is not None else None

    @property
    def t(self) -> int:
        return self.Y.shape[0]

    @property
    def summed(self) -> bool:
        return self.C is not None

    # sums over the pattern's subjects i of ...
    def xwx(self, W) -> np.ndarray:
        """X_i' W X_i (W t x t, not necessarily symmetric)."""
        if self.summed:
            p = self.D.shape[1]
            return (W.ravel() @ self.C).reshape(p, p)
        m, t, p = self.Xs.shape
        return self.Xs.reshape(m * t, p).T @ (W @ self.Xs).reshape(m * t, p)

    def xwy(self, W) -> np.ndarray:
        """X_i' W y_i."""
        if self.summed:
            return W.ravel() @ self.D
        m, t, p = self.Xs.shape
        return self.Xs.reshape(m * t, p).T @ (self.ys @ W.T).reshape(m * t)

    def resid_cross(self, beta, Phi=None) -> np.ndarray:
        """r_i r_i' (r_i = y_i - X_i beta), plus X_i Phi X_i' when Phi is given (t x t)."""
        t = self.t
        if self.summed:
            Db = (self.D @ beta).reshape(t, t)
            bb = np.outer(beta, beta)
            if Phi is not None:
                bb = bb + Phi
            return self.Y - Db - Db.T + (self.C @ bb.ravel()).reshape(t, t)
        r = self.ys - self.Xs @ beta
        S = r.T @ r
        if Phi is not None:
            S = S + self.xphix(Phi)
        return S

    def xphix(self, Phi) -> np.ndarray:
        """X_i Phi X_i' (t x t)."""
        t = self.t
        if self.summed:
            return (self.C @ Phi.ravel()).reshape(t, t)
        m, _, p = self.Xs.shape
        XP = (self.Xs.reshape(m * t, p) @ Phi).reshape(m, t, p)
        return np.einsum("mta,mua->tu", XP, self.Xs)

    def quad_xx(self, M) -> np.ndarray:
        """X_i' M_h X_i for each of M (k, t, t): shape (k, p, p)."""
        k, t = M.shape[0], self.t
        if self.summed:
            p = self.D.shape[1]
            return (M.reshape(k, t * t) @ self.C).reshape(k, p, p)
        m, _, p = self.Xs.shape
        out = np.empty((k, p, p))
        step = max(1, int(4_000_000 // max(m * t * p, 1)))  # chunks of about 32 MB
        for h0 in range(0, k, step):
            MX = np.matmul(M[h0 : h0 + step, None], self.Xs[None])  # (h, m, t, p)
            out[h0 : h0 + step] = np.tensordot(MX, self.Xs, axes=([1, 2], [0, 1]))
        return out

    def quad_xr(self, M, beta) -> np.ndarray:
        """X_i' M_h r_i for each of M (k, t, t): shape (k, p)."""
        k, t = M.shape[0], self.t
        if self.summed:
            p = self.D.shape[1]
            Rk = self.D - (self.C.reshape(t * t, p, p) @ beta)  # sum_i X_i[t,a] r_i[u]
            return M.reshape(k, t * t) @ Rk
        r = self.ys - self.Xs @ beta
        Mr = np.einsum("htu,mu->hmt", M, r)
        return np.einsum("mta,hmt->ha", self.Xs, Mr)


def _distances(coords: np.ndarray) -> np.ndarray:
    diff = coords[:, None, :] - coords[None, :, :]
    return np.sqrt(np.sum(diff * diff, axis=2))


def _patterns(X, y, subject, visit_idx, group_idx, coords=None):
    """Pattern sums, and the data sorted by subject then visit (or coordinate)."""
    first_key = coords[:, 0] if coords is not None else visit_idx
    order = np.lexsort((first_key, subject))
    X, y, subject, visit_idx, group_idx = (
        X[order], y[order], subject[order], visit_idx[order], group_idx[order]
    )  # fmt: skip
    coords = coords[order] if coords is not None else None
    starts = np.flatnonzero(np.r_[True, subject[1:] != subject[:-1]])
    ends = np.r_[starts[1:], len(subject)]
    keys: dict[tuple, list[int]] = {}
    for s, e in zip(starts, ends, strict=True):
        where = tuple(coords[s:e].ravel().tolist()) if coords is not None else None
        key = (int(group_idx[s]), e - s, tuple(visit_idx[s:e].tolist()) if where is None else where)
        keys.setdefault(key, []).append(s)
    patterns = []
    for (g, t, _), first_rows in keys.items():
        rows = np.asarray(first_rows)[:, None] + np.arange(t)[None, :]
        Xs = X[rows]  # (m, t, p)
        ys = y[rows]  # (m, t)
        m, p = len(first_rows), Xs.shape[2]
        s0 = first_rows[0]
        common = dict(
            group=g,
            idx=None if coords is not None else visit_idx[s0 : s0 + t].copy(),
            m=m,
            Y=ys.T @ ys,
            dist=_distances(coords[s0 : s0 + t]) if coords is not None else None,
            rows=rows,
        )
        # sums when they are smaller to work with than the rows, and not too large to hold
        if m * (t + p) >= t * p and t * t * p * p <= SUMS_MAX:
            A = Xs.reshape(m, t * p)
            C = (A.T @ A).reshape(t, p, t, p).transpose(0, 2, 1, 3)  # sum_i X_i[t,a] X_i[u,b]
            D = (A.T @ ys).reshape(t, p, t).transpose(0, 2, 1)  # sum_i X_i[t,a] y_i[u]
            patterns.append(_Pattern(C=np.ascontiguousarray(C.reshape(t * t, p * p)),
                                     D=np.ascontiguousarray(D.reshape(t * t, p)), **common))  # fmt: skip
        else:
            patterns.append(_Pattern(C=None, D=None, Xs=Xs, ys=ys, **common))
    return patterns, (X, y, subject)


class Model:
    """The MMRM's -2 log-likelihood as a function of the covariance parameters.

    Parameters
    ----------
    X, y : ndarray
        Model matrix and response of the analysed rows.
    subject, visit_idx, group_idx : ndarray of int
        Subject, visit index (into the structure's visits) and covariance group of each row.
    structure : CovarianceStructure or SpatialExponential
    n_groups : int
    reml : bool
    coords : ndarray (n_obs, d), optional
        Coordinates of each row for a spatial structure.
    weights : ndarray (n_obs,), optional
        Positive weights (R mmrm's ``weights``).
    """

    def __init__(self, X, y, subject, visit_idx, group_idx, structure, n_groups, reml,
                 coords=None, weights=None):  # fmt: skip
        X = np.asarray(X, float)
        y = np.asarray(y, float)
        self.log_weights = 0.0
        if weights is not None:
            w = np.asarray(weights, float)
            sw = np.sqrt(w)
            X = X * sw[:, None]
            y = y * sw
            self.log_weights = float(np.sum(np.log(w)))
        self.N, self.p = X.shape
        self.structure = structure
        self.spatial = bool(getattr(structure, "spatial", False))
        self.T = None if self.spatial else structure.n_visits
        self.n_groups = n_groups
        self.reml = reml
        self.k = structure.n_theta
        if self.spatial:
            coords = np.asarray(coords, float).reshape(len(y), -1)
        self.patterns, self.sorted = _patterns(
            X, y, np.asarray(subject), np.asarray(visit_idx), np.asarray(group_idx),
            coords if self.spatial else None,
        )  # fmt: skip

    @classmethod
    def from_patterns(cls, patterns, n_obs, p, structure, n_groups, reml):
        """A model from pattern sums already formed (see :mod:`.refit`: reweighted subjects)."""
        self = cls.__new__(cls)
        self.N, self.p = n_obs, p
        self.structure = structure
        self.spatial = False
        self.T = structure.n_visits
        self.n_groups = n_groups
        self.reml = reml
        self.k = structure.n_theta
        self.patterns = patterns
        self.log_weights = 0.0
        self.sorted = None
        return self

    def split(self, theta):
        return [theta[g * self.k : (g + 1) * self.k] for g in range(self.n_groups)]

    def sigmas(self, theta):
        """The T x T covariance of each group (visit-indexed structures)."""
        if self.spatial:
            return []
        return [self.structure.sigma(th) for th in self.split(theta)]

    def pattern_sigmas(self, theta, sig=None):
        """Each pattern's t x t covariance."""
        if self.spatial:
            ths = self.split(theta)
            return [self.structure.sigma_at(ths[pat.group], pat.dist) for pat in self.patterns]
        sig = self.sigmas(theta) if sig is None else sig
        return [sig[pat.group][pat.ix] for pat in self.patterns]

    def evaluate(self, theta, grad: bool = True):
        """-2 log-likelihood (REML or ML), its gradient and the pieces inference needs."""
        p = self.p
        sig = self.sigmas(theta)
        XtWX = np.zeros((p, p))
        XtWy = np.zeros(p)
        yWy = 0.0
        logdet = -self.log_weights
        Ws = []
        for pat, S in zip(self.patterns, self.pattern_sigmas(theta, sig), strict=True):
            if not np.all(np.isfinite(S)):
                return math.inf, None, None
            try:
                c = np.linalg.cholesky(S)
            except np.linalg.LinAlgError:
                return math.inf, None, None
            d = np.diag(c)
            if np.any(d <= 0):
                return math.inf, None, None
            ci = linalg.solve_triangular(c, np.eye(len(d)), lower=True, check_finite=False)
            W = ci.T @ ci
            Ws.append(W)
            logdet += pat.m * 2.0 * np.sum(np.log(d))
            XtWX += pat.xwx(W)
            XtWy += pat.xwy(W)
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
        Gs = []
        for pat, W in zip(self.patterns, Ws, strict=True):
            # residual cross-products; REML adds M_k = sum_i X_i Phi X_i'
            S = pat.resid_cross(beta, Phi if self.reml else None)
            Gs.append(pat.m * W - W @ S @ W)
        return value, self.contract_first(theta, Gs), pieces

    # --- derivatives of the covariance, per pattern ------------------------------------------
    def contract_first(self, theta, Gs) -> np.ndarray:
        """``sum_pattern tr(dSigma_h G_pattern)`` for every parameter h."""
        ths = self.split(theta)
        out = np.zeros(self.k * self.n_groups)
        if self.spatial:
            for pat, G in zip(self.patterns, Gs, strict=True):
                dS = self.structure.dsigma_at(ths[pat.group], pat.dist)
                g0 = pat.group * self.k
                out[g0 : g0 + self.k] += np.tensordot(dS, G, axes=([1, 2], [0, 1]))
            return out
        full = self._scatter(Gs)
        for g, th in enumerate(ths):
            dS = self.structure.dsigma(th)
            out[g * self.k : (g + 1) * self.k] = np.tensordot(dS, full[g], axes=([1, 2], [0, 1]))
        return out

    def contract_second(self, theta, Ms) -> np.ndarray:
        """``sum_pattern tr(d2Sigma_hj M_pattern)`` for every h, j (block diagonal by group)."""
        n = self.k * self.n_groups
        out = np.zeros((n, n))
        ths = self.split(theta)
        if self.spatial:
            for pat, M in zip(self.patterns, Ms, strict=True):
                d2 = self.structure.d2sigma_at(ths[pat.group], pat.dist)
                g0 = pat.group * self.k
                out[g0 : g0 + self.k, g0 : g0 + self.k] += np.einsum("hjab,ba->hj", d2, M)
            return out
        full = self._scatter(Ms)
        for g, th in enumerate(ths):
            sl = slice(g * self.k, (g + 1) * self.k)
            out[sl, sl] = self.structure.d2_contract(th, full[g])
        return out

    def weighted_second(self, theta, Wt) -> list:
        """Each pattern's ``sum_hj Wt_hj d2Sigma_hj`` (Wt the group's block of a k x k matrix)."""
        ths = self.split(theta)
        blocks = [Wt[g * self.k : (g + 1) * self.k, g * self.k : (g + 1) * self.k]
                  for g in range(self.n_groups)]  # fmt: skip
        if self.spatial:
            out = []
            for pat in self.patterns:
                d2 = self.structure.d2sigma_at(ths[pat.group], pat.dist)
                out.append(np.tensordot(blocks[pat.group], d2, axes=([0, 1], [0, 1])))
            return out
        full = [self.structure.d2_weighted(th, blk) for th, blk in zip(ths, blocks, strict=True)]
        return [full[pat.group][pat.ix] for pat in self.patterns]

    def pattern_dsigma(self, theta) -> list:
        """For each pattern, (first parameter of its group, dSigma/dtheta of shape (k, t, t))."""
        ths = self.split(theta)
        out = []
        if self.spatial:
            for pat in self.patterns:
                out.append((pat.group * self.k, self.structure.dsigma_at(ths[pat.group], pat.dist)))
            return out
        dS = [self.structure.dsigma(th) for th in ths]
        for pat in self.patterns:
            out.append((pat.group * self.k, dS[pat.group][:, pat.idx][:, :, pat.idx]))
        return out

    def _scatter(self, mats) -> list:
        full = [np.zeros((self.T, self.T)) for _ in range(self.n_groups)]
        for pat, M in zip(self.patterns, mats, strict=True):
            full[pat.group][pat.ix] += M
        return full


def hessian(model: Model, theta: np.ndarray, pieces=None, exact: bool = True, out_p=None):
    """Analytic observed Hessian of -2 l (REML or ML, beta profiled out).

    With V the block-diagonal covariance, r = y - X beta, z_h = X' V^-1 V_h V^-1 r and
    P_h = -X' V^-1 V_h V^-1 X (the Kenward-Roger P):

    ML:   tr(V^-1 V_hj) - tr(V^-1 V_h V^-1 V_j) + 2 r'V^-1 V_h V^-1 V_j V^-1 r
          - r'V^-1 V_hj V^-1 r - 2 z_h' Phi z_j
    REML: the same, plus - tr(Phi X'V^-1 V_hj V^-1 X) + 2 tr(Phi Q_hj) - tr(Phi P_h Phi P_j),

    every term a sum over missing-data patterns of traces of t x t matrices; the terms in the
    second derivatives V_hj are gathered into one matrix per group first (memory k T^2).

    ``exact=False`` leaves out REML's ``- tr(Phi P_h Phi P_j)`` (O(p / n) of the rest, and the
    costliest term: X' W V_h W X for every h), a positive semi-definite overestimate for Newton
    steps; the fit's final Hessian is exact. ``out_p``: a dict that receives the P matrices
    (``out_p["P"]``, shape (k, p, p)) computed on the way.
    """
    if pieces is None:
        pieces = model.evaluate(theta)[2]
    beta, Phi, Ws = pieces["beta"], pieces["Phi"], pieces["Ws"]
    p, k = model.p, model.k
    n = k * model.n_groups
    H = np.zeros((n, n))
    Z = np.zeros((n, p))
    Pm = np.zeros((n, p * p))
    Ms = []
    for pat, W, (g0, A) in zip(model.patterns, Ws, model.pattern_dsigma(theta), strict=True):
        t = pat.t
        sl = slice(g0, g0 + k)
        S = pat.resid_cross(beta)
        E = W @ A  # (k, t, t): W A_h
        WS = W @ S
        M = pat.m * W - WS @ W  # multiplies the second derivatives
        ET = E.transpose(0, 2, 1).reshape(k, t * t)
        EW = (E @ WS).reshape(k, t * t)  # W A_h W S
        Ef = E.reshape(k, t * t)
        blk = -pat.m * (Ef @ ET.T)  # tr(W A_h W A_j)
        blk += 2 * (Ef @ EW.reshape(k, t, t).transpose(0, 2, 1).reshape(k, t * t).T)
        WAW = E @ W  # W A_h W
        Z[sl] += pat.quad_xr(WAW, beta)
        if exact and (model.reml or out_p is not None):
            Pm[sl] -= pat.quad_xx(WAW).reshape(k, p * p)
        if model.reml:
            Mk = pat.xphix(Phi)
            WMk = W @ Mk
            M = M - WMk @ W
            EM = (E @ WMk).reshape(k, t, t).transpose(0, 2, 1).reshape(k, t * t)
            blk += 2 * (Ef @ EM.T)
        H[sl, sl] += blk
        Ms.append(M)
    H += model.contract_second(theta, Ms)
    H -= 2 * Z @ Phi @ Z.T
    if out_p is not None and exact:
        out_p["P"] = Pm.reshape(n, p, p)
    if model.reml and exact:
        PP = (Pm.reshape(n, p, p) @ Phi).reshape(n, p, p)  # P_h Phi
        H -= PP.reshape(n, p * p) @ PP.transpose(0, 2, 1).reshape(n, p * p).T  # tr(PP_h PP_j)
    return (H + H.T) / 2


def hessian_numeric(model: Model, theta: np.ndarray) -> np.ndarray:
    """Numeric Hessian of -2 l from the analytic gradient (for checking the analytic one)."""
    return numeric_hessian(lambda th: model.evaluate(th)[1], theta)


def dsigma_patterns(model, theta):
    """For each pattern, dSigma_k/dtheta_h for the pattern's group parameters: list of (h0, array)."""
    return model.pattern_dsigma(theta)


def p_matrices(model, theta, pieces) -> np.ndarray:
    """P_h = X' dV^-1/dtheta_h X = -sum_k X_k' W_k dSigma_kh W_k X_k, shape (n_theta, p, p)."""
    p = model.p
    n_theta = model.k * model.n_groups
    P = np.zeros((n_theta, p, p))
    for pat, W, (h0, dS) in zip(model.patterns, pieces["Ws"], model.pattern_dsigma(theta),
                                strict=True):  # fmt: skip
        P[h0 : h0 + model.k] -= pat.quad_xx(W @ dS @ W)  # X' W dSigma_h W X
    return P
