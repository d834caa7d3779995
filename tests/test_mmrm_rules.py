"""MMRM rules and failure modes, on small constructed data sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.constants import COVARIANCE_STRUCTURES
from ipt_outcomes.exceptions import ConvergenceWarning
from ipt_outcomes.models.mmrm import (
    CovarianceStructure,
    MMRMFitError,
    fit_mmrm,
)
from ipt_outcomes.models.mmrm.covariance import SpatialExponential
from ipt_outcomes.models.mmrm.likelihood import Model as _Model
from ipt_outcomes.models.mmrm.likelihood import hessian as _hessian
from ipt_outcomes.models.mmrm.likelihood import hessian_numeric as _hessian_numeric

from .conftest import ROOT, sha256


def trial(n_per_arm=40, visits=(1.0, 2.0, 3.0), seed=1, effect=-2.0):
    rng = np.random.default_rng(seed)
    rows = []
    for arm in ("TAU", "CBT"):
        for i in range(n_per_arm):
            base = rng.normal(20, 4)
            u = rng.normal(0, 3)
            for j, v in enumerate(visits):
                y = (
                    -2 * (j + 1)
                    + (effect * (j + 1) / len(visits) if arm == "CBT" else 0)
                    + 0.3 * (base - 20)
                    + u
                    + rng.normal(0, 2)
                )
                rows.append((f"{arm}{i}", arm, v, y, base, int(rng.random() < 0.5)))
    return pd.DataFrame(
        rows, columns=["subject_id", "arm", "visit", "change", "baseline", "antidepressant"]
    )


@pytest.mark.parametrize("name", COVARIANCE_STRUCTURES)
def test_gradient_is_the_derivative_of_the_likelihood(name):
    rng = np.random.default_rng(3)
    T, n, p = 4, 50, 4
    cs = CovarianceStructure(name, T)
    th = cs.start(np.eye(T) * 4 + 1)
    subj, vis = np.repeat(np.arange(n), T), np.tile(np.arange(T), n)
    keep = rng.random(n * T) > 0.25
    X, y = rng.normal(size=(n * T, p)), rng.normal(size=n * T)
    m = _Model(X[keep], y[keep], subj[keep], vis[keep], np.zeros(keep.sum(), int), cs, 1, True)
    _, g, _ = m.evaluate(th)
    eps = 1e-6
    num = np.array(
        [(m.evaluate(th + e)[0] - m.evaluate(th - e)[0]) / (2 * eps) for e in np.eye(len(th)) * eps]
    )
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_hessian(m, th), _hessian_numeric(m, th), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("weighted", [False, True])
def test_spatial_gradient_and_hessian_are_the_derivatives_of_the_likelihood(weighted):
    rng = np.random.default_rng(5)
    n, p = 40, 3
    t = np.array([0.0, 1.0, 2.5, 6.0])
    subj = np.repeat(np.arange(n), 4)
    coords = (np.tile(t, n) + rng.integers(0, 2, size=4 * n) * 0.5)[:, None]
    keep = rng.random(4 * n) > 0.2
    X, y = rng.normal(size=(4 * n, p)), rng.normal(size=4 * n)
    w = rng.uniform(0.5, 2, size=4 * n) if weighted else None
    m = _Model(X[keep], y[keep], subj[keep], np.zeros(keep.sum(), int), np.zeros(keep.sum(), int),
               SpatialExponential(), 1, True, coords=coords[keep],
               weights=None if w is None else w[keep])  # fmt: skip
    th = np.array([0.3, 0.8])
    _, g, _ = m.evaluate(th)
    num = np.array([(m.evaluate(th + e)[0] - m.evaluate(th - e)[0]) / 2e-6
                    for e in np.eye(2) * 1e-6])  # fmt: skip
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_hessian(m, th), _hessian_numeric(m, th), rtol=1e-6, atol=1e-6)


def test_weights_equal_to_one_change_nothing_and_weights_scale_the_covariance():
    d = trial()
    plain = fit_mmrm(d, reference="TAU", df="satterthwaite")
    ones = fit_mmrm(d.assign(w=1.0), reference="TAU", df="satterthwaite", weights="w")
    np.testing.assert_allclose(ones.contrasts()["se"], plain.contrasts()["se"], rtol=1e-8)
    # a common weight c divides the covariance by c: estimates stay, -2 l moves by -N log c
    twice = fit_mmrm(d.assign(w=2.0), reference="TAU", df="satterthwaite", weights="w")
    np.testing.assert_allclose(twice.beta, plain.beta, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(twice.contrasts()["se"], plain.contrasts()["se"], rtol=1e-6)
    assert twice.neg2_loglik == pytest.approx(plain.neg2_loglik, abs=1e-6)


def test_non_positive_weights_are_refused_naming_the_subject():
    d = trial().assign(w=1.0)
    d.loc[5, "w"] = 0.0
    with pytest.raises(Exception, match="positive.*subject"):
        fit_mmrm(d, reference="TAU", weights="w")


def test_work_is_per_missing_data_pattern_not_per_subject():
    d = trial(n_per_arm=200)
    d = d.drop(d.index[(d["subject_id"].str[-1] == "7") & (d["visit"] == 3.0)])
    X = np.ones((len(d), 2))
    m = _Model(X, d["change"].to_numpy(), pd.factorize(d["subject_id"])[0],
               (d["visit"].to_numpy() - 1).astype(int), np.zeros(len(d), int), CovarianceStructure("us", 3), 1, True)  # fmt: skip
    assert len(m.patterns) == 2  # complete, and missing visit 3: two patterns for 400 subjects
    assert sum(p.m for p in m.patterns) == 400
    assert all(p.C.shape == (len(p.idx) ** 2, 4) for p in m.patterns)  # t^2 x p^2, never n_obs^2


def test_residual_df_is_observations_minus_fixed_effects():
    d = trial()
    fit = fit_mmrm(d, reference="TAU", df="residual")
    assert (fit.contrasts()["df"] == len(d) - len(fit.beta)).all()


def test_between_within_df_uses_the_within_subject_residual_df():
    """R mmrm's rule: the default model's columns all vary within subjects, so every contrast
    has n_obs - n_subjects - (columns other than the intercept) df."""
    d = trial()
    fit = fit_mmrm(d, reference="TAU", df="between-within")
    n_sub = d["subject_id"].nunique()
    assert (fit.contrasts()["df"] == len(d) - n_sub - (len(fit.beta) - 1)).all()


def test_between_within_df_of_a_between_subject_effect_is_the_subjects_df():
    from ipt_outcomes.models.mmrm import mmrm

    d = trial().rename(columns={"subject_id": "subject"})
    fit = mmrm("change ~ arm + visit + baseline + us(visit | subject)", d,
               df="between-within")  # fmt: skip
    n_sub = d["subject"].nunique()
    # arm and baseline are constant within subject: n_subjects - 2 between columns - intercept
    assert (fit.contrasts()["df"] == n_sub - 2 - 1).all()


def test_visit_with_one_observation_is_refused_with_a_clear_message():
    d = trial()
    lonely = d[(d["visit"] == 1.0)].iloc[:1].assign(visit=4.0)
    with pytest.raises(MMRMFitError, match=r"singular design.*visit 4 has 1 observation"):
        fit_mmrm(pd.concat([d, lonely]), reference="TAU")


def test_constant_covariate_is_refused_as_not_estimable():
    d = trial().assign(site=1.0)
    with pytest.raises(MMRMFitError, match="singular design: .*site"):
        fit_mmrm(d, reference="TAU", covariates=["site"])


def unidentifiable_pair():
    """Visits 1 and 3 are never seen together: their unstructured covariance is not estimable."""
    d = trial(n_per_arm=60)
    first = d["subject_id"].str[-1].astype(int) % 2 == 0
    return d[~((first & (d["visit"] == 3.0)) | (~first & (d["visit"] == 1.0)))]


def test_non_convergence_falls_back_and_says_so():
    with pytest.warns(ConvergenceWarning, match="us: did not converge"):
        fit = fit_mmrm(unidentifiable_pair(), reference="TAU", covariance="us")
    assert fit.covariance != "us" and fit.covariance_requested == "us"
    table = fit.fit_table().iloc[0]
    assert (
        "us: did not converge" in table["fallback"]
        and f"used {fit.covariance}" in table["fallback"]
    )


def test_non_convergence_without_fallback_is_an_error_not_a_number():
    with pytest.raises(MMRMFitError, match="did not converge"):
        fit_mmrm(unidentifiable_pair(), reference="TAU", covariance="us", fallback=False)


def test_one_covariance_per_arm():
    d = trial(n_per_arm=60)
    pooled = fit_mmrm(d, reference="TAU", df="satterthwaite")
    grouped = fit_mmrm(d, reference="TAU", df="satterthwaite", group_by_arm=True)
    assert len(grouped.sigma) == 2 and len(grouped.theta) == 2 * len(pooled.theta)
    assert grouped.neg2_loglik <= pooled.neg2_loglik + 1e-8  # nested models
    assert grouped.contrasts()["df"].notna().all()


def test_kenward_roger_with_one_covariance_per_arm_runs_and_inflates_se():
    d = trial(n_per_arm=60)
    fit = fit_mmrm(d, reference="TAU", df="kenward-roger", group_by_arm=True)
    V, Va = fit.vcov.to_numpy(), fit.vcov_adjusted.to_numpy()
    assert np.all(np.linalg.eigvalsh(Va - V) > -1e-10)


def test_covariates_enter_as_fixed_effects_and_lsmeans_hold_them_at_their_mean():
    d = trial()
    fit = fit_mmrm(d, reference="TAU", covariates=["antidepressant"], df="satterthwaite")
    assert "antidepressant" in fit.beta.index
    row = fit.design.grid_row("TAU", 1.0)
    assert row[fit.design.names.index("antidepressant")] == pytest.approx(
        d["antidepressant"].mean()
    )


def test_ml_likelihood_is_not_above_reml_for_the_same_data():
    d = trial()
    reml = fit_mmrm(d, reference="TAU", df="satterthwaite")
    ml = fit_mmrm(d, reference="TAU", df="satterthwaite", method="ml")
    assert ml.method == "ml" and np.isfinite(ml.neg2_loglik)
    np.testing.assert_allclose(ml.contrasts()["estimate"], reml.contrasts()["estimate"], rtol=0.05)
    with pytest.raises(ValueError, match="Kenward-Roger"):
        fit_mmrm(d, reference="TAU", method="ml", df="kenward-roger")


def test_single_contrast_f_test_is_t_squared():
    d = trial(visits=(1.0,))
    fit = fit_mmrm(d, reference="TAU", df="kenward-roger")
    f = fit.anova().set_index("term").loc["arm:visit"]
    c = fit.contrasts().iloc[0]
    assert f["f"] == pytest.approx(c["t"] ** 2) and f["den_df"] == pytest.approx(c["df"])


def test_mmrm_cli_writes_spec_tables(run_cli, tmp_path):
    data = ROOT / "tests" / "reference" / "response" / "synthetic_trial.csv"
    before = sha256(data)
    code, out, err = run_cli(
        "mmrm", data, "--design", ROOT / "analyses" / "saloheimo2016.toml", "--out", tmp_path
    )
    assert code == 0, err
    assert sha256(data) == before
    heads = {p.stem: p.read_text().splitlines()[0] for p in tmp_path.glob("*.csv")}
    assert heads["mmrm_lsmeans"].startswith("arm,visit,estimate,se,df,ci_low,ci_high")
    assert heads["mmrm_contrasts"].startswith(
        "arm,reference,visit,estimate,se,df,t,p,ci_low,ci_high"
    )
    assert heads["mmrm_fit"].startswith("neg2_reml_loglik,n_subjects,n_obs,covariance,converged")
    assert "Contrasts with Treatment as usual" in out


def test_mmrm_cli_reports_a_singular_design_without_traceback(run_cli, tmp_path, write_csv):
    lines = ["subject_id,arm,visit,hamd17"]
    for i in range(6):
        arm = "TAU" if i % 2 else "CBT"
        lines += [f"s{i},{arm},0,{20 + i}", f"s{i},{arm},4,{12 + i}"]
    lines.append("s0,CBT,8,9")
    code, out, err = run_cli("mmrm", write_csv("\n".join(lines) + "\n"), "--out", tmp_path / "out")
    assert code == 1 and "singular design" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_ante_dependence_reduces_to_known_structures_with_two_visits():
    """nlme has no ante-dependence structure; with two visits ADH is the unstructured model and
    AD (one variance, one correlation) is compound symmetry, so their fits must coincide."""
    d = trial(visits=(1.0, 2.0), n_per_arm=50)
    us, adh = (fit_mmrm(d, reference="TAU", covariance=c, fallback=False) for c in ("us", "adh"))
    cs, ad = (fit_mmrm(d, reference="TAU", covariance=c, fallback=False) for c in ("cs", "ad"))
    assert adh.neg2_loglik == pytest.approx(us.neg2_loglik, abs=1e-6)
    assert ad.neg2_loglik == pytest.approx(cs.neg2_loglik, abs=1e-6)
    np.testing.assert_allclose(
        adh.contrasts()[["estimate", "se", "df"]],
        us.contrasts()[["estimate", "se", "df"]],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        ad.contrasts()[["estimate", "se"]], cs.contrasts()[["estimate", "se"]], rtol=1e-5
    )


def test_ante_dependence_correlations_are_products_of_adjacent_ones():
    s = CovarianceStructure("adh", 4)
    th = np.r_[np.log([1.0, 2.0, 3.0, 4.0]), [0.5, -0.3, 1.2]]
    sig = s.sigma(th)
    r = th[4:] / np.sqrt(1 + th[4:] ** 2)
    corr = sig / np.outer(np.sqrt(np.diag(sig)), np.sqrt(np.diag(sig)))
    assert corr[0, 2] == pytest.approx(r[0] * r[1]) and corr[0, 3] == pytest.approx(
        r[0] * r[1] * r[2]
    )


def test_warm_start_reaches_the_same_fit_as_the_cold_start():
    """fit_mmrm(start=Sigma) takes Newton steps from a given covariance (how the power
    simulation fits thousands of trials); it must find the same REML optimum."""
    import numpy as np

    from ipt_outcomes.models.mmrm import fit_mmrm
    from ipt_outcomes.stats.power import MMRMScenario

    sigma = np.array([[30.0, 20.0, 15.0], [20.0, 35.0, 22.0], [15.0, 22.0, 40.0]])
    sc = MMRMScenario(visits=(1.0, 2.0, 3.0), mean_change={"TAU": np.array([-3.0, -5.0, -6.0]),
                      "PeGT": np.array([-4.0, -7.0, -9.0])}, sigma=sigma, baseline_mean=20.0,
                      baseline_sd=4.0, baseline_slope=np.array([-0.3, -0.4, -0.5]),
                      retention=np.array([1.0, 0.85, 0.7]), arm="PeGT", reference="TAU", key_visit=3.0)  # fmt: skip
    data = sc.draw(60, np.random.default_rng(3))
    cold = fit_mmrm(data, reference="TAU", arms=["TAU", "PeGT"])
    warm = fit_mmrm(data, reference="TAU", arms=["TAU", "PeGT"], start=sigma)
    assert warm.neg2_loglik == pytest.approx(cold.neg2_loglik, abs=1e-8)
    np.testing.assert_allclose(warm.beta, cold.beta, atol=1e-7)
    np.testing.assert_allclose(warm.contrasts()["se"], cold.contrasts()["se"], rtol=1e-7)
    np.testing.assert_allclose(warm.contrasts()["df"], cold.contrasts()["df"], rtol=1e-6)
    assert warm.n_evaluations <= cold.n_evaluations
    with pytest.raises(ValueError, match="3 x 3"):
        fit_mmrm(data, reference="TAU", arms=["TAU", "PeGT"], start=np.eye(2))


@pytest.mark.parametrize("covariance", ["us", "toeph", "ar1h", "csh", "adh", "sp_exp"])
def test_newton_from_the_empirical_start_reaches_the_lbfgsb_optimum(covariance, monkeypatch):
    """The default optimiser (Newton steps on the analytic Hessian from the empirical covariance)
    finds the same REML optimum as L-BFGS-B followed by Newton."""
    import ipt_outcomes.models.mmrm.fit as fit_module

    data = trial(n_per_arm=50, visits=(1.0, 2.0, 3.0, 4.0), seed=7)
    newton = fit_mmrm(data, reference="TAU", covariance=covariance, fallback=False)
    original = fit_module._optimise
    monkeypatch.setattr(fit_module, "_optimise", lambda m, t0: original(m, t0, newton_first=False))
    lbfgs = fit_mmrm(data, reference="TAU", covariance=covariance, fallback=False)
    assert newton.neg2_loglik == pytest.approx(lbfgs.neg2_loglik, abs=1e-7)
    np.testing.assert_allclose(newton.beta, lbfgs.beta, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(newton.contrasts()["se"], lbfgs.contrasts()["se"], rtol=1e-6)


def test_a_covariate_named_twice_is_refused():
    data = trial(n_per_arm=10).assign(age=1.0)
    with pytest.raises(ValueError, match="must not repeat"):
        fit_mmrm(data, reference="TAU", covariates=["age", "age"])


@pytest.mark.parametrize("covariance", ["us", "toeph", "sp_exp"])
def test_patterns_kept_as_rows_give_the_fit_of_patterns_kept_as_sums(covariance, monkeypatch):
    """A pattern whose sums would be large keeps its subjects' rows (memory bounded by the
    data); both forms must give the same fit, Kenward-Roger and empirical covariance."""
    import ipt_outcomes.models.mmrm.likelihood as lik

    d = trial(n_per_arm=30, visits=(1.0, 2.0, 3.0, 4.0), seed=11).assign(w=1.5)
    d = d.drop(d.index[::7])
    sums = fit_mmrm(d, reference="TAU", covariance=covariance, weights="w", vcov="kenward-roger")
    monkeypatch.setattr(lik, "SUMS_MAX", 0)
    rows = fit_mmrm(d, reference="TAU", covariance=covariance, weights="w", vcov="kenward-roger")
    assert not any(p.summed for p in rows._state[0].patterns)
    assert all(p.summed for p in sums._state[0].patterns)
    assert rows.neg2_loglik == pytest.approx(sums.neg2_loglik, abs=1e-8)
    pd.testing.assert_frame_equal(rows.contrasts(), sums.contrasts(), rtol=1e-7)
    pd.testing.assert_frame_equal(rows.anova(), sums.anova(), rtol=1e-6)
    e1, e2 = (f.with_inference("satterthwaite", "empirical-bias-reduced") for f in (rows, sums))
    pd.testing.assert_frame_equal(e1.contrasts(), e2.contrasts(), rtol=1e-7)
