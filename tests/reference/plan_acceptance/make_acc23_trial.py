"""Simulate the hidden acceptance trial of issue 23 (``ACC-23``), unlike the project's own trials.

Run from the repository root: ``python tests/reference/plan_acceptance/make_acc23_trial.py``. numpy
only (not the project), so the data and the R reference made from them are independent of the
code under test. Same seed, same bytes.

What differs from ``tests/reference/plan``: ADaM text visit codes (``AVISIT`` = ``"BASELINE"``,
``"WEEK 1"`` ... ``"WEEK 6"``, the events file uses them too), arm codes with spaces, the
reference arm listed last in ``[[arms]]``, unequal arms (simple randomisation), HAM-D 17 (0-52), a
continuous covariate (``AGE``) in the primary MMRM, intercurrent events = discontinuation of
study drug (scores after it still observed).

Writes, in this folder:

* ``acc_trial.csv``: ``USUBJID, ARMCD, AVISIT, AVAL, AGE, SEX, FASFL, PPROTFL``;
* ``events.csv``: ``subject_id, visit`` - the first visit after discontinuation of study drug.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SEED = 2023
N = 238
ARMS = ("PLACEBO", "DRUG A", "DRUG B")
VISITS = ("WEEK 1", "WEEK 2", "WEEK 4", "WEEK 6")
MEAN_CHANGE = {
    "PLACEBO": np.array([-1.5, -3.0, -5.0, -6.0]),
    "DRUG A": np.array([-2.0, -4.0, -6.5, -8.0]),
    "DRUG B": np.array([-2.5, -5.0, -8.0, -10.0]),
}
HERE = Path(__file__).resolve().parent


def simulate(rng: np.random.Generator):
    arm = rng.choice(ARMS, size=N, p=(0.34, 0.33, 0.33))
    sex = np.where(rng.random(N) < 0.62, "F", "M")
    age = np.round(rng.uniform(18, 70, N), 1)  # continuous, one decimal
    base = np.clip(np.round(rng.normal(24, 4, N)), 17, 40).astype(int)

    mu = np.stack([MEAN_CHANGE[a] for a in arm])
    mu += -0.3 * (base - 24)[:, None] + 0.04 * (age - 44)[:, None]
    mu += np.where(sex == "F", -0.8, 0.0)[:, None]
    cov = 16.0 * np.array(
        [[1.0, 0.6, 0.5, 0.4], [0.6, 1.0, 0.6, 0.5], [0.5, 0.6, 1.0, 0.6], [0.4, 0.5, 0.6, 1.0]]
    )
    chg = mu + rng.multivariate_normal(np.zeros(4), cov, size=N)
    score = np.clip(np.round(base[:, None] + chg), 0, 52).astype(int)

    # discontinuation of study drug (intercurrent event) at a post-baseline visit index 1..3:
    # scores are still collected after it, and drift back towards placebo
    events = {}
    for i in range(N):
        if rng.random() < 0.16:
            k = int(rng.integers(1, 4))
            events[i] = k
            shift = (MEAN_CHANGE["PLACEBO"] - MEAN_CHANGE[arm[i]])[k:] * 0.7 + 1.0
            score[i, k:] = np.clip(np.round(score[i, k:] + shift), 0, 52)

    # dropout (monotone): last observed visit index, -1 = none after baseline
    last = np.full(N, 3)
    for i in range(N):
        if rng.random() < 0.17:
            last[i] = int(rng.integers(-1, 3))
    layout_absent = rng.random(N) < 0.5  # rows after dropout absent (else present, empty)
    # intermittent gaps
    gaps = set()
    for i in range(N):
        if last[i] >= 2 and rng.random() < 0.08:
            gaps.add((i, int(rng.integers(0, last[i]))))

    never_dosed = set(rng.choice(np.flatnonzero(last >= 0), size=3, replace=False).tolist())
    fas = np.array([(last[i] >= 0) and i not in never_dosed for i in range(N)])
    # per-protocol: FAS without a major deviation and without discontinuation, except that half
    # of those who stopped only before the last visit stay in it
    pp = fas & (rng.random(N) > 0.14) & ~np.isin(np.arange(N), list(events))
    for i, k in events.items():
        if fas[i] and k == 3 and rng.random() < 0.5:
            pp[i] = True

    rows = []
    for i in range(N):
        sid = f"ACC-{i + 1:03d}"
        common = dict(AGE=f"{age[i]:.1f}", SEX=sex[i], FASFL="Y" if fas[i] else "N",
                      PPROTFL="Y" if pp[i] else "N")  # fmt: skip
        rows.append(dict(USUBJID=sid, ARMCD=arm[i], AVISIT="BASELINE", AVAL=str(base[i]), **common))
        for k, v in enumerate(VISITS):
            if k > last[i]:
                if layout_absent[i]:
                    continue
                val = ""
            elif (i, k) in gaps:
                val = ""
            else:
                val = str(score[i, k])
            rows.append(dict(USUBJID=sid, ARMCD=arm[i], AVISIT=v, AVAL=val, **common))
    ev = [dict(subject_id=f"ACC-{i + 1:03d}", visit=VISITS[k]) for i, k in sorted(events.items())]
    return rows, ev


def main() -> None:
    rows, ev = simulate(np.random.default_rng(SEED))
    cols = ["USUBJID", "ARMCD", "AVISIT", "AVAL", "AGE", "SEX", "FASFL", "PPROTFL"]
    with open(HERE / "acc_trial.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    with open(HERE / "events.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["subject_id", "visit"], lineterminator="\n")
        w.writeheader()
        w.writerows(ev)


if __name__ == "__main__":
    main()
