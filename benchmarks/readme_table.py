"""Write the README's benchmark table from ``reports/bench.csv`` (between the bench markers).

Usage: python benchmarks/readme_table.py [--bench reports/bench.csv] [--readme README.md]
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def table(rows: list[dict]) -> str:
    lines = [
        "| task | ipt-outcomes | peak MiB | R | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        r_s = f"{float(r['r_seconds']):.2f} s" if r["r_seconds"] else "not measured"
        ratio = f"{r['ratio']}x" if r["ratio"] else ""
        met = {"True": "yes", "False": "**no**"}.get(r["met"], "")
        lines.append(f"| {r['task']} | {float(r['seconds']):.2f} s | {r['peak_mib']} | {r_s} | "
                     f"{ratio} | {r['goal']} | {met} |")  # fmt: skip
    machine = rows[0]["machine"] if rows else ""
    return "\n".join(lines) + f"\n\nMeasured by `make bench` on {machine}.\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default="reports/bench.csv")
    ap.add_argument("--readme", default="README.md")
    a = ap.parse_args()
    with Path(a.bench).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    readme = Path(a.readme)
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: no {START} ... {END} markers")
    new = re.sub(
        f"{re.escape(START)}.*?{re.escape(END)}",
        lambda _m: f"{START}\n{table(rows)}{END}",
        text,
        flags=re.S,
    )
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
