"""Write the Metapsy excerpt the worksheets and tests use, from a copy of the database.

Usage: python analyses/teaching/data/make_excerpt.py SOURCE_DIR [--out FILE]

SOURCE_DIR is a clone of https://github.com/metapsy-project/data-depression-psyctr (its
``data.csv``). Every row is kept; of the 71 columns, those a meta-analysis of the effect sizes
needs (study, therapy and comparator, Hedges' g and its SE, instrument, risk of bias, format and
population) are kept, cell for cell as the database writes them (semicolon-separated, decimal
commas, ``NA``), so that the excerpt is read exactly as the database is. Run once; the output is
committed with its NOTICE (README.md in this folder).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

COLUMNS = [
    "", "study", "condition_arm1", "condition_arm2", "multi_arm1", "multi_arm2", ".g", ".g_se",
    "outcome_type", "instrument", "rating", "mean_arm1", "sd_arm1", "n_arm1", "mean_arm2",
    "sd_arm2", "n_arm2", "mean_change_arm1", "sd_change_arm1", "n_change_arm1",
    "mean_change_arm2", "sd_change_arm2", "n_change_arm2", "baseline_m_arm1", "baseline_m_arm2",
    "year", "time_weeks", "format",
    "country", "age_group", "recruitment", "diagnosis", "target_group", "sg", "ac", "ba", "itt",
    "rob", ".id",
]  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "depression-psyctr_excerpt.csv",
    )
    args = ap.parse_args(argv)
    src = args.source / "data.csv"
    records = _records(src.read_text(encoding="utf-8"))
    header = [f.strip('"') for f in records[0]]
    idx = [header.index(c) for c in COLUMNS]
    out_lines = []
    for n, fields in enumerate(records, start=1):
        if len(fields) != len(header):
            raise SystemExit(f"{src}: record {n} has {len(fields)} fields, not {len(header)}")
        out_lines.append(";".join(fields[i] for i in idx))
    rows = records
    args.out.write_text("\n".join(out_lines) + "\n", encoding="utf-8")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({len(rows) - 1} rows) from {src} (sha256 {digest})", file=sys.stderr)
    return 0


def _records(text: str) -> list[list[str]]:
    """Records of a semicolon-separated text, each field's text exactly as written (quotes
    included; a line break inside quotes belongs to the field)."""
    records, fields, cur, quoted = [], [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if not quoted and ch in ";\n":
            fields.append("".join(cur))
            cur = []
            if ch == "\n":
                records.append(fields)
                fields = []
            continue
        cur.append(ch)
    if cur or fields:
        fields.append("".join(cur))
        records.append(fields)
    return records


if __name__ == "__main__":
    sys.exit(main())
