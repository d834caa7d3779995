"""Reference-based multiple imputation (issue 16): ``ipt-outcomes mi`` against R rbmi.

The whole process a user runs, start-up included, for conditional mean imputation with the
jackknife (173 REML fits on the DIA trial: 172 subjects, 4 visits) under one strategy:

* ours: ``ipt-outcomes mi antidepressant_dia.csv --design tests/designs/antidepressant_dia.toml
  --strategy S --events tests/reference/rbmi/dia_events_S.csv --method condmean --resampling
  jackknife --out DIR`` (validate the file, fit, refit, impute, analyse, pool, write the tables);
* R: ``Rscript`` of the same analysis with rbmi (the data preparation of
  ``tests/reference/rbmi/make_reference.R``: ``expand_locf``, ``set_vars``, ``draws`` with
  ``method_condmean(type = "jackknife")``, ``impute``, ``analyse(ancova)``, ``pool``, and a CSV
  written), timed the same way.

``ratio`` = R seconds / our seconds; the goal (issue 16) is a ratio of at least 10. R is timed
only when ``Rscript`` with rbmi is installed; otherwise the R columns are empty, never invented.
Each timing is the median of ``repeat`` runs (R: of ``max(1, repeat // 2)`` runs, each about
20-30 s). The detail column also gives the in-process time of :func:`reference_based_mi`.

Usage: python benchmarks/bench_mi.py [--repeat 3] [--strategies JR,MAR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from process_time import process_seconds

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "ipt-outcomes")
SHARED = Path(os.environ.get("IPT_SHARED", ROOT.parent / "shared"))
DIA = SHARED / "data" / "external" / "antidepressant_dia.csv"
DESIGN = ROOT / "tests" / "designs" / "antidepressant_dia.toml"
EVENTS = ROOT / "tests" / "reference" / "rbmi"
GOAL = ">= 10x faster than R rbmi (whole process)"

R_SCRIPT = r"""
suppressPackageStartupMessages(library(rbmi))
args <- commandArgs(TRUE)
dia <- read.csv(args[1], colClasses = c(PATIENT = "character"))
ice <- read.csv(args[2], colClasses = c(subject_id = "character", visit = "character"))
dia <- dia[, c("PATIENT", "THERAPY", "VISIT", "BASVAL", "HAMDTL17", "CHANGE")]
dia$PATIENT <- factor(dia$PATIENT, levels = sort(unique(dia$PATIENT)))
dia$VISIT <- factor(dia$VISIT, levels = c("4", "5", "6", "7"))
dia$THERAPY <- factor(dia$THERAPY, levels = c("PLACEBO", "DRUG"))
dia <- expand_locf(dia, PATIENT = levels(dia$PATIENT), VISIT = levels(dia$VISIT),
                   vars = c("BASVAL", "THERAPY"), group = "PATIENT", order = c("PATIENT", "VISIT"))
names(ice) <- c("PATIENT", "VISIT", "strategy")
vars <- set_vars(outcome = "CHANGE", visit = "VISIT", subjid = "PATIENT", group = "THERAPY",
                 covariates = c("BASVAL*VISIT", "THERAPY*VISIT"))
vars_an <- set_vars(outcome = "CHANGE", visit = "VISIT", subjid = "PATIENT", group = "THERAPY",
                    covariates = "BASVAL")
dr <- draws(dia, ice, vars, method_condmean(type = "jackknife"), quiet = TRUE)
im <- impute(dr, references = c(DRUG = "PLACEBO", PLACEBO = "PLACEBO"))
an <- analyse(im, ancova, vars = vars_an)
po <- pool(an)
write.csv(as.data.frame(po), args[3], row.names = FALSE)
"""


def have_rbmi() -> bool:
    if not shutil.which("Rscript"):
        return False
    code = "quit(status = !requireNamespace('rbmi', quietly = TRUE))"
    return subprocess.run(["Rscript", "-e", code], capture_output=True).returncode == 0


def _in_process_seconds(strategy: str, repeat: int) -> float:
    from ipt_outcomes.data.trial import load_trial
    from ipt_outcomes.estimands.events import read_events
    from ipt_outcomes.estimands.reference_based import reference_based_mi

    trial = load_trial(DIA, DESIGN)
    events = read_events(EVENTS / f"dia_events_{strategy}.csv", trial)
    reference_based_mi(trial, strategy, events=events)  # warm up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        reference_based_mi(trial, strategy, events=events).contrasts()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def run(repeat: int = 3, strategies=("JR",)) -> list[dict]:
    """Rows ``name, seconds, r_seconds, ratio, goal, met, detail`` (see the module notes)."""
    if not DIA.exists():
        print(f"  bench_mi: skipped (no {DIA})", file=sys.stderr)
        return []
    with_r = have_rbmi()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        script = tmp / "rbmi_condmean_jackknife.R"
        script.write_text(R_SCRIPT)
        for s in strategies:
            events = EVENTS / f"dia_events_{s}.csv"
            ours = process_seconds([CLI, "mi", str(DIA), "--design", str(DESIGN), "--strategy", s,
                             "--events", str(events), "--method", "condmean", "--resampling",
                             "jackknife", "--quiet", "--out", str(tmp / f"out_{s}")], repeat)  # fmt: skip
            theirs = None
            if with_r:
                theirs = process_seconds(["Rscript", str(script), str(DIA), str(events),
                                   str(tmp / f"r_{s}.csv")], max(1, repeat // 2))  # fmt: skip
            inside = _in_process_seconds(s, repeat)
            ratio = None if theirs is None else theirs / ours
            rows.append(dict(
                name=f"mi_condmean_jackknife_dia_{s}", seconds=ours, r_seconds=theirs,
                ratio=ratio, goal=GOAL, met=None if ratio is None else ratio >= 10,
                detail=f"173 REML fits (172 subjects x 4 visits), whole process; in-process "
                       f"reference_based_mi {inside:.3f} s"
                       + ("" if with_r else "; R rbmi not installed: not timed")))  # fmt: skip
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--strategies", default="JR", help="comma-separated, e.g. JR,MAR")
    args = ap.parse_args()
    rows = run(args.repeat, [s.strip().upper() for s in args.strategies.split(",") if s.strip()])
    print("name,seconds,r_seconds,ratio,met,detail")
    for r in rows:
        rs = "" if r["r_seconds"] is None else f"{r['r_seconds']:.2f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.1f}"
        print(f'{r["name"]},{r["seconds"]:.2f},{rs},{ratio},{r["met"]},"{r["detail"]}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
