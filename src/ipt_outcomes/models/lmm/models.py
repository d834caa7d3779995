"""The random-effects models of the SPEC: growth curves and the therapy-group (partially nested) model.

* :func:`growth_model` - the SPEC's default: score ~ arm x time (+ time^2) with a random
  intercept (and slope) per subject, on every row including baseline; time is the design's
  ``times`` in its unit.
* :func:`partially_nested_model` - patients of a group-therapy arm share a therapy group, the
  other arms do not (Roberts & Roberts 2005; Baldwin et al. 2011): the model with a therapy-group
  random intercept in that arm only, its intra-group correlation, and the arm's effect with and
  without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.trial import Trial
from .core import LMMFitError, LMMResults, RandomTerm, fit_lmm

__all__ = ["growth_model", "lmm_fit_table", "partially_nested_model", "group_therapy_arm"]


def _arm_time_design(data, arms, reference, quadratic, extra=()):
    cols = {"(Intercept)": np.ones(len(data)), "time": data["time"].to_numpy(float)}
    if quadratic:
        cols["time^2"] = data["time"].to_numpy(float) ** 2
    for e in extra:
        cols[e] = data[e].to_numpy(float)
    others = [a for a in arms if a != reference]
    for a in others:
        cols[f"arm[{a}]"] = (data["arm"] == a).to_numpy(float)
    for a in others:
        cols[f"arm[{a}]:time"] = cols[f"arm[{a}]"] * cols["time"]
        if quadratic:
            cols[f"arm[{a}]:time^2"] = cols[f"arm[{a}]"] * cols["time^2"]
    return pd.DataFrame(cols, index=data.index)


def growth_model(
    trial: Trial,
    *,
    method: str = "reml",
    random_slope: bool = False,
    quadratic: bool = False,
    reference: str | None = None,
) -> LMMResults:
    """The SPEC's default LMM: score ~ arm x time on every row, baseline included.

    Parameters
    ----------
    trial : Trial
        Time is the design's ``times`` (in its unit); a baseline carried as a column is a row at
        the baseline's time.
    method : {"reml", "ml"}
    random_slope : bool
        Random slope of time per subject (correlated with the intercept).
    quadratic : bool
        Add time^2 and arm x time^2 fixed effects.
    reference : str, optional
        Reference arm (default: the trial's).

    Returns
    -------
    LMMResults
    """
    if method not in ("reml", "ml"):
        raise ValueError(f"method must be 'reml' or 'ml', got {method!r}")
    if reference is not None and reference != trial.reference:
        trial = trial.with_reference(reference)
    trial.require_analysable()
    d = trial.scores
    d = d.loc[d["score"].notna()].reset_index(drop=True)
    X = _arm_time_design(d, list(trial.arms), trial.reference, quadratic)
    term = RandomTerm("subject_id", ("1", "time") if random_slope else ("1",), name="subject")
    return fit_lmm(d, "score", X, [term], method=method)


def lmm_fit_table(res: LMMResults, random_slope: bool) -> pd.DataFrame:
    """SPEC ``lmm_fit.csv``: ``method, random_slope, loglik, n_fixed, var_intercept, var_slope,
    var_residual, n_obs, n_subjects`` plus ``cov_intercept_slope, converged, singular, message``."""
    G = res.variance_components["subject"]
    return pd.DataFrame(
        [
            dict(
                method=res.method,
                random_slope=random_slope,
                loglik=res.loglik,
                n_fixed=len(res.beta),
                var_intercept=float(G.iloc[0, 0]),
                var_slope=float(G.iloc[1, 1]) if random_slope else np.nan,
                var_residual=res.variance_components["residual"],
                n_obs=res.n_obs,
                n_subjects=res.n_subjects,
                cov_intercept_slope=float(G.iloc[0, 1]) if random_slope else np.nan,
                converged=res.converged,
                singular=bool(res.singular),
                message=res.message,
            )
        ]
    )


def group_therapy_arm(trial: Trial, group_col: str = "therapy_group") -> str | None:
    """The arm whose patients have therapy groups in ``group_col`` (None when no arm has)."""
    d = trial.scores
    if group_col not in d.columns:
        return None
    with_groups = [a for a in trial.arms if d.loc[d["arm"] == a, group_col].notna().any()]
    return with_groups[0] if len(with_groups) == 1 else None


def partially_nested_model(
    trial: Trial,
    *,
    group_arm: str | None = None,
    reference: str | None = None,
    group_col: str = "therapy_group",
):
    """Therapy-group clustering in the group arm only, and what ignoring it does.

    Model (post-baseline rows, REML): score ~ baseline + arm x time + (1 | subject) +
    (0 + [arm = group arm] | therapy group) - the partially nested design of Roberts & Roberts
    (2005) and Baldwin et al. (2011); the same model without the group term for comparison.

    Parameters
    ----------
    trial : Trial
    group_arm : str, optional
        The arm treated in groups (default: the one arm whose patients have a ``group_col``).
    reference : str, optional
    group_col : str

    Returns
    -------
    table : DataFrame
        ``model, term, estimate, se, df, t, p, ci_low, ci_high`` for the group arm's effect and
        its time interaction, with and without the therapy-group term.
    icc : DataFrame
        ``arm, var_group, var_subject, var_residual, icc, singular, n_groups`` - the intra-group
        correlation of two patients of one therapy group at one visit, var_group / (var_group +
        var_subject + var_residual); ``singular`` when the group variance is at zero.
    fits : tuple of LMMResults
        (nested, not nested).
    """
    if reference is not None and reference != trial.reference:
        trial = trial.with_reference(reference)
    trial.require_analysable()
    d = trial.derived
    if group_col not in d.columns:
        raise LMMFitError(f"the data have no {group_col!r} column: no therapy groups to model")
    group_arm = group_arm or group_therapy_arm(trial, group_col)
    if group_arm is None or group_arm not in trial.arms:
        raise LMMFitError(f"no arm has therapy groups in column {group_col!r}")
    if group_arm == trial.reference:
        raise LMMFitError(f"the group arm {group_arm!r} is the reference arm")
    post = d.loc[d["score"].notna()].reset_index(drop=True)
    post["in_group_arm"] = (post["arm"] == group_arm).astype(float)
    grp = (
        post[group_col]
        .astype(str)
        .where(post["arm"] == group_arm, "self_" + post["subject_id"].astype(str))
    )
    post["group_id"] = grp
    arms = [a for a in trial.arms if (post["arm"] == a).any()]
    X = _arm_time_design(post, arms, trial.reference, False, extra=("baseline",))
    subj = RandomTerm("subject_id", ("1",), name="subject")
    grp_term = RandomTerm("group_id", ("1",), by="in_group_arm", name="therapy_group")
    nested = fit_lmm(post, "score", X, [subj, grp_term])
    plain = fit_lmm(post, "score", X, [subj])
    rows = []
    for label, fit in (("with therapy-group effect", nested), ("ignoring therapy groups", plain)):
        fe = fit.fixed_effects().set_index("term")
        for term in (f"arm[{group_arm}]", f"arm[{group_arm}]:time"):
            rows.append(dict(model=label, term=term, **fe.loc[term].to_dict()))
    vg = float(nested.variance_components["therapy_group"].iloc[0, 0])
    vs = float(nested.variance_components["subject"].iloc[0, 0])
    vr = float(nested.variance_components["residual"])
    n_groups = int(post.loc[post["arm"] == group_arm, group_col].nunique())
    icc = pd.DataFrame([dict(arm=group_arm, var_group=vg, var_subject=vs, var_residual=vr,
                             icc=vg / (vg + vs + vr), singular=bool(nested.singular),
                             n_groups=n_groups)])  # fmt: skip
    return pd.DataFrame(rows), icc, (nested, plain)
