"""`make bench`: whole-process timings of what users run, against the goals and against R.

Every timing is of a whole process (``/usr/bin/time``: wall seconds and peak resident memory),
the median of ``--repeat`` runs, as a user meets it. Where R is installed (Rscript with mmrm,
rbmi, lme4), R is timed the same way in the same run and the ratio is printed; without R those
comparisons are skipped, never invented. Results go to ``reports/bench.csv`` (one row per task:
``task, seconds, peak_mib, r_seconds, ratio, goal, met, detail``); ``benchmarks/readme_table.py``
turns that file into the README's benchmark table.

Goals (issue 18, this 2-core machine):

* ``ipt-outcomes --help`` <= 0.2 s; ``validate`` of the project's trial <= 0.8 s;
* ``make report`` after set-up (synthetic trial and report) <= 6 s;
* MMRM on 3,000 subjects x 10 visits, whole process: >= 10x faster than R mmrm with
  Satterthwaite and >= 50x with Kenward-Roger;
* 100,000 subjects x 10 visits: ``response`` <= 10 s and <= 1 GiB, ``mmrm`` <= 15 s,
  ``validate`` <= 3 s;
* reference-based MI (conditional mean, jackknife) on the DIA trial >= 10x faster than R rbmi
  (``bench_mi.py``); random-effects fits at least as fast as lme4 (``bench_lmm.py``);
* 10,000 simulated MMRM trials for power within 300 s; the coverage and precision gain of the
  covariate-adjusted response (``bench_adjusted.py``).

Goals of issue 25 (``trial1000``), on a phase-3-sized trial of 1000 subjects and 10
post-baseline visits, simulated (``simulate_trial(7)``, 334/333/333 in IPT, PeGT and TAU,
monthly visits 0-10) and, where R mmrm is installed, R mmrm's public ``bcva_data`` (exported by
``r/export_bcva.R``, described by ``bcva.toml``: continuous, higher is better, baseline as a
column):

* ``report`` (the default plan: MMRM, adjusted response, response and remission, growth model,
  ANCOVA, reference-based MI under JR and CIR with jackknife SEs, a tipping point, missing-data
  rules; tables, figures, HTML) <= 60 s;
* ``mi`` (conditional mean imputation, jackknife, one strategy) <= 20 s;
* ``mmrm`` with Satterthwaite and with Kenward-Roger df >= 10x faster than R mmrm (both whole
  processes: reading, fitting, LS means and contrasts, writing).

Every row gives the peak resident memory of the process. Timings are medians of ``--repeat``
runs (R's Kenward-Roger, 30-60 s a run, of one) on a machine whose 2 cores other work shares.
``--only`` measures some tasks and keeps the other rows of an existing ``--out`` file.

Usage: python benchmarks/run.py --out reports/bench.csv [--repeat 3] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import compileall
import csv
import importlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLI = str(BIN / "ipt-outcomes")
SHARED = Path(os.environ.get("IPT_SHARED", ROOT.parent / "shared"))
DIA = SHARED / "data" / "external" / "antidepressant_dia.csv"
DESIGN = ROOT / "analyses" / "saloheimo2016.toml"
R_DIR = Path(__file__).resolve().parent / "r"
FIELDS = ["task", "seconds", "peak_mib", "r_seconds", "ratio", "goal", "met", "detail", "machine"]


def timed(cmd: list[str], cwd=None) -> tuple[float, float]:
    """Wall seconds and peak MiB of one whole process (GNU time), or raise with its stderr."""
    fmt = "%e %M"
    proc = subprocess.run(
        ["/usr/bin/time", "-f", fmt, *cmd], cwd=cwd, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    seconds, kib = proc.stderr.strip().splitlines()[-1].split()
    return float(seconds), float(kib) / 1024


def median_of(cmd, repeat, cwd=None, label=""):
    runs = [timed(cmd, cwd) for _ in range(repeat)]
    for i, (s, m) in enumerate(runs):
        print(f"  {label} run {i + 1}/{repeat}: {s:.2f} s, peak {m:.0f} MiB", file=sys.stderr)
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def have_r(*packages: str) -> bool:
    if not shutil.which("Rscript"):
        return False
    code = "quit(status = !all(sapply(commandArgs(TRUE), requireNamespace, quietly = TRUE)))"
    return subprocess.run(["Rscript", "-e", code, *packages], capture_output=True).returncode == 0


def row(task, seconds, peak=None, r_seconds=None, goal="", met=None, detail=""):
    ratio = "" if r_seconds is None else f"{r_seconds / seconds:.1f}"
    return dict(task=task, seconds=f"{seconds:.3f}", peak_mib="" if peak is None else f"{peak:.0f}",
                r_seconds="" if r_seconds is None else f"{r_seconds:.3f}", ratio=ratio, goal=goal,
                met="" if met is None else str(bool(met)), detail=detail)  # fmt: skip


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------


def make_data(tmp: Path, names=None) -> dict[str, Path]:
    """The project's trial, large simulated trials (long CSV, default columns) and, where R
    mmrm is installed, its BCVA example trial; ``names``: only these."""
    from ipt_outcomes.datasets import simulate_trial, write_trial_csv

    def wanted(name):
        return names is None or name in names

    out = {}
    project = tmp / "trial.csv"
    subprocess.run([CLI, "simulate", "--seed", "2016", "--out", str(project), "--calibration",
                    str(tmp / "calibration.csv"), "--quiet"], check=True)  # fmt: skip
    out["project"] = project
    sizes = {"3000x10": (1, 750, True), "100kx10": (1, 25_000, True),
             "1000x10": (7, {"IPT": 334, "PeGT": 333, "TAU": 333}, False)}  # fmt: skip
    for name, (seed, n_per_arm, modelled) in sizes.items():
        if not wanted(name):
            continue
        path = tmp / f"trial_{name}.csv"
        t = simulate_trial(seed, n_per_arm=n_per_arm, visits=list(range(11)),
                           include_modelled_arm=modelled)  # fmt: skip
        with path.open("w", newline="", encoding="utf-8") as fh:
            write_trial_csv(t.data, fh)
        out[name] = path
        print(f"  made {path.name}: {len(t.data)} rows", file=sys.stderr)
    if wanted("bcva") and have_r("mmrm"):
        path = tmp / "bcva.csv"
        subprocess.run(["Rscript", str(R_DIR / "export_bcva.R"), str(path)], check=True,
                       capture_output=True)  # fmt: skip
        out["bcva"] = path
        print(f"  exported {path.name} from R mmrm's bcva_data", file=sys.stderr)
    return out


# ------------------------------------------------------------------------------------------
# tasks
# ------------------------------------------------------------------------------------------


def bench_startup(data, tmp, repeat):
    s, m = median_of([CLI, "--help"], max(repeat, 5), label="--help")
    rows = [row("cli_help", s, m, goal="<= 0.2 s", met=s <= 0.2)]
    s, m = median_of([CLI, "validate", str(data["project"]), "--design", str(DESIGN)], repeat,
                     label="validate project")  # fmt: skip
    rows.append(row("validate_project_trial", s, m, goal="<= 0.8 s", met=s <= 0.8))
    return rows


def bench_make_report(data, tmp, repeat):
    script = (f"{CLI} simulate --seed 2016 --out {tmp}/mr/trial.csv --calibration "
              f"{tmp}/mr/calibration.csv --quiet && {CLI} report --data {tmp}/mr/trial.csv "
              f"--design {DESIGN} --out {tmp}/mr/reports")  # fmt: skip
    s, m = median_of(["sh", "-c", script], repeat, cwd=ROOT, label="make report")
    return [row("make_report_after_setup", s, m, goal="<= 6 s", met=s <= 6,
                detail="simulate --seed 2016, then report (tables, figures, HTML)")]  # fmt: skip


def bench_mmrm(data, tmp, repeat):
    rows = []
    r_ok = have_r("mmrm", "emmeans")
    goals = {"satterthwaite": 10, "kenward-roger": 50}
    for df, need in goals.items():
        cmd = [CLI, "mmrm", str(data["3000x10"]), "--df", df, "--out", str(tmp / f"mmrm_{df}")]
        s, m = median_of(cmd, repeat, label=f"mmrm 3000x10 {df}")
        r_s = None
        if r_ok:
            rcmd = ["Rscript", str(R_DIR / "mmrm_fit.R"), str(data["3000x10"]), df]
            r_s, _ = median_of(rcmd, 1 if df == "kenward-roger" else repeat, label=f"R mmrm {df}")
        met = None if r_s is None else r_s / s >= need
        rows.append(row(f"mmrm_3000x10_{df}", s, m, r_s, goal=f">= {need}x R mmrm", met=met,
                        detail="whole process: read, validate, fit, LS means, contrasts, tables"))  # fmt: skip
    return rows


def bench_large(data, tmp, repeat):
    big = str(data["100kx10"])
    rows = []
    s, m = median_of([CLI, "validate", big], repeat, label="validate 100k")
    rows.append(row("validate_100k_x10", s, m, goal="<= 3 s", met=s <= 3))
    s, m = median_of(
        [CLI, "response", big, "--out", str(tmp / "resp")], repeat, label="response 100k"
    )
    rows.append(row("response_100k_x10", s, m, goal="<= 10 s and <= 1024 MiB",
                    met=s <= 10 and m <= 1024))  # fmt: skip
    s, m = median_of([CLI, "mmrm", big, "--df", "satterthwaite", "--out", str(tmp / "mm")], repeat,
                     label="mmrm 100k")  # fmt: skip
    rows.append(row("mmrm_100k_x10_satterthwaite", s, m, goal="<= 15 s", met=s <= 15))
    return rows


def bench_power(data, tmp, repeat):
    cmd = [CLI, "power", "--test", "mmrm", "--data", str(data["project"]), "--design", str(DESIGN),
           "--arm", "PeGT", "--visit", "12", "--n-per-arm", "90", "--sims", "10000", "--seed", "1",
           "--workers", "2", "--quiet", "--out", str(tmp / "power")]  # fmt: skip
    s, m = median_of(cmd, 1, label="power mmrm 10000")
    return [
        row("power_mmrm_10000_trials_180_subjects_2_workers", s, m, goal="<= 300 s", met=s <= 300)
    ]


BCVA_DESIGN = Path(__file__).resolve().parent / "bcva.toml"
#: the trials of 1000 subjects x 10 visits: (name, data key, design, R mmrm_fit.R arguments)
TRIALS_1000 = (
    ("simulated", "1000x10", None, ["hamd17", "-", "TAU"]),
    ("bcva", "bcva", BCVA_DESIGN, ["bcva", "baseline", "CTL"]),
)


def bench_trial1000(data, tmp, repeat):
    """Issue 25: report, mi and MMRM (both df methods, against R mmrm) on 1000 x 10 trials."""
    rows = []
    r_ok = have_r("mmrm", "emmeans")
    for label, key, design, r_args in TRIALS_1000:
        if key not in data:
            print(f"  {label}: skipped (no data; R mmrm exports the BCVA trial)", file=sys.stderr)
            continue
        path = str(data[key])
        with_design = ["--design", str(design)] if design else []
        cmd = [CLI, "report", "--data", path, *with_design, "--out", str(tmp / f"rep_{label}")]
        s, m = median_of(cmd, repeat, label=f"report 1000x10 {label}")
        rows.append(row(f"report_1000x10_{label}", s, m, goal="<= 60 s", met=s <= 60,
                        detail=f"default plan, tables, figures, HTML; median of {repeat}"))  # fmt: skip
        strategy = "JR"
        cmd = [CLI, "mi", path, *with_design, "--strategy", strategy, "--method", "condmean",
               "--resampling", "jackknife", "--quiet", "--out", str(tmp / f"mi_{label}")]  # fmt: skip
        s, m = median_of(cmd, repeat, label=f"mi 1000x10 {label}")
        rows.append(row(f"mi_1000x10_{label}_{strategy}", s, m, goal="<= 20 s", met=s <= 20,
                        detail="condmean, jackknife (1000 leave-one-out refits as R rbmi makes "
                               f"them), one strategy; median of {repeat}"))  # fmt: skip
        for df in ("satterthwaite", "kenward-roger"):
            cmd = [CLI, "mmrm", path, *with_design, "--df", df, "--out",
                   str(tmp / f"mmrm_{label}_{df}")]  # fmt: skip
            s, m = median_of(cmd, repeat, label=f"mmrm 1000x10 {label} {df}")
            r_s = r_m = None
            if r_ok:
                rcmd = ["Rscript", str(R_DIR / "mmrm_fit.R"), path, df, *r_args]
                r_s, r_m = median_of(rcmd, 1 if df == "kenward-roger" else repeat,
                                     label=f"R mmrm {label} {df}")  # fmt: skip
            met = None if r_s is None else r_s / s >= 10
            rows.append(row(f"mmrm_1000x10_{label}_{df}", s, m, r_s, goal=">= 10x R mmrm",
                            met=met, detail="whole processes: read, validate, fit, LS means, "
                            f"contrasts, tables; R peak {r_m:.0f} MiB" if r_m else
                            "whole process: read, validate, fit, LS means, contrasts, tables"))  # fmt: skip
    return rows


def bench_module(name):
    def run(data, tmp, repeat):
        try:
            mod = importlib.import_module(name)
        except ImportError as exc:  # a bench module not there yet
            print(f"  {name}: skipped ({exc})", file=sys.stderr)
            return []
        out = []
        for r in mod.run():
            seconds = float(r.get("seconds", 0.0))
            r_s = r.get("r_seconds")
            r_s = None if r_s in (None, "") else float(r_s)
            out.append(row(r["name"], seconds, r.get("peak_mib"), r_s, goal=r.get("goal", ""),
                           met=r.get("met"), detail=r.get("detail", "")))  # fmt: skip
        return out

    return run


TASKS = {
    "startup": bench_startup,
    "make_report": bench_make_report,
    "mmrm": bench_mmrm,
    "trial1000": bench_trial1000,
    "large": bench_large,
    "power": bench_power,
    "mi": bench_module("bench_mi"),
    "lmm": bench_module("bench_lmm"),
    "adjusted": bench_module("bench_adjusted"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="+", choices=list(TASKS))
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    # Time the package as installed, with its modules compiled once (pip compiles on install,
    # and Python caches what it compiles; where PYTHONDONTWRITEBYTECODE is set, as in some
    # sandboxes, every run would compile them again and time that instead)
    compileall.compile_dir(ROOT / "src" / "ipt_outcomes", quiet=1)
    rows = []
    tasks = args.only or list(TASKS)
    needs = {"mmrm": {"3000x10"}, "large": {"100kx10"}, "trial1000": {"1000x10", "bcva"}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = make_data(tmp, set().union(*(needs.get(t, set()) for t in tasks)))
        for name in tasks:
            print(f"{name}:", file=sys.stderr)
            rows += [{**r, "machine": machine} for r in TASKS[name](data, tmp, args.repeat)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.only and out.exists():  # keep the rows of the tasks not measured now
        with out.open(newline="") as fh:
            old = list(csv.DictReader(fh))
        new = {r["task"] for r in rows}
        mine = {t: i for i, t in enumerate(r["task"] for r in rows)}
        merged = []
        for r in old:
            if r["task"] in mine:
                merged.append(rows[mine.pop(r["task"])])
            elif r["task"] not in new:
                merged.append(r)
        rows = merged + [rows[i] for i in sorted(mine.values())]
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    print(out.read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
