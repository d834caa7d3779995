"""The profiled (RE)ML deviance of a linear mixed model, its gradient and its Hessian.

Model (Bates et al. 2015, *J Stat Softw* 67(1), sec. 3): y = X beta + Z b + e, b ~ N(0,
sigma^2 Lambda Lambda'), e ~ N(0, sigma^2 I); Lambda is linear in theta. With V = I + Z Lambda
Lambda' Z' (the covariance of y over sigma^2), r^2(theta) = min_beta (y - X beta)' V^-1 (y - X beta)
(lme4's penalised weighted residual sum of squares) and Phi = (X' V^-1 X)^-1:

* ML:   d(theta) = log|V| + n (1 + log(2 pi r^2 / n))
* REML: d(theta) = log|V| + log|X' V^-1 X| + (n - p) (1 + log(2 pi r^2 / (n - p)))

which is lme4's deviance and REML criterion (``log|V| = log|L_theta|^2``, ``log|X'V^-1 X| =
log|R_X|^2``; no 1/2 log|X'X| term). With sigma held fixed instead of profiled (lmerTest's
``devfun_vp``, used for Satterthwaite's df): d(theta, sigma) = log|V| [+ log|X'V^-1X|] + r^2 /
sigma^2 + n' log(2 pi sigma^2), n' = n - p (REML) or n (ML).

Everything is a sum over independent clusters of q x q matrices (q = random effects of a cluster,
2 for a subject with intercept and slope) through Woodbury's identity: with M = Lambda' Z'Z
Lambda + I and C = Lambda M^-1 Lambda', V^-1 = I - Z C Z' and log|V| = log|M| per cluster.

Derivatives (dLambda/dtheta_k = E_k, dV_k = Z D_k Z' with D_k = E_k Lambda' + Lambda E_k',
d2V_kl = Z F_kl Z' with F_kl = E_k E_l' + E_l E_k'; P = V^-1 - V^-1 X Phi X' V^-1):
d log|V| = tr(V^-1 dV), d (log|V| + log|X'V^-1X|) = tr(P dV), dr^2 = -y'P dV P y and the
second derivatives tr(P d2V) - tr(P dV_k P dV_l) and 2 y'P dV_k P dV_l P y - y'P d2V P y, each
written in the q x q quantities Z'V^-1 Z, Z'V^-1 X and Z' P y of every cluster.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Evaluation", "evaluate"]

_LOG2PI = math.log(2 * math.pi)


def _inv_logdet(M: np.ndarray):
    """Inverse and log-determinant of a stack of symmetric positive definite matrices."""
    q = M.shape[-1]
    if q == 1:
        m = M[:, 0, 0]
        return (1.0 / m)[:, None, None], np.log(m)
    if q == 2:
        a, b, d = M[:, 0, 0], M[:, 0, 1], M[:, 1, 1]
        det = a * d - b * b
        inv = np.empty_like(M)
        inv[:, 0, 0] = d / det
        inv[:, 1, 1] = a / det
        inv[:, 0, 1] = inv[:, 1, 0] = -b / det
        return inv, np.log(det)
    L = np.linalg.cholesky(M)
    logdet = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    eye = np.broadcast_to(np.eye(q), M.shape)
    inv = np.linalg.solve(M, eye)
    return 0.5 * (inv + np.swapaxes(inv, 1, 2)), logdet


def _bmm(P: np.ndarray, X: np.ndarray) -> np.ndarray:
    """P_b X_b for every cluster b: P (B x q x q), X (B x q x n) or (B x q).

    Written out for q <= 2 (numpy's stacked matmul is slow for tiny matrices)."""
    q = P.shape[1]
    vec = X.ndim == 2
    if vec:
        X = X[:, :, None]
    if q == 1:
        out = P * X
    elif q == 2:
        x0, x1 = X[:, 0], X[:, 1]
        out = np.empty((X.shape[0], 2, X.shape[2]))
        out[:, 0] = P[:, 0, 0, None] * x0 + P[:, 0, 1, None] * x1
        out[:, 1] = P[:, 1, 0, None] * x0 + P[:, 1, 1, None] * x1
    else:
        out = P @ X
    return out[:, :, 0] if vec else out


def _rmul(X: np.ndarray, L: np.ndarray) -> np.ndarray:
    """X_b L for every cluster, one L (q x q) for all: X (B x n x q)."""
    B, n, q = X.shape
    return (X.reshape(B * n, q) @ L).reshape(B, n, L.shape[1])


def _lmul(L: np.ndarray, X: np.ndarray) -> np.ndarray:
    """L' X_b for every cluster, one L for all: X (B x q x n) -> (B x q x n)."""
    return np.swapaxes(_rmul(np.swapaxes(X, 1, 2), L), 1, 2)


def _quad(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """U_b V_b' for every cluster: U, V (B x q x n) -> (B x q x q)."""
    q = U.shape[1]
    if q <= 2:
        out = np.empty((U.shape[0], q, q))
        for i in range(q):
            for j in range(q):
                out[:, i, j] = (U[:, i] * V[:, j]).sum(axis=1)
        return out
    return U @ np.swapaxes(V, 1, 2)


class Evaluation:
    """The deviance at one theta and what inference needs from it.

    Attributes: ``f`` (deviance), ``grad``, ``hess`` (over theta, or theta and sigma when sigma
    is fixed; filled by :meth:`derivatives`), ``beta``, ``Phi`` (relative: vcov(beta) = sigma^2
    Phi), ``r2``, ``S`` (k x p x p: X' V^-1 dV_k V^-1 X, so that dPhi/dtheta_k = Phi S_k Phi),
    ``per_batch`` (for each batch Lambda, Z'Z Lambda, M^-1 and M^-1 Lambda' Z'X).
    """

    __slots__ = ("f", "grad", "hess", "beta", "Phi", "r2", "S", "per_batch", "logdet_X",
                 "model", "sigma", "s", "nprime", "order")  # fmt: skip

    def derivatives(self, order: int = 2) -> Evaluation:
        """Add the gradient (order 1) and Hessian (order 2), once."""
        if self.order < order and np.isfinite(self.f):
            _derivatives(self, order)
        return self

    def gh(self):
        """``(gradient, Hessian)``, computed on first use (an optimiser's rejected trial point
        needs only the deviance)."""
        self.derivatives(2)
        return self.grad, self.hess


def evaluate(model, theta: np.ndarray, order: int = 1, sigma: float | None = None) -> Evaluation:
    """Deviance of ``model`` at ``theta`` with derivatives up to ``order`` (0, 1 or 2).

    ``sigma`` None: sigma profiled out (the function lme4 optimises); a value: lmerTest's
    ``devfun_vp`` in (theta, sigma), whose derivatives then include sigma as the last parameter.
    Returns an :class:`Evaluation` with ``f = inf`` where X' V^-1 X is not positive definite.
    """
    theta = np.asarray(theta, dtype=float)
    N, p, reml = model.N, model.p, model.reml
    XVX = model.XtX.copy()
    XVy = model.Xty.copy()
    yVy = model.yty
    logdet = 0.0
    per = []
    for bt in model.batches:
        Lam = bt.Lambda(theta)
        nb, q = bt.ZtZ.shape[0], bt.ZtZ.shape[1]
        K = _rmul(bt.ZtZ, Lam)  # Z'Z Lambda
        M = _lmul(Lam, K)  # Lambda' Z'Z Lambda
        M[:, bt.diag_q, bt.diag_q] += 1.0
        Minv, ld = _inv_logdet(M)
        LB = _lmul(Lam, bt.ZtX)  # Lambda' Z'X
        Lc = bt.Zty @ Lam  # (Lambda' Z'y)'
        u = _bmm(Minv, LB)
        v = _bmm(Minv, Lc)
        LBf = LB.reshape(nb * q, p)
        XVX -= LBf.T @ u.reshape(nb * q, p)
        XVy -= LBf.T @ v.reshape(nb * q)
        yVy -= float(Lc.reshape(-1) @ v.reshape(-1))
        logdet += float(ld.sum())
        per.append((Lam, K, Minv, u))
    ev = Evaluation()
    ev.model, ev.per_batch, ev.order = model, per, 0
    ev.grad = ev.hess = ev.S = None
    try:
        L = np.linalg.cholesky(XVX)
    except np.linalg.LinAlgError:
        ev.f = math.inf
        return ev
    Linv = np.linalg.inv(L)
    Phi = Linv.T @ Linv
    beta = Phi @ XVy
    logdet_X = 2.0 * float(np.log(np.diagonal(L)).sum())
    r2 = float(yVy - beta @ XVy)
    nprime = N - p if reml else N
    ev.beta, ev.Phi, ev.r2, ev.logdet_X = beta, Phi, r2, logdet_X
    ev.sigma, ev.nprime = sigma, nprime
    if not (r2 > 0 and np.isfinite(r2)):
        ev.f = math.inf
        return ev
    base = logdet + (logdet_X if reml else 0.0)
    if sigma is None:
        ev.f = base + nprime * (1.0 + _LOG2PI + math.log(r2 / nprime))
        ev.s = nprime / r2
    else:
        s2 = sigma * sigma
        ev.f = base + r2 / s2 + nprime * (_LOG2PI + math.log(s2))
        ev.s = 1.0 / s2
    return ev.derivatives(order)


def _derivatives(ev: Evaluation, order: int) -> None:
    model = ev.model
    p, reml, k = model.p, model.reml, model.k
    beta, Phi, r2, s, sigma, nprime = ev.beta, ev.Phi, ev.r2, ev.s, ev.sigma, ev.nprime
    grad = np.zeros(k)
    dr2 = np.zeros(k)
    H = np.zeros((k, k))
    d2r2 = np.zeros((k, k))
    S = np.zeros((k, p, p))
    WtDg = np.zeros((k, p))
    for bt, (Lam, K, Minv, u) in zip(model.batches, ev.per_batch, strict=True):
        A, B = bt.ZtZ, bt.ZtX
        nb, q = A.shape[0], A.shape[1]
        KM = _bmm(K, Minv)  # Z'Z C = K M^-1 Lambda', here without the Lambda'
        ZVZ = A - _quad(KM, K)  # Z'V^-1 Z per cluster
        W = B - _bmm(K, u)  # Z'V^-1 X
        ez = bt.Zty - B @ beta
        g = ez - _bmm(KM, ez @ Lam)  # Z'P y
        Gg = g.T @ g
        Z1 = ZVZ.sum(axis=0)
        Q = Z1 - s * Gg
        Wf = W.reshape(nb, q * p)
        if reml or order >= 2:
            WW = (Wf.T @ Wf).reshape(q, p, q, p)  # sum_b W_i. (x) W_j.
        if reml:
            Q = Q - (WW * Phi[None, :, None, :]).sum(axis=(1, 3))  # sum_b W_b Phi W_b'
        D = bt.E @ Lam.T
        D = D + np.swapaxes(D, 1, 2)  # d Lambda Lambda' / d theta_k
        Df = D.reshape(k, q * q)
        grad += Df @ Q.reshape(-1)  # Q symmetric: tr(D_k Q)
        dr2 -= Df @ Gg.reshape(-1)
        if order < 2:
            continue
        S += (Df @ WW.transpose(0, 2, 1, 3).reshape(q * q, p * p)).reshape(k, p, p)
        Ff = _second(bt).reshape(k * k, q * q)
        Zf = ZVZ.reshape(nb, q * q)
        ZZ = (Zf.T @ Zf).reshape(q, q, q, q)
        gg = (g[:, :, None] * g[:, None, :]).reshape(nb, q * q)
        GZ = (gg.T @ Zf).reshape(q, q, q, q)  # [j, n, i, m] = sum_b g_j g_n ZVZ_im
        H += (Ff @ Z1.reshape(-1)).reshape(k, k) - np.einsum("kai,lmn,imna->kl", D, D, ZZ)
        d2r2 += 2.0 * np.einsum("kij,lmn,jnim->kl", D, D, GZ) - (Ff @ Gg.reshape(-1)).reshape(k, k)
        Wg = (Wf.T @ g).reshape(q, p, q)
        WtDg += Df @ Wg.transpose(0, 2, 1).reshape(q * q, p)
        if reml:
            Om = _quad((W.reshape(nb * q, p) @ Phi).reshape(nb, q, p), W)  # W Phi W'
            H -= (Ff @ Om.sum(axis=0).reshape(-1)).reshape(k, k)
            OZ = (Om.reshape(nb, q * q).T @ Zf).reshape(q, q, q, q)
            H += 2.0 * np.einsum("kjm,lni,ijmn->kl", D, D, OZ)
    ev.order = order
    if sigma is None:
        ev.grad = grad
    else:
        ev.grad = np.append(grad, -2.0 * r2 / sigma**3 + 2.0 * nprime / sigma)
    if order < 2:
        return
    ev.S = S
    d2r2 -= 2.0 * WtDg @ Phi @ WtDg.T
    if reml:
        PS = Phi @ S
        H -= np.einsum("kab,lba->kl", PS, PS)
    if sigma is None:
        H = H + nprime * (d2r2 / r2 - np.outer(dr2, dr2) / r2**2)
    else:
        Hs = np.zeros((k + 1, k + 1))
        Hs[:k, :k] = H + d2r2 / sigma**2
        Hs[:k, k] = Hs[k, :k] = -2.0 * dr2 / sigma**3
        Hs[k, k] = 6.0 * r2 / sigma**4 - 2.0 * nprime / sigma**2
        H = Hs
    ev.hess = 0.5 * (H + H.T)


def _second(bt) -> np.ndarray:
    """F_kl = E_k E_l' + E_l E_k' (the second derivatives of Lambda Lambda'), cached per batch."""
    F = getattr(bt, "_F", None)
    if F is None:
        EE = np.einsum("kij,lmj->klim", bt.E, bt.E)
        F = EE + np.swapaxes(EE, 0, 1)
        bt._F = F
    return F
