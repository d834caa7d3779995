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


# --- issue 30: files as European spreadsheets write them, look-alike labels, bounded work -----

import os  # noqa: E402
import warnings  # noqa: E402
import zipfile  # noqa: E402

import openpyxl  # noqa: E402

from ipt_outcomes.data import readers  # noqa: E402
from ipt_outcomes.exceptions import DataValidationError, InputWarning  # noqa: E402

H = "subject_id,arm,visit,hamd17\n"


def workbook(path, rows, header=("subject_id", "arm", "visit", "hamd17"), edit=None):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "data"
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    if edit is not None:
        edit(ws)
    wb.save(path)
    return path


def read_quietly(path, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = read_table(path, **kwargs)
    return raw, [str(w.message) for w in caught if issubclass(w.category, InputWarning)]


def test_workbook_booleans_are_never_scores_or_visits(tmp_path):
    rows = [("P1", "IPT", 0, 20), ("P1", "IPT", 3, True), ("P2", "TAU", False, 18)]
    with pytest.raises(DataValidationError) as info:
        validate_scores(read_table(workbook(tmp_path / "b.xlsx", rows)))
    text = str(info.value)
    assert "row 3, subject P1, column hamd17: score 'TRUE' is not a number" in text
    assert "row 4, subject P2, column visit: visit 'FALSE' is not a number" in text


@pytest.mark.parametrize("word", ["TRUE", "FALSE", "WAHR", "FALSCH", "true"])
def test_boolean_words_in_text_files_are_not_scores(write_csv, word):
    with pytest.raises(DataValidationError, match=f"score '{word}' is not a number"):
        validate_scores(read_table(write_csv(H + f"P1,IPT,0,20\nP1,IPT,3,{word}\n")))


def test_boolean_columns_of_typed_files_are_text(tmp_path):
    path = tmp_path / "b.parquet"
    FRAME.assign(hamd17=[True, False, True, None]).to_parquet(path)
    with pytest.raises(
        DataValidationError, match="record 1, subject P1, column hamd17: score 'TRUE'"
    ):
        validate_scores(read_table(path))


def test_workbook_dates_are_text_not_visits(tmp_path):
    import datetime

    rows = [("P1", "IPT", datetime.datetime(2024, 1, 31), 20), ("P1", "IPT", 3, 9)]
    with pytest.raises(
        DataValidationError, match="row 2, subject P1, column visit: visit '2024-01-31'"
    ):
        validate_scores(read_table(workbook(tmp_path / "d.xlsx", rows)))


def test_floating_point_noise_in_visits_is_snapped_and_said(write_csv, tmp_path):
    raw, said = read_quietly(
        write_csv(H + "P1,IPT,0,20\nP1,IPT,2.9999999999,9\nP2,TAU,0,18\nP2,TAU,3,7\n")
    )
    assert validate_scores(raw).data["visit"].tolist() == [0.0, 3.0, 0.0, 3.0]
    assert len(said) == 1 and "row 3: 2.9999999999 as 3" in said[0] and "column visit" in said[0]
    rows = [("P1", "IPT", 0, 20), ("P1", "IPT", 3 - 1e-12, 9), ("P2", "TAU", 1.5 + 3e-11, 18)]
    raw, said = read_quietly(workbook(tmp_path / "n.xlsx", rows))
    assert raw.frame["visit"].tolist() == [0, 3.0, 1.5]
    assert "2 cells read as the round number" in said[0]


def test_a_visit_near_but_not_at_a_round_number_is_left_alone(write_csv):
    raw, said = read_quietly(write_csv(H + "P1,IPT,0,20\nP1,IPT,2.99,9\nP1,IPT,0.333333333,8\n"))
    assert validate_scores(raw).data["visit"].tolist() == [0.0, 2.99, 0.333333333]
    assert said == []


def test_decimal_comma_with_dots_as_thousands_separators(write_csv):
    text = "subject_id;arm;visit;hamd17\nP1;IPT;0;20\nP1;IPT;1.095,5;9\nP2;TAU;0;18\nP2;TAU;1,5;7\n"
    raw, said = read_quietly(write_csv(text))
    assert validate_scores(raw).data["visit"].tolist() == [0.0, 1095.5, 0.0, 1.5]
    assert "'1.095,5' as 1095.5" in said[0]


def test_a_column_mixing_decimal_points_and_commas_is_refused_by_cell(write_csv):
    text = "subject_id;arm;visit;hamd17\nP1;IPT;0;20\nP1;IPT;1,5;9\nP2;TAU;0;18\nP2;TAU;1.5;7\n"
    with pytest.raises(InputFileError) as info:
        read_table(write_csv(text))
    assert "row 5, subject P2, column visit: '1.5' has a decimal point" in str(info.value)
    assert "row 3: '1,5'" in str(info.value)


def test_codes_with_dots_in_a_decimal_comma_file_are_read_as_written(write_csv):
    text = "subject_id;arm;visit;hamd17\n101.001;IPT;0;20\n101.001;IPT;3;9\n"
    raw, said = read_quietly(write_csv(text))
    assert validate_scores(raw).data["subject_id"].tolist() == ["101.001", "101.001"]
    assert said == []


def test_nfc_and_nfd_spellings_of_an_arm_are_one_arm(write_csv):
    import unicodedata

    nfc = "Hoito tavallisesti ä"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    text = H + f"P1,{nfc},0,20\nP1,{nfd},3,9\nP2,IPT,0,18\nP2,IPT,3,7\n"
    data = validate_scores(read_table(write_csv(text))).data
    assert data["arm"].nunique() == 2 and set(data["arm"]) == {nfc, "IPT"}


@pytest.mark.parametrize(
    "label", ["TAU\u200b", "\ufeffTAU", "\u00a0TAU\u00a0", "T\u200bAU", "TAU\u2060", "TAU\u200d"]
)
def test_invisible_characters_never_make_a_second_arm(write_csv, label):
    text = H + f"P1,TAU,0,20\nP1,TAU,3,9\nP2,{label},0,18\nP2,{label},3,7\n"
    raw, _ = read_quietly(write_csv(text))
    assert set(validate_scores(raw).data["arm"]) == {"TAU"}


def test_removed_invisible_characters_are_said(write_csv):
    _, said = read_quietly(write_csv(H + "P1,TAU\u200b,0,20\nP1,TAU,3,9\n"))
    assert len(said) == 1
    assert "column arm: 1 cell with invisible characters" in said[0]
    assert "row 2: 'TAU\\u200b' as 'TAU'" in said[0]


@pytest.mark.parametrize(
    ("label", "named"),
    [
        ("TA\x07U", "U+0007"),
        ("\u202eUAT", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("A\x1b[2JB", "U+001B"),
    ],
)
def test_control_and_direction_characters_are_refused_by_cell(write_csv, label, named):
    with pytest.raises(InputFileError) as info:
        read_table(write_csv(H + f"P1,IPT,0,20\nP2,{label},0,18\n"))
    text = str(info.value)
    assert "row 3, subject P2, column arm: the cell" in text and named in text


def test_joiners_inside_words_are_kept():
    from ipt_outcomes.data.cells import clean_text

    persian = "می\u200cخواهم"  # zero-width non-joiner inside a Persian word
    assert clean_text(persian) == (persian, None)


@pytest.mark.parametrize("label", ["None", "NA", "NaN", "null", "N/A"])
def test_missing_value_words_are_labels_in_csv_and_xlsx_alike(write_csv, tmp_path, label):
    rows = [("P1", "TAU", 0, 20), ("P1", "TAU", 3, 9), ("P2", label, 0, 18), ("P2", label, 3, 7)]
    csv_path = write_csv(H + "".join(",".join(map(str, r)) + "\n" for r in rows))
    for path in (csv_path, workbook(tmp_path / "l.xlsx", rows)):
        assert validate_scores(read_table(path)).data["arm"].tolist()[2:] == [label, label]


def test_an_empty_workbook_cell_is_missing(tmp_path):
    rows = [("P1", "TAU", 0, 20), ("P1", None, 3, 9)]
    with pytest.raises(DataValidationError, match="row 3, subject P1, column arm: arm is empty"):
        validate_scores(read_table(workbook(tmp_path / "e.xlsx", rows)))


def test_merged_cells_in_the_data_are_refused_naming_the_range(tmp_path):
    rows = [("P1", "TAU", 0, 20), ("P1", None, 3, 9), ("P1", None, 6, 8)]
    path = workbook(tmp_path / "m.xlsx", rows, edit=lambda ws: ws.merge_cells("B2:B4"))
    with pytest.raises(InputFileError, match=r"rows 2-4, column arm \(cells B2:B4\): merged cells"):
        read_table(path)


def test_hidden_rows_are_read_as_data_with_a_warning(tmp_path):
    rows = [("P1", "TAU", 0, 20), ("P1", "TAU", 3, 9), ("P2", "IPT", 0, 18)]

    def hide(ws):
        ws.row_dimensions[3].hidden = True

    raw, said = read_quietly(workbook(tmp_path / "h.xlsx", rows, edit=hide))
    assert len(raw.frame) == 3
    assert said and "1 row hidden in Excel (3) is read as data" in said[0]


def test_a_workbook_that_unpacks_beyond_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    path = workbook(tmp_path / "bomb.xlsx", [("P1", "TAU", 0, 20)])
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/padding.xml", b"\0" * (3 << 20))
    monkeypatch.setattr(readers, "MAX_UNPACKED_BYTES", 2 << 20)
    with pytest.raises(InputFileError, match="unpacks to 3 MiB .* more than the 2 MiB"):
        read_table(path)


def test_a_part_compressed_like_a_bomb_is_refused(tmp_path):
    path = workbook(tmp_path / "bomb.xlsx", [("P1", "TAU", 0, 20)])
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/padding.xml", b"\0" * (12 << 20))
    with pytest.raises(InputFileError, match="decompression bomb"):
        read_table(path)


def test_a_parquet_file_declaring_too_many_rows_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "s.parquet"
    FRAME.to_parquet(path)
    monkeypatch.setattr(readers, "MAX_ROWS", 3)
    with pytest.raises(InputFileError, match="4 rows is more than the 3"):
        read_table(path)


def test_one_long_text_repeated_down_a_parquet_column_is_refused(tmp_path):
    path = tmp_path / "s.parquet"
    long = "x" * 40_000
    pd.DataFrame({**FRAME.to_dict("list"), "note": [long] * 4}).to_parquet(path)
    with pytest.raises(InputFileError, match="column note: a text of 40,000 characters"):
        read_table(path)


def test_a_cell_longer_than_a_spreadsheet_cell_is_refused(write_csv):
    with pytest.raises(InputFileError, match="row 2, subject P1, column arm: a cell of 40,000"):
        read_table(write_csv(H + f"P1,{'T' * 40_000},0,20\n"))


def test_too_many_rows_are_refused_before_parsing(write_csv, monkeypatch):
    monkeypatch.setattr(readers, "MAX_ROWS", 2)
    with pytest.raises(InputFileError, match="more than 2 lines"):
        read_table(write_csv(TEXT))


def test_a_nul_byte_late_in_a_file_names_its_row(write_csv):
    path = write_csv(H + "P1,IPT,0,20\n" * 6000 + "P1,IP\x00T,3,9\n")  # past the first 64 KiB
    with pytest.raises(InputFileError, match="row 6002: a NUL character"):
        read_table(path)


def test_excel_separator_line_is_followed(write_csv):
    raw = read_table(write_csv("sep=;\n" + TEXT.replace(",", ";")))
    check_contents(raw.path)
    assert raw.row_label(0) == "row 3"


def test_excel_text_formulas_keep_leading_zeros(write_csv):
    raw, said = read_quietly(write_csv(H + '="007",IPT,0,20\n="007",IPT,3,9\n'))
    assert validate_scores(raw).data["subject_id"].tolist() == ["007", "007"]
    assert said and "read as the text Excel shows" in said[0]


def test_a_header_with_an_invisible_character_still_names_its_column(write_csv):
    text = "subject_id,arm\u200b,visit,\u00a0hamd17\nP1,IPT,0,20\n"
    assert list(read_table(write_csv(text)).frame.columns) == list(FRAME.columns)


@pytest.mark.skipif(os.name != "posix", reason="POSIX links and named pipes")
def test_links_to_nothing_loops_and_pipes_are_refused(tmp_path):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    with pytest.raises(InputFileError, match="a loop of links"):
        read_table(loop)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "gone.csv")
    with pytest.raises(InputFileError, match="which does not exist"):
        read_table(dangling)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match="is a named pipe"):
        read_table(fifo)


def test_a_password_protected_workbook_is_named_as_such(tmp_path):
    path = tmp_path / "locked.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    with pytest.raises(InputFileError, match="password-protected workbook"):
        read_table(path)


def test_one_mistake_down_a_column_is_listed_briefly(write_csv):
    rows = "".join(f"P{i},IPT,{v},ten\n" for i in range(2000) for v in (0, 3))
    with pytest.raises(DataValidationError) as info:
        validate_scores(read_table(write_csv(H + rows)))
    text = str(info.value)
    assert len(info.value.problems) == 4000
    assert len(text.splitlines()) < 30 and len(text) < 5_000
    assert "... and 3,980 more rows like this" in text


def test_old_macintosh_line_ends_are_lines(write_csv):
    check_contents(write_csv(TEXT, newline="\r"))


def test_trailing_separators_make_unnamed_columns_not_duplicates(write_csv):
    raw = read_table(write_csv("".join(line + ",,\n" for line in TEXT.splitlines())))
    assert list(raw.frame.columns)[4:] == ["Unnamed: 4", "Unnamed: 5"]
    check_contents(raw.path)


def test_a_repeated_header_is_refused_naming_its_row(write_csv):
    with pytest.raises(InputFileError, match="row 4 repeats the header"):
        read_table(write_csv(H + "P1,IPT,0,20\nP1,IPT,3,9\n" + H + "P2,TAU,0,18\n"))


@pytest.mark.parametrize(
    ("label", "why"),
    [
        ("\u0422\u0410U", "another script"),
        ("\uff34\uff21\uff35", "another form"),
        ("T\u0391U", "another script"),
    ],
)
def test_labels_that_print_like_another_are_refused_naming_both(write_csv, label, why):
    text = H + f"P1,TAU,0,20\nP1,TAU,3,9\nP2,{label},0,18\nP2,{label},3,7\n"
    with pytest.raises(InputFileError) as info:
        read_table(write_csv(text))
    assert "row 4, subject P2, column arm:" in str(info.value)
    assert "prints like 'TAU' (row 2)" in str(info.value) and why in str(info.value)


def test_spacing_alone_is_a_look_alike_in_categories_not_in_free_text(write_csv):
    arms = H + "P1,IPT + MED,0,20\nP2,IPT  + MED,0,18\n"
    with pytest.raises(InputFileError, match="different text \\(spacing\\)"):
        read_table(write_csv(arms))
    notes = "subject_id,arm,visit,hamd17,note\n" + "".join(
        f"P{i},TAU,0,20,{'seen  twice' if i == 0 else 'seen twice' if i == 1 else f'note {i}'}\n"
        for i in range(150)
    )
    assert len(read_table(write_csv(notes)).frame) == 150  # 150 different notes: free text


def test_labels_in_another_script_alone_are_labels(write_csv):
    russian = "\u041a\u043e\u043d\u0442\u0440\u043e\u043b\u044c"
    text = H + f"P1,{russian},0,20\nP1,{russian},3,9\nP2,IPT,0,18\nP2,IPT,3,7\n"
    assert set(validate_scores(read_table(write_csv(text))).data["arm"]) == {russian, "IPT"}


@pytest.mark.parametrize(
    "label", ["TAU\ufe0f", "\u2063TAU", "TAU\U000e0041", "TAU\u3164", "T\u034fAU"]
)
def test_other_invisible_characters_are_removed(write_csv, label):
    raw, said = read_quietly(write_csv(H + f"P1,TAU,0,20\nP2,{label},0,18\n"))
    assert raw.frame["arm"].tolist() == ["TAU", "TAU"] and said


def test_an_emoji_sequence_keeps_its_joiners(write_csv):
    label = "IPT \U0001f469\u200d\u2695\ufe0f"
    raw = read_table(write_csv(H + f"P1,{label},0,20\n"))
    assert raw.frame["arm"].tolist() == [label]


def test_a_parquet_file_declaring_too_many_columns_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "s.parquet"
    FRAME.to_parquet(path)
    monkeypatch.setattr(readers, "MAX_COLUMNS", 3)
    with pytest.raises(InputFileError, match="4 columns is more than the 3"):
        read_table(path)


def test_booleans_of_the_yes_no_column_are_one_and_zero_in_every_format(write_csv, tmp_path):
    flags = [True, True, False, False]
    parquet = tmp_path / "s.parquet"
    FRAME.assign(antidepressant=flags).to_parquet(parquet)
    rows = [(*r, f) for r, f in zip(ROWS, flags, strict=True)]
    header = (*FRAME.columns, "antidepressant")
    book = workbook(tmp_path / "s.xlsx", rows, header=header)
    words = write_csv(
        ",".join(header)
        + "\n"
        + "".join(
            f"{s},{a},{v},{'' if y is None else y},{'WAHR' if f else 'false'}\n"
            for (s, a, v, y), f in zip(ROWS, flags, strict=True)
        )  # fmt: skip
    )
    for path in (parquet, book, words):
        assert check_contents(path).data["antidepressant"].tolist() == [1.0, 1.0, 0.0, 0.0]


def test_a_line_longer_than_any_data_row_is_refused_before_decoding(write_csv, monkeypatch):
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 100)
    with pytest.raises(InputFileError, match="row 3 is 0 MiB long; no data row is"):
        read_table(write_csv(H + "P1,IPT,0,20\nP2," + "T" * 200 + ",0,18\nP3,TAU,0,17\n"))


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 20])
def test_the_longest_line_is_found_across_chunks(chunk):
    data = b"ab\ncdefg\n\nhij\nklmnopq"
    assert readers._longest_line(data, chunk=chunk) == (14, 7)
    assert readers._longest_line(b"a\nbcdef\n", chunk=chunk) == (2, 5)


def test_measurements_keep_every_digit_only_round_columns_are_snapped(tmp_path):
    """Noise is snapped only where values must be round (visits, scores of an integer scale):
    a continuous measurement written to 15 digits is data, kept as written (it once lost its
    last digits as 'spreadsheet noise')."""
    from ipt_outcomes.data.readers import read_table

    path = tmp_path / "x.csv"
    path.write_text("visit,g\n2.9999999999,0.284494999500973\n")
    kept = read_table(path, snap_columns={"visit"}).frame
    assert float(kept["visit"].iloc[0]) == 3.0
    assert float(kept["g"].iloc[0]) == 0.284494999500973
