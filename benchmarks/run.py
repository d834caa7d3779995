"""`make bench`: time the heavy steps at scale and write the figures to a CSV.

Each task runs in a fresh child process (so peak memory is the task's own) ``--repeat`` times;
the best time is kept.

* simulate: the synthetic generator at 100,000 subjects (25,000 per arm) and 3,000 x 10 visits;
* validate: reading and validating the 100,000-subject file (500,000 rows);
* mmrm: fit plus LS means and contrasts, Satterthwaite and Kenward-Roger, for (a) the DIA
  antidepressant trial (172 subjects x 4 visits, ../shared/data/external), (b) 900 subjects x 6
  post-baseline visits and (c) 3,000 subjects x 10 post-baseline visits from the generator.
  ``r_mmrm_seconds`` are R mmrm's times on this kind of machine for data of those sizes, as
  given in issue 4 (fit plus contrasts); ``speedup`` = R time / our time;
* power_mmrm: 10,000 simulated trials (PeGT vs TAU, 90 per arm, the scenario fitted to the
  project's synthetic trial), each analysed by the MMRM (unstructured, Kenward-Roger) on 2 local
  processes - run once; issue 7's limit is 300 s on this 2-core machine (``within_limit``).

Usage: python benchmarks/run.py --out reports/bench.csv [--repeat 3] [--only mmrm]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIA = ROOT.parent / "shared" / "data" / "external" / "antidepressant_dia.csv"
R_MMRM = {  # seconds, issue 4: R mmrm on this machine, fit plus contrasts
    ("dia", "satterthwaite"): 0.15,
    ("900x6", "satterthwaite"): 0.82,
    ("3000x10", "satterthwaite"): 10.7,
    ("dia", "kenward-roger"): 0.24,
    ("900x6", "kenward-roger"): 2.6,
    ("3000x10", "kenward-roger"): 161.0,
}


def _mmrm_data(size: str):
    import pandas as pd

    if size == "dia":
        d = pd.read_csv(DIA)
        out = pd.DataFrame({"subject_id": d["PATIENT"].astype(str), "arm": d["THERAPY"], "visit": d["VISIT"].astype(float),
                            "change": d["HAMDTL17"] - d["BASVAL"], "baseline": d["BASVAL"]})  # fmt: skip
        return out, "PLACEBO"
    from ipt_outcomes.data.synthetic import simulate_trial

    n_sub, n_vis = {"900x6": (900, 6), "3000x10": (3000, 10)}[size]
    t = simulate_trial(1, n_per_arm=n_sub // 4, visits=list(range(n_vis + 1))).data
    t = t.assign(hamd17=t["hamd17"].astype(float))
    base = t[t["visit"] == 0].set_index("subject_id")["hamd17"]
    d = t[(t["visit"] > 0) & t["hamd17"].notna()].copy()
    d["baseline"] = d["subject_id"].map(base)
    d["change"] = d["hamd17"] - d["baseline"]
    return d[["subject_id", "arm", "visit", "change", "baseline"]], "TAU"


def _child(task: dict, path: str, queue) -> None:
    kind = task["kind"]
    if kind == "mmrm":
        from ipt_outcomes.models.mmrm import fit_mmrm

        data, ref = _mmrm_data(task["size"])
        t0 = time.perf_counter()
        fit = fit_mmrm(data, reference=ref, df=task["df"])
        fit.lsmeans()
        fit.contrasts()
        rows = len(data)
    elif kind == "power_mmrm":
        from ipt_outcomes.data.readers import read_table
        from ipt_outcomes.data.synthetic import simulate_trial, write_trial_csv
        from ipt_outcomes.data.validation import validate_scores
        from ipt_outcomes.stats.power import mmrm_scenario, simulate_mmrm_power

        trial_csv = Path(path).with_name("trial_2016.csv")
        with trial_csv.open("w", newline="", encoding="utf-8") as fh:
            write_trial_csv(simulate_trial(2016).data, fh)
        scores = validate_scores(read_table(trial_csv))
        scenario = mmrm_scenario(scores, "PeGT", "TAU", 12.0)
        t0 = time.perf_counter()
        table = simulate_mmrm_power(scenario, [task["n_per_arm"]], sims=task["sims"], seed=1,
                                    workers=task["workers"], progress=True)  # fmt: skip
        rows = int(table["sims"].sum())
        print(f"  power {table['power'].iloc[0]:.4f} (MC SE {table['mc_se'].iloc[0]:.4f}), "
              f"{int(table['failed'].iloc[0])} failed fits", file=sys.stderr)  # fmt: skip
    elif kind == "simulate":
        from ipt_outcomes.data.synthetic import simulate_trial, write_trial_csv

        t0 = time.perf_counter()
        trial = simulate_trial(1, n_per_arm=task["n_per_arm"], visits=task["visits"])
        rows = len(trial.data)
    else:
        from ipt_outcomes.data.readers import read_table
        from ipt_outcomes.data.validation import validate_scores

        if task.get("double"):
            big = Path(path).with_name("trial_1m.csv")
            if not big.exists():  # the 100k-subject file twice, second copy with new subject ids
                lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
                with big.open("w", encoding="utf-8") as fh:
                    fh.writelines(lines)
                    fh.writelines("T" + line[1:] for line in lines[1:])
            path = str(big)
        t0 = time.perf_counter()
        rows = len(validate_scores(read_table(path)).data)
    seconds = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, rows, peak_mib))
    if kind == "simulate" and task["n_per_arm"] == 25_000 and not Path(path).exists():
        with open(path, "w", newline="", encoding="utf-8") as fh:
            write_trial_csv(trial.data, fh)


def run(task: dict, path: str):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(task, path, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def tasks(only: str | None):
    out = {
        "simulate_100k_subjects_5_visits": dict(kind="simulate", n_per_arm=25_000, visits=None),
        "simulate_3000_subjects_10_visits": dict(
            kind="simulate", n_per_arm=750, visits=list(range(11))
        ),
        "validate_500k_rows": dict(kind="validate"),
        "validate_1m_rows": dict(kind="validate", double=True),
    }
    out["power_mmrm_10000_trials_180_subjects_2_workers"] = dict(
        kind="power_mmrm", n_per_arm=90, sims=10_000, workers=2, repeat=1, limit=300
    )
    for size in ("dia", "900x6", "3000x10"):
        for df in ("satterthwaite", "kenward-roger"):
            if size == "dia" and not DIA.exists():
                continue
            out[f"mmrm_{size}_{df}"] = dict(kind="mmrm", size=size, df=df)
    return {k: v for k, v in out.items() if only is None or v["kind"] == only}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["simulate", "validate", "mmrm", "power_mmrm"])
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        big = str(Path(tmp) / "trial_100k.csv")
        todo = tasks(args.only)
        if args.only == "validate":
            run(tasks("simulate")["simulate_100k_subjects_5_visits"], big)
        for name, task in todo.items():
            best = None
            repeat = task.get("repeat", args.repeat)
            for i in range(repeat):
                seconds, n, peak = run(task, big)
                print(
                    f"  {name} run {i + 1}/{repeat}: {seconds:.2f} s, {n} rows, peak {peak:.0f} MiB",
                    file=sys.stderr,
                )
                best = (seconds, n, peak) if best is None or seconds < best[0] else best
            r = R_MMRM.get((task.get("size"), task.get("df")))
            rows.append({"task": name, "rows": best[1], "seconds": f"{best[0]:.3f}", "peak_mib": f"{best[2]:.0f}",
                         "r_mmrm_seconds": "" if r is None else r,
                         "speedup": "" if r is None else f"{r / best[0]:.1f}",
                         "limit_seconds": task.get("limit", ""),
                         "within_limit": "" if "limit" not in task else str(best[0] < task["limit"])})  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()} {mp.cpu_count()} cores, Python {platform.python_version()}"
    fields = [
        "task",
        "rows",
        "seconds",
        "peak_mib",
        "r_mmrm_seconds",
        "speedup",
        "limit_seconds",
        "within_limit",
        "machine",
    ]
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "machine": machine})
    print(out.read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
