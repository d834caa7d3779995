"""Satterthwaite degrees of freedom of a fixed-effects contrast, as R lmerTest 3.1 computes them.

lmerTest (Kuznetsova et al. 2017, *J Stat Softw* 82(13)) takes the variance parameters as
varpar = (theta, sigma): the relative Cholesky factor and the residual SD. With D(varpar) the
deviance with beta profiled out and sigma not (``devfun_vp``; REML criterion for REML fits),
A = 2 H^+ where H is the Hessian of D at the optimum and H^+ its inverse over the eigenvalues
above 1e-8 (the others dropped, which only matters at singular fits); for ``l' beta``,

    df = 2 (l' C l)^2 / (g' A g),   C = sigma^2 (X' V^-1 X)^-1,   g_h = l' (dC / dvarpar_h) l.

lmerTest differentiates numerically (numDeriv); here H is the analytic Hessian of the same
function (:mod:`.deviance`) and dC/dtheta_k = sigma^2 Phi S_k Phi, dC/dsigma = 2 sigma Phi.
"""

from __future__ import annotations

import numpy as np

from .deviance import evaluate

__all__ = ["EIGEN_TOL", "satterthwaite_pieces", "satterthwaite_df"]

#: lmerTest's tolerance for the eigenvalues of H kept in its generalised inverse.
EIGEN_TOL = 1e-8


def satterthwaite_pieces(model, theta: np.ndarray, sigma: float) -> dict:
    """``vcov_varpar`` (A), ``jacobian`` (dC/dvarpar, k+1 x p x p) and the Hessian's eigenvalues."""
    ev = evaluate(model, theta, order=2, sigma=sigma)
    w, V = np.linalg.eigh(ev.hess)
    pos = w > EIGEN_TOL
    A = 2.0 * (V[:, pos] / w[pos]) @ V[:, pos].T
    Phi = ev.Phi
    jac = np.concatenate(
        [sigma**2 * np.einsum("ab,kbc,cd->kad", Phi, ev.S, Phi), (2.0 * sigma * Phi)[None]]
    )
    return dict(vcov_varpar=A, jacobian=jac, hessian=ev.hess, eigenvalues=w)


def satterthwaite_df(lvec: np.ndarray, vcov: np.ndarray, pieces: dict) -> float:
    """Satterthwaite df of ``l' beta`` (inf when the variance parameters do not enter)."""
    var = float(lvec @ vcov @ lvec)
    g = np.einsum("a,kab,b->k", lvec, pieces["jacobian"], lvec)
    den = float(g @ pieces["vcov_varpar"] @ g)
    return 2.0 * var**2 / den if den > 0 else np.inf
