"""Derivation rules (SPEC "Derived quantities"), each on a tiny hand-built frame."""

from __future__ import annotations

import pandas as pd
import pytest

from ipt_outcomes.data.derive import derive_outcomes, is_responder
from ipt_outcomes.data.design import Instrument
from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.exceptions import DataValidationError

from .conftest import DESIGNS


def frame(rows):
    return pd.DataFrame(rows, columns=["subject_id", "arm", "visit", "score"]).astype(
        {"visit": float, "score": float}
    )


def one(baseline, score, **kw):
    d = derive_outcomes(frame([("a", "TAU", 0, baseline), ("a", "TAU", 3, score)]), **kw)
    assert len(d) == 1
    return d.iloc[0]


def test_response_counts_exactly_fifty_percent_improvement():
    assert bool(one(20, 10)["responder"]) is True


def test_response_at_fifty_percent_with_odd_baseline_needs_score_at_or_below_half():
    assert bool(one(21, 10)["responder"]) is True  # 52.4%
    assert bool(one(21, 11)["responder"]) is False  # 47.6%


def test_forty_nine_percent_improvement_is_not_response():
    assert bool(one(50, 26)["responder"]) is False  # 48%
    assert bool(one(50, 25)["responder"]) is True  # 50%


def test_remission_is_score_seven_or_less():
    assert bool(one(20, 7)["remitter"]) is True
    assert bool(one(20, 8)["remitter"]) is False


def test_change_is_score_minus_baseline():
    assert one(20, 13)["change"] == -7


def test_percent_improvement_is_negative_when_worse():
    assert one(20, 25)["pct_improvement"] == pytest.approx(-0.25)


def test_missing_score_gives_missing_flags_not_false():
    d = derive_outcomes(frame([("a", "TAU", 0, 20), ("a", "TAU", 3, None)]))
    row = d.iloc[0]
    assert pd.isna(row["responder"]) and pd.isna(row["remitter"]) and pd.isna(row["change"])


def test_subject_without_baseline_is_left_out():
    d = derive_outcomes(frame([("a", "TAU", 3, 10), ("b", "TAU", 0, 20), ("b", "TAU", 3, 9)]))
    assert d["subject_id"].tolist() == ["b"]


def test_baseline_zero_raises_rather_than_inf():
    with pytest.raises(DataValidationError, match="baseline score is 0"):
        derive_outcomes(frame([("a", "TAU", 0, 0), ("a", "TAU", 3, 0)]))


def test_baseline_column_without_a_baseline_record_makes_every_row_post_baseline(write_csv):
    path = write_csv("subject_id,arm,visit,hamd17,base\nA,TAU,1,10,20\nA,TAU,2,9,20\n")
    trial = load_trial(path, baseline="base")
    d = trial.derived
    assert d["visit"].tolist() == [1.0, 2.0]
    assert d["responder"].tolist() == [True, True]
    base = trial.scores[trial.scores["visit"] == 0]
    assert base["score"].tolist() == [20.0]  # the baseline becomes a row at the baseline visit


def test_baseline_record_and_column_the_record_is_baseline_not_a_visit(write_csv):
    path = write_csv(
        "subject_id,arm,visit,hamd17,base\nA,TAU,0,20,20\nA,TAU,2,9,20\nB,TAU,0,,18\nB,TAU,2,9,18\n"
    )
    trial = load_trial(path, baseline="base")
    d = trial.derived
    assert d["visit"].tolist() == [2.0, 2.0]  # visit 0 is never analysed as a post-baseline visit
    assert d["change"].tolist() == [-11.0, -9.0]  # B's empty record is filled from the column


def test_baseline_record_and_column_that_disagree_are_refused_by_subject(write_csv):
    path = write_csv(
        "subject_id,arm,visit,hamd17,base\nA,TAU,0,20,20\nB,TAU,0,18,17\nB,TAU,2,9,17\n"
    )
    with pytest.raises(
        DataValidationError, match=r"row 3, subject B, column hamd17: the baseline record"
    ):
        load_trial(path, baseline="base")


def test_other_thresholds_come_from_the_instrument():
    inst = Instrument(response_improvement=0.4, remission_max=5)
    row = one(10, 6, instrument=inst)
    assert bool(row["responder"]) is True and bool(row["remitter"]) is False


def test_is_responder_is_exact_at_the_boundary():
    assert is_responder(30, 15) and not is_responder(30, 16)


def test_riesby_week5_response_matches_published_cross_check(external):
    """riesby.md: HAM-D >= 50% reduction from week 0 to week 5 among patients with both scores:
    non-endogenous 16/26 (61.5%), endogenous 14/27 (51.9%) (computed by the data's curators)."""
    path = external("riesby.csv")
    d = load_trial(path, DESIGNS / "riesby.toml").derived
    wk5 = d[(d["visit"] == 5) & d["score"].notna()]
    counts = wk5.groupby("arm")["responder"].agg(["sum", "count"])
    assert counts.loc["0"].tolist() == [16, 26]
    assert counts.loc["1"].tolist() == [14, 27]
