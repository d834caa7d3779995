"""Subgroup analyses: the endpoint's model with the arm-by-subgroup interaction.

The subgroup column's levels split every arm; the endpoint's model is fitted once with one cell
per arm and level (the arm-by-visit-by-subgroup interaction of an MMRM, the arm-by-subgroup
interaction of an ANCOVA or a logistic model). Reported: the difference of each arm against the
reference within each level at each of the endpoint's visits, and the joint test that these
differences are equal across levels - (arms - 1) x (levels - 1) numerator degrees of freedom;
Kenward-Roger F for an MMRM (R ``mmrm::df_md``), the usual F for an ANCOVA (R ``anova`` of the
nested models), the likelihood-ratio chi-square for response (R ``anova(glm, test = "LRT")``).
Subgroup analyses are exploratory: every p is nominal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..exceptions import IptOutcomesError
from ..models.inference import t_summary
from .analyses import (
    OUTCOME,
    Result,
    _ancova_frame,
    _quiet,
    _with_covariates,
    split_arms,
)
from .intercurrent import without_post_event_scores

__all__ = ["run_subgroup"]

SEP = "\x1f"  # joins arm and level into one cell code (never in a label)
CONTRAST_COLUMNS = ["subgroup", "level", "arm", "reference", "visit", "estimate", "se", "df",
                    "t", "p", "ci_low", "ci_high", "n"]  # fmt: skip
INTERACTION_COLUMNS = ["subgroup", "visit", "num_df", "den_df", "f", "p", "test"]


def _levels(trial, column: str) -> pd.Series:
    from .analyses import _subject_covariates

    lev = _subject_covariates(trial, [column], numbers=False)[column]  # levels as written
    if lev.isna().any():
        missing = list(lev.index[lev.isna()][:5])
        raise IptOutcomesError(
            f"subgroup column {column!r} is empty for {int(lev.isna().sum())} subjects with a "
            f"baseline (e.g. {', '.join(map(str, missing))}); every analysed subject needs a level"
        )
    lev = lev.astype(str)
    if lev.nunique() < 2:
        raise IptOutcomesError(f"subgroup column {column!r} has one level only: nothing to compare")
    if lev.nunique() > 20:
        raise IptOutcomesError(
            f"subgroup column {column!r} has {lev.nunique()} levels; a subgroup analysis needs a "
            "categorical column with a few levels"
        )
    return lev


def _cells(arms, levels) -> list[str]:
    return [f"{a}{SEP}{lev}" for lev in levels for a in arms]


def _interaction_rows(arms, ref, levels):
    """(A, l) pairs of the interaction contrasts: (A,l) - (ref,l) - (A,l0) + (ref,l0)."""
    return [(a, lev) for lev in levels[1:] for a in arms if a != ref]


def _mmrm(ep, trial, column, levels, alpha):
    from ..models.mmrm import fit_mmrm, mmrm_data

    extra = [c for c in ep.covariates if c not in ("baseline", column)]
    frame = mmrm_data(trial)
    if ep.variable == "score":
        frame = frame.assign(change=frame["change"] + frame["baseline"])
    frame = _with_covariates(frame, trial, extra)
    lev = frame["subject_id"].map(levels)
    frame = frame.assign(arm=frame["arm"].astype(str) + SEP + lev)
    arms = [a for a in trial.arms]
    levs = sorted(levels.unique())
    cells = [c for c in _cells(arms, levs) if c in set(frame["arm"])]
    ref_cell = f"{trial.reference}{SEP}{levs[0]}"
    res = _quiet(fit_mmrm, frame, reference=ref_cell, arms=cells, covariates=extra, alpha=alpha)
    d = res.design
    rows, tests = [], []
    n = frame.groupby(["arm", "visit"])["subject_id"].nunique()
    for v in ep.visits:
        for level in levs:
            for a in arms:
                if a == trial.reference:
                    continue
                ca, cr = f"{a}{SEP}{level}", f"{trial.reference}{SEP}{level}"
                if ca not in cells or cr not in cells:
                    continue
                r = res.estimate(d.grid_row(ca, v) - d.grid_row(cr, v))
                rows.append(dict(subgroup=column, level=level, arm=a, reference=trial.reference,
                                 visit=v, **r, n=int(n.get((ca, v), 0) + n.get((cr, v), 0))))  # fmt: skip
        L = []
        for a, level in _interaction_rows(arms, trial.reference, levs):
            ca, cr = f"{a}{SEP}{level}", f"{trial.reference}{SEP}{level}"
            a0, r0 = f"{a}{SEP}{levs[0]}", f"{trial.reference}{SEP}{levs[0]}"
            if all(c in cells for c in (ca, cr, a0, r0)):
                L.append(d.grid_row(ca, v) - d.grid_row(cr, v) - d.grid_row(a0, v)
                         + d.grid_row(r0, v))  # fmt: skip
        if L:
            f = res.f_test(np.array(L))
            tests.append(dict(subgroup=column, visit=v, num_df=f["num_df"], den_df=f["den_df"],
                              f=f["f"], p=f["p"], test=f"{res.df_method} F"))  # fmt: skip
    return rows, tests


def _ancova(ep, trial, column, levels, alpha):
    from ..models.ancova import fit_ancova

    outcome = "change" if ep.variable == "change" else "score"
    covs = [c for c in ep.covariates if c != column]
    arms = list(trial.arms)
    levs = sorted(levels.unique())
    rows, tests = [], []
    for v in ep.visits:
        frame = _ancova_frame(ep, trial, v)
        frame = frame.assign(arm=frame["arm"].astype(str) + SEP + frame["subject_id"].map(levels))
        cells = [c for c in _cells(arms, levs) if c in set(frame["arm"])]
        ref_cell = f"{trial.reference}{SEP}{levs[0]}"
        got = fit_ancova(frame, outcome, reference=ref_cell, arms=cells, covariates=covs,
                         variance=ep.variance or "model", alpha=alpha)  # fmt: skip
        m = got["model"]
        beta, cov, df = m["beta"], m["cov"], m["df"]
        grid = m["design"].grid({"arm": cells})

        def coef(cell, grid=grid):
            return grid[(cell,)]

        counts = frame["arm"].value_counts()
        for level in levs:
            for a in arms:
                ca, cr = f"{a}{SEP}{level}", f"{trial.reference}{SEP}{level}"
                if a == trial.reference or ca not in cells or cr not in cells:
                    continue
                x = coef(ca) - coef(cr)
                r = t_summary(float(x @ beta), float(np.sqrt(x @ cov @ x)), df, alpha)
                rows.append(dict(subgroup=column, level=level, arm=a, reference=trial.reference,
                                 visit=v, **r, n=int(counts.get(ca, 0) + counts.get(cr, 0))))  # fmt: skip
        L = []
        for a, level in _interaction_rows(arms, trial.reference, levs):
            cs = [f"{a}{SEP}{level}", f"{trial.reference}{SEP}{level}", f"{a}{SEP}{levs[0]}",
                  f"{trial.reference}{SEP}{levs[0]}"]  # fmt: skip
            if all(c in cells for c in cs):
                L.append(coef(cs[0]) - coef(cs[1]) - coef(cs[2]) + coef(cs[3]))
        if L:
            L = np.array(L)
            lb = L @ beta
            q = L.shape[0]
            fval = float(lb @ np.linalg.solve(L @ cov @ L.T, lb)) / q
            tests.append(dict(subgroup=column, visit=v, num_df=q, den_df=df, f=fval,
                              p=float(stats.f.sf(fval, q, df)), test="F"))  # fmt: skip
    return rows, tests


def _logistic_loglik(X, y) -> float:
    import statsmodels.api as sm

    fit = sm.GLM(y, X, family=sm.families.Binomial()).fit()
    return float(fit.llf)


def _response(ep, trial, column, levels, alpha):
    from ..stats.response import binary_outcomes, compare_with_reference

    outcome = OUTCOME.get(ep.variable)
    if outcome is None:
        raise IptOutcomesError(f"subgroup analysis of {ep.variable} is not offered")
    out = binary_outcomes(trial, ep.missing or "observed", visits=list(ep.visits))
    out = out.assign(level=out["subject_id"].map(levels))
    arms = list(trial.arms)
    levs = sorted(levels.unique())
    rows, tests = [], []
    for level in levs:
        c = compare_with_reference(out[out["level"] == level], trial.reference, outcome,
                                   alpha=alpha, arms=arms, visits=list(ep.visits))  # fmt: skip
        for r in c.to_dict("records"):
            rows.append(dict(subgroup=column, level=level, arm=r["arm"], reference=r["reference"],
                             visit=r["visit"], estimate=r["risk_difference"], se=np.nan,
                             df=np.nan, t=np.nan, p=r["p_fisher"], ci_low=r["rd_ci_low"],
                             ci_high=r["rd_ci_high"], n=r["n"] + r["n_reference"]))  # fmt: skip
    for v in ep.visits:
        d = out[(out["visit"] == v) & out[outcome].notna()]
        y = d[outcome].astype(float).to_numpy()
        a = pd.Categorical(d["arm"], categories=arms)
        lv = pd.Categorical(d["level"], categories=levs)
        A = pd.get_dummies(a, drop_first=True).to_numpy(float)
        B = pd.get_dummies(lv, drop_first=True).to_numpy(float)
        inter = np.column_stack([A[:, i] * B[:, j] for i in range(A.shape[1])
                                 for j in range(B.shape[1])])  # fmt: skip
        X0 = np.column_stack([np.ones(len(d)), A, B])
        X1 = np.column_stack([X0, inter])
        try:
            lr = 2 * (_logistic_loglik(X1, y) - _logistic_loglik(X0, y))
        except (np.linalg.LinAlgError, ValueError):
            continue
        q = inter.shape[1]
        tests.append(dict(subgroup=column, visit=v, num_df=q, den_df=np.nan, f=lr,
                          p=float(stats.chi2.sf(lr, q)), test="likelihood-ratio chi-square"))  # fmt: skip
    return rows, tests


def run_subgroup(g, ep, trial, events, *, alpha: float) -> Result:
    """The subgroup analysis ``g`` of endpoint ``ep`` (trial restricted to its population)."""
    base = without_post_event_scores(trial, events)
    obs, _ = split_arms(base)
    tr = obs if obs is not None else base
    levels = _levels(tr, g.column)
    if ep.analysis == "mmrm":
        rows, tests = _mmrm(ep, tr, g.column, levels, alpha)
    elif ep.analysis == "ancova":
        rows, tests = _ancova(ep, tr, g.column, levels, alpha)
    else:
        rows, tests = _response(ep, tr, g.column, levels, alpha)
    contrasts = pd.DataFrame(rows, columns=CONTRAST_COLUMNS)
    inter = pd.DataFrame(tests, columns=INTERACTION_COLUMNS)
    n = contrasts.groupby(["arm", "visit"])["n"].sum().reset_index()
    return Result(
        id=g.id, kind="subgroup", endpoint=ep, analysis="subgroup", population=ep.population,
        estimand=ep.estimand or "", label=g.label or g.column,
        tables={"contrasts": contrasts, "interaction": inter}, n=n[["arm", "visit", "n"]],
        settings={"column": g.column},
    )  # fmt: skip
