"""Power and sample size: p-value tables against scipy, exact power against an independent R
enumeration (tests/reference/power/exact_power.R), simulated power within 4 Monte-Carlo SEs of
exact power, MMRM power against R power.t.test (tests/reference/power/mmrm_power.R), and the
same numbers whatever runs the chunks (one process, local processes, a Dask LocalCluster)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipt_outcomes.stats.power import (
    MMRMScenario,
    exact_power,
    mmrm_sample_size,
    pvalue_table,
    sample_size,
    simulate_mmrm_power,
    simulate_power,
)

from .conftest import ROOT

REF = ROOT / "tests" / "reference" / "power"
EXACT = pd.read_csv(REF / "exact_power.csv")


def _scipy_p(x, n1, y, n2, test):
    tab = [[x, n1 - x], [y, n2 - y]]
    if test == "fisher":
        return stats.fisher_exact(tab).pvalue
    if x + y in (0, n1 + n2):
        return 1.0
    return stats.chi2_contingency(tab, correction=False).pvalue


@pytest.mark.parametrize("test", ["chisq", "fisher"])
@pytest.mark.parametrize(("n1", "n2"), [(5, 7), (13, 13), (21, 16)])
def test_pvalue_table_matches_scipy_for_every_outcome(test, n1, n2):
    table = pvalue_table(n1, n2, test)
    ref = np.array([[_scipy_p(x, n1, y, n2, test) for y in range(n2 + 1)] for x in range(n1 + 1)])
    np.testing.assert_allclose(table, ref, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize(
    "case", EXACT.to_dict("records"), ids=lambda c: f"{c['test']}-{c['n_per_arm']}-{c['p_arm']}"
)
def test_exact_power_matches_r_enumeration(case):
    got = exact_power(case["p_ref"], case["p_arm"], case["n_per_arm"], case["test"], case["alpha"])
    assert got == pytest.approx(case["exact_power"], abs=1e-12)


@pytest.mark.parametrize("test", ["chisq", "fisher"])
def test_simulated_power_within_four_monte_carlo_se_of_exact(test):
    ref = EXACT[EXACT["test"] == test]
    for (p_ref, p_arm), rows in ref.groupby(["p_ref", "p_arm"]):
        table = simulate_power(
            p_ref, p_arm, rows["n_per_arm"].tolist(), test=test, sims=20_000, seed=11, workers=1
        )
        merged = table.merge(rows, on="n_per_arm", suffixes=("", "_r"))
        assert len(merged) == len(rows)
        z = (merged["power"] - merged["exact_power_r"]) / merged["mc_se"].clip(lower=1e-9)
        assert (z.abs() < 4).all(), merged[["n_per_arm", "power", "exact_power_r", "mc_se"]]
        assert (merged["sims"] == 20_000).all()
        np.testing.assert_allclose(
            merged["mc_se"], np.sqrt(merged["power"] * (1 - merged["power"]) / 20_000)
        )


def test_simulated_power_is_the_same_with_one_or_two_local_workers():
    one = simulate_power(0.42, 0.61, [30, 60], "fisher", sims=12_000, seed=3, workers=1)
    two = simulate_power(0.42, 0.61, [30, 60], "fisher", sims=12_000, seed=3, workers=2)
    pd.testing.assert_frame_equal(one, two)


def test_power_at_one_n_does_not_depend_on_the_rest_of_the_grid():
    alone = simulate_power(0.3, 0.5, [40], sims=7000, seed=5, workers=1)
    grid = simulate_power(0.3, 0.5, [20, 40, 80], sims=7000, seed=5, workers=1)
    assert alone["rejections"].iloc[0] == grid.loc[grid["n_per_arm"] == 40, "rejections"].iloc[0]


def test_different_seeds_give_different_simulations():
    a = simulate_power(0.3, 0.5, [40], sims=5000, seed=1, workers=1)
    b = simulate_power(0.3, 0.5, [40], sims=5000, seed=2, workers=1)
    assert a["rejections"].iloc[0] != b["rejections"].iloc[0]


@pytest.mark.parametrize("test", ["chisq", "fisher"])
def test_sample_size_is_the_smallest_n_reaching_the_target(test):
    res = sample_size(0.42, 0.61, 0.80, test)
    n = res["n_per_arm"]
    assert exact_power(0.42, 0.61, n, test) >= 0.80 > exact_power(0.42, 0.61, n - 1, test)
    assert all(exact_power(0.42, 0.61, m, test) < 0.80 for m in range(n // 2, n))
    assert res["n_stable"] >= n
    assert all(
        exact_power(0.42, 0.61, m, test) >= 0.80
        for m in range(res["n_stable"], res["n_stable"] + 10)
    )


def test_sample_size_normal_approximation_matches_r_power_prop_test():
    """tests/reference/power/sample_size.txt: R power.prop.test(p1 = .42, p2 = .61, power = .8)
    gives n = 107.43 per group (pooled variance under the null, unpooled under the
    alternative: the formula used here), i.e. 108 after rounding up."""
    text = (REF / "sample_size.txt").read_text()
    n_r = float(re.search(r"n per group: ([0-9.]+)", text).group(1))
    assert sample_size(0.42, 0.61, 0.80)["n_normal"] == math.ceil(n_r)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(p_ref=1.2, p_arm=0.5, n_per_arm=[10]), "p_ref"),
        (dict(p_ref=0.2, p_arm=0.5, n_per_arm=[0]), "n_per_arm"),
        (dict(p_ref=0.2, p_arm=0.5, n_per_arm=[10], sims=0), "sims"),
        (dict(p_ref=0.2, p_arm=0.5, n_per_arm=[10], test="t"), "test"),
        (dict(p_ref=0.2, p_arm=0.5, n_per_arm=[10], alpha=1.5), "alpha"),
    ],
)
def test_power_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate_power(**kwargs, workers=1)


# ------------------------------------------------------------------------------------------
# MMRM power
# ------------------------------------------------------------------------------------------


def _scenario(delta: float) -> MMRMScenario:
    sigma = np.array([[30.0, 15.0], [15.0, 36.0]])
    return MMRMScenario(
        visits=(1.0, 2.0),
        mean_change={"TAU": np.array([-4.0, -6.0]), "PeGT": np.array([-5.0, -6.0 - delta])},
        sigma=sigma,
        baseline_mean=20.0,
        baseline_sd=4.0,
        baseline_slope=np.zeros(2),
        retention=np.ones(2),
        arm="PeGT",
        reference="TAU",
        key_visit=2.0,
    )


MMRM_REF = pd.read_csv(REF / "mmrm_power.csv")


@pytest.mark.parametrize(
    "case", MMRM_REF.to_dict("records"), ids=lambda c: f"n{c['n']}-d{c['delta']}"
)
def test_mmrm_power_within_four_monte_carlo_se_of_the_t_test_power(case):
    table = simulate_mmrm_power(
        _scenario(case["delta"]), [int(case["n"])], sims=400, seed=21, workers=2
    )
    row = table.iloc[0]
    assert row["failed"] == 0
    assert row["effect"] == pytest.approx(-case["delta"])
    assert abs(row["power"] - case["power"]) < 4 * max(row["mc_se"], 0.01), row


def test_mmrm_sample_size_search_finds_the_t_test_n():
    """tests/reference/power/mmrm_sample_size.csv: R power.t.test(delta = 4, sd = 6,
    power = .8) gives n = 36.3 per arm (complete data, no baseline effect, where the MMRM
    contrast at the last visit is the per-visit ANCOVA). The bisection on simulated power
    (300 trials per probe: power SE about 0.023, i.e. about 4 patients near 80%) must land
    within 8 patients of it, and the power it reports must be at least the target."""
    ref = pd.read_csv(REF / "mmrm_sample_size.csv").iloc[0]
    res = mmrm_sample_size(_scenario(4.0), 0.80, sims=300, seed=8, workers=2)
    assert abs(res["n_per_arm"] - ref["n"]) <= 8, res["probes"]
    assert res["power"] >= 0.80
    below = res["probes"][res["probes"]["n_per_arm"] < res["n_per_arm"]]
    assert (below["power"] < 0.80).all()
    assert res["n_normal"] == pytest.approx(ref["n"], abs=3)  # z-approximation start


def test_mmrm_scenario_draws_monotone_dropout_at_the_given_retention():
    sc = MMRMScenario(**{**_scenario(2.0).__dict__, "retention": np.array([0.9, 0.6])})
    d = sc.draw(5000, np.random.default_rng(1))
    per_visit = d.groupby("visit")["subject_id"].nunique() / 10_000
    assert per_visit.loc[1.0] == pytest.approx(0.9, abs=0.01)
    assert per_visit.loc[2.0] == pytest.approx(0.6, abs=0.01)
    seen_late = set(d.loc[d["visit"] == 2.0, "subject_id"])
    assert seen_late <= set(d.loc[d["visit"] == 1.0, "subject_id"])  # monotone


def test_mmrm_scenario_refuses_increasing_retention():
    with pytest.raises(ValueError, match="retention"):
        MMRMScenario(**{**_scenario(2.0).__dict__, "retention": np.array([0.5, 0.9])})


# ------------------------------------------------------------------------------------------
# Dask: a LocalCluster on loopback gives the same numbers as the local run
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    yield cluster
    cluster.close()


def test_dask_local_cluster_gives_the_same_response_power_as_the_local_run(dask_cluster):
    local = simulate_power(0.42, 0.61, [25, 50], "fisher", sims=11_000, seed=9, workers=1)
    dask = simulate_power(
        0.42,
        0.61,
        [25, 50],
        "fisher",
        sims=11_000,
        seed=9,
        scheduler=dask_cluster.scheduler_address,
    )
    pd.testing.assert_frame_equal(local, dask)


def test_dask_local_cluster_gives_the_same_mmrm_power_as_the_local_run(dask_cluster):
    sc = _scenario(3.0)
    local = simulate_mmrm_power(sc, [15], sims=60, seed=4, workers=2)
    dask = simulate_mmrm_power(sc, [15], sims=60, seed=4, scheduler=dask_cluster.scheduler_address)
    pd.testing.assert_frame_equal(local, dask)


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------


def test_power_cli_writes_the_spec_table_curve_and_sample_size(run_cli, tmp_path):
    code, out, err = run_cli("power", "--rates", "0.42,0.61", "--n-per-arm", "20", "50", "--test", "chisq",
                             "--sims", "4000", "--seed", "1", "--target-power", "0.8", "--workers", "1",
                             "--quiet", "--out", tmp_path)  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(tmp_path / "power.csv")
    assert list(table.columns[:3]) == ["n_per_arm", "power", "mc_se"]
    assert table["n_per_arm"].tolist() == [20, 50]
    assert (
        pd.read_csv(tmp_path / "sample_size.csv")["n_per_arm"].iloc[0]
        == sample_size(0.42, 0.61, 0.8)["n_per_arm"]
    )
    assert (tmp_path / "power_curve.png").stat().st_size > 1000
    assert "Smallest n per arm" in out


def test_power_cli_mmrm_on_the_project_trial(run_cli, tmp_path, project_trial_csv):
    code, out, err = run_cli("power", "--test", "mmrm", "--data", project_trial_csv, "--arm", "PeGT",
                             "--visit", "12", "--n-per-arm", "20", "--sims", "25", "--workers", "1",
                             "--quiet", "--out", tmp_path)  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(tmp_path / "power.csv")
    assert table["sims"].iloc[0] == 25 and table["failed"].iloc[0] == 0
    assert "MMRM contrast PeGT - TAU, Visit 12" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--n-per-arm", "20", "--test", "fisher"], 1, "needs --rates"),
        (["--rates", "1.3,0.5", "--n-per-arm", "20"], 2, "proportions"),
        (["--rates", "0.3", "--n-per-arm", "20"], 2, "two proportions"),
        (["--rates", "0.3,0.5", "--n-per-arm", "20", "--workers", "0"], 2, "--workers"),
        (
            ["--rates", "0.3,0.5", "--n-per-arm", "20", "--scheduler", "tcp://127.0.0.1:9"],
            1,
            "Dask scheduler",
        ),
    ],
)
def test_power_cli_refuses_bad_arguments_with_a_message(run_cli, tmp_path, args, code, message):
    got, out, err = run_cli("power", *args, "--quiet", "--out", tmp_path / "o")
    assert got == code
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
