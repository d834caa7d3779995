"""Descriptive summaries of a trial: who was assessed when, observed response, scores by visit.

``ipt-outcomes validate`` prints the first two; the report's descriptive tables use the third.
Interval estimates and comparisons of response belong to :mod:`ipt_outcomes.stats.response`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .trial import Trial

__all__ = ["assessment_counts", "observed_response", "descriptive_by_visit"]


def assessment_counts(trial: Trial) -> pd.DataFrame:
    """Subjects per arm and observed scores per arm and visit.

    Returns
    -------
    DataFrame
        ``arm, visit, randomised, observed`` - one row per arm and visit (baseline first), arms
        in design order; ``randomised`` is the number of distinct subjects of the arm in the
        file, ``observed`` the number with a score at that visit.
    """
    data = trial.scores
    randomised = data.groupby("arm")["subject_id"].nunique()
    obs = data[data["score"].notna()].groupby(["arm", "visit"])["subject_id"].nunique()
    rows = [
        (arm, float(v), int(randomised.get(arm, 0)), int(obs.get((arm, v), 0)))
        for arm in trial.arms
        for v in trial.visits
    ]
    return pd.DataFrame(rows, columns=["arm", "visit", "randomised", "observed"])


def observed_response(trial: Trial, visits=None) -> pd.DataFrame:
    """Observed-case response counts (subjects with a baseline and a score at the visit).

    Parameters
    ----------
    trial : Trial
    visits : sequence of float, optional
        Visits to report (default: the key visits).

    Returns
    -------
    DataFrame
        ``arm, visit, n, responders, percent`` with ``percent`` = 100 * responders / n.
    """
    derived = trial.derived
    visits = list(trial.key_visits) if visits is None else [float(v) for v in visits]
    obs = derived[derived["score"].notna() & derived["visit"].isin(visits)]
    counts = obs.groupby(["arm", "visit"])["responder"].agg(["size", "sum"])
    rows = []
    for arm in trial.arms:
        for v in visits:
            n, k = (int(x) for x in counts.loc[(arm, v)]) if (arm, v) in counts.index else (0, 0)
            rows.append((arm, float(v), n, k, 100.0 * k / n if n else float("nan")))
    return pd.DataFrame(rows, columns=["arm", "visit", "n", "responders", "percent"])


def descriptive_by_visit(trial: Trial, variable: str = "score") -> pd.DataFrame:
    """n, mean, SD, median, quartiles and range per arm and visit.

    Parameters
    ----------
    trial : Trial
    variable : {"score", "change"}
        The score at every visit (baseline included), or the change from baseline at the
        post-baseline visits.

    Returns
    -------
    DataFrame
        ``arm, visit, n, mean, sd, median, q1, q3, min, max`` (quartiles as R's default type 7).
    """
    if variable not in ("score", "change"):
        raise ValueError(f"variable must be 'score' or 'change', got {variable!r}")
    if variable == "score":
        d, visits = trial.scores, trial.visits
    else:
        d, visits = trial.derived, trial.post_visits
    d = d.loc[d[variable].notna()]
    g = d.groupby(["arm", "visit"])[variable]
    stats = pd.DataFrame(
        {
            "n": g.size(),
            "mean": g.mean(),
            "sd": g.std(ddof=1),
            "median": g.median(),
            "q1": g.quantile(0.25),
            "q3": g.quantile(0.75),
            "min": g.min(),
            "max": g.max(),
        }
    )
    idx = pd.MultiIndex.from_tuples(
        [(a, float(v)) for a in trial.arms for v in visits], names=["arm", "visit"]
    )
    out = stats.reindex(idx).reset_index()
    out["n"] = out["n"].fillna(0).astype(int)
    return out.replace({np.inf: np.nan})
