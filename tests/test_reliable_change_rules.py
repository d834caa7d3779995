"""Reliable and clinically significant change: the rules on tiny hand-built samples, the
command's messages, the figure."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.design import Instrument, TrialDesign
from ipt_outcomes.data.trial import trial_from_frame
from ipt_outcomes.exceptions import IptOutcomesError
from ipt_outcomes.stats.reliable_change import (
    CATEGORIES,
    RCI_CRITICAL,
    jacobson_truax,
    reliable_change,
    reliable_change_plot,
)


def test_critical_value_is_the_two_sided_five_percent_normal_quantile():
    from scipy import stats

    assert abs(RCI_CRITICAL - stats.norm.ppf(0.975)) < 1e-15


def test_rci_and_cutoff_a_by_hand_on_a_symptom_scale():
    # baselines 20, 24, 18, 30: M 23, SD sqrt(28); S_diff = sqrt(2) SD sqrt(1 - 0.8)
    rows, info = jacobson_truax([20, 24, 18, 30], [8, 22, 19, 12], reliability=0.8)
    sd = math.sqrt(28)
    s_diff = math.sqrt(2) * sd * math.sqrt(0.2)
    assert info["s_diff"] == pytest.approx(s_diff, rel=1e-14)
    assert info["cutoff"] == pytest.approx(23 - 2 * sd, rel=1e-14)  # a = M + d 2 SD, d = -1
    assert rows["rci"].tolist() == pytest.approx(
        [12 / s_diff, 2 / s_diff, -1 / s_diff, 18 / s_diff]
    )
    # 20 -> 8: reliable, clinical before (20 > 12.4), functional after (8 < 12.4): recovered
    # 30 -> 12: reliable, 12 < 12.42: recovered; 24 -> 22 and 18 -> 19: within the error
    assert rows["category"].tolist() == ["recovered", "unchanged", "unchanged", "recovered"]


def test_direction_flips_the_rci_and_the_cutoff_on_a_well_being_scale():
    rows, info = jacobson_truax(
        [5, 9, 7, 3], [15, 10, 2, 3.5], reliability=0.9, higher_is_better=True
    )
    sd = np.std([5, 9, 7, 3], ddof=1)
    assert info["cutoff"] == pytest.approx(6 + 2 * sd)  # a = M + 2 SD when higher is better
    assert rows["rci"].iloc[0] > 0 and rows["rci"].iloc[2] < 0  # positive = improvement
    assert rows["category"].tolist() == ["recovered", "unchanged", "deteriorated", "unchanged"]


def test_harmed_is_reliable_deterioration_from_the_functional_range_staying_out_of_it():
    # lower is better, cut-off c between clinical and functional means
    rows, info = jacobson_truax([2, 20, 22, 24, 26], [12, 20, 22, 24, 26], reliability=0.9,
                                cutoff="c", functional_mean=5, functional_sd=4)  # fmt: skip
    assert not rows["clinical_before"].iloc[0] and not rows["functional_after"].iloc[0]
    assert rows["category"].iloc[0] == "harmed"


def test_cutoffs_b_and_c_follow_the_package_formulas():
    b = [20, 24, 18, 30]
    sd = np.std(b, ddof=1)
    _, ib = jacobson_truax(b, b, reliability=0.8, cutoff="b", functional_mean=5, functional_sd=3)
    _, ic = jacobson_truax(b, b, reliability=0.8, cutoff="c", functional_mean=5, functional_sd=3)
    assert ib["cutoff"] == pytest.approx(5 + 2 * sd)  # b = fm - d 2 SD, d = -1
    assert ic["cutoff"] == pytest.approx((sd * 5 + 3 * 23) / (sd + 3))
    with pytest.raises(ValueError, match="needs functional_mean"):
        jacobson_truax(b, b, reliability=0.8, cutoff="b")


def _trial(reliability=0.8, **inst):
    df = pd.DataFrame(
        {"subject_id": list("aabbccdd"), "arm": ["TAU"] * 4 + ["IPT"] * 4,
         "visit": [0, 4] * 4, "hamd17": [20, 8, 24, 22, 18, 19, 30, 12]}
    )  # fmt: skip
    design = TrialDesign(instrument=Instrument(reliability=reliability, **inst))
    return trial_from_frame(df, design)


def test_reliable_change_of_a_trial_pools_the_arms_per_visit():
    res = reliable_change(_trial())
    got = res.subjects.set_index("subject_id")["category"].to_dict()
    assert got == {"a": "recovered", "b": "unchanged", "c": "unchanged", "d": "recovered"}
    assert res.subjects["arm"].tolist() == ["IPT", "IPT", "TAU", "TAU"]  # the trial's arm order
    assert res.criteria["n"].tolist() == [4]
    rates = res.rates.set_index(["arm", "category"])
    assert list(res.rates["category"].unique()) == list(CATEGORIES)
    assert (
        rates.loc[("TAU", "recovered"), "count"] == 1 and rates.loc[("TAU", "recovered"), "n"] == 2
    )
    comp = res.comparisons.set_index("outcome")
    assert comp.loc["recovered", "risk_difference"] == 0.0


def test_a_missing_reliability_names_the_registry_suggestion_with_its_source():
    with pytest.raises(IptOutcomesError) as err:
        reliable_change(_trial(reliability=None))
    text = str(err.value)
    assert "reliable change needs the reliability of HAM-D 17" in text
    assert "suggestion for HAM-D 17: reliability = 0.789" in text and "Trajkovic" in text


def test_cutoff_b_without_functional_norms_says_what_to_give():
    with pytest.raises(IptOutcomesError, match="functional_mean and functional_sd"):
        reliable_change(_trial(), "b")


def test_deterioration_is_worded_as_harm():
    from ipt_outcomes.stats.reliable_change import reliable_change_comparisons

    # more deterioration in the arm than in the reference is harm: NNTH, nnt negative
    subjects = pd.DataFrame({"subject_id": list("abcdefgh"), "arm": ["X"] * 4 + ["R"] * 4,
                             "visit": 4.0, "category": ["deteriorated", "harmed", "deteriorated",
                                                        "unchanged"] + ["unchanged"] * 4})  # fmt: skip
    det = reliable_change_comparisons(subjects, "R", arms=["R", "X"]).set_index("outcome")
    row = det.loc["reliable_deterioration"]
    assert (
        row["risk_difference"] == 0.75 and row["nnt"] < 0 and row["nnt_text"].startswith("NNTH 2")
    )
    assert det.loc["recovered", "nnt_text"].startswith("not defined")


def test_figure_draws(tmp_path):
    res = reliable_change(_trial())
    fig = reliable_change_plot(res.subjects, res.criteria, _trial().instrument,
                               arm_labels={"TAU": "Usual care"}, visit_labels={4.0: "Week 4"})  # fmt: skip
    fig.draw()


def test_command_writes_the_tables_and_the_figure(write_csv, tmp_path, run_cli):
    path = write_csv("subject_id,arm,visit,hamd17\n" + "".join(
        f"s{i},{'TAU' if i % 2 else 'IPT'},{v},{y}\n" for i in range(12)
        for v, y in ((0, 20 + i), (4, 20 + i - (3 * i if i % 2 == 0 else i // 3)))))  # fmt: skip
    design = tmp_path / "d.toml"
    design.write_text("[[arms]]\ncode = 'TAU'\n[[arms]]\ncode = 'IPT'\n[instrument]\n"
                      "reliability = 0.8\n")  # fmt: skip
    out = tmp_path / "out"
    code, stdout, err = run_cli("reliable-change", path, "--design", design, "--out", out)
    assert code == 0, err
    for name in ("reliable_change", "reliable_change_rates", "reliable_change_comparisons",
                 "reliable_change_criteria"):  # fmt: skip
        assert (out / f"{name}.csv").is_file()
    assert (out / "reliable_change.png").is_file()
    t = pd.read_csv(out / "reliable_change.csv")
    assert list(t.columns[:8]) == ["subject_id", "arm", "visit", "baseline", "score", "change",
                                   "rci", "category"]  # fmt: skip
    r = pd.read_csv(out / "reliable_change_rates.csv")
    assert list(r.columns[:8]) == ["arm", "visit", "category", "n", "count", "rate", "ci_low",
                                   "ci_high"]  # fmt: skip
    assert "lower scores are better" in stdout
    code, _, err = run_cli("reliable-change", path, "--out", tmp_path / "o2")
    assert code == 1 and "reliability" in err and "Traceback" not in err
    code, _, err = run_cli("reliable-change", path, "--cutoff", "d", "--out", tmp_path / "o3")
    assert code == 2
