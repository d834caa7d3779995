"""Make acc2.csv: a two-arm ADaM BDS trial with two instruments (issue 24 acceptance check).

Run: python make_acc2_data.py   (seeded; same bytes every run)

PARAMCD "WHO5PCT" (WHO-5 percentage score 0-100 in steps of 4, higher is better; listed FIRST in
the design so it is the default instrument) and "HAMDTOT" (HAM-D 17, 0-52, lower is better).
Text visit codes in AVISIT; the baseline record flagged by ABLFL; ANL01FL = "Y" marks the rows
to analyse. Traps that must be left out (ANL01FL = "N" or empty):
  - DTYPE = "LOCF" rows derived for dropouts at every visit after their last (ANL01FL = "N");
  - UNSCHEDULED visit records (AVISIT "UNSCHEDULED", not in the design's schedule; "N");
  - repeated assessments at a scheduled visit with another value ("N");
  - out-of-window assessments that are a subject's only record at a visit ("N": the visit is
    missing for that subject);
  - SCREENING records (not in the schedule; ANL01FL empty).
Also: rows with ANL01FL = "Y" and AVAL empty, subjects with no flagged baseline (excluded from
change-based analyses), scores at exactly 50% improvement and at the remission thresholds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261207
N_PER_ARM = 70
ARMS = ["IPT + TAU", "Usual care"]  # the reference ("Usual care") second
VISITS = ["BASELINE", "WEEK 4", "WEEK 8", "WEEK 12", "WEEK 16"]
WEEKS = [0, 4, 8, 12, 16]


def main(out: Path) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    rows = []
    n = 2 * N_PER_ARM
    arm = np.repeat(ARMS, N_PER_ARM)
    arm = arm[rng.permutation(n)]
    age = rng.integers(19, 70, n)
    sex = rng.choice(["F", "M"], n, p=[0.65, 0.35])
    # last visit index attended (monotone dropout, more on usual care)
    last = np.full(n, 4)
    for i in range(n):
        p = 0.06 if arm[i] == "IPT + TAU" else 0.09
        for v in range(1, 5):
            if rng.random() < p:
                last[i] = v - 1 if v > 1 else 1  # everyone attends week 4 unless below
                break
    last[rng.choice(n, 3, replace=False)] = 0  # three subjects seen at baseline only
    u_h = rng.normal(0, 3.5, n)
    u_w = rng.normal(0, 9.0, n)
    slope_h = rng.normal(0, 0.15, n)
    base_h = np.clip(np.round(rng.normal(23, 4, n)), 14, 40)
    base_w = np.clip(4 * np.round(rng.normal(30, 12, n) / 4), 0, 84)
    for i in range(n):
        sid = f"ACC2-{101 + i:04d}"
        eff = 1.0 if arm[i] == "IPT + TAU" else 0.0
        common = {
            "STUDYID": "ACC2",
            "USUBJID": sid,
            "TRT01P": arm[i],
            "TRT01PN": 1 if eff else 2,
            "AGE": int(age[i]),
            "SEX": sex[i],
        }
        for param, lab in (("WHO5PCT", "WHO-5 percentage score"), ("HAMDTOT", "HAM-D 17 total")):
            scores = []
            for k, w in enumerate(WEEKS):
                frac = (w / 16) ** 0.7
                if param == "HAMDTOT":
                    mu = base_h[i] - (6 + 4 * eff) * frac + u_h[i] * frac + slope_h[i] * w
                    y = float(np.clip(np.round(mu + rng.normal(0, 2.5) * (k > 0)), 0, 52))
                    if k == 0:
                        y = base_h[i]
                else:
                    mu = base_w[i] + (12 + 10 * eff) * frac + u_w[i] * frac
                    y = float(np.clip(4 * np.round((mu + rng.normal(0, 7) * (k > 0)) / 4), 0, 100))
                    if k == 0:
                        y = base_w[i]
                scores.append(y)
            # screening record (not analysed, not in the schedule)
            rows.append(
                {
                    **common,
                    "PARAMCD": param,
                    "PARAM": lab,
                    "AVISIT": "SCREENING",
                    "AVISITN": -1,
                    "ADY": -7,
                    "AVAL": scores[0] + (rng.integers(-2, 3) if param == "HAMDTOT" else 4),
                    "ABLFL": "",
                    "ANL01FL": "",
                    "DTYPE": "",
                }
            )
            for k, (v, w) in enumerate(zip(VISITS, WEEKS, strict=True)):
                if k > last[i]:
                    # LOCF-derived record (ANL01FL = "N": not analysed)
                    rows.append(
                        {
                            **common,
                            "PARAMCD": param,
                            "PARAM": lab,
                            "AVISIT": v,
                            "AVISITN": w,
                            "ADY": 7 * w + 1,
                            "AVAL": scores[last[i]],
                            "ABLFL": "",
                            "ANL01FL": "N",
                            "DTYPE": "LOCF",
                        }
                    )
                    continue
                rows.append(
                    {
                        **common,
                        "PARAMCD": param,
                        "PARAM": lab,
                        "AVISIT": v,
                        "AVISITN": w,
                        "ADY": 7 * w + 1 + int(rng.integers(-3, 4)) * (k > 0),
                        "AVAL": scores[k],
                        "ABLFL": "Y" if k == 0 else "",
                        "ANL01FL": "Y",
                        "DTYPE": "",
                    }
                )
    d = pd.DataFrame(rows)
    post = d.index[(d.AVISIT != "BASELINE") & (d.AVISIT != "SCREENING") & (d.ANL01FL == "Y")]
    # intermittent gaps: AVAL empty on an analysed row
    for j in rng.choice(post, 8, replace=False):
        d.loc[j, "AVAL"] = np.nan
    # out-of-window: a subject's only record at the visit, flagged N
    for j in rng.choice(post, 6, replace=False):
        d.loc[j, "ANL01FL"] = "N"
        d.loc[j, "ADY"] = d.loc[j, "ADY"] + 15
    # no flagged baseline for two subjects (HAM-D for one, both instruments for the other)
    for sid, params in (("ACC2-0107", ["HAMDTOT"]), ("ACC2-0133", ["HAMDTOT", "WHO5PCT"])):
        m = d.USUBJID.eq(sid) & d.PARAMCD.isin(params) & (d.AVISIT == "BASELINE")
        d.loc[m, "AVAL"] = np.nan
        d.loc[m, "ABLFL"] = ""
    extra = []
    analysed = d[(d.ANL01FL == "Y") & d.AVAL.notna()]
    # repeated assessments at a scheduled visit (another value, flagged N)
    for j in rng.choice(analysed.index[analysed.AVISIT != "BASELINE"], 8, replace=False):
        r = d.loc[j].copy()
        r["AVAL"] = min(r["AVAL"] + 6, 52) if r["PARAMCD"] == "HAMDTOT" else max(r["AVAL"] - 20, 0)
        r["ANL01FL"], r["ADY"] = "N", r["ADY"] + 2
        extra.append(r)
    # repeated baseline assessment (not the baseline record)
    for j in rng.choice(analysed.index[analysed.AVISIT == "BASELINE"], 3, replace=False):
        r = d.loc[j].copy()
        r["AVAL"] = r["AVAL"] + (5 if r["PARAMCD"] == "HAMDTOT" else -12)
        r["ABLFL"], r["ANL01FL"], r["ADY"] = "", "N", r["ADY"] + 1
        extra.append(r)
    # unscheduled visits (not in the schedule)
    for j in rng.choice(analysed.index, 10, replace=False):
        r = d.loc[j].copy()
        r["AVISIT"], r["AVISITN"], r["ABLFL"], r["ANL01FL"] = "UNSCHEDULED", 99, "", "N"
        r["AVAL"] = r["AVAL"] + (3 if r["PARAMCD"] == "HAMDTOT" else -8)
        r["ADY"] = r["ADY"] + 10
        extra.append(r)
    d = pd.concat([d, pd.DataFrame(extra)], ignore_index=True)
    # ADaM's own BASE and CHG (from the flagged baseline; unmapped, must be ignored)
    b = d[d.ABLFL == "Y"].set_index(["USUBJID", "PARAMCD"]).AVAL
    d["BASE"] = [b.get((s, p), np.nan) for s, p in zip(d.USUBJID, d.PARAMCD, strict=True)]
    d["CHG"] = np.where(d.AVISITN > 0, d.AVAL - d.BASE, np.nan)
    d["CHG"] = d["CHG"].where(d.AVISITN != 99)
    vis_order = {v: k for k, v in enumerate(["SCREENING", *VISITS, "UNSCHEDULED"])}
    d = (
        d.assign(_v=d.AVISIT.map(vis_order))
        .sort_values(["USUBJID", "PARAMCD", "_v", "ADY"], kind="stable")
        .drop(columns="_v")
    )
    cols = [
        "STUDYID",
        "USUBJID",
        "TRT01P",
        "TRT01PN",
        "PARAMCD",
        "PARAM",
        "AVISIT",
        "AVISITN",
        "ADY",
        "AVAL",
        "BASE",
        "CHG",
        "ABLFL",
        "ANL01FL",
        "DTYPE",
        "AGE",
        "SEX",
    ]
    d = d[cols]
    for c in ("AVAL", "BASE", "CHG"):
        d[c] = d[c].astype("Int64")
    d.to_csv(out, index=False)
    return d


if __name__ == "__main__":
    d = main(Path(__file__).with_name("acc2.csv"))
    print(len(d), "rows;", d.USUBJID.nunique(), "subjects")
    print(d.groupby(["PARAMCD", "ANL01FL"], dropna=False).size())
    print(d[d.ANL01FL == "Y"].groupby(["PARAMCD", "AVISIT"]).AVAL.count())
