"""One named test per rule of the data contract, each on a tiny hand-built file."""

from __future__ import annotations

import pytest

from ipt_outcomes.data.design import ColumnMap, load_design
from ipt_outcomes.data.readers import read_table
from ipt_outcomes.data.validation import validate_scores
from ipt_outcomes.exceptions import DataValidationError

HEADER = "subject_id,arm,visit,hamd17\n"
GOOD = HEADER + "A,TAU,0,20\nA,TAU,3,10\nB,IPT,0,18\nB,IPT,3,12\n"


def problems(path, **kwargs):
    with pytest.raises(DataValidationError) as info:
        validate_scores(read_table(path), **kwargs)
    return info.value.problems


def only(path, **kwargs):
    found = problems(path, **kwargs)
    assert len(found) == 1, [p.format("f") for p in found]
    return found[0]


def test_valid_file_passes_with_typed_columns(write_csv):
    scores = validate_scores(read_table(write_csv(GOOD)))
    assert scores.data["visit"].tolist() == [0.0, 3.0, 0.0, 3.0]
    assert scores.data["score"].tolist() == [20.0, 10.0, 18.0, 12.0]
    assert scores.problems == []
    assert len(scores.excluded_subjects) == 0


def test_missing_required_column_is_named_with_a_suggestion(write_csv):
    p = only(write_csv("subject_id,arm,visit,hamd_17\nA,TAU,0,20\n"))
    assert p.rule == "required_column"
    assert p.column == "hamd17"
    assert "did you mean 'hamd_17'" in p.message
    assert "outcome = ... in the design" in p.message and p.option == "outcome"


def test_every_missing_required_column_is_reported(write_csv):
    found = problems(write_csv("id,group\nA,TAU\n"))
    assert sorted(p.column for p in found) == ["arm", "hamd17", "subject_id", "visit"]


def test_text_score_is_rejected_naming_row_subject_and_column(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\nA,TAU,3,ten\n"))
    assert (p.rule, p.row, p.subject, p.column) == ("score_not_number", "row 3", "A", "hamd17")
    assert "'ten' is not a number" in p.message


def test_fractional_score_is_rejected(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\nA,TAU,3,10.5\n"))
    assert p.rule == "score_whole" and p.row == "row 3"


def test_score_above_instrument_maximum_is_rejected(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\nA,TAU,3,53\n"))
    assert p.rule == "score_in_range" and "0-52" in p.message


def test_negative_score_is_rejected(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\nA,TAU,3,-1\n"))
    assert p.rule == "score_in_range"


def test_infinite_score_is_rejected(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\nA,TAU,3,inf\n"))
    assert p.rule == "score_finite"


def test_instrument_range_comes_from_the_design(write_csv, tmp_path):
    design_file = tmp_path / "bdi.toml"
    design_file.write_text('[instrument]\nname = "BDI-II"\nmin = 0\nmax = 63\n')
    path = write_csv(HEADER + "A,TAU,0,60\nA,TAU,3,53\n")
    scores = validate_scores(read_table(path), load_design(design_file))
    assert scores.data["score"].max() == 60


def test_empty_score_is_a_missed_assessment_not_an_error(write_csv):
    scores = validate_scores(read_table(write_csv(HEADER + "A,TAU,0,20\nA,TAU,3,\nA,TAU,6,NA\n")))
    assert scores.data["score"].isna().sum() == 2


def test_negative_visit_is_rejected(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\nA,TAU,-3,10\n"))
    assert (p.rule, p.column) == ("visit_nonnegative", "visit")


def test_text_visit_is_rejected(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\nA,TAU,month 3,10\n"))
    assert (p.rule, p.column, p.row) == ("visit_not_number", "visit", "row 3")


def test_empty_visit_is_rejected(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\nA,TAU,,10\n"))
    assert p.column == "visit" and "visit is empty" in p.message


def test_duplicate_subject_visit_is_one_problem_naming_both_rows(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\nA,TAU,3,10\nA,TAU,3,11\n"))
    assert p.rule == "one_row_per_subject_visit"
    assert p.row == "row 3" and "row 4" in p.message and p.subject == "A"


def test_subject_in_two_arms_is_rejected(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\nA,IPT,3,10\n"))
    assert p.rule == "one_arm_per_subject"
    assert "'TAU' at row 2" in p.message and "'IPT' at row 3" in p.message


def test_empty_arm_is_rejected(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\nA, ,3,10\n"))
    assert (p.rule, p.row, p.column) == ("arm_not_empty", "row 3", "arm")


def test_empty_subject_is_rejected(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\n,TAU,3,10\n"))
    assert p.rule == "subject_not_empty"


def test_baseline_zero_is_rejected(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,0\nA,TAU,3,0\n"))
    assert (p.rule, p.subject, p.row) == ("baseline_zero", "A", "row 2")


def test_missing_baseline_excludes_subject_and_is_counted(write_csv):
    path = write_csv(HEADER + "A,TAU,0,20\nA,TAU,3,10\nB,IPT,0,\nB,IPT,3,12\nC,IPT,3,9\n")
    scores = validate_scores(read_table(path))
    assert scores.excluded_subjects["subject_id"].tolist() == ["B", "C"]
    notes = [p for p in scores.problems if p.rule == "missing_baseline"]
    assert [(p.subject, p.row, p.severity) for p in notes] == [
        ("B", "row 4", "note"),
        ("C", None, "note"),
    ]


def test_all_problems_are_reported_at_once_in_file_order(write_csv):
    text = HEADER + "A,TAU,0,20\nA,TAU,3,x\nB,,0,18\nC,TAU,-1,60\n"
    found = problems(write_csv(text))
    assert [p.row for p in found] == ["row 3", "row 4", "row 5", "row 5"]
    assert {p.rule for p in found} == {
        "score_not_number",
        "arm_not_empty",
        "visit_nonnegative",
        "score_in_range",
    }


def test_row_numbers_skip_nothing_after_blank_lines(write_csv):
    p = only(write_csv(HEADER + "A,TAU,0,20\n\nA,TAU,3,99\n"))
    assert p.row == "row 4"  # the blank line is row 3 in a spreadsheet


def test_arm_not_in_design_is_rejected(write_csv):
    from ipt_outcomes.data.design import Arm, TrialDesign

    design = TrialDesign(arms=(Arm("TAU"), Arm("IPT")))
    p = only(write_csv(HEADER + "A,TAU,0,20\nB,CBT,0,18\n"), design=design)
    assert (p.rule, p.subject, p.column) == ("arm_not_in_design", "B", "arm")


def test_visit_off_schedule_is_a_warning(write_csv):
    from ipt_outcomes.data.design import TrialDesign

    design = TrialDesign(schedule=(0.0, 3.0))
    scores = validate_scores(read_table(write_csv(HEADER + "A,TAU,0,20\nA,TAU,4,10\n")), design)
    assert [(p.rule, p.severity) for p in scores.problems] == [("visit_not_in_schedule", "warning")]


def test_arms_that_differ_only_in_letter_case_are_a_warning(write_csv):
    text = HEADER + "A,TAU,0,20\nA,TAU,3,10\nB,tau,0,18\nB,tau,3,12\nC,IPT,0,19\nC,IPT,3,9\n"
    scores = validate_scores(read_table(write_csv(text)))
    assert [(p.rule, p.severity, p.column) for p in scores.problems] == [
        ("arm_letter_case", "warning", "arm")
    ]
    assert "'TAU', 'tau'" in scores.problems[0].message
    assert sorted(scores.data["arm"].unique()) == ["IPT", "TAU", "tau"]  # said, not changed
    assert validate_scores(read_table(write_csv(GOOD))).problems == []


def test_mapped_columns_are_renamed_to_the_contract(write_csv):
    path = write_csv("pid,group,week,score\nA,TAU,0,20\nA,TAU,3,10\n")
    cols = ColumnMap(subject="pid", arm="group", visit="week", outcome="score")
    scores = validate_scores(read_table(path), columns=cols)
    assert list(scores.data.columns[:4]) == ["subject_id", "arm", "visit", "score"]


def test_mapped_column_problems_name_the_users_column(write_csv):
    path = write_csv("pid,group,week,score\nA,TAU,0,20\nA,TAU,3,99\n")
    cols = ColumnMap(subject="pid", arm="group", visit="week", outcome="score")
    p = only(path, columns=cols)
    assert p.column == "score"


def test_baseline_column_must_be_constant_within_subject(write_csv):
    path = write_csv("subject_id,arm,visit,hamd17,base\nA,TAU,1,10,20\nA,TAU,2,9,21\n")
    p = only(path, columns=ColumnMap(baseline="base"))
    assert (p.rule, p.column, p.row) == ("baseline_constant_within_subject", "base", "row 3")


def test_baseline_column_zero_is_rejected(write_csv):
    path = write_csv("subject_id,arm,visit,hamd17,base\nA,TAU,1,10,0\n")
    p = only(path, columns=ColumnMap(baseline="base"))
    assert (p.rule, p.column) == ("baseline_zero", "base")


def test_baseline_column_missing_excludes_subject(write_csv):
    path = write_csv("subject_id,arm,visit,hamd17,base\nA,TAU,1,10,20\nB,TAU,1,10,\n")
    scores = validate_scores(read_table(path), columns=ColumnMap(baseline="base"))
    assert scores.excluded_subjects["subject_id"].tolist() == ["B"]


def test_optional_columns_are_checked_when_present(write_csv):
    path = write_csv(HEADER[:-1] + ",cgi_s,antidepressant\nA,TAU,0,20,8,2\n")
    found = problems(path)
    assert {p.column for p in found} == {"cgi_s", "antidepressant"}


def test_unknown_extra_columns_are_kept(write_csv):
    scores = validate_scores(read_table(write_csv(HEADER[:-1] + ",site\nA,TAU,0,20,Lohja\n")))
    assert scores.data["site"].tolist() == ["Lohja"]


def test_labels_with_spaces_plus_and_non_ascii_are_kept(write_csv):
    text = HEADER + "A,IPT + lääke,0,20\nB,Hoito tavallinen,0,18\n"
    scores = validate_scores(read_table(write_csv(text)))
    assert scores.data["arm"].tolist() == ["IPT + lääke", "Hoito tavallinen"]
