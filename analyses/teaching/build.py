"""`make teaching`: build the worksheets, each as a student version and an instructor key.

Usage: python analyses/teaching/build.py --data data/synthetic/trial.csv --design
analyses/saloheimo2016.toml --tables reports/tables --out reports/teaching [--seed 2016]
[--sims 500] [--imputations 50] [--workers N] [--metapsy FILE]

The worksheets quote the report's tables, so every number they share with the report is the
report's number: those of a built report with ``--tables`` (what ``make report`` wrote, read
back with every text kept as text), else the same tables built here in memory as
``ipt-outcomes report`` builds them (the design's analysis plan, run and laid out). Worksheet 8 reads the shipped excerpt of the
Metapsy database (``--metapsy``, default ``analyses/teaching/data/depression-psyctr_excerpt.csv``)
and analyses it with the functions ``ipt-outcomes meta`` runs.

Writes, into ``--out``: ``NN_slug_student.html`` for each worksheet, ``index.html`` (the students'
index: it links the student versions only), the trial description the risk-of-bias worksheet
refers to and the Metapsy excerpt with its NOTICE; into ``--out/keys``: ``NN_slug_key.html`` and
``index.html`` (the instructors' index). Every file is written whole (temporary file, then rename).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import INDEX_NOTE, Context  # noqa: E402

from ipt_outcomes.data.trial import load_trial  # noqa: E402
from ipt_outcomes.datasets import load_targets  # noqa: E402
from ipt_outcomes.output import atomic_write  # noqa: E402
from ipt_outcomes.teaching import read_report_tables, render_index, render_worksheet  # noqa: E402

WORKSHEETS = [
    "ws1_risk_difference",
    "ws2_response_vs_mmrm",
    "ws3_consistency",
    "ws4_sample_size",
    "ws5_missing_data",
    "ws6_risk_of_bias",
    "ws7_baseline_adjustment",
    "ws8_meta_analysis",
]
TRIAL_DESCRIPTION = HERE / "saloheimo2016_trial.md"
METAPSY = HERE / "data" / "depression-psyctr_excerpt.csv"
METAPSY_NOTICE = HERE / "data" / "README.md"


def report_tables(trial) -> dict:
    """The report's tables for ``trial``, built in memory as ``ipt-outcomes report`` builds
    them: the design's analysis plan run (:func:`~ipt_outcomes.plan.run_plan`), its results
    laid out as tables (:func:`~ipt_outcomes.plan.tables.report_tables`) and numbered as TLFs
    (:func:`~ipt_outcomes.report.tlf.catalogue`)."""
    from ipt_outcomes.plan import run_plan
    from ipt_outcomes.plan.tables import load_published
    from ipt_outcomes.plan.tables import report_tables as lay_out
    from ipt_outcomes.report.tlf import catalogue

    design = trial.design
    first = (getattr(design, "instruments", None) or (design.instrument,))[0].name
    results = run_plan(trial, trials={first: trial})
    tables = lay_out(
        results, published=load_published(design.published) if design.published else None
    )
    tables["tlf"], tables["tlf_footnotes"] = catalogue(tables)
    return tables


def build_all(ctx: Context, out: Path, only=None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    if not only:  # keys of an earlier build sat beside the student sheets: not any more
        for stale in out.glob("*_key.html"):
            stale.unlink()
    written, index = [], []
    for name in WORKSHEETS:
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        ws = importlib.import_module(name).build(ctx)
        for version in ("student", "key"):
            path = out / ws.filename(version)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as fh:
                fh.write(render_worksheet(ws, version))
            written.append(path)
        index.append(ws)
        print(
            f"  worksheet {ws.number} ({ws.slug}): {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    copies = [(TRIAL_DESCRIPTION, out / TRIAL_DESCRIPTION.name)]
    if ctx.metapsy is not None and ctx.metapsy.exists():
        copies += [(ctx.metapsy, out / "data" / ctx.metapsy.name),
                   (METAPSY_NOTICE, out / "data" / "README.md")]  # fmt: skip
    for src, dst in copies:
        dst.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(dst) as fh:
            fh.write(src.read_text(encoding="utf-8"))
        written.append(dst)
    if only:  # a partial build leaves the indexes of the full build alone
        return written
    note = INDEX_NOTE if ctx.synthetic else ""
    for version, path in (("student", out / "index.html"), ("key", out / "keys" / "index.html")):
        with atomic_write(path) as fh:
            fh.write(render_index(index, note, version))
        written.append(path)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/synthetic/trial.csv")
    ap.add_argument("--design", default="analyses/saloheimo2016.toml")
    ap.add_argument("--tables", help="a built report's tables folder, e.g. reports/tables "
                    "(default: build the report's tables here, in memory)")  # fmt: skip
    ap.add_argument("--rob2", default=str(HERE / "rob2_saloheimo2016.toml"))
    ap.add_argument("--out", default="reports/teaching")
    ap.add_argument("--seed", type=int, default=2016)
    ap.add_argument("--sims", type=int, default=500)
    ap.add_argument("--imputations", type=int, default=50)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--only", nargs="*", choices=WORKSHEETS)
    ap.add_argument("--metapsy", default=str(METAPSY),
                    help="the Metapsy excerpt worksheet 8 analyses (default: the shipped one)")  # fmt: skip
    args = ap.parse_args(argv)
    trial = load_trial(args.data, args.design)
    report = read_report_tables(args.tables) if args.tables else report_tables(trial)
    ctx = Context(trial=trial, targets=load_targets(), rob2=Path(args.rob2), report=report,
                  seed=args.seed, sims=args.sims, imputations=args.imputations,
                  workers=args.workers, metapsy=Path(args.metapsy))  # fmt: skip
    paths = build_all(ctx, Path(args.out), args.only)
    print(f"Wrote {len(paths)} files to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
