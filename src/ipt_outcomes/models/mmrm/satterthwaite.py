"""Satterthwaite degrees of freedom of a contrast and of an F test (as R mmrm computes them).

For a contrast l, with Phi the covariance of beta, P_h = X' dV^-1/dtheta_h X and W the
covariance of theta: ``a_h = l' Phi P_h Phi l / l' Phi l`` and ``df = 2 / (a' W a)``, which
equals Satterthwaite's ``2 (l' Phi l)^2 / (g' W g)`` with ``g_h = d(l' Phi l)/d theta_h``. For
an F test the contrast matrix is rotated to uncorrelated rows (eigen-decomposition of
L Phi L') and the row dfs are combined as Fai & Cornelius (1996).
"""

from __future__ import annotations

import numpy as np

from ...distributions import f_sf

__all__ = ["contrast_df", "f_test"]


def contrast_df(lvec: np.ndarray, Phi: np.ndarray, P: np.ndarray, W: np.ndarray) -> float:
    """Satterthwaite df of ``l' beta``."""
    v = float(lvec @ Phi @ lvec)
    a = np.einsum("a,hab,b->h", lvec @ Phi, P, Phi @ lvec) / v
    return float(2.0 / (a @ W @ a))


def f_test(L: np.ndarray, beta: np.ndarray, Phi: np.ndarray, df_of) -> dict:
    """F test of ``L beta = 0``; ``df_of(l)`` gives the df of one rotated row.

    With Satterthwaite df per row the denominator df combines them (equal dfs: their mean;
    any df <= 2: 2; else ``2 E / (E - q)``, ``E = sum df / (df - 2)``).
    """
    cov = L @ Phi @ L.T
    w, U = np.linalg.eigh(cov)
    order = np.argsort(w)[::-1]
    w, U = w[order], U[:, order]
    rank = int(np.sum(w > max(np.sqrt(np.finfo(float).eps) * w[0], 0)))
    Lr = U[:, :rank].T @ L
    t2 = (Lr @ beta) ** 2 / w[:rank]
    F = float(np.sum(t2) / rank)
    dfs = np.array([df_of(Lr[m]) for m in range(rank)])
    if np.all(np.abs(np.diff(dfs)) < np.sqrt(np.finfo(float).eps)):
        den = float(np.mean(dfs))
    elif np.any(dfs <= 2):
        den = 2.0
    else:
        E = float(np.sum(dfs / (dfs - 2)))
        den = 2 * E / (E - rank)
    return dict(num_df=rank, den_df=den, f=F, p=float(f_sf(F, rank, den)))
