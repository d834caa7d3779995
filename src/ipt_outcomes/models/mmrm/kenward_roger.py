"""Kenward-Roger: the adjusted covariance of the fixed effects and the F test (Kenward & Roger 1997).

``Phi_A = Phi + 2 Phi {sum_hj W_hj (Q_hj - P_h Phi P_j)} Phi``, without the second-derivative
term R_hj, which is zero for the linear parameterisation SAS uses for unstructured covariance
(R mmrm's "Kenward-Roger-Linear"); degrees of freedom of a contrast as Satterthwaite's with
Phi_A for the standard error; the F test with the scaled statistic and Kenward-Roger's
denominator df.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, stats

from .likelihood import dsigma_patterns

__all__ = ["kr_adjusted_vcov", "kr_f_test"]


def kr_adjusted_vcov(model, theta, pieces, P, W) -> np.ndarray:
    """Phi_A = Phi + 2 Phi [sum_hj W_hj (Q_hj - P_h Phi P_j)] Phi (R_hj omitted: linear KR)."""
    Phi = pieces["Phi"]
    p = model.p
    k = model.k
    inner = np.zeros((p, p))
    for pat, Wk, (h0, dS) in zip(
        model.patterns, pieces["Ws"], dsigma_patterns(model, theta), strict=True
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


def kr_f_test(L, beta, Phi, Phi_A, P, W) -> dict:
    """F test of ``L beta = 0`` with Kenward-Roger's scaling and denominator df."""
    c = L.shape[0]
    Lb = L @ beta
    F = float(Lb @ linalg.solve(L @ Phi_A @ L.T, Lb)) / c
    M = L.T @ linalg.solve(L @ Phi @ L.T, L)
    MPhi = M @ Phi
    Fh = np.einsum("ab,hbc,cd->had", MPhi, P, Phi)  # M Phi P_h Phi
    tr = np.einsum("haa->h", Fh)
    A1 = float(tr @ W @ tr)
    A2 = float(np.einsum("hj,hab,jba->", W, Fh, Fh))
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
