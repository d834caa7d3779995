"""Descriptive summaries of a validated score table: who was assessed when, and observed response.

These are the tables ``ipt-outcomes validate`` prints. Interval estimates and comparisons of
response belong to :mod:`ipt_outcomes.response`.
"""

from __future__ import annotations

import pandas as pd

from .derive import derive_outcomes
from .validation import ValidatedScores

__all__ = ["assessment_counts", "observed_response"]


def assessment_counts(scores: ValidatedScores) -> pd.DataFrame:
    """Subjects per arm and observed scores per arm and visit.

    Returns
    -------
    DataFrame
        ``arm, visit, randomised, observed`` - one row per arm and visit, arms in design order;
        ``randomised`` is the number of distinct subjects of the arm in the file, ``observed``
        the number with a non-missing score at that visit.
    """
    data = scores.data
    arms = scores.design.arm_order(data["arm"].unique())
    randomised = data.groupby("arm")["subject_id"].nunique()
    obs = data[data["hamd17"].notna()].groupby(["arm", "visit"])["subject_id"].nunique()
    visits = sorted(data["visit"].unique())
    rows = [
        (arm, float(v), int(randomised.get(arm, 0)), int(obs.get((arm, v), 0)))
        for arm in arms
        for v in visits
    ]
    return pd.DataFrame(rows, columns=["arm", "visit", "randomised", "observed"])


def observed_response(scores: ValidatedScores, visits=None) -> pd.DataFrame:
    """Observed-case response counts (subjects with a baseline and a score at the visit).

    Parameters
    ----------
    scores : ValidatedScores
    visits : sequence of float, optional
        Visits to report (default: the design's key visits, else every post-baseline visit).

    Returns
    -------
    DataFrame
        ``arm, visit, n, responders, percent`` with ``percent`` = 100 * responders / n.
    """
    derived = derive_outcomes(scores)
    if visits is None:
        visits = scores.design.key_visits or sorted(derived["visit"].unique())
    obs = derived[derived["hamd17"].notna() & derived["visit"].isin(list(visits))]
    arms = scores.design.arm_order(scores.data["arm"].unique())
    rows = []
    for arm in arms:
        for v in visits:
            cell = obs[(obs["arm"] == arm) & (obs["visit"] == v)]
            n = len(cell)
            k = int(cell["responder"].sum())
            rows.append((arm, float(v), n, k, 100.0 * k / n if n else float("nan")))
    return pd.DataFrame(rows, columns=["arm", "visit", "n", "responders", "percent"])
