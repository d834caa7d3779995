"""Kenward-Roger adjusted covariance and degrees of freedom, as R pbkrtest 0.5 computes them.

pbkrtest (Halekoh & Hojsgaard 2014, *J Stat Softw* 59(9); ``vcovAdj``, ``Lb_ddf``) writes the
covariance of y as Sigma = sum_r gamma_r G_r with gamma the elements of each random-effect
covariance matrix (variances and covariances, lower triangle by column) and sigma^2 last, G_r =
dSigma / dgamma_r (Z E_r Z' with E_r the 0/1 pattern of the element, and I). With
Phi = (X' Sigma^-1 X)^-1,

    P_r = -X' Sigma^-1 G_r Sigma^-1 X,   Q_rs = X' Sigma^-1 G_r Sigma^-1 G_s Sigma^-1 X,
    IE2_rs = tr(Sigma^-1 G_r Sigma^-1 G_s) - 2 tr(Phi Q_rs) + tr(Phi P_r Phi P_s),
    W = 2 IE2^-1 (generalised inverse when the smallest |eigenvalue| <= 1e-10),
    Phi_A = Phi + 2 Phi [sum_rs W_rs (Q_rs - P_r Phi P_s)] Phi

(the expected-information form, no second-derivative term: G is linear in gamma). The df of
``L beta`` follow ``Lb_ddf`` (for one row of L it reduces to 2 (l'Phi l)^2 / (g' W g) with
g_r = l' Phi P_r Phi l).

Every term is a sum over clusters: Sigma^-k = sigma^-2k (I - Z C_k Z') per cluster with
C_1 = C = Lambda M^-1 Lambda' and C_{k+1} = C_k + C - C_k Z'Z C, so only q x q, q x p and p x p
matrices are formed.
"""

from __future__ import annotations

import numpy as np

from .deviance import evaluate

__all__ = ["kr_pieces", "kr_ddf"]


def kr_pieces(model, theta: np.ndarray, sigma: float) -> dict:
    """``vcov_adjusted`` (Phi_A), ``vcov`` (Phi), ``P`` (r x p x p) and ``W`` of pbkrtest."""
    ev = evaluate(model, theta, order=0)
    a = 1.0 / sigma**2
    N, p = model.N, model.p
    XtX = model.XtX
    XV = [a * XtX.copy(), a**2 * XtX.copy(), a**3 * XtX.copy()]
    trV2 = a**2 * N
    per = []
    for bt, (Lam, _K, Minv, _u) in zip(model.batches, ev.per_batch, strict=True):
        A, B = bt.ZtZ, bt.ZtX
        C = Lam @ Minv @ Lam.T  # V^-1 = I - Z C Z' (relative)
        CA = C @ A
        C2 = 2.0 * C - CA @ C
        C3 = C2 + C - C2 @ A @ C
        for i, Ck in enumerate((C, C2, C3)):
            XV[i] -= a ** (i + 1) * np.einsum("bqa,bqr,brc->ac", B, Ck, B)
        trV2 -= a**2 * float(np.einsum("bij,bji->", C2, A))
        ZV1Z = a * (A - A @ C @ A)
        ZV2Z = a**2 * (A - A @ C2 @ A)
        ZV1X = a * (B - A @ C @ B)
        ZV2X = a**2 * (B - A @ C2 @ B)
        per.append((bt.Gpat, ZV1Z, ZV2Z, ZV1X, ZV2X))
    Phi = np.linalg.inv(XV[0])
    Phi = 0.5 * (Phi + Phi.T)
    R = per[0][0].shape[0]  # covariance elements of the random terms
    n = R + 1
    PP = np.zeros((n, p, p))
    QQ = np.zeros((n, n, p, p))
    K = np.zeros((n, n))
    for pat, ZV1Z, ZV2Z, ZV1X, ZV2X in per:
        PX = np.einsum("rij,bja->bria", pat, ZV1X)  # E_r Z'V^-1 X
        PP[:R] -= np.einsum("bia,bric->rac", ZV1X, PX)
        PZ = np.einsum("rij,bjk->brik", pat, ZV1Z)  # E_r Z'V^-1 Z
        QQ[:R, :R] += np.einsum("bia,brij,bsjc->rsac", ZV1X, PZ, PX)
        QQ[:R, R] += np.einsum("bria,bic->rac", PX, ZV2X)
        K[:R, :R] += np.einsum("brij,bsji->rs", PZ, PZ)
        K[:R, R] += np.einsum("rij,bji->r", pat, ZV2Z)
    PP[R] = -XV[1]
    QQ[R, :R] = np.swapaxes(QQ[:R, R], 1, 2)
    QQ[R, R] = XV[2]
    K[R, :R] = K[:R, R]
    K[R, R] = trV2
    PhiP = np.einsum("ab,rbc->rac", Phi, PP)
    IE2 = K - 2.0 * np.einsum("ab,rsba->rs", Phi, QQ) + np.einsum("rab,sba->rs", PhiP, PhiP)
    IE2 = 0.5 * (IE2 + IE2.T)
    if np.abs(np.linalg.eigvalsh(IE2)).min() > 1e-10:
        W = 2.0 * np.linalg.inv(IE2)
    else:
        W = 2.0 * np.linalg.pinv(IE2, rcond=np.sqrt(np.finfo(float).eps), hermitian=True)
    W = 0.5 * (W + W.T)
    U = np.einsum("rs,rsac->ac", W, QQ) - np.einsum("rs,rab,sbc->ac", W, PP, PhiP)
    U = 0.5 * (U + U.T)
    PhiA = Phi + 2.0 * Phi @ U @ Phi
    return dict(vcov_adjusted=0.5 * (PhiA + PhiA.T), vcov=Phi, P=PP, W=W)


def kr_ddf(L: np.ndarray, pieces: dict) -> float:
    """pbkrtest's ``Lb_ddf``: Kenward-Roger denominator df for ``L beta`` (L: rows x p)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    V0, P, W = pieces["vcov"], pieces["P"], pieces["W"]
    Theta = L.T @ np.linalg.solve(L @ V0 @ L.T, L)
    u = np.einsum("ab,bc,rcd,de->rae", Theta, V0, P, V0)
    tr = np.einsum("raa->r", u)
    A1 = float(tr @ W @ tr)
    A2 = float(np.einsum("rs,rab,sba->", W, u, u))
    q = L.shape[0]
    B = (A1 + 6.0 * A2) / (2.0 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    den = 3.0 * q + 2.0 * (1.0 - g)
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    V0_ = 1.0 + c1 * B
    V1 = 1.0 - c2 * B
    V2 = 1.0 - c3 * B
    if abs(V0_) < 1e-10:
        V0_ = 0.0
    ratio = (1.0 - A2 / q) / V1 if V1 != 0 else 0.0
    rho = 1.0 / q * ratio**2 * V0_ / V2
    return 4.0 + (q + 2.0) / (q * rho - 1.0)
