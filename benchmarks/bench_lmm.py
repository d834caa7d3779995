"""Random-effects fits (issue 14): ipt-outcomes against R lme4 / lmerTest on the same data.

Representative data sets of the lme4 battery (``tests/reference/lmm_battery``: the smallest,
median, 90th-percentile and largest by rows, as its ``timing.R`` picks them, plus the fits that
are hard for an optimiser: b042, where both of lme4's optimisers stop short, and b123, a
negative within-subject correlation where every fit is singular), and a large simulated trial
(``large``: 3,000 subjects x 10 visits, three arms, 10% of visits missing, seeded), each
fitted by REML with a random intercept and slope (``hamd17 ~ arm * visit + (visit |
subject_id)``):

* ``lmm_fit_<set>``: one fit with its Satterthwaite table, in a running process (the best of
  ``repeat`` runs, on each side: this 2-core machine is shared, and the minimum is the least
  disturbed run): ``fit_growth_model(...).fixed_effects()`` against ``lme4::lmer`` (lme4's
  default optimiser) and, in ``detail``, ``lmerTest::lmer`` + ``summary(ddf = "Satterthwaite")``
  (what gives the same table);
* ``lmm_process_<set>``: the whole process a user runs, start-up included:
  ``ipt-outcomes lmm FILE --method reml --random-slope --out DIR`` (which also validates the file
  and writes ANCOVA, Hedges' g and, for the nested sets, the therapy-group model) against
  ``Rscript fit_one.R FILE`` (start R, load lme4 and lmerTest, read, fit, Satterthwaite table),
  the median of runs.

``ratio`` = R seconds / our seconds (> 1: faster than R). R is timed in the same run on the same
machine when ``Rscript`` with lme4 and lmerTest is installed; otherwise the R columns are empty,
never invented. The goal (issue 14): every fit at least as fast as lme4 (ratio >= 1).

Usage: python benchmarks/bench_lmm.py [--repeat 5] [--sets b105,b005]
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from process_time import process_seconds

ROOT = Path(__file__).resolve().parents[1]
BATTERY = ROOT / "tests" / "reference" / "lmm_battery"
CLI = str(Path(sys.executable).parent / "ipt-outcomes")
SETS = ["b105", "b021", "b034", "b045", "b072", "b005", "b042", "b123", "large"]
PROCESS_SETS = ["b105", "b005", "large"]

R_TIMING = r"""
suppressMessages({library(lme4); library(lmerTest)})
reps <- as.integer(commandArgs(TRUE)[1]); files <- commandArgs(TRUE)[-1]
f <- hamd17 ~ arm * visit + (visit | subject_id)
ctl <- lmerControl(check.conv.singular = "ignore")
tm <- function(expr) { t0 <- proc.time()[["elapsed"]]; force(expr); proc.time()[["elapsed"]] - t0 }
cat("file,lme4,lmertest\n")
for (file in files) {
  d <- read.csv(file, colClasses = c(subject_id = "character", arm = "character"), na.strings = "")
  d <- d[!is.na(d$hamd17), ]
  d$arm <- relevel(factor(d$arm), "TAU"); d$subject_id <- factor(d$subject_id)
  invisible(suppressWarnings(lme4::lmer(f, data = d, REML = TRUE, control = ctl)))  # warm up
  a <- replicate(reps, tm(suppressWarnings(lme4::lmer(f, data = d, REML = TRUE, control = ctl))))
  b <- replicate(reps, tm(suppressWarnings(summary(lmerTest::lmer(f, data = d, REML = TRUE,
                                                                  control = ctl), ddf = "Satterthwaite"))))
  cat(sprintf("%s,%.4f,%.4f\n", basename(file), min(a), min(b)))
}
"""


def have_r() -> bool:
    if not shutil.which("Rscript"):
        return False
    code = "quit(status = !all(sapply(c('lme4', 'lmerTest'), requireNamespace, quietly = TRUE)))"
    return subprocess.run(["Rscript", "-e", code], capture_output=True).returncode == 0


_LARGE: dict = {}


def _file(name: str) -> Path:
    """The CSV of a battery set, or of the large simulated trial (written once per run)."""
    if name != "large":
        return BATTERY / "data" / f"{name}.csv"
    if "path" not in _LARGE:
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng(20240614)
        n, times = 3000, np.arange(10.0)
        u = rng.multivariate_normal([0, 0], [[16, -1], [-1, 0.5]], n)
        arm = rng.choice(["TAU", "A", "B"], n)
        sid = np.repeat(np.arange(n), len(times))
        t = np.tile(times, n)
        y = (
            22
            + u[sid, 0]
            + (-1 + u[sid, 1] - 0.3 * (arm[sid] == "A")) * t
            + rng.normal(0, 3, len(t))
        )
        keep = (rng.random(len(t)) > 0.1) | (t == 0)
        d = pd.DataFrame(dict(subject_id=[f"S{i:04d}" for i in sid], arm=arm[sid], visit=t,
                              hamd17=np.clip(np.round(y), 0, 52)))[keep]  # fmt: skip
        path = Path(tempfile.mkdtemp(prefix="bench_lmm_")) / "large.csv"
        d.to_csv(path, index=False)
        _LARGE["path"] = path
    return _LARGE["path"]


def _frame(name: str):
    import pandas as pd

    raw = pd.read_csv(_file(name), dtype={"subject_id": str, "arm": str})
    return raw.rename(columns={"visit": "time", "hamd17": "score"})


def python_fit_seconds(name: str, repeat: int) -> tuple[float, dict]:
    """Best seconds of one REML random-slope fit with its Satterthwaite table (in process)."""
    from ipt_outcomes.models.lmm import fit_growth_model

    d = _frame(name)
    fit_growth_model(d, random_slope=True).fixed_effects()  # warm up (imports, caches)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fit_growth_model(d, random_slope=True)
        res.fixed_effects()
        runs.append(time.perf_counter() - t0)
    info = dict(n_obs=res.n_obs, n_subjects=res.n_subjects, loglik=res.loglik,
                singular=res.singular, evaluations=res.n_evaluations)  # fmt: skip
    return min(runs), info


def r_fit_seconds(names: list[str], repeat: int) -> dict:
    """``{set: (lme4 seconds, lmerTest + Satterthwaite seconds)}`` (best of ``repeat``), in R."""
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_TIMING)
        script = fh.name
    files = [str(_file(n)) for n in names]
    proc = subprocess.run(["Rscript", script, str(repeat), *files], capture_output=True, text=True)
    Path(script).unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RuntimeError(f"R timing failed:\n{proc.stderr[-2000:]}")
    rows = csv.DictReader(io.StringIO(proc.stdout))
    return {r["file"].removesuffix(".csv"): (float(r["lme4"]), float(r["lmertest"])) for r in rows}


def run(repeat: int = 5, sets: list[str] | None = None, process_sets: list[str] | None = None) -> list[dict]:  # fmt: skip
    """Rows ``name, seconds, r_seconds, ratio, goal, met, detail`` (see the module notes)."""
    sets = sets or SETS
    process_sets = PROCESS_SETS if process_sets is None else process_sets
    with_r = have_r()
    r_times = r_fit_seconds(sets, repeat) if with_r else {}
    rows = []
    goal = "at least as fast as lme4 (ratio >= 1)"
    for name in sets:
        seconds, info = python_fit_seconds(name, repeat)
        lme4_s, lmertest_s = r_times.get(name, (None, None))
        detail = (
            f"{info['n_obs']} rows, {info['n_subjects']} subjects; REML random slope + "
            f"Satterthwaite table; logLik {info['loglik']:.4f}"
            f"{', singular' if info['singular'] else ''}; {info['evaluations']} deviance "
            "evaluations"
            + ("" if lmertest_s is None else f"; lmerTest fit + Satterthwaite {lmertest_s:.3f} s")
        )
        rows.append(_row(f"lmm_fit_{name}", seconds, lme4_s, goal, detail))
    for name in process_sets:
        file = _file(name)
        with tempfile.TemporaryDirectory() as tmp:
            ours = process_seconds([CLI, "lmm", str(file), "--method", "reml", "--random-slope",
                                     "--out", str(Path(tmp) / "out")], repeat=max(1, repeat // 2))  # fmt: skip
        theirs = (
            process_seconds(["Rscript", "fit_one.R", str(file)], max(1, repeat // 2), cwd=BATTERY)
            if with_r
            else None
        )
        detail = "whole process: ipt-outcomes lmm (also ANCOVA, Hedges' g, therapy-group model) vs Rscript fit_one.R"  # fmt: skip
        rows.append(_row(f"lmm_process_{name}", ours, theirs, goal, detail))
    return rows


def _row(name, seconds, r_seconds, goal, detail) -> dict:
    ratio = None if r_seconds is None else r_seconds / seconds
    return dict(name=name, seconds=seconds, r_seconds=r_seconds, ratio=ratio, goal=goal,
                met=None if ratio is None else ratio >= 1.0, detail=detail)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--sets", help="comma-separated battery sets (default: the representative ones)"
    )
    ap.add_argument("--process-sets", help="comma-separated sets for the whole-process timing")
    args = ap.parse_args()
    sets = args.sets.split(",") if args.sets else None
    psets = args.process_sets.split(",") if args.process_sets is not None else None
    rows = run(args.repeat, sets, [s for s in psets if s] if psets is not None else None)
    print(f"{'name':24s} {'seconds':>8s} {'R':>8s} {'ratio':>6s}  detail")
    for r in rows:
        rs = "" if r["r_seconds"] is None else f"{r['r_seconds']:.3f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.1f}"
        print(f"{r['name']:24s} {r['seconds']:8.3f} {rs:>8s} {ratio:>6s}  {r['detail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
