"""Seeded 1000 x 10 trials of shapes not in benchmarks/run.py (acceptance check of issue 25).

Writes a4.csv (4 arms, default columns, HAM-D, ~40% monotone dropout and ~5% intermittent
gaps, no design file: run with --reference TAU), adam.csv (ADaM: USUBJID, TRT01P, AVISIT text
codes at uneven weeks, ABLFL, ANL01FL with rows flagged N, PARAMCD, continuous WHO-5 0-100,
higher is better, SEX, AGE; described by adam.toml beside this script, with a full analysis
plan) and events.csv (rescue medication of ~20% of subjects, visits as text codes).
Usage: python benchmarks/acceptance/make_1000x10_shapes.py OUTDIR; copy adam.toml there.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

out = Path(sys.argv[1])
out.mkdir(exist_ok=True, parents=True)


def trajectories(rng, n, arms, effects, nvis, base_mu, base_sd, slope, noise, rho=0.6):
    arm = rng.choice(arms, size=n)
    base = rng.normal(base_mu, base_sd, n)
    t = np.arange(1, nvis + 1)
    # AR(1)-like correlated subject noise + random slope
    cov = noise**2 * rho ** np.abs(t[:, None] - t[None, :])
    e = rng.multivariate_normal(np.zeros(nvis), cov, size=n)
    rs = rng.normal(0, 0.3, n)
    eff = np.array([effects[a] for a in arm])
    y = base[:, None] + (slope + eff[:, None] + rs[:, None]) * np.log1p(t)[None, :] + e
    return arm, base, y


def missing(rng, n, nvis, drop_frac, inter_p):
    miss = np.zeros((n, nvis), bool)
    drop = rng.random(n) < drop_frac
    when = rng.integers(1, nvis, n)  # first missing visit index (>=1 so 1+ obs)
    for i in np.where(drop)[0]:
        miss[i, when[i] :] = True
    miss |= rng.random((n, nvis)) < inter_p
    miss[:, 0] &= rng.random(n) < 0.3  # keep most first visits
    return miss, drop, when


rng = np.random.default_rng(2025)
# A: 4 arms, default columns, HAM-D integer, 40% monotone dropout, intermittent 5%
n = 1000
nv = 10
arms = ["TAU", "IPT", "CBT", "IPT+MED"]
arm, base, y = trajectories(
    rng, n, arms, {"TAU": 0, "IPT": -1.0, "CBT": -0.7, "IPT+MED": -1.8}, nv, 22, 4, -3.0, 3.5
)
miss, drop, when = missing(rng, n, nv, 0.40, 0.05)
rows = []
for i in range(n):
    sid = f"A{i:04d}"
    b = int(np.clip(round(base[i]), 8, 52))
    rows.append((sid, arm[i], 0, b, rng.integers(18, 80), rng.choice(["F", "M"])))
    for j in range(nv):
        v = "" if miss[i, j] else int(np.clip(round(y[i, j]), 0, 52))
        rows.append((sid, arm[i], j + 1, v, rows[-1][4], rows[-1][5]))
pd.DataFrame(rows, columns=["subject_id", "arm", "visit", "hamd17", "age", "sex"]).to_csv(
    out / "a4.csv", index=False
)

# B: ADaM, higher-is-better continuous WHO-5 style 0-100, text visit codes, uneven times, events
n = 1000
arms = ["PBO", "LOW", "HIGH"]
arm, base, y = trajectories(rng, n, arms, {"PBO": 0, "LOW": 2.0, "HIGH": 3.5}, nv, 40, 10, 5.0, 8.0)
miss, drop, when = missing(rng, n, nv, 0.40, 0.04)
weeks = [1, 2, 4, 6, 8, 12, 16, 20, 26, 32]
rows = []
ev = []
for i in range(n):
    sid = f"ST-{i:05d}"
    sex = rng.choice(["F", "M"])
    age = int(rng.integers(18, 75))
    b = float(np.clip(round(base[i], 1), 5, 95))
    rows.append((sid, arm[i], "BASELINE", 0, "WHO5", b, "Y", "Y", sex, age))
    for j in range(nv):
        v = np.nan if miss[i, j] else float(np.clip(round(y[i, j], 1), 0, 100))
        rows.append((sid, arm[i], f"WEEK {weeks[j]}", weeks[j], "WHO5", v, "", "Y", sex, age))
    if rng.random() < 0.2:  # intercurrent event: rescue med
        k = int(rng.integers(2, nv))
        ev.append((sid, f"WEEK {weeks[k]}", rng.choice(["JR", "CIR", "MAR"])))
    # a non-analysed duplicate row flagged N
    if i % 97 == 0:
        rows.append((sid, arm[i], "WEEK 4", 4, "WHO5", 50.0, "", "N", sex, age))
pd.DataFrame(
    rows,
    columns=[
        "USUBJID",
        "TRT01P",
        "AVISIT",
        "AVISITN",
        "PARAMCD",
        "AVAL",
        "ABLFL",
        "ANL01FL",
        "SEX",
        "AGE",
    ],
).to_csv(out / "adam.csv", index=False)
pd.DataFrame(ev, columns=["subject_id", "visit", "strategy"]).to_csv(
    out / "events.csv", index=False
)
print("ok")
