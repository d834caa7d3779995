"""`make teaching`: build the six worksheets, each as a student version and an instructor key.

Usage: python analyses/teaching/build.py --data data/synthetic/trial.csv --design
analyses/saloheimo2016.toml --out reports/teaching [--seed 2016] [--sims 500]
[--imputations 50] [--workers N]

Writes ``NN_slug_student.html`` and ``NN_slug_key.html`` for each worksheet plus ``index.html``;
every file is written whole (temporary file, then rename). The numbers come from the toolkit
run on the trial; the published figures from the project's targets file.
"""

from __future__ import annotations

import argparse
import html
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Context  # noqa: E402

from ipt_outcomes.data.synthetic import load_targets  # noqa: E402
from ipt_outcomes.data.trial import load_trial  # noqa: E402
from ipt_outcomes.output import atomic_write  # noqa: E402
from ipt_outcomes.teaching import render_worksheet  # noqa: E402

WORKSHEETS = [
    "ws1_risk_difference",
    "ws2_response_vs_mmrm",
    "ws3_consistency",
    "ws4_sample_size",
    "ws5_missing_data",
    "ws6_risk_of_bias",
]


def build_all(ctx: Context, out: Path, only=None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written, index = [], []
    for name in WORKSHEETS:
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        ws = importlib.import_module(name).build(ctx)
        for version in ("student", "key"):
            path = out / f"{ws.stem}_{version}.html"
            with atomic_write(path) as fh:
                fh.write(render_worksheet(ws, version))
            written.append(path)
        index.append(ws)
        print(
            f"  worksheet {ws.number} ({ws.slug}): {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    if only:  # a partial build leaves the index of the full build alone
        return written
    items = "".join(
        f'<li>{ws.number}. {html.escape(ws.title)}: <a href="{ws.stem}_student.html">student</a> | '
        f'<a href="{ws.stem}_key.html">instructor key</a></li>'
        for ws in index
    )
    with atomic_write(out / "index.html") as fh:
        fh.write(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>ipt-outcomes worksheets'
                 f"</title></head><body><h1>Evidence-appraisal worksheets</h1><ul>{items}</ul></body></html>\n")  # fmt: skip
    written.append(out / "index.html")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/synthetic/trial.csv")
    ap.add_argument("--design", default="analyses/saloheimo2016.toml")
    ap.add_argument("--rob2", default=str(HERE / "rob2_saloheimo2016.toml"))
    ap.add_argument("--out", default="reports/teaching")
    ap.add_argument("--seed", type=int, default=2016)
    ap.add_argument("--sims", type=int, default=500)
    ap.add_argument("--imputations", type=int, default=50)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--only", nargs="*", choices=WORKSHEETS)
    args = ap.parse_args(argv)
    trial = load_trial(args.data, args.design)
    ctx = Context(trial=trial, targets=load_targets(), rob2=Path(args.rob2), seed=args.seed,
                  sims=args.sims, imputations=args.imputations, workers=args.workers)  # fmt: skip
    paths = build_all(ctx, Path(args.out), args.only)
    print(f"Wrote {len(paths)} files to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
