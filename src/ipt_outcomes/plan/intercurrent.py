"""Intercurrent events of an estimand: who had which event when, and what each analysis does with
the scores after it (ICH E9(R1)).

* **treatment-policy**: scores after the event are used as observed; nothing changes.
* **hypothetical** and **MAR**: scores from the event's visit on are left out; likelihood-based
  analyses (MMRM, random-effects models) treat them as missing at random, multiple imputation
  imputes them under MAR, single-visit analyses (ANCOVA, response) have no score there.
* **JR, CR, CIR, LMCF** (reference-based, Carpenter, Roger & Kenward 2013): scores from the
  event's visit on are left out; multiple imputation imputes them under the strategy. A
  likelihood-based analysis cannot impute: it treats them as missing at random, and says so.

A subject with several events counts from the first (in time; the first listed on a tie).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

__all__ = ["estimand_events", "without_post_event_scores", "mi_events", "EVENT_COLUMNS"]

EVENT_COLUMNS = ["subject_id", "visit", "strategy", "event"]


def _column_events(trial, column: str) -> pd.DataFrame:
    """First post-baseline visit at which ``column`` differs from the subject's baseline value."""
    d = trial.scores[["subject_id", "visit", "time", column]].copy()
    base = d[d["visit"] == trial.baseline_visit].dropna(subset=[column])
    base = base.drop_duplicates("subject_id").set_index("subject_id")[column]
    post = d[(d["visit"] != trial.baseline_visit) & d[column].notna()]
    post = post[post["subject_id"].isin(base.index)]
    changed = post[post[column].astype(str) != post["subject_id"].map(base).astype(str)]
    first = changed.sort_values(["subject_id", "time"]).drop_duplicates("subject_id")
    return pd.DataFrame({"subject_id": first["subject_id"], "visit": first["visit"]})


def estimand_events(trial, estimand) -> pd.DataFrame:
    """``subject_id, visit, strategy, event`` - the first intercurrent event of each subject.

    ``visit`` is the first visit affected; subjects without an event have no row.
    """
    from ..estimands.events import read_events

    frames = []
    if estimand is None:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    for order, ev in enumerate(estimand.intercurrent_events):
        if ev.events is not None:
            got = read_events(ev.events, trial, strategy="MAR")[["subject_id", "visit"]]
        else:
            got = _column_events(trial, ev.column)
        frames.append(got.assign(strategy=ev.strategy, event=ev.name, order=order))
    if not frames:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    ev = pd.concat(frames, ignore_index=True)
    if ev.empty:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    ev["subject_id"] = ev["subject_id"].astype(trial.scores["subject_id"].dtype, errors="ignore")
    ev["t"] = ev["visit"].map(trial.time_of)
    ev = ev.sort_values(["subject_id", "t", "order"], kind="stable").drop_duplicates("subject_id")
    return ev[EVENT_COLUMNS].reset_index(drop=True)


def without_post_event_scores(trial, events: pd.DataFrame):
    """The trial with every score from an event's visit on left out, except after events handled
    by the treatment-policy strategy (whose scores are used as observed)."""
    ev = events[events["strategy"] != "treatment-policy"]
    if ev.empty:
        return trial
    start = dict(zip(ev["subject_id"], ev["visit"].map(trial.time_of), strict=True))

    def after(frame: pd.DataFrame) -> np.ndarray:
        t0 = frame["subject_id"].map(start)
        return (t0.notna() & (frame["time"] >= t0)).to_numpy()

    scores = trial.scores.copy()
    scores.loc[after(scores) & (scores["visit"] != trial.baseline_visit), "score"] = np.nan
    derived = trial.derived.copy()
    gone = after(derived)
    for col in ("score", "change", "pct_improvement"):
        derived.loc[gone, col] = np.nan
    for col in ("responder", "remitter"):
        derived.loc[gone, col] = pd.NA
    return dataclasses.replace(trial, scores=scores, derived=derived)


def mi_events(events: pd.DataFrame) -> pd.DataFrame:
    """The events multiple imputation imputes: reference-based and MAR as declared, hypothetical
    as MAR; treatment-policy events are not events for imputation (their scores are kept)."""
    ev = events[events["strategy"] != "treatment-policy"].copy()
    ev["strategy"] = ev["strategy"].replace({"hypothetical": "MAR"})
    return ev[["subject_id", "visit", "strategy"]].reset_index(drop=True)
