"""Simulate the plan-driven reference trial (issue 23's acceptance scenario).

Run from the repository root: ``python tests/reference/plan/make_trial.py``. It uses numpy only
(not the project), so the data and the R reference made from them are independent of the code
under test. Same seed, same bytes.

Writes, in this folder:

* ``plan_trial.csv``: one row per subject and visit code (``USUBJID, TRT01P, AVISITN, AVAL, SEX,
  REGION, AGE, FASFL, PPROTFL``). 240 subjects, arms ``PBO``, ``LOW``, ``HIGH`` (permuted blocks
  of 6), MADRS-like integer scores 0-60, baseline at code 0 and codes 1-4 after it (weeks 2, 4,
  8, 12 in the design). Missing data: monotone dropout (for half of the dropouts the rows after
  the last visit are absent, for the other half present with an empty ``AVAL``), intermittent
  gaps (empty ``AVAL``) and a few subjects with no post-baseline score.
* ``events.csv``: ``subject_id, visit`` - the first visit affected by the start of rescue
  medication (about 15% of subjects). Scores after it are still observed (and rescue helps), so
  the hypothetical and treatment-policy strategies differ.

Flags: ``FASFL`` is N for every subject without a post-baseline score and for 4 others (never
dosed); ``PPROTFL`` is Y for a subset of the FAS (major protocol deviations excluded).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SEED = 20260441  # see the README: chosen so that the multiplicity rule matters
N = 240
ARMS = ("PBO", "LOW", "HIGH")
WEEKS = np.array([2.0, 4.0, 8.0, 12.0])
# mean change from baseline by arm and visit (weeks 2, 4, 8, 12)
MEAN_CHANGE = {
    "PBO": np.array([-2.5, -5.0, -7.0, -8.5]),
    "LOW": np.array([-3.5, -6.5, -9.5, -12.0]),
    "HIGH": np.array([-4.5, -8.5, -12.5, -15.0]),
}
REGIONS = ("EUR", "USA", "ASIA")
REGION_P = (0.45, 0.35, 0.20)
REGION_SHIFT = {"EUR": 0.0, "USA": 1.5, "ASIA": -1.0}
SEX_SHIFT = {"F": -1.0, "M": 0.0}
HERE = Path(__file__).resolve().parent


def simulate(rng: np.random.Generator):
    # permuted blocks of 6 (2 per arm)
    arm = np.concatenate([rng.permutation(np.repeat(ARMS, 2)) for _ in range(N // 6)])
    sex = np.where(rng.random(N) < 0.6, "F", "M")
    region = rng.choice(REGIONS, size=N, p=REGION_P)
    age = np.clip(np.round(rng.normal(43, 12, N)), 18, 75).astype(int)
    base = np.clip(np.round(rng.normal(31, 5, N)), 20, 50).astype(int)

    # change from baseline: arm mean + baseline slope + sex + region + subject intercept and
    # slope + residual; HIGH's extra effect is smaller in ASIA (a mild interaction)
    mu = np.stack([MEAN_CHANGE[a] for a in arm])
    mu += -0.25 * (base - 31)[:, None]
    mu += np.array([SEX_SHIFT[s] for s in sex])[:, None]
    mu += np.array([REGION_SHIFT[r] for r in region])[:, None]
    mu += np.where((arm == "HIGH") & (region == "ASIA"), 2.0, 0.0)[:, None] * WEEKS / 12
    u = rng.normal(0, 3.5, N)[:, None]
    v = rng.normal(0, 4.0, N)[:, None] * WEEKS / 12
    e = rng.normal(0, 3.5, (N, 4))
    change = mu + u + v + e

    # rescue medication: at visit k (first visit affected) with a hazard that grows when the
    # previous score shows little improvement; it lowers every later score by 3 points
    event = np.zeros(N, int)  # 0: none, else the visit code 1-4
    prev = base.astype(float)
    for k in range(4):
        improvement = (base - prev) / base
        hazard = np.where(improvement < 0.15, 0.08, 0.015) if k else np.full(N, 0.03)
        start = (event == 0) & (rng.random(N) < hazard)
        event[start] = k + 1
        score_k = base + change[:, k] - np.where((event > 0) & (event <= k + 1), 3.0, 0.0)
        prev = score_k
    rescued = (event > 0)[:, None] & (np.arange(1, 5)[None, :] >= event[:, None])
    score = np.clip(np.round(base[:, None] + change - 3.0 * rescued), 0, 60)

    # missing data: 6 subjects with no post-baseline score; monotone dropout after visits 1-3
    # (more likely with a poor score, and on placebo); intermittent gaps at visits 1-3
    observed = np.ones((N, 4), bool)
    none_post = rng.choice(N, size=6, replace=False)
    observed[none_post] = False
    last = np.full(N, 4)
    last[none_post] = 0
    for k in range(3):
        poor = (base - score[:, k]) / base < 0.2
        p = 0.035 + 0.05 * poor + 0.02 * (arm == "PBO")
        drop = (last == 4) & (rng.random(N) < p)
        last[drop] = k + 1
    observed &= np.arange(1, 5)[None, :] <= last[:, None]
    gap = (rng.random((N, 4)) < 0.05) & (np.arange(1, 5)[None, :] < last[:, None])
    gap[:, 3] = False
    observed &= ~gap

    # flags: FAS = a post-baseline score and dosed (4 subjects never dosed); PP = FAS without
    # a major protocol deviation (about 12%)
    has_post = observed.any(axis=1)
    fas = has_post.copy()
    fas[rng.choice(np.flatnonzero(has_post), size=4, replace=False)] = False
    pp = fas & (rng.random(N) >= 0.12)
    # rows after a dropout: absent for about half of the dropouts, else present with an empty AVAL
    absent_after = (last < 4) & (rng.random(N) < 0.5)
    return dict(arm=arm, sex=sex, region=region, age=age, base=base, score=score,
                observed=observed, last=last, absent_after=absent_after, fas=fas, pp=pp,
                event=event)  # fmt: skip


def write(sim) -> None:
    ids = [f"PLN-{i + 1:04d}" for i in range(N)]
    with open(HERE / "plan_trial.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["USUBJID", "TRT01P", "AVISITN", "AVAL", "SEX", "REGION", "AGE", "FASFL",
                    "PPROTFL"])  # fmt: skip
        for i, sid in enumerate(ids):
            common = [sim["sex"][i], sim["region"][i], int(sim["age"][i]),
                      "Y" if sim["fas"][i] else "N", "Y" if sim["pp"][i] else "N"]  # fmt: skip
            w.writerow([sid, sim["arm"][i], 0, int(sim["base"][i]), *common])
            for k in range(4):
                if sim["absent_after"][i] and k + 1 > sim["last"][i]:
                    continue
                aval = int(sim["score"][i, k]) if sim["observed"][i, k] else ""
                w.writerow([sid, sim["arm"][i], k + 1, aval, *common])
    with open(HERE / "events.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["subject_id", "visit"])
        for i, sid in enumerate(ids):
            # an event is known up to the visit after the last one attended
            if sim["event"][i] and sim["event"][i] <= max(sim["last"][i] + 1, 1):
                w.writerow([sid, int(sim["event"][i])])


if __name__ == "__main__":
    write(simulate(np.random.default_rng(SEED)))
