"""Optimising the MMRM's likelihood: Newton steps on the analytic Hessian from an empirical
start (L-BFGS-B when Newton stalls), the convergence check, and the starting values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg

from .likelihood import Model, hessian

__all__ = []


def _newton(model: Model, theta, val, g, pieces, n_eval: int, max_iter: int = 20):
    """Newton steps on the analytic Hessian, halving the step until -2 l does not increase."""
    for _ in range(max_iter):
        if np.max(np.abs(g)) < 1e-9:
            break
        H = hessian(model, theta, pieces, exact=False)
        n_eval += 1
        try:
            step = -linalg.solve(H, g, assume_a="sym")
        except (linalg.LinAlgError, ValueError):
            break
        t = 1.0
        improved = False
        for _ls in range(30):
            cand = theta + t * step
            v2, g2, p2 = model.evaluate(cand)
            n_eval += 1
            if np.isfinite(v2) and v2 <= val + 1e-12:
                theta, val, g, pieces = cand, v2, g2, p2
                improved = True
                break
            t /= 2
        if not improved or np.max(np.abs(t * step)) < 1e-10:
            break
    return theta, val, g, pieces, n_eval


def _optimise(model: Model, theta0: np.ndarray, newton_first: bool = True):
    """Newton steps on the analytic Hessian (with step halving), and L-BFGS-B with the analytic
    gradient followed by Newton steps when those do not reach a stationary point with a positive
    definite Hessian.

    From the empirical starting covariance Newton usually converges in a handful of steps
    (quadratically near the optimum); the fallback keeps hard problems (a variance near its
    boundary, a poor start) as safe as before. ``newton_first=False`` goes to L-BFGS-B at once.
    """
    if newton_first:
        val, g, pieces = model.evaluate(theta0)
        if np.isfinite(val) and pieces is not None:
            theta, val, g, pieces, n_eval = _newton(model, theta0, val, g, pieces, 1)
            H = _final_hessian(model, theta, pieces)
            if _converged(val, g, H)[0]:
                return theta, val, g, H, n_eval

    from scipy import optimize

    def fun(th):
        val, g, _ = model.evaluate(th)
        if not np.isfinite(val):
            return 1e300, np.zeros_like(th)
        return val, g

    res = optimize.minimize(
        fun, theta0, jac=True, method="L-BFGS-B",
        options=dict(maxiter=5000, ftol=1e-15, gtol=1e-10, maxcor=30),
    )  # fmt: skip
    theta = res.x
    val, g, pieces = model.evaluate(theta)
    if not np.isfinite(val) or pieces is None:
        return theta, val, None, None, res.nfev
    theta, val, g, pieces, n_eval = _newton(model, theta, val, g, pieces, res.nfev + 1)
    H = _final_hessian(model, theta, pieces)
    return theta, val, g, H, n_eval


def _final_hessian(model: Model, theta, pieces):
    """The exact Hessian at the end of the optimisation; the P matrices made on the way are kept
    on the model for inference at the same theta."""
    got = {}
    H = hessian(model, theta, pieces, out_p=got)
    model.p_cache = (np.array(theta, copy=True), got.get("P"))
    return H


def _converged(val, g, H) -> tuple[bool, str]:
    if not np.isfinite(val):
        return False, "the likelihood is not finite"
    if g is None or np.max(np.abs(g)) > 1e-3 * max(1.0, abs(val)) * 1e-2:
        return False, f"gradient {np.max(np.abs(g)) if g is not None else np.nan:.2g} not near zero"
    try:
        w = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:
        return False, "Hessian not computable"
    if not np.all(np.isfinite(w)) or w.min() <= 1e-10 * max(1.0, w.max()):
        return False, "Hessian not positive definite (a variance parameter at its boundary)"
    return True, ""


def _empirical_start(X, y, subject, visit_idx, T):
    """Starting covariance: covariance of OLS residuals by visit pair."""
    beta_ols = np.linalg.lstsq(X, y, rcond=None)[0]
    resid = pd.DataFrame({"s": subject, "v": visit_idx, "r": y - X @ beta_ols}).pivot(
        index="s", columns="v", values="r"
    )
    emp = resid.reindex(columns=range(T)).cov(min_periods=2).to_numpy()
    emp = np.where(np.isfinite(emp), emp, 0.0)
    np.fill_diagonal(emp, np.where(np.diag(emp) > 0, np.diag(emp), np.nanvar(y) or 1.0))
    return emp


def _spatial_start(prep, X, y, structure):
    beta_ols = np.linalg.lstsq(X, y, rcond=None)[0]
    r = y - X @ beta_ols
    var = float(np.var(r)) if len(r) > 1 else 1.0
    order = np.lexsort((prep.coords[:, 0], prep.subject))
    s, c = prep.subject[order], prep.coords[order]
    same = s[1:] == s[:-1]
    gaps = np.sqrt(np.sum((c[1:] - c[:-1]) ** 2, axis=1))[same]
    gaps = gaps[gaps > 0]
    dist = float(np.median(gaps)) if len(gaps) else 1.0
    return structure.start(var, dist)
