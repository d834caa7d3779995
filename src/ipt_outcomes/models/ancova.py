"""ANCOVA of the score at a visit on baseline and arm, with HC3 robust standard errors."""

from __future__ import annotations

import pandas as pd

from ..data.trial import Trial
from .inference import CONTRAST_COLUMNS, t_summary

__all__ = ["ancova_by_visit"]


def ancova_by_visit(
    trial: Trial, visits=None, *, reference: str | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """ANCOVA of the score at each visit on baseline and arm, with HC3 robust standard errors.

    Returns
    -------
    DataFrame
        ``arm, reference, visit, estimate, se, df, t, p, ci_low, ci_high, n`` - the adjusted
        difference arm - reference, HC3 (MacKinnon & White 1985) SE, t on the residual df.
    """
    import statsmodels.api as sm

    if reference is not None and reference != trial.reference:
        trial = trial.with_reference(reference)
    trial.require_analysable()
    reference = trial.reference
    visits = list(visits) if visits is not None else list(trial.key_visits)
    d = trial.derived
    arms = list(trial.arms)
    rows = []
    for v in visits:
        sub = d[(d["visit"] == v) & d["score"].notna()]
        others = [a for a in arms if a != reference and (sub["arm"] == a).any()]
        X = pd.DataFrame({"const": 1.0, "baseline": sub["baseline"].astype(float)}, index=sub.index)
        for a in others:
            X[a] = (sub["arm"] == a).astype(float)
        fit = sm.OLS(sub["score"].astype(float), X).fit(cov_type="HC3")
        for a in others:
            est, se = float(fit.params[a]), float(fit.bse[a])
            rows.append(
                dict(
                    arm=a,
                    reference=reference,
                    visit=v,
                    **t_summary(est, se, fit.df_resid, alpha),
                    n=len(sub),
                )
            )
    return pd.DataFrame(rows, columns=[*CONTRAST_COLUMNS, "n"])
