"""Fragility index and GRIM checks against an independent R implementation
(tests/reference/appraisal/make_reference.R: fisher.test iterated as Walsh et al. 2014 describe)."""

from __future__ import annotations

import pandas as pd
import pytest

from ipt_outcomes.stats.appraisal import fragility_index, grim_table

from .conftest import ROOT

REF = ROOT / "tests" / "reference" / "appraisal"


@pytest.mark.parametrize("case", pd.read_csv(REF / "fragility_reference.csv").to_dict("records"))
def test_fragility_index_matches_r(case):
    res = fragility_index(int(case["a"]), int(case["n1"]), int(case["c"]), int(case["n2"]))
    assert res["fragility_index"] == case["fragility_index"]
    assert res["p_fisher"] == pytest.approx(case["p_fisher"], rel=1e-9)


def test_fragility_by_hand_for_a_small_table():
    """0/20 vs 8/20: p = 0.0033; 1/20 vs 8/20: p = 0.0197; 2/20 vs 8/20: p = 0.0648 -> FI = 2."""
    res = fragility_index(0, 20, 8, 20)
    assert (res["fragility_index"], res["kind"], res["changed_arm"]) == (2, "fragility", "a")
    assert res["p_after"] == pytest.approx(0.0648, abs=1e-4)


@pytest.mark.parametrize(
    ("a", "n1", "c", "n2", "fi", "p0", "p_after"),
    [
        # Fisher p-values checked by hand with R fisher.test, one change at a time in the arm with
        # fewer events: 5/50 vs 15/50 p = 0.02283; 6/50 0.04786 (still < 0.05); 7/50 0.08967.
        (5, 50, 15, 50, 2, 0.02283, 0.08967),
        # 10/100 vs 25/100 p = 0.008504; 11: 0.0159; 12: 0.02794; 13: 0.04645; 14: 0.07342.
        (10, 100, 25, 100, 4, 0.008504, 0.07342),
    ],
)
def test_fragility_index_hand_checked_published_style_examples(a, n1, c, n2, fi, p0, p_after):
    res = fragility_index(a, n1, c, n2)
    assert (res["fragility_index"], res["kind"], res["changed_arm"]) == (fi, "fragility", "a")
    assert res["p_fisher"] == pytest.approx(p0, rel=1e-3)
    assert res["p_after"] == pytest.approx(p_after, rel=1e-3)


def test_published_12_month_pegt_vs_tau_is_far_from_significant():
    """19/25 vs 21/31 (the reconstructed 12-month PeGT and TAU counts): reverse fragility."""
    res = fragility_index(19, 25, 21, 31)
    assert (
        not res["significant"]
        and res["kind"] == "reverse fragility"
        and res["fragility_index"] >= 1
    )


def test_grim_matches_r():
    ref = pd.read_csv(REF / "grim_reference.csv")
    for percent, grp in ref.groupby("percent"):
        ours = grim_table(percent, grp["n"]).set_index("n")["consistent"]
        assert ours.to_dict() == grp.set_index("n")["consistent"].to_dict()


def test_fragility_and_grim_clis_write_the_spec_tables(run_cli, tmp_path):
    code, out, err = run_cli(
        "fragility", "--events", "1,10", "--totals", "100,100", "--out", tmp_path
    )
    assert code == 0, err
    t = pd.read_csv(tmp_path / "fragility.csv")
    assert (
        list(t.columns[:2]) == ["fragility_index", "p_fisher"] and t["fragility_index"].iloc[0] == 2
    )
    code, out, err = run_cli("grim", "--percent", "61", "--n", "27", "28", "--out", tmp_path)
    assert code == 0, err
    g = pd.read_csv(tmp_path / "grim.csv")
    assert list(g.columns[:3]) == ["n", "consistent", "nearest_percent"]
    assert g["consistent"].tolist() == [False, True]


def test_bad_arguments_are_refused_clearly(run_cli, tmp_path):
    code, out, err = run_cli(
        "fragility", "--events", "12,10", "--totals", "10,10", "--out", tmp_path
    )
    assert code == 1 and "must not exceed" in err
    code, out, err = run_cli("fragility", "--events", "1", "--totals", "10,10", "--out", tmp_path)
    assert code == 2


@pytest.mark.parametrize(
    ("mean", "n", "decimals", "consistent"),
    [
        (5.19, 28, 2, False),  # by hand: 145/28 = 5.1786, 146/28 = 5.2143
        (5.18, 28, 2, True),  # 145/28 rounds to 5.18
        (19.3, 42, 1, True),  # n >= 10: every 1-decimal mean is possible
        (3.45, 20, 2, True),  # 69/20 = 3.45 exactly
        (3.47, 20, 2, False),  # 69/20 = 3.45, 70/20 = 3.50
    ],
)
def test_grim_mean_by_hand(mean, n, decimals, consistent):
    from ipt_outcomes.stats.appraisal import grim_mean

    res = grim_mean(mean, n, decimals)
    assert res["consistent"] is consistent
    assert res["informative"] is (n < 10**decimals)
    if consistent:
        assert res["nearest_mean"] == mean
