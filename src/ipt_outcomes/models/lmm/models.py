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

import pandas as pd

from ...data.trial import Trial
from .core import LMMFitError, LMMResults, RandomTerm, fit_lmm

__all__ = [
    "growth_model",
    "fit_growth_model",
    "lmm_fit_table",
    "partially_nested_model",
    "group_therapy_arm",
]


def _arm_time_design(data, arms, reference, quadratic, extra=()):
    """Treatment-coded arm x time design (lme4's ``arm * time``), one named column each, built
    by the package's one design-matrix builder and named as lme4 names them."""
    from ..design import ModelDesign

    others = [a for a in arms if a != reference]
    frame = pd.DataFrame({"time": data["time"].to_numpy(float),
                          "arm": data["arm"].to_numpy(dtype=object)})  # fmt: skip
    for i, e in enumerate(extra):
        frame[f"x{i}"] = data[e].to_numpy(float)
    powers = ["time", "I(time ** 2)"] if quadratic else ["time"]
    xs = [f"x{i}" for i in range(len(extra))]
    rhs = " + ".join([*powers, *xs, "arm", *(f"arm:{t}" for t in powers)])
    design = ModelDesign(rhs, frame, levels={"arm": [reference, *others]})
    cols = design.term_columns
    label = {"time": "time", "I(time ** 2)": "time^2"}
    names = ["(Intercept)", *(label[t] for t in powers), *extra, *(f"arm[{a}]" for a in others)]
    order = [*cols["1"], *(cols[t][0] for t in powers), *(cols[x][0] for x in xs), *cols["arm"]]
    for k, a in enumerate(others):  # each arm's time terms together, as lme4 orders them
        for t in powers:
            names.append(f"arm[{a}]:{label[t]}")
            order.append(cols[f"arm:{t}"][k])
    return pd.DataFrame(design.matrix[:, order], index=data.index, columns=names)


def growth_model(
    trial: Trial,
    *,
    method: str = "reml",
    random_slope: bool = False,
    quadratic: bool = False,
    reference: str | None = None,
    df: str = "satterthwaite",
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
    df : {"satterthwaite", "kenward-roger"}
        Degrees of freedom of the fixed effects: lmerTest's Satterthwaite or pbkrtest's
        Kenward-Roger (adjusted SE; REML only).

    Returns
    -------
    LMMResults

    Notes
    -----
    The model of lme4's ``lmer(score ~ arm * time + (1 | subject))`` (``(time | subject)``
    with a random slope), treatment coding against the reference arm, at the global (RE)ML
    optimum (see :func:`fit_lmm`). Checked against lme4 / lmerTest / pbkrtest on 126 simulated
    trials and five real ones (``tests/reference/lmm_battery``).
    """
    if method not in ("reml", "ml"):
        raise ValueError(f"method must be 'reml' or 'ml', got {method!r}")
    if reference is not None and reference != trial.reference:
        trial = trial.with_reference(reference)
    trial.require_analysable()
    return fit_growth_model(
        trial.scores,
        arms=list(trial.arms),
        reference=trial.reference,
        method=method,
        random_slope=random_slope,
        quadratic=quadratic,
        df=df,
    )


def fit_growth_model(
    data: pd.DataFrame,
    *,
    arms=None,
    reference: str = "TAU",
    method: str = "reml",
    random_slope: bool = False,
    quadratic: bool = False,
    df: str = "satterthwaite",
) -> LMMResults:
    """The growth model of :func:`growth_model` on a long frame (no Trial needed).

    Parameters
    ----------
    data : DataFrame
        ``subject_id, arm, time, score``, one row per subject and assessment (baseline
        included); rows with a missing score are left out.
    arms : sequence of str, optional
        Arm codes in display order (default: sorted, the reference first).
    reference : str
    method, random_slope, quadratic, df
        As :func:`growth_model`.

    Returns
    -------
    LMMResults

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> rows = [(f"s{i}", "TAU" if i % 2 else "CBT", t, 20 - (1 + i % 2) * t + rng.normal(0, 2))
    ...         for i in range(30) for t in (0, 1, 2, 3)]
    >>> d = pd.DataFrame(rows, columns=["subject_id", "arm", "time", "score"])
    >>> fit = fit_growth_model(d, method="ml")
    >>> list(fit.beta.index)
    ['(Intercept)', 'time', 'arm[CBT]', 'arm[CBT]:time']
    """
    d = data.loc[data["score"].notna()].reset_index(drop=True)
    present = list(pd.unique(d["arm"]))
    if reference not in present:
        raise LMMFitError(f"reference arm {reference!r} has no scores (arms: {present})")
    arms = [a for a in (arms if arms is not None else sorted(present)) if a in present]
    arms = [reference] + [a for a in arms if a != reference]
    X = _arm_time_design(d, arms, reference, quadratic)
    term = RandomTerm("subject_id", ("1", "time") if random_slope else ("1",), name="subject")
    return fit_lmm(d, "score", X, [term], method=method, df=df)


def lmm_fit_table(res: LMMResults, random_slope: bool | None = None) -> pd.DataFrame:
    """SPEC ``lmm_fit.csv`` of a fit: see :meth:`LMMResults.fit_table` for the columns.

    ``random_slope`` (optional) must agree with the fit; it is kept for callers that pass it.
    """
    if random_slope is not None and bool(random_slope) != res.random_slope:
        raise ValueError(
            f"random_slope={random_slope} but the fit has {'a' if res.random_slope else 'no'} "
            "random slope"
        )
    return res.fit_table()


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
    df: str = "satterthwaite",
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
    df : {"satterthwaite", "kenward-roger"}

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
    nested = fit_lmm(post, "score", X, [subj, grp_term], df=df)
    plain = fit_lmm(post, "score", X, [subj], df=df)
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
