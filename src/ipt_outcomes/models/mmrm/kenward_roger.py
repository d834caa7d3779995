"""Kenward-Roger: the adjusted covariance of the fixed effects and the F test (Kenward & Roger 1997).

``Phi_A = Phi + 2 Phi {sum_hj W_hj (Q_hj - P_h Phi P_j - R_hj / 4)} Phi`` with
``R_hj = X' V^-1 (d2V / dtheta_h dtheta_j) V^-1 X`` (R mmrm's "Kenward-Roger"), or without R_hj,
which is zero for the linear parameterisation SAS uses for unstructured covariance (R mmrm's
"Kenward-Roger-Linear", SAS ``DDFM=KR``); degrees of freedom of a contrast as Satterthwaite's
with Phi_A for the standard error; the F test with the scaled statistic and Kenward-Roger's
denominator df.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from ...distributions import f_sf

__all__ = ["kr_adjusted_vcov", "kr_f_test"]


def kr_adjusted_vcov(model, theta, pieces, P, W, linear: bool = True) -> np.ndarray:
    """Phi_A = Phi + 2 Phi [sum_hj W_hj (Q_hj - P_h Phi P_j - R_hj / 4)] Phi (R_hj omitted when
    ``linear``)."""
    Phi = pieces["Phi"]
    p = model.p
    k = model.k
    inner = np.zeros((p, p))
    R = None if linear else model.weighted_second(theta, W)
    for i, (pat, Wk, (h0, dS)) in enumerate(
        zip(model.patterns, pieces["Ws"], model.pattern_dsigma(theta), strict=True)
    ):
        Wg = W[h0 : h0 + k, h0 : h0 + k]
        U = np.tensordot(Wg, dS, axes=([0], [0]))  # U_j = sum_h W_hj dSigma_h
        S = np.sum(U @ Wk @ dS, axis=0)  # sum_j U_j W A_j
        B = Wk @ S @ Wk  # sum_hj W_hj W A_h W A_j W
        if R is not None:
            B = B - Wk @ R[i] @ Wk / 4  # sum_hj W_hj W d2Sigma_hj W / 4
        inner += pat.xwx(B)
    n = len(P)
    PP = P @ Phi  # P_h Phi
    Q = np.tensordot(W, P, axes=([1], [0]))  # Q_h = sum_j W_hj P_j
    inner -= PP.transpose(1, 0, 2).reshape(p, n * p) @ Q.reshape(n * p, p)
    return Phi + 2 * Phi @ inner @ Phi


def kr_f_test(L, beta, Phi, Phi_A, P, W) -> dict:
    """F test of ``L beta = 0`` with Kenward-Roger's scaling and denominator df."""
    c = L.shape[0]
    Lb = L @ beta
    F = float(Lb @ linalg.solve(L @ Phi_A @ L.T, Lb)) / c
    M = L.T @ linalg.solve(L @ Phi @ L.T, L)
    MPhi = M @ Phi
    Fh = MPhi @ P @ Phi  # M Phi P_h Phi, one p x p matrix per covariance parameter
    n, p = len(Fh), Fh.shape[1]
    tr = np.trace(Fh, axis1=1, axis2=2)
    A1 = float(tr @ W @ tr)
    G = Fh.reshape(n, p * p) @ Fh.transpose(0, 2, 1).reshape(n, p * p).T  # tr(F_h F_j)
    A2 = float(np.sum(W * G))
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
    return dict(num_df=c, den_df=m, f=Fs, p=float(f_sf(Fs, c, m)))
