"""Repeated-measures logistic GEE of a binary endpoint on arm x visit (as R geepack)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from ..distributions import norm_ppf, norm_sf
from ..exceptions import ConvergenceWarning

__all__ = ["gee_response"]


def _z(alpha: float) -> float:
    return float(norm_ppf(1 - alpha / 2))


# ------------------------------------------------------------------------------------------
# the estimating equations, worked per (visit pattern, arm) group from sufficient statistics
# ------------------------------------------------------------------------------------------
#
# Every row of the model matrix is the design row of its (arm, visit) cell, so subjects of one
# arm who share a visit pattern share their cells, their fitted means and their working
# correlation: within such a group only the outcomes differ, and every sum the estimating
# equations need (score, bread, meat, the moment estimates of the working correlation) is a
# function of the group's count n, outcome sums sum_i y_i and cross-products sum_i y_i y_i'.
# These are taken once; each Fisher-scoring step then costs O(groups T^3), whatever the number
# of subjects. Sums are accumulated per pair of cells (at most C^2 numbers, C = arms x visits)
# and only then multiplied by the C x p cell design E.


class _Clusters:
    """Subjects grouped by visit pattern and arm: for each group its visits (t,), cells (t,),
    count n, outcome sums (t,) and cross-products (t, t)."""

    def __init__(self, cell: np.ndarray, y: np.ndarray, time: np.ndarray, subject: np.ndarray):
        order = np.lexsort((time, subject))
        cell, y, time, subject = cell[order], y[order], time[order], subject[order]
        starts = np.flatnonzero(np.r_[True, subject[1:] != subject[:-1]])
        # a subject's visit pattern as a bit mask of visit indices (visits are unique per subject)
        mask = np.add.reduceat(np.left_shift(1, time.astype(np.int64)), starts)
        first_cell = cell[starts]
        self.groups = []
        keys = np.stack([mask, first_cell - time[starts]], axis=1)  # (pattern, arm's cell offset)
        patterns, which = np.unique(keys, axis=0, return_inverse=True)
        which = np.asarray(which).ravel()
        for k, (m, _offset) in enumerate(patterns):
            visits = np.flatnonzero([(int(m) >> j) & 1 for j in range(int(m).bit_length())])
            first = starts[which == k]
            rows = first[:, None] + np.arange(len(visits))[None, :]
            Y = y[rows]
            self.groups.append((visits, cell[rows[0]], len(first), Y.sum(axis=0), Y.T @ Y))
        self.n_obs = len(y)
        self.n_pairs = float(sum(n * len(v) * (len(v) - 1) / 2 for v, _c, n, _s, _q in self.groups))


def _group_moments(eta_cell: np.ndarray, cells, n, sy, syy):
    """Fitted SD s (t,), the sum of residual outer products sum_i r_i r_i' (t, t) and the sum
    of residuals sum_i r_i (t,), Pearson residuals r = (y - mu) / s."""
    mu = np.clip(_expit(eta_cell[cells]), 1e-10, 1 - 1e-10)
    s = np.sqrt(mu * (1 - mu))
    q = syy - np.outer(sy, mu) - np.outer(mu, sy) + n * np.outer(mu, mu)
    return s, q / np.outer(s, s), (sy - n * mu) / s


def _expit(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _moments(cl: _Clusters, eta_cell: np.ndarray, T: int, correlation: str):
    """Pearson residuals' scale phi and the working correlation (plain moments, as geepack)."""
    ssr = 0.0
    cross = np.zeros((T, T))
    count = np.zeros((T, T))
    exch = 0.0
    for visits, cells, n, sy, syy in cl.groups:
        _s, rr, _r = _group_moments(eta_cell, cells, n, sy, syy)
        ssr += float(np.trace(rr))
        if correlation == "exchangeable":
            exch += float((rr.sum() - np.trace(rr)) / 2)
        elif correlation == "unstructured":
            ix = np.ix_(visits, visits)
            cross[ix] += rr
            count[ix] += n
    phi = ssr / cl.n_obs
    if correlation == "exchangeable":
        return phi, exch / (phi * cl.n_pairs) if cl.n_pairs else 0.0
    if correlation == "unstructured":
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.where(count > 0, cross / (phi * count), 0.0)
        np.fill_diagonal(corr, 1.0)
        return phi, corr
    return phi, None


def _working(visits: np.ndarray, correlation: str, dep) -> np.ndarray:
    t = len(visits)
    if correlation == "exchangeable":
        return np.full((t, t), dep) + (1 - dep) * np.eye(t)
    if correlation == "unstructured":
        return dep[np.ix_(visits, visits)]
    return np.eye(t)


def _sums(cl: _Clusters, eta_cell, C: int, correlation: str, dep, meat: bool):
    """Cell-level sums of the bread sum_i D'V^-1 D, the score and (optionally) the meat, all
    times phi (phi cancels in the update and in the sandwich)."""
    B = np.zeros((C, C))
    U = np.zeros(C)
    M = np.zeros((C, C)) if meat else None
    for visits, cells, n, sy, syy in cl.groups:
        Rinv = np.linalg.inv(_working(visits, correlation, dep))
        s, rr, r_sum = _group_moments(eta_cell, cells, n, sy, syy)
        ix = np.ix_(cells, cells)
        B[ix] += n * (s[:, None] * Rinv * s[None, :])  # sqrt(a_j) Rinv_jk sqrt(a_k), n times
        U[cells] += s * (Rinv @ r_sum)  # sum_i sqrt(a_j) (Rinv r_i)_j
        if meat:
            M[ix] += s[:, None] * (Rinv @ rr @ Rinv) * s[None, :]  # sum_i g_i g_i'
    return B, U, M


def _gee_design(outcomes: pd.DataFrame, reference: str, arms, visits):
    """Treatment-coded design for endpoint ~ arm * visit, by the package's one design-matrix
    builder (R's coding), with columns named and ordered as before: intercept, arms, visits,
    then each arm's visit interactions."""
    from .design import ModelDesign

    others = [a for a in arms if a != reference]
    labels = [f"{v:g}" for v in visits]
    frame = pd.DataFrame({"arm": outcomes["arm"].to_numpy(dtype=object),
                          "visit": outcomes["visit"].map(dict(zip(visits, labels, strict=True)))})  # fmt: skip
    design = ModelDesign(
        "arm * visit", frame, levels={"arm": [reference, *others], "visit": labels}
    )
    cols = design.term_columns
    n_o = len(others)
    # formulaic varies the first factor of an interaction fastest: column (arm k, visit j) is
    # the interaction term's j * n_o + k
    names = ["(Intercept)", *(f"arm[{a}]" for a in others), *(f"visit[{v:g}]" for v in visits[1:])]
    order = [*cols["1"], *cols.get("arm", []), *cols.get("visit", [])]
    inter = cols.get("arm:visit", [])
    for k, a in enumerate(others):
        for j, v in enumerate(visits[1:]):
            names.append(f"arm[{a}]:visit[{v:g}]")
            order.append(inter[j * n_o + k])
    return pd.DataFrame(design.matrix[:, order], index=outcomes.index, columns=names), others


def _fit(cl: _Clusters, E: np.ndarray, T: int, correlation: str, maxiter: int, tol: float = 1e-10):
    """Fisher scoring with the working correlation re-estimated at each step; returns
    (beta, robust covariance, working correlation, converged)."""
    C, p = E.shape
    beta = np.zeros(p)
    dep = (
        0.0
        if correlation == "exchangeable"
        else (np.eye(T) if correlation == "unstructured" else None)
    )
    converged = False
    for it in range(maxiter):
        eta = E @ beta
        if it > 0:
            _phi, dep = _moments(cl, eta, T, correlation)
        B, U, _ = _sums(cl, eta, C, correlation, dep, meat=False)
        bread = E.T @ B @ E
        step = np.linalg.solve(bread, E.T @ U)
        beta = beta + step
        if not np.all(np.isfinite(beta)):
            break
        if np.max(np.abs(step)) < tol * max(1.0, np.max(np.abs(beta))) and it > 0:
            converged = True
            break
    eta = E @ beta
    _phi, dep = _moments(cl, eta, T, correlation)
    B, _U, M = _sums(cl, eta, C, correlation, dep, meat=True)
    bread_inv = np.linalg.inv(E.T @ B @ E)
    vcov = bread_inv @ (E.T @ M @ E) @ bread_inv
    return beta, vcov, dep, converged


def gee_response(
    outcomes: pd.DataFrame,
    reference: str,
    endpoint: str = "responder",
    *,
    correlation: str = "exchangeable",
    alpha: float = 0.05,
    arms=None,
    report_visits=None,
    maxiter: int = 100,
) -> tuple[pd.DataFrame, dict]:
    """Logistic GEE of the endpoint on arm x visit over all post-baseline visits.

    Parameters
    ----------
    outcomes : DataFrame
        From :func:`binary_outcomes` (one row per subject and visit).
    reference : str
        Reference arm (odds ratios are arm vs reference).
    endpoint : {"responder", "remitter"}
    correlation : {"exchangeable", "unstructured", "independence"}
        Working correlation within subject.
    alpha : float
    arms : sequence, optional
        Arm order.
    report_visits : sequence, optional
        Visits at which to report odds ratios (default: every visit).
    maxiter : int

    Returns
    -------
    table : DataFrame
        ``correlation, arm, reference, visit, odds_ratio, ci_low, ci_high, log_or, se, z, p,
        note`` - odds ratio of the endpoint, arm vs reference, at each reported visit, with
        robust (sandwich) standard errors and Wald intervals.
    fit : dict
        ``correlation, n_subjects, n_obs, converged, working_correlation`` (the estimated
        working correlation: one value, or the upper triangle by visit pair).

    Notes
    -----
    Model: logit P(endpoint) = arm + visit + arm:visit (treatment coding, first visit and
    reference arm as baselines), GEE (Liang & Zeger 1986) by Fisher scoring with the moment
    estimates of the working correlation that geepack uses (scale phi = sum r^2 / N and the
    correlation without degrees-of-freedom corrections; unstructured: alpha_jk = sum_i r_ij r_ik /
    (phi n_jk), n_jk the subjects seen at both visits) and the robust (sandwich) covariance
    B^-1 M B^-1. Sums are taken per visit pattern and per (arm, visit) cell, so large trials cost
    O(n_obs T). The odds ratio at visit v is exp(b_arm + b_arm:v). Validated against R
    ``geepack::geeglm`` and a hand-coded R GEE (``tests/reference/response``).
    """
    if correlation not in ("exchangeable", "unstructured", "independence"):
        raise ValueError(
            f"correlation must be exchangeable, unstructured or independence, got {correlation!r}"
        )
    arms = list(arms) if arms is not None else list(dict.fromkeys(outcomes["arm"]))
    visits = sorted(outcomes["visit"].unique())
    data = outcomes
    present = set(pd.unique(data["arm"]))
    arms = [a for a in arms if a in present]
    if reference not in arms:
        raise ValueError(f"reference arm {reference!r} has no observations")
    cells = pd.MultiIndex.from_product([arms, visits], names=["arm", "visit"]).to_frame(index=False)
    E_frame, others = _gee_design(cells, reference, arms, visits)
    E = E_frame.to_numpy()
    arm_code = pd.Categorical(data["arm"], categories=arms).codes
    time = pd.Categorical(data["visit"], categories=visits).codes
    cell = arm_code.astype(np.int64) * len(visits) + time
    y = data[endpoint].astype(float).to_numpy()
    subject = pd.factorize(data["subject_id"])[0]
    cl = _Clusters(cell, y, time, subject)
    with np.errstate(all="ignore"):
        beta, robust, dep, converged = _fit(cl, E, len(visits), correlation, maxiter)
    X = E_frame
    params = pd.Series(beta, index=X.columns)
    vcov = pd.DataFrame(robust, index=X.columns, columns=X.columns)
    z = _z(alpha)
    rows = []
    report = visits if report_visits is None else [v for v in visits if v in set(report_visits)]
    cells = data.groupby(["arm", "visit"])[endpoint].agg(["sum", "count"])
    degenerate = {idx for idx, r in cells.iterrows() if r["sum"] in (0, r["count"])}
    for a in others:
        for v in report:
            L = pd.Series(0.0, index=X.columns)
            L[f"arm[{a}]"] = 1.0
            if v != visits[0]:
                L[f"arm[{a}]:visit[{v:g}]"] = 1.0
            est = float(L @ params)
            se = float(math.sqrt(max(float(L @ vcov @ L), 0.0)))
            cand = ((a, v), (reference, v), (a, visits[0]), (reference, visits[0]))
            involved = [c for c in dict.fromkeys(cand) if c in degenerate]
            row = dict(
                correlation=correlation,
                arm=a,
                reference=reference,
                visit=v,
                log_or=est,
                se=se,
                note="",
            )
            if involved or not np.isfinite(est) or not np.isfinite(se) or se == 0 or abs(est) > 30:
                cells_txt = ", ".join(f"{arm!r} at visit {vv:g}" for arm, vv in involved)
                row.update(log_or=np.nan, se=np.nan)
                row["note"] = (
                    f"not estimable: separation (all or no events in {cells_txt or 'a cell'}; "
                    f"the model's first visit, {visits[0]:g}, enters every contrast)"
                )
                for k in ("odds_ratio", "ci_low", "ci_high", "z", "p"):
                    row[k] = np.nan
            else:
                row.update(
                    odds_ratio=math.exp(est), ci_low=math.exp(est - z * se), ci_high=math.exp(est + z * se),
                    z=est / se, p=float(2 * norm_sf(abs(est / se))),
                )  # fmt: skip
            rows.append(row)
    if correlation == "exchangeable":
        working = f"{float(dep):.6g}"
    elif correlation == "unstructured":
        m = np.asarray(dep)
        working = ";".join(
            f"{m[i, j]:.6g}" for i in range(m.shape[0]) for j in range(i + 1, m.shape[1])
        )
    else:
        working = ""
    if not converged:
        warnings.warn(
            f"GEE ({correlation}) did not converge in {maxiter} iterations",
            ConvergenceWarning,
            stacklevel=2,
        )
    fit = dict(
        correlation=correlation, n_subjects=int(subject.max() + 1) if len(subject) else 0, n_obs=len(data),
        converged=bool(converged), working_correlation=working,
    )  # fmt: skip
    table = pd.DataFrame(
        rows,
        columns=[
            "correlation",
            "arm",
            "reference",
            "visit",
            "odds_ratio",
            "ci_low",
            "ci_high",
            "log_or",
            "se",
            "z",
            "p",
            "note",
        ],
    )
    return table, fit
