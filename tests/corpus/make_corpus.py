"""Write the corpus of bad and awkward inputs (run from this folder: python make_corpus.py).

Each file's expected outcome is in manifest.csv: the command-line arguments after the file, the
exit status and a fragment of the message. The files are committed; this script documents how
they were made and remakes them byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
H = "subject_id,arm,visit,hamd17\n"
OK = "A,TAU,0,20\nA,TAU,3,10\nB,IPT,0,18\nB,IPT,3,12\n"

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
    frame = pd.DataFrame(
        {"subject_id": ["A", "A"], "arm": ["TAU", "TAU"], "visit": [0, 3], "hamd17": [20, 10]}
    )
    with pd.ExcelWriter(HERE / "wrong_sheet.xlsx") as xw:
        frame.to_excel(xw, sheet_name="data", index=False)
    (HERE / "a_directory").mkdir(exist_ok=True)
    (HERE / "a_directory" / ".keep").write_text("")


if __name__ == "__main__":
    main()
