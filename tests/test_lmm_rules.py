"""Random-effects model rules and failure reporting, on small constructed trials."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.models.lmm import growth_model, lmm_fit_table

from .conftest import ROOT, sha256


def trial(write_csv, slope_sd=0.0, seed=4, n=40):
    rng = np.random.default_rng(seed)
    lines = ["subject_id,arm,visit,hamd17"]
    for i in range(n):
        arm = "TAU" if i % 2 else "CBT"
        u = rng.normal(0, 3)
        b = rng.normal(0, slope_sd)
        for v in (0, 1, 2, 3):
            y = 20 + u + (-2 - (1 if arm == "CBT" else 0) + b) * v + rng.normal(0, 2)
            lines.append(f"s{i},{arm},{v},{int(np.clip(round(y), 1, 52))}")
    return load_trial(write_csv("\n".join(lines) + "\n"))


def test_singular_random_effects_covariance_is_reported_in_the_fit_table(write_csv):
    """No true slope variation (seed 3): the REML fit lands on the boundary, with the slope
    perfectly correlated with the intercept - reported, and the df still computed."""
    res = growth_model(trial(write_csv, slope_sd=0.0, seed=3), random_slope=True)
    fit = lmm_fit_table(res, True).iloc[0]
    assert fit["singular"] and "covariance matrix singular" in fit["message"]
    corr = fit["cov_intercept_slope"] / np.sqrt(fit["var_slope"] * fit["var_intercept"])
    assert abs(corr) > 0.99
    assert np.isfinite(res.fixed_effects()["df"]).all()


def test_clear_slope_variance_is_estimated_and_not_flagged(write_csv):
    res = growth_model(trial(write_csv, slope_sd=1.5, n=80), random_slope=True)
    fit = lmm_fit_table(res, True).iloc[0]
    assert not fit["singular"] and fit["converged"] and fit["var_slope"] > 0.5


def test_quadratic_time_adds_terms(write_csv):
    res = growth_model(trial(write_csv), quadratic=True)
    assert {"time^2", "arm[CBT]:time^2"} <= set(res.beta.index)


def test_lmm_cli_writes_spec_tables(run_cli, tmp_path):
    data = ROOT / "tests" / "reference" / "response" / "synthetic_trial.csv"
    before = sha256(data)
    code, out, err = run_cli(
        "lmm",
        data,
        "--design",
        ROOT / "analyses" / "saloheimo2016.toml",
        "--random-slope",
        "--out",
        tmp_path,
    )
    assert code == 0, err
    assert sha256(data) == before
    heads = {p.stem: p.read_text().splitlines()[0] for p in tmp_path.glob("*.csv")}
    assert heads["lmm_fixed"] == "term,estimate,se,df,t,p,ci_low,ci_high"
    assert heads["lmm_fit"].startswith(
        "method,random_slope,loglik,n_fixed,var_intercept,var_slope,var_residual,n_obs,n_subjects"
    )
    assert {"lmm_nested", "lmm_icc", "ancova_hc3", "hedges_g"} <= set(heads)
    assert (
        "covariance matrix singular" in out
    )  # near-singular slope in this trial: said, not hidden


def test_lmm_reads_a_baseline_column_as_a_row_at_time_zero(write_csv):
    rows = ["subject_id,arm,visit,hamd17,base"]
    for i, (arm, b) in enumerate([("TAU", 20), ("CBT", 18), ("TAU", 22), ("CBT", 25)] * 3):
        rows += [f"s{i},{arm},1,{b - 3 - i % 4},{b}", f"s{i},{arm},2,{b - 5 - i % 3},{b}"]
    col = load_trial(write_csv("\n".join(rows) + "\n"), baseline="base")
    long = ["subject_id,arm,visit,hamd17"]
    for line in rows[1:]:
        s, arm, v, y, b = line.split(",")
        if v == "1":
            long.append(f"{s},{arm},0,{b}")
        long.append(f"{s},{arm},{v},{y}")
    row = load_trial(write_csv("\n".join(long) + "\n", name="long.csv"))
    a, b = growth_model(col), growth_model(row)
    assert a.n_obs == b.n_obs == 36
    np.testing.assert_allclose(a.beta.to_numpy(), b.beta.to_numpy(), rtol=1e-10, atol=1e-10)


def test_lmm_without_therapy_groups_skips_the_nested_model(run_cli, tmp_path, write_csv):
    s = trial(write_csv)
    code, out, err = run_cli("lmm", s.source, "--out", tmp_path)
    assert code == 0, err
    assert "PeGT" not in out and "therapy-group" not in out
    assert not (tmp_path / "lmm_nested.csv").exists()
    assert pd.read_csv(tmp_path / "lmm_fit.csv")["converged"].iloc[0]
