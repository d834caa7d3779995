"""Standardised effect sizes: Hedges' g of the observed score with its confidence interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..data.trial import Trial

__all__ = ["hedges_g"]


def hedges_g(
    trial: Trial, visits=None, *, reference: str | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """Hedges' g of the observed score, each arm vs the reference, with its confidence interval.

    g = J (mean_arm - mean_ref) / s_pooled, J = 1 - 3 / (4 (n1 + n2) - 9); Var(g) =
    (n1 + n2) / (n1 n2) + g^2 / (2 (n1 + n2)) (Hedges & Olkin 1985); normal-theory interval.
    Unadjusted (observed scores, no covariates); on a symptom scale a negative g favours the arm.

    Returns
    -------
    DataFrame
        ``arm, reference, visit, g, se, ci_low, ci_high, n, n_reference``.
    """
    if reference is not None and reference != trial.reference:
        trial = trial.with_reference(reference)
    reference = trial.reference
    visits = list(visits) if visits is not None else list(trial.key_visits)
    d = trial.derived
    arms = list(trial.arms)
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for v in visits:
        sub = d[(d["visit"] == v) & d["score"].notna()]
        x2 = sub.loc[sub["arm"] == reference, "score"].astype(float)
        for a in arms:
            if a == reference:
                continue
            x1 = sub.loc[sub["arm"] == a, "score"].astype(float)
            n1, n2 = len(x1), len(x2)
            if n1 < 2 or n2 < 2:
                rows.append(
                    dict(
                        arm=a,
                        reference=reference,
                        visit=v,
                        g=np.nan,
                        se=np.nan,
                        ci_low=np.nan,
                        ci_high=np.nan,
                        n=n1,
                        n_reference=n2,
                    )
                )
                continue
            sp = math.sqrt(((n1 - 1) * x1.var() + (n2 - 1) * x2.var()) / (n1 + n2 - 2))
            g = (1 - 3 / (4 * (n1 + n2) - 9)) * (x1.mean() - x2.mean()) / sp
            se = math.sqrt((n1 + n2) / (n1 * n2) + g**2 / (2 * (n1 + n2)))
            rows.append(
                dict(
                    arm=a,
                    reference=reference,
                    visit=v,
                    g=g,
                    se=se,
                    ci_low=g - z * se,
                    ci_high=g + z * se,
                    n=n1,
                    n_reference=n2,
                )
            )
    return pd.DataFrame(
        rows,
        columns=["arm", "reference", "visit", "g", "se", "ci_low", "ci_high", "n", "n_reference"],
    )
