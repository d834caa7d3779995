"""The data an MMRM formula names: the analysed rows, the visit factor (numbers become levels
in numeric order), the arm factor (the reference first), covariance groups, coordinates and
weights, checked with messages naming the column and subject; and the SPEC's default model as a
formula (:func:`default_formula`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...exceptions import IptOutcomesError
from ..design import ModelDesign
from .formula import MMRMFormula, parse_formula

__all__ = ["default_formula", "mmrm_data"]


class MMRMFitError(IptOutcomesError):
    """The model cannot be fitted (singular design, no convergence with any structure)."""


def mmrm_data(trial, covariates=()) -> pd.DataFrame:
    """Rows an MMRM analyses: observed post-baseline changes of subjects with a baseline.

    Parameters
    ----------
    trial : Trial
    covariates : sequence of str
        Extra columns to carry (e.g. ``antidepressant``); rows missing any of them are dropped.

    Returns
    -------
    DataFrame
        ``subject_id, arm, visit, change, baseline, time`` and the covariates, one row per
        observed post-baseline score of a subject with a baseline.
    """
    d = trial.derived
    d = d[d["score"].notna()]
    reserved = {"subject_id", "arm", "visit", "time", "visit_label", "score", "change", "baseline"}
    bad = [c for c in covariates if c in reserved]
    if bad:
        raise IptOutcomesError(
            f"covariate {bad[0]!r} is already in the model (arm, visit and baseline are); "
            "name another column"
        )
    twice = sorted({c for c in covariates if list(covariates).count(c) > 1})
    if twice:
        raise IptOutcomesError(f"covariate {twice[0]!r} is named more than once")
    missing = [c for c in covariates if c not in d.columns]
    if missing:
        raise IptOutcomesError(f"covariate column(s) not in the data: {', '.join(missing)}")
    empty = [c for c in covariates if d[c].isna().all()]
    if empty:
        raise IptOutcomesError(f"covariate column {empty[0]!r} is empty for every analysed row")
    cols = ["subject_id", "arm", "visit", "change", "baseline", *covariates]
    if "time" in d.columns:
        cols.append("time")
    from ...data.covariates import numeric_or_as_is, present

    d = d[cols]
    for c in covariates:  # a blank (or NA) covariate is missing, as in R
        d = d[present(d[c])]
    out = d.dropna(subset=["change", "baseline"]).reset_index(drop=True)
    for c in covariates:  # a column of numbers read as text (age) is a numeric covariate
        out[c] = numeric_or_as_is(out[c])
    return out


def default_formula(covariates=(), covariance: str = "us", group_by_arm: bool = False) -> str:
    """The SPEC's default MMRM as an R mmrm formula.

    Examples
    --------
    >>> default_formula(["sex"])
    'change ~ visit + arm:visit + baseline:visit + sex + us(visit | subject_id)'
    >>> default_formula(covariance="sp_exp")
    'change ~ visit + arm:visit + baseline:visit + sp_exp(time | subject_id)'
    """
    who = "arm / subject_id" if group_by_arm else "subject_id"
    where = "time" if covariance == "sp_exp" else "visit"
    extra = "".join(f" + {_quote(c)}" for c in covariates)
    return f"change ~ visit + arm:visit + baseline:visit{extra} + {covariance}({where} | {who})"


def _quote(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][\w.]*", name) else f"`{name}`"


@dataclass
class _Prepared:
    frame: pd.DataFrame
    formula: MMRMFormula
    design: ModelDesign
    y: np.ndarray
    subject: np.ndarray
    visit_idx: np.ndarray
    visits: list  # visit values (as in the data), in order
    group_idx: np.ndarray
    groups: list
    coords: np.ndarray | None
    weights: np.ndarray | None
    arm: str | None
    arms: list
    reference: str | None
    by: str | None  # the visit factor of the LS means
    by_levels: list
    by_values: list


def _visit_label(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v)


def _resolve_columns(formula: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Columns a formula names in another case (``SEX`` for ``sex``) are matched when the match
    is unique; the frame gains a copy under the formula's name."""
    lower = {}
    for c in frame.columns:
        lower.setdefault(str(c).lower(), []).append(c)
    add = {}
    for name in set(re.findall(r"[A-Za-z_.][\w.]*", formula)):
        if name in frame.columns or name in add:
            continue
        cands = lower.get(name.lower(), [])
        if len(cands) == 1:
            add[name] = frame[cands[0]]
    return frame.assign(**add) if add else frame


def _prepare(formula, data, *, reference, arm, arms, visit, weights) -> _Prepared:
    f = parse_formula(formula) if isinstance(formula, str) else formula
    frame = _resolve_columns(str(formula), data)
    cov = f.covariance
    needed = {f.response: "response", cov.subject: "subject", **dict.fromkeys(cov.visit, "visit")}
    if cov.group:
        needed[cov.group] = "covariance group"
    for col, role in needed.items():
        if col not in frame.columns:
            raise IptOutcomesError(
                f"the {role} column {col!r} of the formula is not in the data "
                f"(columns: {', '.join(map(str, frame.columns[:20]))})"
            )
    w_col = None
    if weights is not None:
        if isinstance(weights, str):
            if weights not in frame.columns:
                raise IptOutcomesError(f"the weights column {weights!r} is not in the data")
            w_col = weights
        else:
            w = np.asarray(weights, float)
            if w.shape != (len(frame),):
                raise ValueError("weights must have one value per row of data")
            frame = frame.assign(__weights__=w)
            w_col = "__weights__"
    # the variables of the fixed effects (formulaic names them), to drop incomplete rows (R's
    # na.omit over the model frame)
    probe = ModelDesign.__new__(ModelDesign)
    import formulaic

    probe._formula = formulaic.Formula(f.rhs)
    fixed_vars = probe._variables(frame)
    used = list(dict.fromkeys([f.response, cov.subject, *cov.visit, *fixed_vars]))
    if cov.group:
        used.append(cov.group)
    if w_col:
        used.append(w_col)
    frame = frame.dropna(subset=used).reset_index(drop=True)
    if not len(frame):
        raise IptOutcomesError("no row of the data has every variable of the formula")
    if w_col:
        w = pd.to_numeric(frame[w_col], errors="coerce").to_numpy(float)
        bad = ~(np.isfinite(w) & (w > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise IptOutcomesError(
                f"weights must be positive numbers: {frame[w_col].iloc[i]!r} for subject "
                f"{frame[cov.subject].iloc[i]!r}"
            )
    y = pd.to_numeric(frame[f.response], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(y)):
        raise IptOutcomesError(f"the response {f.response!r} must be numeric")
    # the visit factor: numbers become levels in numeric order (R mmrm needs a factor)
    spatial = cov.spatial
    levels = {}
    if visit is not None:
        by = visit
    elif not spatial:
        by = cov.visit[0]
    else:  # the LS means of a spatial model: by the visit factor of the fixed effects, if any
        by = "visit" if "visit" in fixed_vars else None
    if by is not None and by not in frame.columns:
        raise IptOutcomesError(f"the visit column {by!r} is not in the data")
    by_values, by_levels = [], []
    if not spatial:
        vcol = cov.visit[0]
        vals = list(pd.unique(frame[vcol]))
        vals = sorted(vals, key=lambda v: (0, v, "") if isinstance(v, (int, float, np.number))
                      else (1, 0, str(v)))  # fmt: skip
        labels = [_visit_label(v) for v in vals]
        frame[vcol] = frame[vcol].map(dict(zip(vals, labels, strict=True)))
        levels[vcol] = labels
        visit_idx = pd.Categorical(frame[vcol], categories=labels).codes.astype(int)
        visits = vals
        coords = None
    else:
        coords = frame[list(cov.visit)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        if not np.all(np.isfinite(coords)):
            raise IptOutcomesError(
                f"sp_exp needs numeric coordinates: {', '.join(cov.visit)} must be numbers"
            )
        visit_idx = np.zeros(len(frame), int)
        visits = []
    if by is not None:
        if by in levels:
            by_levels, by_values = levels[by], visits
        else:
            vals = sorted(pd.unique(frame[by]), key=lambda v: (0, v, "")
                          if isinstance(v, (int, float, np.number)) else (1, 0, str(v)))  # fmt: skip
            by_values = vals
            by_levels = [_visit_label(v) for v in vals]
            frame[by] = frame[by].map(dict(zip(vals, by_levels, strict=True)))
            levels[by] = by_levels
    # the arm factor: the reference first
    arm_present = arm is not None and arm in frame.columns
    if arm_present:
        present = list(pd.unique(frame[arm]))
        order = [
            a for a in (arms if arms is not None else sorted(present, key=str)) if a in present
        ]
        order += [a for a in sorted(present, key=str) if a not in order]
        if reference is None:
            reference = order[0]
        if reference not in order:
            raise MMRMFitError(
                f"reference arm {reference!r} has no analysed rows "
                f"(arms with some: {', '.join(map(str, order)) or 'none'})"
            )
        order = [reference, *[a for a in order if a != reference]]
        # the factor's levels as R orders them (the reference, then sorted): LS means and
        # contrasts do not depend on it, but the basis of a Type III hypothesis does, and with
        # it the Satterthwaite df of an F test of several rows
        levels[arm] = [reference, *sorted((a for a in order if a != reference), key=str)]
        arms_out = order if arms is None else [a for a in arms if a in order]
    else:
        arms_out = []
    design = ModelDesign(f.rhs, frame, levels=levels)
    subject = pd.factorize(frame[cov.subject])[0]
    if cov.group:
        gvals = list(pd.unique(frame[cov.group]))
        if cov.group == arm and arm_present:
            groups = [a for a in arms_out if a in gvals] + [g for g in gvals if g not in arms_out]
        else:
            groups = sorted(gvals, key=str)
        group_idx = pd.Categorical(frame[cov.group], categories=groups).codes.astype(int)
        per_subject = pd.Series(group_idx).groupby(subject).nunique()
        if (per_subject > 1).any():
            who = frame[cov.subject].iloc[int(np.flatnonzero(subject == per_subject.idxmax())[0])]
            raise IptOutcomesError(
                f"subject {who!r} has rows in more than one {cov.group!r} group; a covariance "
                "group must be constant within subject"
            )
    else:
        groups, group_idx = ["all"], np.zeros(len(frame), int)
    if not spatial:
        dup = pd.DataFrame({"s": subject, "v": visit_idx}).duplicated()
        if dup.any():
            i = int(np.flatnonzero(dup.to_numpy())[0])
            raise IptOutcomesError(
                f"subject {frame[cov.subject].iloc[i]!r} has more than one row at "
                f"{cov.visit[0]} {frame[cov.visit[0]].iloc[i]}"
            )
    return _Prepared(
        frame=frame, formula=f, design=design, y=y, subject=subject, visit_idx=visit_idx,
        visits=visits, group_idx=group_idx, groups=groups, coords=coords,
        weights=frame[w_col].to_numpy(float) if w_col else None,
        arm=arm if arm_present else None, arms=arms_out, reference=reference if arm_present else None,
        by=by, by_levels=by_levels, by_values=by_values,
    )  # fmt: skip
