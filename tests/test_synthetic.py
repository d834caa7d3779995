"""The calibrated synthetic trial, checked against the published figures (not its own targets).

Published values below are typed from ../shared/reference/saloheimo2016.md (Saloheimo et al.,
BMC Psychiatry 2016;16:131): the abstract's response rates and the secondary sources' baseline
table and 3-month means.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.derive import derive_outcomes
from ipt_outcomes.datasets import load_targets, simulate_trial, write_trial_csv
from ipt_outcomes.exceptions import CalibrationError
from ipt_outcomes.stats.granularity import round_half_up_percent

# Abstract: response (>= 50% HAM-D improvement), observed cases, whole percent.
PUBLISHED_RESPONSE = {
    ("IPT", 3): 42,
    ("PeGT", 3): 61,
    ("TAU", 3): 42,
    ("IPT", 12): 61,
    ("PeGT", 12): 76,
    ("TAU", 12): 68,
}
RANDOMISED = {"IPT": 46, "PeGT": 42, "TAU": 46}
BASELINE_HAMD = {
    "IPT": (18.7, 4.0),
    "PeGT": (19.3, 3.8),
    "TAU": (18.9, 3.7),
}  # mean (SD), secondary
AGE = {"IPT": (43, 12.3), "PeGT": (42, 10.1), "TAU": (40, 12.5)}  # mean (SD), secondary
MALE_PERCENT = {"IPT": 35, "PeGT": 26, "TAU": 22}  # secondary; 72% women overall
HAMD_3M = {"IPT": (9.1, 6.4), "PeGT": (8.3, 6.3), "TAU": (11.1, 6.4)}  # secondary


def baseline_rows(data):
    return data[data["visit"] == 0]


def observed_response(data):
    d = derive_outcomes(data.rename(columns={"hamd17": "score"}).astype({"score": float}))
    d = d[d["score"].notna()]
    return d.groupby(["arm", "visit"])["responder"].agg(["sum", "count"])


def test_six_published_response_rates_are_reproduced_exactly(project_trial):
    counts = observed_response(project_trial.data)
    for (arm, visit), pct in PUBLISHED_RESPONSE.items():
        k, n = counts.loc[(arm, float(visit))]
        assert round_half_up_percent(int(k), int(n)) == pct, (arm, visit, k, n)


def test_randomised_n_per_arm(project_trial):
    n = project_trial.data.groupby("arm")["subject_id"].nunique()
    for arm, expected in RANDOMISED.items():
        assert n[arm] == expected
    assert n["IPT+MED"] == 46


def test_visits_are_the_published_schedule_with_one_row_per_subject_visit(project_trial):
    d = project_trial.data
    assert sorted(d["visit"].unique()) == [0.0, 1.5, 3.0, 6.0, 12.0]
    assert not d.duplicated(["subject_id", "visit"]).any()
    assert d.groupby("subject_id")["arm"].nunique().max() == 1


def test_scores_are_whole_numbers_in_range(project_trial):
    y = project_trial.data["hamd17"].dropna().astype(float)
    assert ((y >= 0) & (y <= 52) & (y == np.round(y))).all()


def test_baseline_table_matches_published_figures(project_trial):
    base = baseline_rows(project_trial.data)
    for arm, (mean, sd) in BASELINE_HAMD.items():
        y = base.loc[base["arm"] == arm, "hamd17"].astype(float)
        assert round(y.mean(), 1) == mean and round(y.std(), 1) == sd, arm
    for arm, (mean, sd) in AGE.items():
        a = base.loc[base["arm"] == arm, "age"]
        assert round(a.mean()) == mean and round(a.std(), 1) == sd, arm
        assert a.between(18, 64).all()
    for arm, pct in MALE_PERCENT.items():
        s = base.loc[base["arm"] == arm, "sex"]
        assert round_half_up_percent(int((s == "male").sum()), len(s)) == pct
    pub = base[base["arm"].isin(RANDOMISED)]
    assert round_half_up_percent(int((pub["sex"] == "female").sum()), len(pub)) == 72


def test_three_month_means_and_sds_are_close_to_published(project_trial):
    d = project_trial.data
    for arm, (mean, sd) in HAMD_3M.items():
        y = d.loc[(d["arm"] == arm) & (d["visit"] == 3), "hamd17"].dropna().astype(float)
        assert abs(y.mean() - mean) < 0.1, arm
        assert abs(y.std() - sd) < 0.25, arm


def test_three_month_observed_n_are_nearest_to_published_that_allow_the_percentages(project_trial):
    d = project_trial.data
    n3 = d[(d["visit"] == 3) & d["hamd17"].notna()].groupby("arm").size()
    # secondary n 38, 27, 34; 61% is impossible out of 27 and 42% out of 34 (GRIM)
    assert (n3["IPT"], n3["PeGT"], n3["TAU"]) == (38, 28, 33)


def test_conflicting_published_figures_are_stated(project_trial):
    text = " ".join(project_trial.notes)
    assert "impossible with the secondary n = 27" in text and "chose n = 28" in text
    assert "impossible with the secondary n = 34" in text and "chose n = 33" in text
    assert "IPT+MED is modelled" in text


def test_pegt_better_than_tau_over_time_and_ipt_close_to_tau(project_trial):
    """Published finding, checked by an independent summary-measure analysis (pingouin ANCOVA
    of each patient's mean post-baseline HAM-D on baseline, pairwise arm subsets)."""
    import pingouin as pg

    d = project_trial.data.assign(hamd17=project_trial.data["hamd17"].astype(float))
    base = baseline_rows(d).set_index("subject_id")["hamd17"].rename("baseline")
    per = d[d["visit"] > 0].groupby("subject_id").agg(arm=("arm", "first"), y=("hamd17", "mean"))
    per = per.join(base).dropna()
    p = {}
    for arm in ("PeGT", "IPT"):
        sub = per[per["arm"].isin([arm, "TAU"])]
        tab = pg.ancova(data=sub, dv="y", covar="baseline", between="arm")
        p[arm] = float(tab.set_index("Source").loc["arm"].filter(like="p").iloc[0])
        mean_diff = sub.groupby("arm")["y"].mean()
        if arm == "PeGT":
            assert mean_diff["PeGT"] < mean_diff["TAU"]
    assert p["PeGT"] < 0.05
    assert p["IPT"] >= 0.05


def test_modelled_arm_is_better_than_ipt_as_the_literature_says(project_trial):
    counts = observed_response(project_trial.data)
    for v in (3.0, 12.0):
        rate = {
            a: counts.loc[(a, v), "sum"] / counts.loc[(a, v), "count"] for a in ("IPT", "IPT+MED")
        }
        # Cuijpers et al. 2020: combined vs psychotherapy alone, response RR 1.27 (1.14-1.39)
        assert 1.14 <= rate["IPT+MED"] / rate["IPT"] <= 1.39


def test_therapy_groups_of_four_to_six_in_pegt_only(project_trial):
    base = baseline_rows(project_trial.data)
    peg = base[base["arm"] == "PeGT"]
    sizes = peg.groupby("therapy_group").size()
    assert sizes.between(4, 6).all() and sizes.sum() == 42
    assert (base.loc[base["arm"] != "PeGT", "therapy_group"] == "").all()


def test_antidepressant_use_in_all_arms(project_trial):
    base = baseline_rows(project_trial.data)
    share = base.groupby("arm")["antidepressant"].mean()
    assert (share[["IPT", "PeGT", "TAU"]] > 0.3).all()
    assert share["IPT+MED"] == 1.0


def test_cgi_s_and_sofas_follow_hamd(project_trial):
    d = project_trial.data.dropna(subset=["hamd17"]).astype(
        {"hamd17": float, "cgi_s": float, "sofas": float}
    )
    assert d["cgi_s"].between(1, 7).all() and d["sofas"].between(1, 100).all()
    assert d["hamd17"].corr(d["cgi_s"], method="spearman") > 0.7
    assert d["hamd17"].corr(d["sofas"], method="spearman") < -0.6
    raw = project_trial.data
    assert (raw["hamd17"].isna() == raw["cgi_s"].isna()).all()


def test_dropout_depends_on_earlier_scores(project_trial):
    """Patients seen at 1.5 months but not at 3 had higher 1.5-month scores than those seen."""
    w = project_trial.data.pivot(index="subject_id", columns="visit", values="hamd17").astype(float)
    seen = w[w[1.5].notna()]
    left = seen[seen[3.0].isna() & seen[6.0].isna() & seen[12.0].isna()]
    stayed = seen[seen[3.0].notna()]
    assert len(left) >= 5
    assert left[1.5].mean() > stayed[1.5].mean()


def test_missing_scores_are_mostly_monotone_dropout_with_some_missed_visits(project_trial):
    w = project_trial.data.pivot(index="subject_id", columns="visit", values="hamd17")
    obs = w.notna().to_numpy()
    intermittent = [
        (not row[j]) and row[j + 1 :].any() for row in obs for j in range(1, obs.shape[1])
    ]
    assert 0 < sum(intermittent) < 15
    assert obs[:, 0].all()  # everyone has a baseline


def test_same_seed_gives_the_same_bytes_and_another_seed_differs(project_trial):
    def csv_bytes(trial):
        buf = io.StringIO()
        write_trial_csv(trial.data, buf)
        return buf.getvalue().encode()

    again = simulate_trial(2016)
    assert csv_bytes(again) == csv_bytes(project_trial)
    assert csv_bytes(simulate_trial(7)) != csv_bytes(project_trial)


def test_other_seeds_also_reproduce_the_published_rates():
    for seed in (1, 99):
        counts = observed_response(simulate_trial(seed).data)
        for (arm, visit), pct in PUBLISHED_RESPONSE.items():
            k, n = counts.loc[(arm, float(visit))]
            assert round_half_up_percent(int(k), int(n)) == pct


def test_calibration_table_has_a_source_for_every_target(project_trial):
    cal = project_trial.calibration
    assert {"quantity", "arm", "visit", "target", "achieved", "status", "kind", "source"} <= set(
        cal.columns
    )
    assert (cal["source"].str.len() > 0).all()
    assert not cal["status"].isin(["off", "approx"]).any(), cal[
        cal["status"].isin(["off", "approx"])
    ]


def test_every_target_row_has_a_kind_and_source():
    t = load_targets()
    assert set(t["kind"]) <= {"published", "secondary", "literature", "assumption"}
    assert t["source"].str.len().min() > 10


def test_scaled_trial_for_benchmarks():
    trial = simulate_trial(3, n_per_arm=500, visits=[0, 1, 2, 3, 4, 6, 8, 10, 12])
    d = trial.data
    assert d["subject_id"].nunique() == 2000 and d["visit"].nunique() == 9
    counts = observed_response(d)
    k, n = counts.loc[("PeGT", 12.0)]
    assert abs(100 * k / n - 76) <= 100 / n


def test_impossible_sizes_are_refused():
    with pytest.raises(CalibrationError):
        simulate_trial(1, n_per_arm=1)
    with pytest.raises(CalibrationError):
        simulate_trial(1, visits=[1, 2])


def test_negative_seed_is_refused():
    with pytest.raises(ValueError, match="seed"):
        simulate_trial(-1)


def test_output_columns_follow_the_spec(project_trial):
    assert list(project_trial.data.columns) == [
        "subject_id",
        "arm",
        "visit",
        "hamd17",
        "therapy_group",
        "antidepressant",
        "age",
        "sex",
        "cgi_s",
        "sofas",
    ]
    assert isinstance(project_trial.data, pd.DataFrame)


def test_the_data_layer_imports_nothing_above_it():
    """data/ reads, validates and derives; the generator (datasets/) fits models, so it sits
    above stats/ and models/ and nothing in data/ may import those (issue 30)."""
    import ast

    from .conftest import ROOT

    upward = []
    for path in sorted((ROOT / "src" / "ipt_outcomes" / "data").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                top = (node.module or "").split(".")[0]
                if top in ("stats", "models", "estimands", "report", "datasets", "cli"):
                    upward.append(f"{path.name}: from {'.' * node.level}{node.module}")
            elif isinstance(node, ast.ImportFrom | ast.Import):
                names = (
                    [node.module]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                for name in names:
                    parts = (name or "").split(".")
                    if (
                        parts[0] == "ipt_outcomes"
                        and len(parts) > 1
                        and parts[1]
                        in ("stats", "models", "estimands", "report", "datasets", "cli")
                    ):
                        upward.append(f"{path.name}: import {name}")
    assert upward == []
