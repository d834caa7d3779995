"""Derived quantities: baseline, change, percent improvement, response and remission.

The definitions are the SPEC's and are the same in every analysis:

* percent improvement = (baseline - score) / baseline;
* response = improvement >= 0.50, the boundary counting as response;
* remission = score <= 7.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import DataValidationError
from .design import Instrument
from .schemas import derived_scores_schema
from .validation import Problem

__all__ = ["derive_outcomes", "is_responder", "baseline_scores"]


def is_responder(baseline, score, improvement: float = 0.5):
    """Whether ``(baseline - score) / baseline >= improvement``, exact at the boundary.

    For the default 0.5 the comparison is done as ``2 * score <= baseline``, which is exact for
    whole-number scores; other thresholds compare with a relative tolerance of 1e-12 so that a
    boundary case is never lost to rounding.

    Examples
    --------
    >>> is_responder(20, 10), is_responder(20, 11), is_responder(21, 10)
    (True, False, True)
    """
    b = np.asarray(baseline, dtype=float)
    y = np.asarray(score, dtype=float)
    if improvement == 0.5:
        out = 2.0 * y <= b
    else:
        out = (b - y) >= improvement * b - 1e-12 * np.abs(b)
    return bool(out) if out.ndim == 0 else out


_NUMERIC = ("visit", "time", "score", "baseline", "antidepressant", "age", "cgi_s", "sofas")
_TEXT = ("subject_id", "arm")


def _contract_types(data: pd.DataFrame) -> pd.DataFrame:
    """A plain frame with the contract's numeric columns as float and ids as text."""
    out = data.copy()
    for col in _NUMERIC:
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="raise").astype(float)
    for col in _TEXT:
        if col in out.columns:
            out[col] = out[col].astype(str)
    return out


def baseline_scores(data: pd.DataFrame, baseline_visit: float = 0.0) -> pd.Series:
    """Each subject's baseline score: the ``baseline`` column if there is one, else the score
    at ``baseline_visit`` (subjects without one are absent)."""
    if "baseline" in data.columns:
        b = data.dropna(subset=["baseline"]).groupby("subject_id", sort=False)["baseline"].first()
    else:
        rows = data.loc[(data["visit"] == baseline_visit) & data["score"].notna()]
        b = rows.drop_duplicates("subject_id").set_index("subject_id")["score"]
    return b.astype(float)


def derive_outcomes(
    scores: pd.DataFrame,
    *,
    baseline_visit: float = 0.0,
    instrument: Instrument | None = None,
    source: str = "data",
    validated: bool = False,
) -> pd.DataFrame:
    """Post-baseline rows with baseline, change, percent improvement and flags.

    Parameters
    ----------
    scores : DataFrame
        Long scores with the contract's column names (``subject_id, arm, visit, score``). A
        ``baseline`` column, if present, carries each subject's baseline (then the rows at
        ``baseline_visit``, if any, are the baseline record and are not post-baseline);
        otherwise the baseline is the score at ``baseline_visit``.
    baseline_visit : float
        The visit value of the baseline.
    instrument : Instrument, optional
        Thresholds (response 0.50, remission <= 7 by default) and range.
    source : str
        Named in error messages.
    validated : bool
        The rows come from a table that passed the score-table contract (as in a
        :class:`~ipt_outcomes.data.trial.Trial`): its row-set checks are not repeated.

    Returns
    -------
    DataFrame
        One row per post-baseline assessment (missed ones included, with missing values) of every
        subject that has a baseline, in the input order, with the input columns plus:

        * ``baseline`` - the subject's baseline score;
        * ``change`` - score - baseline (negative = improvement on a symptom scale);
        * ``pct_improvement`` - (baseline - score) / baseline;
        * ``responder`` - improvement >= threshold (nullable boolean, missing with the score);
        * ``remitter`` - score <= remission maximum (nullable boolean).

    Raises
    ------
    DataValidationError
        If a baseline is 0 (percent improvement undefined), naming the subject.

    Notes
    -----
    A :class:`~ipt_outcomes.data.trial.Trial` derives once when it is built
    (``trial.derived``); analyses use that.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"subject_id": ["a", "a", "a"], "arm": "TAU",
    ...                    "visit": [0.0, 3.0, 12.0], "score": [20.0, 10.0, 8.0]})
    >>> derive_outcomes(df)[["visit", "change", "pct_improvement", "responder", "remitter"]]
       visit  change  pct_improvement  responder  remitter
    1    3.0   -10.0              0.5       True     False
    2   12.0   -12.0              0.6       True     False
    """
    data = _contract_types(scores)
    instrument = instrument or Instrument()
    base = baseline_scores(data, baseline_visit)
    post = data.loc[data["visit"] != baseline_visit].copy()
    where = base.index.get_indexer(post["subject_id"])  # -1: no baseline
    values = np.append(base.to_numpy(float), np.nan)  # index -1 picks the NaN
    post["baseline"] = values[where]
    post = post.loc[post["baseline"].notna()]
    zero = post.loc[post["baseline"] == 0]
    if len(zero):
        problems = [
            Problem(
                "baseline_zero",
                "baseline score is 0, so percent improvement is undefined",
                subject=s,
                column="baseline",
            )
            for s in zero["subject_id"].unique()
        ]
        raise DataValidationError(problems, source)
    y = post["score"].astype(float)
    b = post["baseline"].astype(float)
    observed = y.notna().to_numpy()
    post["change"] = y - b
    post["pct_improvement"] = (b - y) / b
    resp = pd.array(
        is_responder(b.to_numpy(), y.to_numpy(), instrument.response_improvement), dtype="boolean"
    )
    remit = pd.array((y <= instrument.remission_max).to_numpy(), dtype="boolean")
    resp[~observed] = pd.NA
    remit[~observed] = pd.NA
    post["responder"] = resp
    post["remitter"] = remit
    return derived_scores_schema(instrument, from_validated_scores=validated).validate(post)
