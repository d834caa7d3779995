"""Write trial.csv and trial.toml: a seeded trial for the MMRM acceptance check (issue 26).

336 subjects in three arms whose names have spaces and a non-ASCII letter, the reference
("Placebo") not first in any sort; non-default column names mapped by the design; visit codes
0 (baseline), 2, 4, 8, 12, 16, 24 at uneven week times; monotone dropout and intermittent gaps
(some subjects with one post-baseline score); a continuous covariate ``x``, a three-level
factor ``region``; row weights ``w``. numpy only. Run from this folder:
``../../../.venv/bin/python make_acceptance_data.py``.
"""

from __future__ import annotations

import csv

import numpy as np

SEED = 2605
WEEKS = [2, 4, 8, 12, 16, 24]
ARMS = ["Drug 10 mg", "Drüg 20 mg", "Placebo"]
EFFECT = {"Drug 10 mg": -1.2, "Drüg 20 mg": -2.0, "Placebo": 0.0}


def main() -> None:
    rng = np.random.default_rng(SEED)
    n = 336
    t = np.array(WEEKS, float)
    sd = 2.5 + 0.15 * t
    corr = np.exp(-np.abs(t[:, None] - t[None, :]) / 10.0)
    cov = corr * sd[:, None] * sd[None, :]
    rows = []
    for i in range(n):
        arm = ARMS[i % 3]
        region = ("North", "South", "East")[rng.integers(3)]
        x = round(float(rng.normal(40, 12)), 1)
        base = int(np.clip(round(rng.normal(30, 5)), 12, 60))
        e = rng.multivariate_normal(np.zeros(len(t)), cov)
        mean = (
            -0.6 * t**0.8
            + EFFECT[arm] * np.log1p(t)
            + 0.25 * (base - 30)
            + 0.04 * (x - 40)
            + {"North": 0.0, "South": 1.0, "East": -0.8}[region]
        )
        score = np.clip(np.round(base + mean + e), 0, 60)
        drop = len(t) if rng.random() > 0.35 else int(rng.integers(1, len(t)))
        gap = rng.random(len(t)) < 0.07
        sid = f"P{i + 101:04d}"
        rows.append([sid, arm, 0, base, x, region, ""])
        for j, week in enumerate(WEEKS):
            missing = j >= drop or (gap[j] and j > 0)
            w = round(float(rng.uniform(0.5, 2.0)), 3)
            rows.append([sid, arm, week, "" if missing else int(score[j]), x, region, w])
    with open("trial.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["pid", "group", "week", "madrs", "x", "region", "w"])
        out.writerows(rows)


if __name__ == "__main__":
    main()
