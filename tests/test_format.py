"""The one number formatter: one convention for each kind of number, the same everywhere."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ipt_outcomes.format import fmt, format_frame, format_nnt, format_p
from ipt_outcomes.stats.proportions import nnt_interval


@pytest.mark.parametrize(
    ("p", "table", "prose"),
    [(0.0004, "< 0.001", "p < 0.001"), (0.001, "0.001", "p = 0.001"), (0.0449, "0.045", "p = 0.045"),
     (1.0, "1.000", "p = 1.000")],
)  # fmt: skip
def test_p_values_have_three_decimals_and_a_floor(p, table, prose):
    assert format_p(p) == fmt(p, "p") == table
    assert format_p(p, prose=True) == fmt(p, "p_text") == prose


@pytest.mark.parametrize(("nnt", "text"), [(5.5, "NNTB 6"), (5.0, "NNTB 5"), (5.0000000001, "NNTB 5"),
                                           (-12.1, "NNTH 13"), (1.01, "NNTB 2"), (math.inf, "infinity")])  # fmt: skip
def test_nnt_is_rounded_up_and_worded_benefit_or_harm(nnt, text):
    assert format_nnt(nnt) == fmt(nnt, "nnt") == text


def test_nnt_interval_words_each_limit_as_whole_patients():
    assert nnt_interval(0.183, -0.065, 0.401)[3] == "NNTB 6 (95% CI NNTH 16 to infinity to NNTB 3)"
    assert nnt_interval(-0.2, -0.35, -0.05)[3] == "NNTH 5 (95% CI NNTH 3 to NNTH 20)"
    assert nnt_interval(0.0, -0.1, 0.1)[3].startswith("not defined: risk difference 0")


def test_counts_are_whole_numbers_and_rates_and_differences_have_one_convention():
    assert fmt(30.0, "int") == "30"
    assert fmt(0.4214, "pct") == "42.1%" and fmt(0.4214, "pct_n") == "42.1"
    # a risk difference is always in percentage points, never a proportion
    assert fmt(0.183, "pp") == "18.3 pp" and fmt(0.183, "pp_n") == "18.3"
    assert fmt(-0.0004, "pp") == "0.0 pp"  # no negative zero


def test_missing_values_are_empty_and_unknown_kinds_refused():
    assert fmt(float("nan"), "f2") == fmt(None, "p") == fmt("", "int") == ""
    with pytest.raises(ValueError, match="unknown number kind"):
        fmt(1.0, "percent")


def test_format_frame_chooses_the_kind_by_column_and_accepts_overrides():
    t = pd.DataFrame({"n": [30.0], "visit": [1.5], "p_holm": [0.0002], "estimate": [1.23456],
                      "converged": [True], "risk_difference": [0.2]})  # fmt: skip
    out = format_frame(t, 2, kinds={"risk_difference": "pp"}).iloc[0].to_dict()
    assert out == {"n": "30", "visit": "1.5", "p_holm": "< 0.001", "estimate": "1.23",
                   "converged": "yes", "risk_difference": "20.0 pp"}  # fmt: skip


def test_the_report_and_the_worksheets_render_through_the_formatter():
    from ipt_outcomes.report.views import render
    from ipt_outcomes.teaching import ReportNumbers

    t = {"c": pd.DataFrame({"arm": ["A"], "nnt": [5.47], "p": [0.2019]})}
    n = ReportNumbers(t)
    assert render(t, "c", 0, "nnt", "nnt") == n.text("c", "nnt", "nnt", arm="A") == "NNTB 6"
    assert render(t, "c", 0, "p", "p_text") == "p = 0.202"
