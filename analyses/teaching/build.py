"""`make teaching`: build the worksheets, each as a student version and an instructor key.

Usage: python analyses/teaching/build.py --data data/synthetic/trial.csv --design
analyses/saloheimo2016.toml --tables reports/tables --out reports/teaching [--seed 2016]
[--sims 500] [--imputations 50] [--workers N]

The worksheets read the report's tables (``--tables``, what ``make report`` wrote), so every
number they share with the report is the report's number; without ``--tables`` the same tables
are computed here by the report's own function. Writes ``NN_slug_student.html`` and
``NN_slug_key.html`` for each worksheet, ``index.html`` and the trial description the risk-of-bias
worksheet refers to; every file is written whole (temporary file, then rename).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import SYNTHETIC_NOTE, Context  # noqa: E402

from ipt_outcomes.data.trial import load_trial  # noqa: E402
from ipt_outcomes.datasets import load_targets  # noqa: E402
from ipt_outcomes.output import atomic_write, write_csv  # noqa: E402
from ipt_outcomes.report.html import read_tables  # noqa: E402
from ipt_outcomes.teaching import render_index, render_worksheet  # noqa: E402

WORKSHEETS = [
    "ws1_risk_difference",
    "ws2_response_vs_mmrm",
    "ws3_consistency",
    "ws4_sample_size",
    "ws5_missing_data",
    "ws6_risk_of_bias",
    "ws7_baseline_adjustment",
]
TRIAL_DESCRIPTION = HERE / "saloheimo2016_trial.md"


def report_tables(trial) -> dict:
    """The report's tables for ``trial``, exactly as the report reads them back from CSV."""
    from ipt_outcomes.report.tables import build_tables, load_published

    pub = trial.design.published
    tables = build_tables(trial, published=load_published(pub) if pub else None)
    with tempfile.TemporaryDirectory() as tmp:
        for name, frame in tables.items():
            with (Path(tmp) / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
                write_csv(frame, fh)
        return read_tables(tmp)


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
    with atomic_write(out / TRIAL_DESCRIPTION.name) as fh:
        fh.write(TRIAL_DESCRIPTION.read_text(encoding="utf-8"))
    written.append(out / TRIAL_DESCRIPTION.name)
    if only:  # a partial build leaves the index of the full build alone
        return written
    with atomic_write(out / "index.html") as fh:
        fh.write(render_index(index, SYNTHETIC_NOTE if ctx.synthetic else ""))
    written.append(out / "index.html")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/synthetic/trial.csv")
    ap.add_argument("--design", default="analyses/saloheimo2016.toml")
    ap.add_argument("--tables", help="the report's tables folder (default: compute them here)")
    ap.add_argument("--rob2", default=str(HERE / "rob2_saloheimo2016.toml"))
    ap.add_argument("--out", default="reports/teaching")
    ap.add_argument("--seed", type=int, default=2016)
    ap.add_argument("--sims", type=int, default=500)
    ap.add_argument("--imputations", type=int, default=50)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--only", nargs="*", choices=WORKSHEETS)
    args = ap.parse_args(argv)
    trial = load_trial(args.data, args.design)
    report = read_tables(args.tables) if args.tables else report_tables(trial)
    ctx = Context(trial=trial, targets=load_targets(), rob2=Path(args.rob2), report=report,
                  seed=args.seed, sims=args.sims, imputations=args.imputations,
                  workers=args.workers)  # fmt: skip
    paths = build_all(ctx, Path(args.out), args.only)
    print(f"Wrote {len(paths)} files to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
