"""Step 4, the variance of the marginal risks: Ge et al. (2011; sandwich or model-based) and
Ye et al. (2023; optionally stratification-aware, Bannick et al.), as R beeca computes them."""

from __future__ import annotations

import math

import numpy as np


def _ge_cov(X, y, mu, preds, Xk, model_based: bool) -> np.ndarray:
    """Ge et al. (2011): Cov(p) = D Sigma D' with D_k = mean_i p_ik (1 - p_ik) x_i(k)."""
    w = mu * (1 - mu)
    bread = np.linalg.inv((X * w[:, None]).T @ X)
    if model_based:
        sigma = bread
    else:
        meat = (X * ((y - mu) ** 2)[:, None]).T @ X
        sigma = bread @ meat @ bread
    D = np.vstack(
        [((p * (1 - p))[:, None] * Xa).mean(axis=0) for p, Xa in zip(preds, Xk, strict=True)]
    )
    return D @ sigma @ D.T


def _ye_cov(y, mu, preds, arm_idx, strata_codes) -> np.ndarray:
    """Ye et al. (2023) as beeca 0.2.0 / RobinCar compute it (sample var/cov, denominator m-1)."""
    n, K = len(y), len(preds)
    P = np.column_stack(preds)  # n x K predictions under each arm
    pi = np.array([np.mean(arm_idx == k) for k in range(K)])

    def cov(a, b):
        return float(np.cov(a, b, ddof=1)[0, 1]) if len(a) > 1 else math.nan

    V = np.empty((K, K))
    cov_all = np.cov(P, rowvar=False, ddof=1).reshape(K, K)
    for k in range(K):
        ik = arm_idx == k
        yk = y[ik]
        c_kk = cov(yk, P[ik, k])
        var_y = float(np.var(yk, ddof=1)) if len(yk) > 1 else math.nan
        V[k, k] = ((var_y - 2 * c_kk + cov_all[k, k]) / pi[k] + 2 * c_kk - cov_all[k, k]) / n
        for j in range(k + 1, K):
            ij = arm_idx == j
            v = (cov(yk, P[ik, j]) + cov(y[ij], P[ij, k]) - cov_all[k, j]) / n
            V[k, j] = V[j, k] = v
    if strata_codes is None:
        return V
    # Bannick et al. formula 18 (stratified permuted blocks): subtract the strata part
    omega = np.diag(pi) - np.outer(pi, pi)
    resid = y - mu
    adj = np.zeros((K, K))
    for z in np.unique(strata_codes):
        iz = strata_codes == z
        rbar = np.array([resid[iz & (arm_idx == k)].mean() for k in range(K)])
        R = np.diag(rbar / pi)
        adj += (iz.sum() / n) * R @ omega @ R
    return (n * V - adj) / n
