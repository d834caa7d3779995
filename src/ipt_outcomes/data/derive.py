"""Derived quantities: baseline, change, percent improvement, response and remission.

The definitions are the SPEC's and are the same in every analysis, in the instrument's direction
(:class:`~ipt_outcomes.data.design.Instrument`):

* percent improvement = (baseline - score) / (baseline - min) when lower is better (the SPEC's
  (baseline - score) / baseline for a scale starting at 0), (score - baseline) / (max - baseline)
  when higher is better;
* response = improvement >= 0.50, the boundary counting as response;
* remission = score <= 7 (the design's ``remission_max``), or score >= the design's
  ``remission_min`` on a higher-is-better scale.

A baseline at the best end of the scale (0 on a symptom scale starting at 0) leaves percent
improvement undefined: such data are refused, naming the subject.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import DataValidationError
from .design import Instrument
from .schemas import derived_scores_schema
from .validation import Problem

__all__ = ["derive_outcomes", "is_responder", "baseline_scores", "best_end_message"]


def is_responder(baseline, score, improvement: float = 0.5, instrument: Instrument | None = None):
    """Whether percent improvement >= ``improvement``, exact at the boundary.

    Without ``instrument``: ``(baseline - score) / baseline >= improvement`` (a lower-is-better
    scale starting at 0, the SPEC's default); with one, in its direction and range (see
    :meth:`Instrument.is_responder <ipt_outcomes.data.design.Instrument.is_responder>`).

    For 0.5 the comparison is done without division (``2 * score <= baseline``), which is exact
    for whole-number scores; other thresholds compare with a relative tolerance of 1e-12 so that
    a boundary case is never lost to rounding.

    Examples
    --------
    >>> is_responder(20, 10), is_responder(20, 11), is_responder(21, 10)
    (True, False, True)
    >>> who5 = Instrument("WHO-5", 0, 25, higher_is_better=True)
    >>> is_responder(9, 17, instrument=who5), is_responder(9, 16.9, instrument=who5)
    (True, False)
    """
    inst = instrument or Instrument()
    if inst.response_improvement != improvement:
        import dataclasses

        inst = dataclasses.replace(inst, response_improvement=improvement)
    return inst.is_responder(baseline, score)


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
    visit_codes: bool = False,
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
    visit_codes : bool
        Visits were text codes mapped to their times (a visit may be negative).

    Returns
    -------
    DataFrame
        One row per post-baseline assessment (missed ones included, with missing values) of every
        subject that has a baseline, in the input order, with the input columns plus:

        * ``baseline`` - the subject's baseline score;
        * ``change`` - score - baseline (``instrument.direction * change > 0`` is improvement:
          negative on a symptom scale, positive on a well-being scale);
        * ``pct_improvement`` - improvement as a fraction of the room to improve (module
          docstring);
        * ``responder`` - improvement >= threshold (nullable boolean, missing with the score);
        * ``remitter`` - score <= remission maximum, or >= remission minimum when higher is
          better (nullable boolean; missing everywhere when remission is not defined).

    Raises
    ------
    DataValidationError
        If a baseline is at the best end of the scale (0 on a symptom scale starting at 0:
        percent improvement undefined), naming the subject.

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
    best = post.loc[instrument.at_best_end(post["baseline"].to_numpy(float))]
    if len(best):
        problems = [
            Problem(
                "baseline_zero" if instrument.best == 0 else "baseline_at_best_end",
                best_end_message(instrument, b),
                subject=s,
                column="baseline",
            )
            for s, b in best.drop_duplicates("subject_id")[["subject_id", "baseline"]].itertuples(
                index=False
            )
        ]
        raise DataValidationError(problems, source)
    y = post["score"].astype(float)
    b = post["baseline"].astype(float)
    observed = y.notna().to_numpy()
    post["change"] = y - b
    post["pct_improvement"] = instrument.pct_improvement(b.to_numpy(), y.to_numpy())
    resp = pd.array(instrument.is_responder(b.to_numpy(), y.to_numpy()), dtype="boolean")
    resp[~observed] = pd.NA
    post["responder"] = resp
    if instrument.has_remission:
        remit = pd.array(instrument.is_remitter(y.to_numpy()), dtype="boolean")
        remit[~observed] = pd.NA
    else:  # a higher-is-better instrument without remission_min: remission is not defined
        remit = pd.array([pd.NA] * len(post), dtype="boolean")
    post["remitter"] = remit
    schema = derived_scores_schema(
        instrument, from_validated_scores=validated, visit_codes=visit_codes
    )
    return schema.validate(post)


def best_end_message(instrument: Instrument, baseline: float) -> str:
    """Why a baseline at the best end of the scale is refused (percent improvement undefined)."""
    if instrument.best == 0:
        head = f"baseline score is {baseline:g}"
    else:
        head = (
            f"baseline score is {baseline:g}, the best end of the {instrument.name} range "
            f"{instrument.range_text}"
        )
    return f"{head}, so percent improvement is undefined"
