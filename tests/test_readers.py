"""Readers: every supported format, and clear refusals of files that cannot be read."""

from __future__ import annotations

import pandas as pd
import pyreadstat
import pytest

from ipt_outcomes.data.readers import read_table, sheet_names, value_labels_of
from ipt_outcomes.data.validation import validate_scores
from ipt_outcomes.exceptions import InputFileError

from .conftest import ROOT

ROWS = [("P1", "IPT", 0, 20), ("P1", "IPT", 3, 9), ("P2", "TAU", 0, 18), ("P2", "TAU", 3, None)]
FRAME = pd.DataFrame(ROWS, columns=["subject_id", "arm", "visit", "hamd17"])


def check_contents(path, **kwargs):
    scores = validate_scores(read_table(path, **kwargs))
    d = scores.data
    assert d["subject_id"].tolist() == ["P1", "P1", "P2", "P2"]
    assert d["arm"].tolist() == ["IPT", "IPT", "TAU", "TAU"]
    assert d["visit"].tolist() == [0.0, 3.0, 0.0, 3.0]
    assert d["score"].tolist()[:3] == [20.0, 9.0, 18.0] and pd.isna(d["score"].iloc[3])
    return scores


def test_csv_utf8(write_csv):
    check_contents(
        write_csv("subject_id,arm,visit,hamd17\nP1,IPT,0,20\nP1,IPT,3,9\nP2,TAU,0,18\nP2,TAU,3,\n")
    )


def test_csv_with_bom_and_crlf(write_csv):
    text = "\ufeffsubject_id,arm,visit,hamd17\nP1,IPT,0,20\nP1,IPT,3,9\nP2,TAU,0,18\nP2,TAU,3,\n"
    check_contents(write_csv(text, newline="\r\n"))


def test_semicolon_csv_with_decimal_comma(write_csv):
    text = "subject_id;arm;visit;hamd17\nP1;IPT;0;20\nP1;IPT;1,5;9\n"
    scores = validate_scores(read_table(write_csv(text)))
    assert scores.data["visit"].tolist() == [0.0, 1.5]


def test_quoted_fields_with_commas(write_csv):
    text = 'subject_id,arm,visit,hamd17\nP1,"IPT, individual",0,20\n'
    assert validate_scores(read_table(write_csv(text))).data["arm"].iloc[0] == "IPT, individual"


def test_xlsx_first_sheet_and_named_sheet(tmp_path):
    path = tmp_path / "scores.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(xw, sheet_name="README", index=False)
        FRAME.to_excel(xw, sheet_name="scores", index=False)
    check_contents(path, sheet="scores")


def test_xlsx_wrong_sheet_lists_the_sheets(tmp_path):
    path = tmp_path / "scores.xlsx"
    FRAME.to_excel(path, sheet_name="data", index=False)
    with pytest.raises(InputFileError, match="no sheet 'scores'; the sheets are 'data'"):
        read_table(path, sheet="scores")


def test_parquet(tmp_path):
    path = tmp_path / "scores.parquet"
    FRAME.to_parquet(path)
    check_contents(path)


def test_spss_sav(tmp_path):
    path = tmp_path / "scores.sav"
    pyreadstat.write_sav(FRAME, str(path))
    check_contents(path)


def test_stata_dta(tmp_path):
    path = tmp_path / "scores.dta"
    pyreadstat.write_dta(FRAME, str(path))
    check_contents(path)


def test_sas7bdat_written_by_r_haven():
    # tests/data/tiny.sas7bdat is written by tests/data/make_fixtures.R
    scores = check_contents(ROOT / "tests" / "data" / "tiny.sas7bdat")
    assert scores.data.index.tolist() == [0, 1, 2, 3]


def test_binary_formats_number_records_not_rows(tmp_path):
    path = tmp_path / "scores.parquet"
    FRAME.assign(hamd17=[20, 99, 18, None]).to_parquet(path)
    from ipt_outcomes.exceptions import DataValidationError

    with pytest.raises(DataValidationError) as info:
        validate_scores(read_table(path))
    assert info.value.problems[0].row == "record 2"


def test_spss_numeric_ids_become_text_without_decimals(tmp_path):
    path = tmp_path / "scores.sav"
    pyreadstat.write_sav(FRAME.assign(subject_id=[101.0, 101.0, 102.0, 102.0]), str(path))
    assert validate_scores(read_table(path)).data["subject_id"].tolist() == [
        "101",
        "101",
        "102",
        "102",
    ]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_text("subject_id,arm,visit,hamd17\n"), "header but no data rows"),
        (lambda p: p.write_bytes(b"\x7fELF\x02\x01\x00\x00binary"), "binary file"),
        (lambda p: p.write_bytes(b"PK\x03\x04\x00\x00binary"), "is a zip archive"),
        (
            lambda p: p.write_bytes(
                "subject_id,arm,visit,hamd17\nP1,Hyvä,0,20\n".encode("latin-1")
            ),
            "not utf-8",
        ),
        (lambda p: p.write_text("a,b,a\n1,2,3\n"), "appear more than once: a"),
        (lambda p: p.write_text("a,b\n1,2,3,4\n"), "do not line up"),
    ],
    ids=[
        "missing",
        "directory",
        "empty",
        "header-only",
        "binary",
        "zip",
        "latin-1",
        "duplicate-columns",
        "ragged",
    ],
)
def test_unreadable_csv_is_refused_clearly(tmp_path, setup, message):
    path = tmp_path / "scores.csv"
    setup(path)
    with pytest.raises(InputFileError) as info:
        read_table(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_latin1_file_reads_with_explicit_encoding(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_bytes("subject_id,arm,visit,hamd17\nP1,Hyvä,0,20\n".encode("latin-1"))
    assert validate_scores(read_table(path, encoding="latin-1")).data["arm"].iloc[0] == "Hyvä"


def test_unsupported_extension_is_refused(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text("{}")
    with pytest.raises(InputFileError, match="unsupported file type '.json'"):
        read_table(path)


def test_corrupt_xlsx_is_refused(tmp_path):
    path = tmp_path / "scores.xlsx"
    path.write_text("not a spreadsheet")
    with pytest.raises(InputFileError, match="cannot be read as an Excel"):
        read_table(path)


def test_huge_number_of_columns_is_refused(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(2500)) + "\n" + ",".join("1" * 2500) + "\n")
    with pytest.raises(InputFileError, match="2500 columns"):
        read_table(path)


# --- issue 19: statistical files --------------------------------------------------------------

CORPUS = ROOT / "tests" / "corpus"
TEXT = "subject_id,arm,visit,hamd17\nP1,IPT,0,20\nP1,IPT,3,9\nP2,TAU,0,18\nP2,TAU,3,\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_unicode_text_with_a_byte_order_mark_is_read(tmp_path, encoding):
    path = tmp_path / "scores.csv"
    bom = {"utf-16": b"", "utf-16-be": b"\xfe\xff", "utf-32": b""}[encoding]
    path.write_bytes(bom + TEXT.encode(encoding))
    check_contents(path)


def test_utf16_without_a_byte_order_mark_needs_the_encoding(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_bytes(TEXT.encode("utf-16-le"))
    with pytest.raises(InputFileError, match="give --encoding utf-16"):
        read_table(path)
    check_contents(path, encoding="utf-16-le")


def test_pipe_separated_text(write_csv):
    check_contents(write_csv(TEXT.replace(",", "|")))


def test_xlsx_formula_without_a_saved_value_is_refused_by_cell():
    with pytest.raises(InputFileError) as info:
        read_table(CORPUS / "formula_no_value.xlsx")
    text = str(info.value)
    assert "1 formula cell without a saved value" in text
    assert "formula_no_value.xlsx, row 3, column hamd17 (cell D3): formula =B2*0+10" in text


def test_xlsx_formula_whose_result_is_empty_text_is_an_empty_cell():
    scores = validate_scores(read_table(CORPUS / "formula_empty_text.xlsx"))
    assert scores.data["score"].isna().tolist() == [False, True, False, False]


def test_xlsx_duplicate_and_empty_sheets_are_refused():
    with pytest.raises(InputFileError, match="column names appear more than once: arm"):
        read_table(CORPUS / "duplicate_header.xlsx")
    with pytest.raises(InputFileError, match="sheet 'empty': the sheet is empty; the other"):
        read_table(CORPUS / "empty_first_sheet.xlsx")
    assert len(read_table(CORPUS / "empty_first_sheet.xlsx", sheet="scores").frame) == 4


def test_sheet_names_and_value_labels_are_read_without_the_data():
    assert sheet_names(CORPUS / "notes_first.xlsx") == ["Notes", "scores", "codes"]
    assert sheet_names(CORPUS / "ok_two_arms.csv") == []
    labels = value_labels_of(CORPUS / "labelled_visit.sav")
    assert labels == {
        "arm": {1: "TAU", 2: "IPT"},
        "visit": {0: "Baseline", 1: "Week 4", 2: "Week 8"},
    }
    assert value_labels_of(CORPUS / "ok_two_arms.csv") == {}


def test_value_labels_are_an_explicit_choice():
    """Codes by default (a labelled numeric visit stays a number); labels on request."""
    codes = validate_scores(read_table(CORPUS / "labelled_arm.sav")).data
    assert codes["arm"].unique().tolist() == ["1", "2"]
    labels = validate_scores(read_table(CORPUS / "labelled_arm.sav", value_labels="labels")).data
    assert labels["arm"].unique().tolist() == ["TAU", "IPT"]
    visit = validate_scores(read_table(CORPUS / "labelled_visit.sav")).data
    assert sorted(visit["visit"].unique()) == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="value_labels must be 'codes' or 'labels'"):
        read_table(CORPUS / "labelled_arm.sav", value_labels="both")
