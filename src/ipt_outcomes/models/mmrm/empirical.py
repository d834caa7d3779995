"""Empirical (sandwich) covariance of the fixed effects, as R mmrm's ``vcov = "Empirical*"``.

With ``B_i B_i' = V_i^-1`` (any factor: the result does not depend on which), whitened rows
``Xt_i = B_i' X_i``, residuals ``rt_i = B_i' (y_i - X_i beta)``, ``Phi = (X'V^-1 X)^-1`` and
``A_i = I - Xt_i Phi Xt_i'``:

* ``empirical`` (CR0): ``Phi sum_i Xt_i' rt_i rt_i' Xt_i Phi``;
* ``empirical-bias-reduced`` (CR2, Bell & McCaffrey 2002): ``rt_i`` replaced by
  ``A_i^-1/2 rt_i`` (pseudo-inverse square root);
* ``empirical-jackknife`` (CR3): by ``A_i^-1 rt_i``.

Satterthwaite degrees of freedom of ``c' beta`` (Bell & McCaffrey's, as R mmrm): with
``v_i = A_i^a Xt_i Phi c`` on subject i's rows and zero elsewhere (``a`` the power used above),
``G = v' (I - H) v`` over subjects (H the whitened hat matrix), ``df = tr(G)^2 / tr(G^2)``.
Since ``(I - H)`` is a projection, ``G = diag(|v_i|^2) - K' Phi K`` with ``K_i = Xt_i' v_i``, so
neither the n_obs x n_obs hat matrix nor the n x n matrix G is ever formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EMPIRICAL", "Empirical", "empirical_vcov"]

EMPIRICAL = ("empirical", "empirical-bias-reduced", "empirical-jackknife")


@dataclass
class Empirical:
    """The empirical covariance and what its degrees of freedom need."""

    vcov: np.ndarray
    Z: np.ndarray  # (n_obs, p): A_i^a Xt_i stacked
    Xt: np.ndarray  # (n_obs, p): Xt_i stacked
    starts: np.ndarray  # first row of each subject in Z and Xt
    Phi: np.ndarray

    def df(self, c: np.ndarray) -> float:
        """Bell-McCaffrey degrees of freedom of ``c' beta``."""
        u = self.Phi @ c
        v = self.Z @ u
        d = np.add.reduceat(v * v, self.starts)
        K = np.add.reduceat(self.Xt * v[:, None], self.starts, axis=0)  # (n, p)
        KP = K @ self.Phi
        q = np.einsum("ip,ip->i", KP, K)  # diagonal of K Phi K'
        S = K.T @ K
        PS = self.Phi @ S
        tr = float(d.sum() - q.sum())
        ss = float(d @ d - 2 * d @ q + np.sum(PS * PS.T))
        return tr * tr / ss


def _inv_sqrt_psd(A: np.ndarray) -> np.ndarray:
    """Pseudo-inverse square roots of a batch of symmetric positive semi-definite matrices."""
    w, V = np.linalg.eigh(A)
    tol = np.finfo(float).eps * A.shape[-1] * np.abs(w).max(axis=-1, keepdims=True)
    s = np.where(w > tol, 1.0 / np.sqrt(np.where(w > tol, w, 1.0)), 0.0)
    return (V * s[..., None, :]) @ V.transpose(0, 2, 1)


def empirical_vcov(model, pieces, kind: str) -> Empirical:
    """The empirical covariance of beta at the fit (``pieces`` from ``model.evaluate``)."""
    if kind not in EMPIRICAL:
        raise ValueError(f"kind must be one of {EMPIRICAL}, got {kind!r}")
    X, y, _ = model.sorted
    beta, Phi = pieces["beta"], pieces["Phi"]
    resid = y - X @ beta
    p = model.p
    meat = np.zeros((p, p))
    Z = np.empty_like(X)
    Xt_all = np.empty_like(X)
    subject_first = []
    for pat, W in zip(model.patterns, pieces["Ws"], strict=True):
        t = pat.t
        Bt = np.linalg.cholesky(W).T  # Bt' Bt = W: whitening by Bt
        Xt = Bt @ X[pat.rows]  # (m, t, p)
        rt = (Bt @ resid[pat.rows][..., None])[..., 0]  # (m, t)
        if kind == "empirical":
            Aa = np.broadcast_to(np.eye(t), (len(pat.rows), t, t))
        else:
            A = np.eye(t) - Xt @ Phi @ Xt.transpose(0, 2, 1)
            A = (A + A.transpose(0, 2, 1)) / 2
            Aa = np.linalg.inv(A) if kind == "empirical-jackknife" else _inv_sqrt_psd(A)
        z = (Xt.transpose(0, 2, 1) @ (Aa @ rt[..., None]))[..., 0]  # (m, p)
        meat += z.T @ z
        Z[pat.rows] = Aa @ Xt
        Xt_all[pat.rows] = Xt
        subject_first.append(pat.rows[:, 0])
    starts = np.sort(np.concatenate(subject_first))
    return Empirical(vcov=Phi @ meat @ Phi, Z=Z, Xt=Xt_all, starts=starts, Phi=Phi)
