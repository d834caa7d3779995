"""Instruments as the design says (issue 24): direction, continuous scores, several instruments,
analysis-data files (text visit codes, baseline and analysis flags), the registry. Tiny hand-built
frames whose name states the rule."""

from __future__ import annotations

import dataclasses
import tomllib

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.design import Instrument, parse_design
from ipt_outcomes.data.instruments import known_instruments, lookup_instrument
from ipt_outcomes.data.trial import load_trial, trial_from_frame
from ipt_outcomes.exceptions import DataValidationError, DesignError, IptOutcomesError
from ipt_outcomes.stats.response import analyse_response, binary_outcomes

WHO5 = Instrument("WHO-5", 0, 25, higher_is_better=True, remission_min=13)


def design(text: str):
    return parse_design(tomllib.loads(text), source="d.toml")


def frame(rows, cols=("subject_id", "arm", "visit", "score")):
    return pd.DataFrame(rows, columns=list(cols))


# ------------------------------------------------------------------------------------------
# the Instrument speaks its direction
# ------------------------------------------------------------------------------------------


def test_direction_helpers_follow_higher_is_better():
    hamd = Instrument()
    assert (hamd.direction, WHO5.direction) == (-1, 1)
    assert (hamd.improvement_sign, WHO5.improvement_sign) == ("negative", "positive")
    assert hamd.favours_note("IPT") == "negative values favour IPT"
    assert WHO5.favours_note() == "positive values favour the arm"
    assert hamd.improvement_note == "negative values are improvement"
    assert WHO5.favours_text(3.07, "CBT", "TAU") == "favours CBT"
    assert hamd.favours_text(3.07, "CBT", "TAU") == "favours TAU"
    assert hamd.favours_text(0.0) == "no difference" and hamd.favours_text(np.nan) == ""
    assert (hamd.favours(-1), WHO5.favours(-1), WHO5.favours(0)) == (True, False, None)
    assert (hamd.shift_text(2), WHO5.shift_text(2), WHO5.shift_text(-2)) == (
        "worse",
        "better",
        "worse",
    )
    assert (hamd.best, hamd.worst, WHO5.best, WHO5.worst) == (0, 52, 25, 0)
    assert (hamd.remission_text, WHO5.remission_text) == (
        "HAM-D 17 of 7 or less",
        "WHO-5 of 13 or more",
    )


def test_remission_keys_must_match_the_direction():
    with pytest.raises(ValueError, match="give remission_min"):
        Instrument("WHO-5", 0, 25, higher_is_better=True, remission_max=10)
    with pytest.raises(ValueError, match="give remission_max"):
        Instrument(remission_min=3)
    assert Instrument().remission_max == 7 and not Instrument(higher_is_better=True).has_remission


def test_percent_improvement_on_a_higher_is_better_scale_uses_the_room_to_improve():
    # (score - baseline) / (max - baseline): 10 -> 17.5 of 25 is 7.5 / 15 = 0.5, a response
    assert WHO5.pct_improvement(10, 17.5) == pytest.approx(0.5)
    assert WHO5.is_responder(10, 17.5) and not WHO5.is_responder(10, 17.4)
    assert WHO5.is_remitter(13) and not WHO5.is_remitter(12.9)


def test_percent_improvement_on_a_lower_is_better_scale_with_a_minimum_above_zero():
    cgi = Instrument("CGI-S", 1, 7, remission_max=2)
    # (baseline - score) / (baseline - min): 5 -> 3 is 2 / 4 = 0.5
    assert (
        cgi.pct_improvement(5, 3) == 0.5 and cgi.is_responder(5, 3) and not cgi.is_responder(5, 4)
    )


def test_continuous_scores_at_the_boundary_count_despite_binary_rounding():
    wb = Instrument("WB", 1, 5, integer=False, higher_is_better=True)
    # (3.55 - 2.10) / (5 - 2.10) = 0.5 in decimals, 0.49999999999999989 in binary
    assert (3.55 - 2.10) / (5 - 2.10) < 0.5
    assert wb.is_responder(2.10, 3.55) and not wb.is_responder(2.10, 3.549)


def test_lower_is_better_whole_number_response_is_the_specs_exact_rule():
    hamd = Instrument()
    b = np.arange(1, 53, dtype=float)
    y = np.floor(b / 2)
    assert (hamd.is_responder(b, y) == (2 * y <= b)).all()
    assert (hamd.is_responder(b, y + 1) == (2 * (y + 1) <= b)).all()


# ------------------------------------------------------------------------------------------
# a higher-is-better trial, derived and analysed
# ------------------------------------------------------------------------------------------

WHO_DESIGN = """
[[arms]]
code = "TAU"
[[arms]]
code = "CBT"
[analysis]
reference = "TAU"
remission_min = 13
[instrument]
name = "WHO-5"
min = 0
max = 25
higher_is_better = true
"""


def test_higher_is_better_trial_counts_rising_scores_as_response_and_remission():
    d = design(WHO_DESIGN)
    df = frame([("a", "TAU", 0, 5), ("a", "TAU", 4, 15), ("b", "TAU", 0, 9), ("b", "TAU", 4, 10),
                ("c", "CBT", 0, 4), ("c", "CBT", 4, 20), ("d", "CBT", 0, 15), ("d", "CBT", 4, 20)],
               ("subject_id", "arm", "visit", "hamd17"))  # fmt: skip
    t = trial_from_frame(df, d)
    got = t.derived.set_index("subject_id")
    # a: (15 - 5) / (25 - 5) = 0.5; b: 1 / 16; c: 16 / 21; d: 5 / 10 = 0.5
    assert got["pct_improvement"].to_dict() == pytest.approx(
        {"a": 0.5, "b": 1 / 16, "c": 16 / 21, "d": 0.5}
    )
    assert got["responder"].tolist() == [True, False, True, True]
    assert got["remitter"].tolist() == [True, False, True, True]
    res = analyse_response(t, gee_correlations=())
    assert res.response_rates.set_index("arm")["responders"].to_dict() == {"TAU": 1, "CBT": 2}


def test_a_baseline_at_the_best_end_is_refused_naming_the_subject():
    d = design(WHO_DESIGN)
    df = frame([("a", "TAU", 0, 25), ("a", "TAU", 4, 20), ("b", "CBT", 0, 10), ("b", "CBT", 4, 12)],
               ("subject_id", "arm", "visit", "hamd17"))  # fmt: skip
    with pytest.raises(DataValidationError) as err:
        trial_from_frame(df, d)
    p = err.value.problems[0]
    assert p.subject == "a" and "best end of the WHO-5 range 0-25" in p.message


def test_a_higher_is_better_instrument_without_remission_min_has_no_remission_rates():
    d = design(WHO_DESIGN.replace("remission_min = 13\n", ""))
    df = frame([("a", "TAU", 0, 5), ("a", "TAU", 4, 15), ("c", "CBT", 0, 4), ("c", "CBT", 4, 20)],
               ("subject_id", "arm", "visit", "hamd17"))  # fmt: skip
    t = trial_from_frame(df, d)
    assert t.derived["remitter"].isna().all() and t.derived["responder"].notna().all()
    res = analyse_response(t, "nri", gee_correlations=())
    assert res.remission_rates.empty and res.remission_comparisons.empty
    assert any("remission is not defined for WHO-5" in n for n in res.notes)
    assert binary_outcomes(t, "locf")["remitter"].isna().all()


def test_continuous_scores_pass_validation_and_derivation():
    d = design(
        WHO_DESIGN.replace("higher_is_better = true", "higher_is_better = true\ninteger = false")
    )
    df = frame([("a", "TAU", 0, 5.25), ("a", "TAU", 4, 15.0000439), ("c", "CBT", 0, 4.5),
                ("c", "CBT", 4, 20.75)], ("subject_id", "arm", "visit", "hamd17"))  # fmt: skip
    t = trial_from_frame(df, d)
    assert t.derived["score"].tolist() == [15.0000439, 20.75]


def test_fractional_scores_of_an_integer_instrument_name_the_design_key():
    df = frame(
        [("a", "TAU", 0, 20), ("a", "TAU", 4, 10.5)], ("subject_id", "arm", "visit", "hamd17")
    )
    with pytest.raises(DataValidationError, match="integer = false"):
        trial_from_frame(df)


# ------------------------------------------------------------------------------------------
# the design: thresholds, several instruments
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[instrument]\nhigher_is_better = true\nmax = 25\nremission_max = 5\n",
         "instrument.remission_max: the instrument is higher-is-better"),
        ("[analysis]\nremission_min = 5\n", "every instrument of the design is lower-is-better"),
        ("[analysis]\nremission_max = 5\n[instrument]\nhigher_is_better = true\n",
         "every instrument of the design is higher-is-better"),
        ("[instrument]\nname = 'X'\n[[instruments]]\nname = 'Y'\n", "not both"),
        ("[[instruments]]\nname = 'A'\n[[instruments]]\nname = 'B'\n", "[columns] param"),
        ("[columns]\nparam = 'PARAMCD'\n[[instruments]]\nname = 'A'\nparam = 'A'\n"
         "[[instruments]]\nname = 'B'\n", "instruments[2].param"),
        ("[[instruments]]\nname = 'A'\nparam = 'A'\n", "name that column in [columns] param"),
        ("[instrument]\nreliability = 1.2\n", "instrument.reliability"),
        ("[visits]\nschedule = ['BASELINE', 'WEEK 4']\nbaseline = 'BASELINE'\n",
         "give the time of each in `times`"),
        ("[visits]\nschedule = ['BASELINE', 4]\ntimes = [0, 4]\n", "not a mix"),
        ("[visits]\nschedule = ['BASELINE', 'WEEK 4']\ntimes = [0, 4]\n",
         "name the baseline visit's code"),
        ("[visits]\nschedule = ['BL', 'W4']\ntimes = [0, 4]\nbaseline = 'BL'\nkey = ['W8']\n",
         "key visits 'W8' are not in"),
    ],
)  # fmt: skip
def test_design_mistakes_about_instruments_and_codes_are_refused(text, message):
    with pytest.raises(DesignError) as err:
        design(text)
    assert message in str(err.value)


def test_each_instrument_takes_its_own_thresholds_or_the_analysis_ones():
    d = design("""
[analysis]
remission_max = 10
remission_min = 3.5
response_improvement = 0.4
[[instruments]]
name = "MADRS"
outcome = "madrs"
max = 60
[[instruments]]
name = "BDI-II"
outcome = "bdi"
max = 63
remission_max = 13
response_improvement = 0.5
[[instruments]]
name = "WB"
outcome = "wb"
min = 1
max = 5
higher_is_better = true
""")
    m, b, w = d.instruments
    assert (m.remission_max, m.response_improvement) == (10, 0.4)
    assert (b.remission_max, b.response_improvement) == (13, 0.5)
    assert (w.remission_min, w.remission_max, w.higher_is_better) == (3.5, None, True)
    assert d.instrument is m and d.columns.outcome == "madrs"
    chosen = d.with_instrument("wb")
    assert chosen.instrument is w and chosen.columns.outcome == "wb"
    with pytest.raises(DesignError, match="its instruments are 'MADRS', 'BDI-II', 'WB'"):
        d.with_instrument("HAM-D")


def test_wide_file_with_an_outcome_column_per_instrument(write_csv, tmp_path):
    path = write_csv(
        "id,arm,visit,hamd,who\n1,TAU,0,20,5\n1,TAU,4,10,15\n2,CBT,0,22,6\n2,CBT,4,8,20\n"
    )
    toml = tmp_path / "d.toml"
    toml.write_text("""
[[arms]]
code = "TAU"
[[arms]]
code = "CBT"
[[instruments]]
name = "HAM-D 17"
outcome = "hamd"
[[instruments]]
name = "WHO-5"
outcome = "who"
max = 25
higher_is_better = true
[columns]
subject = "id"
""")
    hamd = load_trial(path, toml)
    who = load_trial(path, toml, instrument="WHO-5")
    assert hamd.derived["change"].tolist() == [-10, -14]
    assert who.derived["change"].tolist() == [10, 14] and who.instrument.higher_is_better


# ------------------------------------------------------------------------------------------
# analysis-data files: param, text visit codes, flags
# ------------------------------------------------------------------------------------------

ADAM = """USUBJID,TRT01P,PARAMCD,AVISIT,AVAL,ABLFL,ANL01FL
S1,PBO,HAMD,SCREENING,21,,
S1,PBO,HAMD,BASELINE,20,Y,Y
S1,PBO,HAMD,WEEK 4,12,,Y
S1,PBO,HAMD,WEEK 4,30,,N
S1,PBO,WHO5,BASELINE,8,Y,Y
S1,PBO,WHO5,WEEK 4,12,,Y
S2,ACT,HAMD,SCREENING,24,Y,Y
S2,ACT,HAMD,BASELINE,,,Y
S2,ACT,HAMD,week  4,8,,Y
S2,ACT,WHO5,BASELINE,6,Y,Y
S2,ACT,WHO5,WEEK 4,20,,Y
"""
ADAM_DESIGN = """
[[arms]]
code = "PBO"
[[arms]]
code = "ACT"
[analysis]
reference = "PBO"
[visits]
unit = "weeks"
schedule = ["SCREENING", "BASELINE", "WEEK 4"]
times = [-1, 0, 4]
key = ["WEEK 4"]
[[instruments]]
name = "HAM-D 17"
param = "HAMD"
[[instruments]]
name = "WHO-5"
param = "WHO5"
max = 25
higher_is_better = true
[columns]
subject = "USUBJID"
arm = "TRT01P"
visit = "AVISIT"
outcome = "AVAL"
param = "PARAMCD"
baseline_flag = "ABLFL"
analysis_flag = "ANL01FL"
"""


@pytest.fixture
def adam(write_csv, tmp_path):
    toml = tmp_path / "adam.toml"
    toml.write_text(ADAM_DESIGN)
    return write_csv(ADAM), toml


def test_param_selects_each_instruments_rows_and_n_rows_are_left_out(adam):
    path, toml = adam
    hamd = load_trial(path, toml)
    # S1's "N" repeat at WEEK 4 (30) is not analysed, or S1 would have two rows at WEEK 4
    assert hamd.derived.set_index("subject_id")["score"].to_dict() == {"S1": 12, "S2": 8}
    warn = [p.message for p in hamd.problems if p.rule == "analysis_flag"]
    assert warn == [
        "2 rows with ANL01FL other than 'Y' (1 empty, 1 'N') are left out (not analysed)"
    ]
    who = load_trial(path, toml, instrument="who5")  # by param, any case
    assert who.instrument.name == "WHO-5" and who.derived["score"].tolist() == [12, 20]


def test_the_flagged_row_is_the_baseline_whatever_its_visit(adam):
    path, toml = adam
    hamd = load_trial(path, toml)
    # S2's baseline is the flagged SCREENING record (24); its empty BASELINE row is left out
    assert hamd.baseline.to_dict() == {"S1": 20, "S2": 24}
    assert any(p.rule == "baseline_visit_not_flagged" for p in hamd.problems)


def test_text_visit_codes_are_matched_ignoring_case_and_spaces_and_stay_text_in_tables(adam):
    path, toml = adam
    hamd = load_trial(path, toml)
    assert hamd.post_visits == (4.0,) and hamd.visit_label(4.0) == "Week 4"
    table = hamd.with_input_visits(pd.DataFrame({"visit": [4.0, 0.0], "x": [1, 2]}))
    assert table["visit"].tolist() == ["WEEK 4", "BASELINE"]


def test_a_visit_code_the_design_does_not_map_is_refused_by_row(adam):
    path, toml = adam
    text = path.read_text().replace("S1,PBO,HAMD,WEEK 4,12,,Y", "S1,PBO,HAMD,WEEK 5,12,,Y")
    path.write_text(text)
    with pytest.raises(DataValidationError) as err:
        load_trial(path, toml)
    p = err.value.problems[0]
    assert (p.row, p.subject, p.column) == ("row 4", "S1", "AVISIT")
    assert "visit 'WEEK 5' is not one of the design's visit codes" in p.message


def test_two_baseline_records_of_a_subject_are_refused(adam):
    path, toml = adam
    path.write_text(
        path.read_text().replace("S1,PBO,HAMD,SCREENING,21,,", "S1,PBO,HAMD,SCREENING,21,Y,Y")
    )
    with pytest.raises(DataValidationError, match="2 rows are flagged as the baseline record"):
        load_trial(path, toml)


def test_a_baseline_flag_after_the_baseline_visit_is_refused(adam):
    path, toml = adam
    text = path.read_text().replace("S1,PBO,WHO5,BASELINE,8,Y,Y", "S1,PBO,WHO5,BASELINE,8,,Y")
    text = text.replace("S1,PBO,WHO5,WEEK 4,12,,Y", "S1,PBO,WHO5,WEEK 4,12,Y,Y")
    path.write_text(text)
    toml.write_text(ADAM_DESIGN.replace("[visits]\n", "[visits]\nbaseline = 'BASELINE'\n"))
    with pytest.raises(DataValidationError, match="is at visit 'WEEK 4', after the baseline visit"):
        load_trial(path, toml, instrument="WHO-5")


def test_the_baseline_visit_is_found_from_the_flags_when_the_design_names_none(adam):
    path, toml = adam
    t = load_trial(path, toml)
    assert t.design.baseline_visit == 0.0 and t.visit_label(0.0) == "Baseline"


def test_text_visits_without_a_mapping_are_one_clear_problem(write_csv):
    path = write_csv("subject_id,arm,visit,hamd17\n" + "".join(
        f"{s},TAU,{v},{20 - i}\n" for s in "ABC" for i, v in enumerate(["BASELINE", "WEEK 4"])))  # fmt: skip
    with pytest.raises(DataValidationError) as err:
        load_trial(path)
    assert len(err.value.problems) == 1
    assert "visits are text codes ('BASELINE', 'WEEK 4')" in err.value.problems[0].message


def test_an_unknown_instrument_is_refused_naming_the_designs_instruments(adam):
    path, toml = adam
    with pytest.raises(DesignError, match="no instrument 'BDI'.*'HAM-D 17' \\(param 'HAMD'\\)"):
        load_trial(path, toml, instrument="BDI")
    with pytest.raises(IptOutcomesError, match="without a design file"):
        load_trial(path, None, instrument="BDI")


# ------------------------------------------------------------------------------------------
# an unmapped column named `baseline` is never the baseline (issue 30)
# ------------------------------------------------------------------------------------------

PLAIN = "subject_id,arm,visit,hamd17,baseline\nA,TAU,0,20,{a}\nA,TAU,3,10,{a}\nB,IPT,0,22,{b}\nB,IPT,3,8,{b}\n"


@pytest.mark.parametrize(("a", "b"), [("5", "5"), ("x", "y"), ("", "7")])
def test_an_unmapped_baseline_column_is_kept_and_ignored(write_csv, a, b):
    t = load_trial(write_csv(PLAIN.format(a=a, b=b)))
    assert t.baseline.to_dict() == {"A": 20, "B": 22} and not t.baseline_from_column
    assert "baseline_input" in t.scores.columns


def test_an_unmapped_baseline_column_in_parquet_is_ignored(tmp_path):
    path = tmp_path / "s.parquet"
    pd.DataFrame({"subject_id": ["A", "A", "B", "B"], "arm": ["TAU", "TAU", "IPT", "IPT"],
                  "visit": [0, 3, 0, 3], "hamd17": [20, 10, 22, 8],
                  "baseline": pd.to_datetime(["2020-01-01"] * 4)}).to_parquet(path)  # fmt: skip
    t = load_trial(path)
    assert t.derived["change"].tolist() == [-10, -14]


def test_a_mapped_baseline_column_is_used(write_csv):
    t = load_trial(write_csv(PLAIN.format(a="20", b="22")), baseline="baseline")
    assert t.baseline_from_column and t.baseline.to_dict() == {"A": 20, "B": 22}


# ------------------------------------------------------------------------------------------
# the registry
# ------------------------------------------------------------------------------------------


def test_registry_holds_the_eight_instruments_each_value_with_its_source():
    names = [k.name for k in known_instruments()]
    assert names == ["HAM-D 17", "MADRS", "BDI-II", "PHQ-9", "QIDS-SR16", "GAD-7", "WHO-5", "SOFAS"]
    for k in known_instruments():
        assert k.minimum < k.maximum
        if k.remission is not None:
            assert k.remission_source and k.minimum <= k.remission <= k.maximum
        if k.reliability is not None:
            assert 0 < k.reliability < 1 and k.reliability_source and k.reliability_kind
    assert [k.name for k in known_instruments() if k.higher_is_better] == ["WHO-5", "SOFAS"]


@pytest.mark.parametrize(
    ("text", "name"),
    [("HAMD17", "HAM-D 17"), ("hamd_total", "HAM-D 17"), ("MADRS", "MADRS"), ("BDI-II", "BDI-II"),
     ("PHQ9", "PHQ-9"), ("QIDS-SR16", "QIDS-SR16"), ("gad7", "GAD-7"), ("WHO5", "WHO-5"),
     ("SOFAS", "SOFAS"), ("HAMD21", None), ("AVAL", None), ("", None)],
)  # fmt: skip
def test_registry_lookup_by_column_or_parameter(text, name):
    got = lookup_instrument(text)
    assert (got.name if got else None) == name


def test_a_higher_is_better_design_replaces_a_lower_one_cleanly():
    hamd = Instrument()
    who = dataclasses.replace(hamd, higher_is_better=True, remission_max=None, remission_min=3)
    assert who.remission_rule == "score >= 3" and hamd.remission_rule == "score <= 7"


def test_the_baseline_record_is_analysed_even_without_its_analysis_flag(adam):
    path, toml = adam
    path.write_text(
        path.read_text().replace("S1,PBO,HAMD,BASELINE,20,Y,Y", "S1,PBO,HAMD,BASELINE,20,Y,")
    )
    assert load_trial(path, toml).baseline.to_dict() == {"S1": 20, "S2": 24}
