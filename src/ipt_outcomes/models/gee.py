"""Repeated-measures logistic GEE of a binary endpoint on arm x visit (as R geepack)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..exceptions import ConvergenceWarning

__all__ = ["gee_response"]


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


# ------------------------------------------------------------------------------------------
# repeated-measures logistic GEE
# ------------------------------------------------------------------------------------------


def _moment_unstructured():
    """statsmodels' Unstructured with the Liang-Zeger moment estimator that geepack uses.

    alpha_jk = sum_i r_ij r_ik / (phi n_jk), phi = sum r^2 / N, r the Pearson residuals and
    n_jk the number of subjects seen at both visits (statsmodels instead normalises by each
    visit's own residual variance and subtracts degrees of freedom).
    """
    import statsmodels.api as sm

    class MomentUnstructured(sm.cov_struct.Unstructured):
        def update(self, params):
            model = self.model
            q = model.time.max() + 1
            cross = np.zeros((q, q))
            count = np.zeros((q, q))
            ssr, nobs = 0.0, 0
            for i in range(model.num_group):
                expval, _ = model.cached_means[i]
                r = (model.endog_li[i] - expval) / np.sqrt(model.family.variance(expval))
                ix = model.time_li[i][:, 0]
                cross[np.ix_(ix, ix)] += np.outer(r, r)
                count[np.ix_(ix, ix)] += 1
                ssr += float(r @ r)
                nobs += len(r)
            phi = ssr / (nobs - model.ddof_scale)
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = np.where(count > 0, cross / (phi * count), 0.0)
            np.fill_diagonal(corr, 1.0)
            self.dep_params = corr

    return MomentUnstructured()


def _gee_design(outcomes: pd.DataFrame, reference: str, arms, visits):
    """Treatment-coded design for endpoint ~ arm * visit (columns named, no formula parsing)."""
    arm = pd.Categorical(outcomes["arm"], categories=arms)
    visit = pd.Categorical(outcomes["visit"], categories=visits)
    others = [a for a in arms if a != reference]
    cols = {"(Intercept)": np.ones(len(outcomes))}
    for a in others:
        cols[f"arm[{a}]"] = (arm == a).astype(float)
    for v in visits[1:]:
        cols[f"visit[{v:g}]"] = (visit == v).astype(float)
    for a in others:
        for v in visits[1:]:
            cols[f"arm[{a}]:visit[{v:g}]"] = ((arm == a) & (visit == v)).astype(float)
    return pd.DataFrame(cols, index=outcomes.index), others


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
    reference arm as baselines), fitted by statsmodels GEE (Liang & Zeger 1986) with
    the moment estimates of the working correlation that geepack uses (scale and correlation
    without degrees-of-freedom corrections) and robust (sandwich) covariance. The odds ratio at visit
    v is exp(b_arm + b_arm:v). Validated against R ``geepack::geeglm``.
    """
    import statsmodels.api as sm

    if correlation not in ("exchangeable", "unstructured", "independence"):
        raise ValueError(
            f"correlation must be exchangeable, unstructured or independence, got {correlation!r}"
        )
    arms = list(arms) if arms is not None else list(dict.fromkeys(outcomes["arm"]))
    visits = sorted(outcomes["visit"].unique())
    data = outcomes.sort_values(["subject_id", "visit"], kind="stable").reset_index(drop=True)
    arms = [a for a in arms if a in set(data["arm"])]
    if reference not in arms:
        raise ValueError(f"reference arm {reference!r} has no observations")
    X, others = _gee_design(data, reference, arms, visits)
    y = data[endpoint].astype(float).to_numpy()
    time = pd.Categorical(data["visit"], categories=visits).codes
    cov = {
        "exchangeable": sm.cov_struct.Exchangeable,
        "unstructured": _moment_unstructured,
        "independence": sm.cov_struct.Independence,
    }[correlation]()
    groups = pd.factorize(data["subject_id"])[0]
    model = sm.GEE(y, X, groups=groups, time=time, family=sm.families.Binomial(), cov_struct=cov)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # ddof_scale=0: scale and correlation by plain moments, as geepack (and Liang & Zeger)
        res = model.fit(maxiter=maxiter, ctol=1e-10, cov_type="robust", ddof_scale=0)
    converged = bool(getattr(res, "converged", True)) and not any(
        "not converge" in str(w.message).lower() or "iteration limit" in str(w.message).lower()
        for w in caught
    )
    params = pd.Series(res.params, index=X.columns)
    vcov = pd.DataFrame(res.cov_robust, index=X.columns, columns=X.columns)
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
                    z=est / se, p=float(2 * stats.norm.sf(abs(est / se))),
                )  # fmt: skip
            rows.append(row)
    dep = res.model.cov_struct.dep_params
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
        correlation=correlation, n_subjects=int(data["subject_id"].nunique()), n_obs=len(data),
        converged=converged, working_correlation=working,
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
