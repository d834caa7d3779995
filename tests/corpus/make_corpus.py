"""Write the corpus of bad and awkward inputs (run from this folder: python make_corpus.py).

Each case's expected outcome is in manifest.csv: the command, the file, the command-line
arguments after it, the exit status and a fragment of the message. The files are committed; this
script documents how they were made and remakes them byte for byte (except the SPSS files, whose
header carries the time they were written).
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
H = "subject_id,arm,visit,hamd17\n"
OK = "A,TAU,0,20\nA,TAU,3,10\nB,IPT,0,18\nB,IPT,3,12\n"
TWO_ARMS = "".join(
    f"{s},{arm},0,{20 + i}\n{s},{arm},3,{12 + (i * 5) % 9}\n{s},{arm},6,{9 + (i * 7) % 8}\n"
    for i, (s, arm) in enumerate((f"P{i:02d}", "TAU" if i % 2 else "IPT") for i in range(12))
)
#: A fixed time for the workbook properties, so that the .xlsx files are the same on every run.
STAMP = datetime.datetime(2024, 1, 1)

TEXT = {
    "empty.csv": "",
    "header_only.csv": H,
    "missing_column.csv": "subject_id,arm,visit\nA,TAU,0\n",
    "misspelt_column.csv": "subject_id,arm,visit,hamd_17\nA,TAU,0,20\n",
    "text_score.csv": H + "A,TAU,0,20\nA,TAU,3,ten\n",
    "fractional_score.csv": H + "A,TAU,0,20\nA,TAU,3,10.5\n",
    "out_of_range_score.csv": H + "A,TAU,0,20\nA,TAU,3,53\n",
    "negative_score.csv": H + "A,TAU,0,20\nA,TAU,3,-2\n",
    "infinite_score.csv": H + "A,TAU,0,20\nA,TAU,3,inf\n",
    "huge_score.csv": H + "A,TAU,0,20\nA,TAU,3,1e400\n",
    "negative_visit.csv": H + "A,TAU,0,20\nA,TAU,-3,10\n",
    "text_visit.csv": H + "A,TAU,baseline,20\nA,TAU,3,10\n",
    "empty_visit.csv": H + "A,TAU,0,20\nA,TAU,,10\n",
    "duplicate_subject_visit.csv": H + "A,TAU,0,20\nA,TAU,3,10\nA,TAU,3,11\n",
    "subject_in_two_arms.csv": H + "A,TAU,0,20\nA,IPT,3,10\n",
    "empty_arm.csv": H + "A,TAU,0,20\nA,,3,10\n",
    "empty_subject.csv": H + "A,TAU,0,20\n,TAU,3,10\n",
    "baseline_zero.csv": H + "A,TAU,0,0\nA,TAU,3,0\n",
    "missing_baseline.csv": H + OK + "C,TAU,3,9\n",
    "semicolon_decimal_comma.csv": "subject_id;arm;visit;hamd17\nA;TAU;0;20\nA;TAU;1,5;10\n",
    "ragged_rows.csv": H + "A,TAU,0,20,extra\nA,TAU,3,10\n",
    "duplicate_header.csv": "subject_id,arm,visit,hamd17,arm\nA,TAU,0,20,TAU\n",
    "na_tokens.csv": H + "A,TAU,0,20\nA,TAU,3,NA\nA,TAU,6,.\nA,TAU,12,\n",
    "blank_lines.csv": H + "\nA,TAU,0,20\n\nA,TAU,3,10\n\n",
    "padded_labels.csv": H + " A , TAU ,0, 20 \n A , TAU ,3, 10\n",
    "spreadsheet_formula_labels.csv": H
    + 'A,=HYPERLINK("x"),0,20\nA,=HYPERLINK("x"),3,10\nB,TAU,0,18\nB,TAU,3,12\n',
    "html_labels.csv": H
    + "A,<script>alert(1)</script>,0,20\nA,<script>alert(1)</script>,3,10\nB,TAU,0,18\nB,TAU,3,9\n",
    "non_ascii_labels.csv": H
    + "A,Hoito tavallisesti (TAU),0,20\nA,Hoito tavallisesti (TAU),3,10\nB,IPT + lääke,0,18\nB,IPT + lääke,3,9\n",
    "cgi_out_of_range.csv": "subject_id,arm,visit,hamd17,cgi_s\nA,TAU,0,20,9\n",
    "baseline_column_changes.csv": "subject_id,arm,visit,hamd17,base\nA,TAU,1,10,20\nA,TAU,2,9,21\n",
    "wrong_extension.json": '{"subject_id": "A"}\n',
    "corrupt.xlsx": "this is not a spreadsheet\n",
    "corrupt.parquet": "PAR1 truncated",
    # issue 19: misleading verdicts and user mistakes once called internal errors
    "ok_two_arms.csv": H + TWO_ARMS,
    "single_arm.csv": H + "A,TAU,0,20\nA,TAU,3,10\nB,TAU,0,18\nB,TAU,3,12\n",
    "baseline_visit_1.csv": H + TWO_ARMS.replace(",0,", ",1,"),
    "all_followup_missing.csv": H + "A,TAU,0,20\nA,TAU,3,\nB,IPT,0,18\nB,IPT,3,\n",
    "empty_covariate.csv": "subject_id,arm,visit,hamd17,age\n"
    + "".join(line + ",\n" for line in TWO_ARMS.splitlines()),
    "pipe_separated.csv": "subject_id|arm|visit|hamd17\n" + OK.replace(",", "|"),
    "reference_absent.csv": H + OK.replace("TAU", "CBT"),
    "remission_negative.toml": "[analysis]\nremission_max = -5\n",
    "design_two_arms.toml": '[[arms]]\ncode = "TAU"\n[[arms]]\ncode = "CBT"\n',
    "design_schedule.toml": "[visits]\nschedule = [0, 6]\ntimes = [0, 6]\n",
    "events_unknown_subject.csv": "subject_id,visit,strategy\nZZ,3,JR\n",
    # issue 19, round three: covariates that cannot adjust, designs that say nothing or the
    # wrong type, an arm seen only at baseline, a subject in two arms by letter case
    "covariates.csv": "subject_id,arm,visit,hamd17,site,age\n"
    + "".join(f"{line},A,{30 + i // 3}\n" for i, line in enumerate(TWO_ARMS.splitlines())),
    "arm_baseline_only.csv": H + TWO_ARMS + "Q1,CBT,0,22\n",
    "arm_letter_case.csv": H + TWO_ARMS.replace("P00,IPT,3,", "P00,ipt,3,"),
    "key_visit_absent.toml": "[visits]\nschedule = [0, 3, 6, 12]\nkey = [12]\n",
    "design_text_number.toml": '[analysis]\nresponse_improvement = "0.5"\n',
    "design_bool_time.toml": "[visits]\nschedule = [0, 3, 6]\ntimes = [0, true, 6]\n",
    "design_empty_label.toml": '[[arms]]\ncode = "IPT"\nlabel = ""\n[[arms]]\ncode = "TAU"\n',
    "two_visits.csv": H
    + "".join(line + "\n" for line in TWO_ARMS.splitlines() if ",6," not in line),
}


def main() -> None:
    for name, text in TEXT.items():
        (HERE / name).write_bytes(text.encode("utf-8"))
    (HERE / "bom_crlf.csv").write_bytes(("\ufeff" + H + OK).replace("\n", "\r\n").encode("utf-8"))
    (HERE / "latin1.csv").write_bytes((H + "A,Hyvä hoito,0,20\n").encode("latin-1"))
    (HERE / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (HERE / "many_columns.csv").write_text(
        ",".join(f"c{i}" for i in range(2500)) + "\n" + ",".join("1" * 2500) + "\n"
    )
    _book({"data": [("subject_id", "arm", "visit", "hamd17"), ("A", "TAU", 0, 20), ("A", "TAU", 3, 10)]},
          "wrong_sheet.xlsx")  # fmt: skip
    (HERE / "a_directory").mkdir(exist_ok=True)
    (HERE / "a_directory" / ".keep").write_text("")
    # issue 19
    (HERE / "utf16_bom.csv").write_bytes((H + OK).encode("utf-16"))
    workbooks()
    spss_files()
    many_visits()


def _book(sheets: dict, name: str) -> None:
    """A workbook of ``{sheet: rows}`` (cells starting with ``=`` are formulas, saved without
    a value, as a program that does not calculate writes them)."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(list(row))
    wb.properties.created = wb.properties.modified = STAMP
    wb.save(HERE / name)
    _restamp(HERE / name)


def _restamp(path: Path, edit=None) -> None:
    """Rewrite a workbook's zip with fixed entry times (so it is the same on every run),
    optionally editing its parts first."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    core = "docProps/core.xml"  # openpyxl stamps the time of saving here
    if core in parts:
        parts[core] = re.sub(
            rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2024-01-01T00:00:00Z", parts[core]
        )
    if edit is not None:
        edit(parts)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            info = zipfile.ZipInfo(n, date_time=STAMP.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


def workbooks() -> None:
    header = ("subject_id", "arm", "visit", "hamd17")
    rows = [("A", "TAU", 0, 20), ("A", "TAU", 3, 10), ("B", "IPT", 0, 18), ("B", "IPT", 3, 9)]
    _book({"data": [header, *rows[:1], ("A", "TAU", 3, "=B2*0+10"), *rows[2:]]},
          "formula_no_value.xlsx")  # fmt: skip
    _book({"Notes": [("note",), ("Scores of STUDY01 are on the sheet 'scores'",)],
           "scores": [header, *rows], "codes": [("code", "meaning")]}, "notes_first.xlsx")  # fmt: skip
    _book({"data": [(*header, "arm"), *[(*r, r[1]) for r in rows]]}, "duplicate_header.xlsx")
    _book({"empty": [], "scores": [header, *rows]}, "empty_first_sheet.xlsx")
    # a formula whose result is an empty text is a real empty cell, saved with type "str"
    import shutil

    def empty_text(parts):
        sheet = "xl/worksheets/sheet1.xml"
        parts[sheet] = parts[sheet].replace(
            b'<c r="D3"><f>B2*0+10</f><v /></c>',
            b'<c r="D3" t="str"><f>IF(TRUE,"","x")</f><v></v></c>',
        )
        assert b'IF(TRUE,"","x")' in parts[sheet]

    shutil.copyfile(HERE / "formula_no_value.xlsx", HERE / "formula_empty_text.xlsx")
    _restamp(HERE / "formula_empty_text.xlsx", empty_text)

    # a cell holding a spreadsheet error (#DIV/0!) where a score should be
    def error_cell(parts):
        sheet = "xl/worksheets/sheet1.xml"
        parts[sheet] = parts[sheet].replace(
            b'<c r="D3"><f>B2*0+10</f><v /></c>', b'<c r="D3" t="e"><f>1/0</f><v>#DIV/0!</v></c>'
        )
        assert b"#DIV/0!" in parts[sheet]

    shutil.copyfile(HERE / "formula_no_value.xlsx", HERE / "error_cell.xlsx")
    _restamp(HERE / "error_cell.xlsx", error_cell)
    # a workbook saved under a text name
    shutil.copyfile(HERE / "notes_first.xlsx", HERE / "workbook_named_csv.csv")


def spss_files() -> None:
    """SPSS files whose numeric arm and visit carry value labels."""
    import pyreadstat

    arms = {1: "TAU", 2: "IPT"}
    visits = {0: "Baseline", 1: "Week 4", 2: "Week 8"}
    rows = [(s, a, v, 20 - 4 * v - (a == 2) * 3 * v) for s, a in (("A", 1), ("B", 2), ("C", 1), ("D", 2))
            for v in (0, 1, 2)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["subject_id", "arm", "visit", "hamd17"])
    frame[["arm", "visit", "hamd17"]] = frame[["arm", "visit", "hamd17"]].astype(float)
    pyreadstat.write_sav(frame, HERE / "labelled_visit.sav",
                         variable_value_labels={"arm": arms, "visit": visits})  # fmt: skip
    pyreadstat.write_sav(frame, HERE / "labelled_arm.sav", variable_value_labels={"arm": arms})


def many_visits() -> None:
    """Issue 30: ratings at every session. 60 subjects at 20 or 40 weekly visits (an unstructured
    covariance of 210 / 820 parameters), and 12 subjects at 14 visits (fewer subjects than
    visits); seeded, so the files are the same on every run."""
    import numpy as np

    rng = np.random.default_rng(30)
    for name, n, visits in (("many_visits_20.csv", 60, 20), ("many_visits_40.csv", 60, 40),
                            ("few_subjects_many_visits.csv", 12, 14)):  # fmt: skip
        lines = [H.rstrip("\n")]
        for i in range(n):
            arm = "IPT" if i % 2 else "TAU"
            base = int(rng.integers(15, 30))
            u = rng.normal(0, 3)
            lines.append(f"S{i:02d},{arm},0,{base}")
            for v in range(1, visits + 1):
                y = base - 0.4 * v - (arm == "IPT") * 0.1 * v + u + rng.normal(0, 3)
                lines.append(f"S{i:02d},{arm},{v},{int(np.clip(round(y), 0, 52))}")
        (HERE / name).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
