"""Random-effects model rules and failure reporting, on small constructed trials."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.models.lmm import (
    RandomTerm,
    fit_growth_model,
    fit_lmm,
    growth_model,
    lmm_fit_table,
    optimise,
)
from ipt_outcomes.models.lmm import core as lmm_core
from ipt_outcomes.models.lmm.deviance import evaluate
from ipt_outcomes.models.lmm.models import _arm_time_design
from ipt_outcomes.models.optim import numeric_hessian
from ipt_outcomes.models.results import ModelResults

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


# ------------------------------------------------------------------------------------------
# the optimum and the boundary
# ------------------------------------------------------------------------------------------


def frame(slope_sd=0.0, seed=4, n=40, times=(0, 1, 2, 3), corr=0.0):
    """score = 20 + u + (-2 - [CBT] + b) t + e; (u, b) with SDs 3 and slope_sd."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        arm = "TAU" if i % 2 else "CBT"
        u = rng.normal(0, 3)
        b = corr * u / 3 * slope_sd + math.sqrt(1 - corr**2) * rng.normal(0, slope_sd)
        for t in times:
            y = 20 + u + (-2 - (arm == "CBT") + b) * t + rng.normal(0, 2)
            rows.append((f"s{i}", arm, t, y))
    return pd.DataFrame(rows, columns=["subject_id", "arm", "time", "score"])


def model_of(d, reml=True, slope=True):
    X = _arm_time_design(d, ["TAU", "CBT"], "TAU", False)
    term = RandomTerm("subject_id", ("1", "time") if slope else ("1",), name="subject")
    return lmm_core._LMMModel(X.to_numpy(float), d["score"].to_numpy(float), d, [term], reml)


def test_zero_slope_variance_is_flagged_singular_as_lme4_does():
    """No slope variation: the optimum has the slope's Cholesky diagonal at 0 (lme4's isSingular:
    a diagonal element of the relative factor below 1e-4)."""
    res = fit_growth_model(frame(slope_sd=0.0, seed=3), random_slope=True)
    assert res.singular and res.min_diag_theta < 1e-4
    assert res.converged and "covariance matrix singular" in res.message


def test_clear_slope_variance_is_not_flagged_singular():
    res = fit_growth_model(frame(slope_sd=1.5, n=80), random_slope=True)
    assert not res.singular and res.min_diag_theta > 1e-2 and res.message == ""
    assert res.variance_components["subject"].iloc[1, 1] > 0.5


def test_singular_flag_is_lme4s_tolerance_on_the_cholesky_diagonal():
    for slope_sd, seed in ((0.0, 3), (0.0, 5), (1.5, 4), (0.3, 6)):
        res = fit_growth_model(frame(slope_sd=slope_sd, seed=seed), random_slope=True)
        diag = res.theta[[0, 2]]  # L11, L22 of (L11, L21, L22)
        assert res.singular == bool(diag.min() < 1e-4)
        assert res.min_diag_theta == pytest.approx(diag.min())


def test_a_start_on_the_boundary_still_reaches_the_interior_optimum():
    """At L22 = 0 the deviance's gradient in L22 is 0 whatever the data (it is even in L22): a
    gradient method started there stays there. The fit must leave it when the interior is better."""
    d = frame(slope_sd=1.5, n=80)
    model = model_of(d)
    free = optimise.find_optimum(model, model.starts(), model.scales())
    on_face = np.array([free.theta[0], free.theta[1], 0.0])
    assert model.fgh(on_face).gh()[0][2] == 0.0  # the vanishing gradient
    res = optimise.find_optimum(model, [("boundary", on_face)], model.scales())
    assert res.f == pytest.approx(free.f, abs=1e-8)
    assert res.theta[2] > 0.05


def test_boundary_check_prefers_the_interior_optimum_when_it_is_better(monkeypatch):
    """An optimiser that stalls on the boundary face (as the old one did) is overruled by the
    final check, which compares the face with the interior optimum."""
    d = frame(slope_sd=1.5, n=80)
    model = model_of(d)
    truth = optimise.find_optimum(model, model.starts(), model.scales())
    local = optimise.Search.local

    def stalling(self, theta0, fixed=(), stop_on_zero=None, join=False):
        if not len(fixed) and stop_on_zero is None:  # the starts: stuck on the face L22 = 0
            return local(self, np.array([theta0[0], theta0[1], 0.0]), fixed=[2])
        return local(self, theta0, fixed=fixed, stop_on_zero=stop_on_zero, join=join)

    monkeypatch.setattr(optimise.Search, "local", stalling)
    res = optimise.find_optimum(model, model.starts(), model.scales())
    assert res.boundary_checked and res.winner == "interior"
    assert res.f == pytest.approx(truth.f, abs=1e-8) and res.theta[2] > 0.05
    check = res.boundary_checked[0]
    assert check["deviance_interior"] < check["deviance_face"] - 1


def test_boundary_check_keeps_the_face_when_the_interior_is_no_better():
    d = frame(slope_sd=0.0, seed=3)
    model = model_of(d)
    res = optimise.find_optimum(model, model.starts(), model.scales())
    assert res.winner == "boundary face" and res.boundary_checked
    assert res.theta[2] == 0.0


def test_fit_is_never_worse_than_a_grid_search():
    """The global optimum on a small frame: no point of a coarse grid over theta is better."""
    d = frame(slope_sd=0.4, seed=11, n=24, corr=-0.8)
    model = model_of(d)
    res = optimise.find_optimum(model, model.starts(), model.scales())
    grid = np.linspace(-1.5, 1.5, 13)
    best = min(
        evaluate(model, np.array([a, b, c]), order=0).f
        for a in np.linspace(0, 2, 9)
        for b in grid / 3
        for c in np.linspace(0, 1, 9)
    )
    assert res.f <= best + 1e-9


# ------------------------------------------------------------------------------------------
# the likelihood and its derivatives
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reml", [True, False])
def test_analytic_gradient_and_hessian_equal_numeric_differences(reml):
    model = model_of(frame(slope_sd=0.8, seed=2), reml=reml)
    theta = np.array([0.9, -0.05, 0.2])
    ev = evaluate(model, theta, order=2)
    f = lambda t: evaluate(model, t, order=0).f  # noqa: E731
    num = np.array([(f(theta + e) - f(theta - e)) / 2e-6 for e in np.eye(3) * 1e-6])
    np.testing.assert_allclose(ev.grad, num, rtol=1e-5, atol=1e-5)
    H = numeric_hessian(lambda t: evaluate(model, t, order=1).grad, theta)
    np.testing.assert_allclose(ev.hess, H, rtol=1e-7, atol=1e-7)
    # lmerTest's devfun_vp: sigma held, derivatives in (theta, sigma)
    x = np.append(theta, 2.5)
    ev = evaluate(model, theta, order=2, sigma=2.5)
    H = numeric_hessian(lambda v: evaluate(model, v[:3], order=1, sigma=v[3]).grad, x)
    np.testing.assert_allclose(ev.hess, H, rtol=1e-7, atol=1e-7)


def test_reml_loglik_has_no_half_log_det_xtx_term():
    """lme4's REML criterion depends on how X is scaled: time in days instead of weeks (x 7)
    moves it by -k log 7, k = columns with time (time and arm:time); ML does not move."""
    d = frame(slope_sd=1.0, seed=8)
    days = d.assign(time=d["time"] * 7)
    for slope in (False, True):
        w = fit_growth_model(d, random_slope=slope)
        x = fit_growth_model(days, random_slope=slope)
        assert x.loglik - w.loglik == pytest.approx(-2 * math.log(7), abs=1e-6)
        w = fit_growth_model(d, random_slope=slope, method="ml")
        x = fit_growth_model(days, random_slope=slope, method="ml")
        assert x.loglik == pytest.approx(w.loglik, abs=1e-6)
        if slope:
            vw = w.variance_components["subject"].iloc[1, 1]
            vx = x.variance_components["subject"].iloc[1, 1]
            assert vx == pytest.approx(vw / 49, rel=1e-5)


# ------------------------------------------------------------------------------------------
# inference and results
# ------------------------------------------------------------------------------------------


def test_kenward_roger_needs_reml():
    d = frame(slope_sd=1.0)
    X = _arm_time_design(d, ["TAU", "CBT"], "TAU", False)
    with pytest.raises(ValueError, match="REML"):
        fit_lmm(d, "score", X, [RandomTerm("subject_id")], method="ml", df="kenward-roger")
    res = fit_growth_model(d, method="ml")
    with pytest.raises(ValueError, match="REML"):
        res.fixed_effects(df="kenward-roger")


def test_kenward_roger_adjusted_se_is_at_least_the_model_se():
    res = fit_growth_model(frame(slope_sd=1.0, n=30), random_slope=True, df="kenward-roger")
    kr = res.fixed_effects()
    sat = res.fixed_effects(df="satterthwaite")
    assert (kr["se"] >= sat["se"] - 1e-12).all()
    assert np.isfinite(kr["df"]).all() and (kr["df"] > 0).all()


def test_fit_table_puts_the_spec_columns_first_then_the_diagnostics():
    res = fit_growth_model(frame(slope_sd=1.5, n=80), random_slope=True)
    fit = res.fit_table()
    assert list(fit.columns[:9]) == ["method", "random_slope", "loglik", "n_fixed", "var_intercept",
                                     "var_slope", "var_residual", "n_obs", "n_subjects"]  # fmt: skip
    row = fit.iloc[0]
    assert row["converged"] and row["hessian_pd"] and not row["singular"]
    assert row["max_abs_gradient"] < 1e-3 and row["hessian_min_eigenvalue"] > 0
    assert lmm_fit_table(res, True).equals(fit)
    with pytest.raises(ValueError, match="random_slope"):
        lmm_fit_table(res, False)


def test_results_are_model_results_with_summary_and_printing():
    res = fit_growth_model(frame(slope_sd=1.5, n=80), random_slope=True)
    assert isinstance(res, ModelResults)
    assert repr(res).startswith("<LMMResults: Linear mixed model (REML, random intercept and slope")
    assert list(res.summary().columns) == [
        "term",
        "estimate",
        "se",
        "df",
        "t",
        "p",
        "ci_low",
        "ci_high",
    ]
    buf = io.StringIO()
    res.print_summary(file=buf)
    assert "arm[CBT]:time" in buf.getvalue() and "loglik" in buf.getvalue()
