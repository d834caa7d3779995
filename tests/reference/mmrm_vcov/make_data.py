"""Simulated trials for the R mmrm references of this folder (seeded; rerun gives the same bytes).

Run from the repository root: ``.venv/bin/python tests/reference/mmrm_vcov/make_data.py``.
numpy only; the trials are made here, not by the package, so a change in the package cannot
change its own references.

* ``trial2.csv``: default columns (``subject_id, arm, visit, hamd17``) with a baseline row at
  visit 0, two arms, 320 subjects, weekly visits 1-4, dropout, ``sex`` and a weight ``wt``.
* ``trial4.csv``: default columns, four arms (``TAU``, ``IPT``, ``PeGT``, ``IPT+MED``), 400
  subjects, visits 1.5, 3, 6, 12 months, dropout and intermittent gaps, ``age``, ``wt``.
* ``trial3_adam.csv`` + ``trial3_adam.toml``: analysis-data shape (``USUBJID, TRT01P, AVISITN,
  AVAL, BASE``, baseline only as the ``BASE`` column), three arms, 360 subjects, visit codes
  20-60 at weeks 1, 2, 4, 8, 12 (uneven times), MADRS 0-60, ``SEX``, weight ``WGT``.
* ``days.csv``: a frame for the formula interface with subject-specific times (``day``) for
  ``sp_exp(day | subject)``: ``subject, arm, visit, day, y, base, wt``, 300 subjects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def _scores(rng, n, arms, effects, times, base_mean, top, rho=0.6, sd=4.0, drop=0.07, gap=0.0):
    rows = []
    T = len(times)
    t = np.asarray(times, float)
    corr = rho ** np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    for i in range(n):
        arm = arms[i % len(arms)]
        base = int(np.clip(np.round(rng.normal(base_mean, 4)), 1, top))
        u = rng.normal(0, 3)
        e = rng.multivariate_normal(
            np.zeros(T),
            corr * sd**2 * np.sqrt(1 + t / t.max())[:, None] * np.sqrt(1 + t / t.max())[None, :],
        )
        mean = -4 * np.log1p(t) + effects[arm] * t / t.max() + 0.3 * (base - base_mean)
        y = np.clip(np.round(base + mean + u + e), 0, top)
        last = T
        for j in range(T):
            if rng.random() < drop * (1 + (y[j - 1] > base if j else 0)):
                last = j
                break
        rows.append(
            (i, arm, base, [y[j] if j < last and rng.random() >= gap else np.nan for j in range(T)])
        )
    return rows


def trial2(rng):
    arms = ["TAU", "IPT"]
    visits = [1, 2, 3, 4]
    out = []
    for i, arm, base, ys in _scores(rng, 320, arms, {"TAU": 0, "IPT": -3}, visits, 22, 52):
        sex = "F" if rng.random() < 0.6 else "M"
        sid = f"S{i + 1:03d}"
        out.append((sid, arm, 0, base, sex, 1.0))
        for v, y in zip(visits, ys, strict=True):
            out.append((sid, arm, v, y, sex, round(float(rng.uniform(0.5, 2.0)), 3)))
    d = pd.DataFrame(out, columns=["subject_id", "arm", "visit", "hamd17", "sex", "wt"])
    d["hamd17"] = d["hamd17"].astype("Int64")
    return d


def trial4(rng):
    arms = ["TAU", "IPT", "PeGT", "IPT+MED"]
    visits = [1.5, 3, 6, 12]
    eff = {"TAU": 0, "IPT": -2.5, "PeGT": -1, "IPT+MED": -4}
    out = []
    for i, arm, base, ys in _scores(rng, 400, arms, eff, visits, 21, 52, rho=0.5, gap=0.06):
        age = int(rng.integers(18, 70))
        sid = f"P{i + 1:04d}"
        out.append((sid, arm, 0.0, base, age, 1.0))
        for v, y in zip(visits, ys, strict=True):
            out.append((sid, arm, v, y, age, round(float(rng.uniform(0.5, 2.0)), 3)))
    d = pd.DataFrame(out, columns=["subject_id", "arm", "visit", "hamd17", "age", "wt"])
    d["hamd17"] = d["hamd17"].astype("Int64")
    return d


def trial3_adam(rng):
    arms = ["PBO", "LOW", "HIGH"]
    times = [1, 2, 4, 8, 12]
    codes = [20, 30, 40, 50, 60]
    eff = {"PBO": 0, "LOW": -2, "HIGH": -4}
    out = []
    for i, arm, base, ys in _scores(rng, 360, arms, eff, times, 30, 60, rho=0.7, sd=5, gap=0.04):
        sex = "F" if rng.random() < 0.55 else "M"
        sid = f"STUDY02-{i + 1:04d}"
        for c, y in zip(codes, ys, strict=True):
            out.append((sid, arm, c, y, base, sex, round(float(rng.uniform(0.5, 2.0)), 3)))
    d = pd.DataFrame(out, columns=["USUBJID", "TRT01P", "AVISITN", "AVAL", "BASE", "SEX", "WGT"])
    d["AVAL"] = d["AVAL"].astype("Int64")
    return d


def days(rng):
    rows = []
    for i in range(300):
        arm = ["A", "B", "C"][i % 3]
        base = rng.normal(20, 4)
        t = np.array([7, 14, 28, 56]) + rng.integers(-3, 4, size=4)
        S = 16 * 0.97 ** np.abs(np.subtract.outer(t, t))
        y = -0.05 * t * (1 + 0.3 * (arm == "B") + 0.6 * (arm == "C")) + 0.4 * (base - 20)
        y = y + rng.multivariate_normal(np.zeros(4), S)
        keep = np.ones(4, bool)
        if rng.random() < 0.2:
            keep[int(rng.integers(1, 4)) :] = False
        for j in np.flatnonzero(keep):
            rows.append(
                (
                    f"d{i:03d}",
                    arm,
                    j + 1,
                    int(t[j]),
                    round(float(y[j]), 4),
                    round(float(base), 3),
                    round(float(rng.uniform(0.5, 2)), 3),
                )
            )
    return pd.DataFrame(rows, columns=["subject", "arm", "visit", "day", "y", "base", "wt"])


def main() -> None:
    rng = np.random.default_rng(20261207)
    trial2(rng).to_csv(HERE / "trial2.csv", index=False)
    trial4(rng).to_csv(HERE / "trial4.csv", index=False)
    trial3_adam(rng).to_csv(HERE / "trial3_adam.csv", index=False)
    days(rng).to_csv(HERE / "days.csv", index=False)


if __name__ == "__main__":
    main()
