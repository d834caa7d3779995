"""Reference-based multiple imputation against R rbmi 1.5.2 (mmrm 0.3.18, R 4.2.2).

Every expected number is in ``tests/reference/rbmi`` (made by ``make_reference.R``; the README
there gives the conventions, seeds and tolerances used below):

* conditional mean + jackknife, all five strategies, DIA trial: contrasts and LS means to 1e-5
  (estimate, se, CI, p) - deterministic. Our fits follow R mmrm's optimiser (L-BFGS-B from the
  identity, ``optimizer="rbmi"``), so the fit, the imputed data and the 172 leave-one-out
  estimates match to 1e-6 as well;
* the delta adjustment (JR, D = -1 ... 5) and the tipping point D* (1e-4);
* the four-arm synthetic trial (every arm against TAU in one ANCOVA) to 1e-5;
* rbmi's published vignette table (``CondMean_Inference.html``: JR, and MAR with the delta that
  reproduces JR) to its printed 3 decimals, with the sign of its PLACEBO - DRUG contrast;
* the bootstrap (B = 500, different random numbers): point estimate exact, SE within 15%,
  percentile limits within 0.5 SE;
* approximate Bayes (M = 500 against the mean of three R runs of 500): estimates within
  ``4 sqrt(b/M + b/1500)``, SE within 3%, df within 15, p within 0.01; visit 4 (nothing missing)
  exact;
* the command line once per method.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.estimands.events import read_events
from ipt_outcomes.estimands.reference_based import reference_based_mi

from .conftest import DESIGNS, EXTERNAL, ROOT

REF = ROOT / "tests" / "reference" / "rbmi"
DIA = EXTERNAL / "antidepressant_dia.csv"
DIA_DESIGN = DESIGNS / "antidepressant_dia.toml"
SYNTHETIC = ROOT / "tests" / "reference" / "response" / "synthetic_trial.csv"
STRATEGIES = ("MAR", "JR", "CR", "CIR", "LMCF")
COLS = ["estimate", "se", "ci_low", "ci_high"]


def ref_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / name, dtype={"subject_id": str, "subject_left_out": str})


@pytest.fixture(scope="module")
def dia():
    if not DIA.exists():
        pytest.skip(f"external data not available at {DIA}")
    return load_trial(DIA, DIA_DESIGN)


@pytest.fixture(scope="module")
def jackknife(dia):
    """Conditional mean + jackknife for every strategy (about 0.5 s each)."""
    return {
        s: reference_based_mi(dia, s, events=read_events(REF / f"dia_events_{s}.csv", dia))
        for s in STRATEGIES
    }


def assert_close(ours: pd.DataFrame, ref: pd.DataFrame, keys, cols, atol):
    m = ours.merge(ref, on=keys, suffixes=("", "_r"), validate="one_to_one")
    assert len(m) == len(ref) == len(ours)
    for c in cols:
        diff = np.abs(m[c].to_numpy(float) - m[f"{c}_r"].to_numpy(float))
        assert diff.max() <= atol, f"{c}: max |diff| {diff.max():.2e} > {atol}"


# ------------------------------------------------------------------------------------------
# conditional mean + jackknife (deterministic)
# ------------------------------------------------------------------------------------------


def test_imputation_model_fit_matches_rbmi_mmrm_fit(jackknife):
    """dia_mmrm_fit.csv: R's coefficients (treatment coding, PLACEBO and visit 4 reference)
    turned into ours (rows intercept, DRUG, baseline by visit), and the covariance, to 1e-6."""
    fit = ref_csv("dia_mmrm_fit.csv")
    b = fit[fit["kind"] == "beta"].set_index("name")["value"]
    sigma = fit[fit["kind"] == "sigma"].pivot(index="row", columns="col", values="value")
    expected = np.array([
        [b["(Intercept)"]] + [b["(Intercept)"] + b[f"VISIT{v}"] for v in (5, 6, 7)],
        [b["THERAPYDRUG"]] + [b["THERAPYDRUG"] + b[f"THERAPYDRUG:VISIT{v}"] for v in (5, 6, 7)],
        [b["BASVAL"]] + [b["BASVAL"] + b[f"VISIT{v}:BASVAL"] for v in (5, 6, 7)],
    ])  # fmt: skip
    model = jackknife["MAR"].model
    np.testing.assert_allclose(model.beta, expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(model.sigmas[0], sigma.to_numpy(), atol=1e-6, rtol=0)
    for s in STRATEGIES:  # the fit does not depend on the strategy (no post-event data in DIA)
        np.testing.assert_array_equal(jackknife[s].model.beta, model.beta)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_conditional_mean_imputed_data_match_rbmi(jackknife, strategy):
    ref = ref_csv("dia_condmean_imputed.csv")
    ref = ref[ref["strategy"] == strategy]
    ours = jackknife[strategy].imputed()
    m = ours.merge(ref, on=["subject_id", "visit"], suffixes=("", "_r"), validate="one_to_one")
    assert len(m) == 688
    np.testing.assert_allclose(m["change"], m["change_r"], atol=1e-6, rtol=0)
    assert (m["observed"] == m["observed_r"].astype(bool)).all()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_leave_one_out_estimates_match_rbmi(jackknife, strategy):
    """dia_condmean_jackknife_loo.csv: the 172 refitted, re-imputed, re-analysed samples."""
    res = jackknife[strategy]
    ref = ref_csv("dia_condmean_jackknife_loo.csv")
    ref = ref[ref["strategy"] == strategy].set_index("subject_left_out")
    ours = res.samples.estimates()[0][:, 0, :]  # (n, visits): DRUG - PLACEBO
    expected = ref.loc[res.data.subjects, ["trt_4", "trt_5", "trt_6", "trt_7"]].to_numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_condmean_jackknife_contrasts_and_lsmeans_match_rbmi(jackknife, strategy):
    res = jackknife[strategy]
    rc = ref_csv("dia_condmean_jackknife_contrasts.csv")
    rl = ref_csv("dia_condmean_jackknife_lsmeans.csv")
    c, lsm = res.contrasts(), res.lsmeans()
    assert (c["df"] == math.inf).all() and (c["method"] == "condmean_jackknife").all()
    assert (c["strategy"] == strategy).all()
    assert_close(c, rc[rc["strategy"] == strategy], ["arm", "reference", "visit"],
                 [*COLS, "p"], 1e-5)  # fmt: skip
    assert_close(lsm, rl[rl["strategy"] == strategy], ["arm", "visit"], COLS, 1e-5)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_full_data_analysis_matches_rbmi_point_estimates_and_model_se(jackknife, strategy):
    """dia_condmean_point.csv: the ANCOVA of the full imputed data with its own SE (df 169)."""
    res = jackknife[strategy]
    ref = ref_csv("dia_condmean_point.csv")
    ref = ref[ref["strategy"] == strategy]
    con, lsm = (x[0] for x in res.full.estimates())
    vcon, vlsm = (x[0] for x in res.full.variances())
    assert res.full.df[0] == 169
    for _, r in ref.iterrows():
        t = int(r["visit"]) - 4
        kind = r["parameter"].rsplit("_", 1)[0]
        est, var = {"trt": (con[0, t], vcon[0, t]), "lsm_ref": (lsm[1, t], vlsm[1, t]),
                    "lsm_alt": (lsm[0, t], vlsm[0, t])}[kind]  # fmt: skip  # arms: DRUG, PLACEBO
        assert est == pytest.approx(r["estimate"], abs=1e-6)
        assert math.sqrt(var) == pytest.approx(r["model_se"], abs=1e-6)


def test_delta_adjustment_matches_rbmi_at_every_delta(dia):
    """JR, D from -1 to 5 added to DRUG's imputed post-event changes, inside every jackknife
    sample; both run directly with ``delta=D`` and read off the same imputations."""
    res = reference_based_mi(dia, "JR", events=read_events(REF / "dia_events_JR.csv", dia))
    rc = ref_csv("dia_delta_JR_condmean_jackknife_contrasts.csv")
    rl = ref_csv("dia_delta_JR_condmean_jackknife_lsmeans.csv")
    rc, rl = rc[rc["delta_rule"] == "post_ice_missing"], rl[rl["delta_rule"] == "post_ice_missing"]
    for delta in sorted(rc["delta"].unique()):
        assert_close(res.contrasts(delta), rc[rc["delta"] == delta], ["arm", "visit"],
                     [*COLS, "p"], 1e-5)  # fmt: skip
        assert_close(res.lsmeans(delta), rl[rl["delta"] == delta], ["arm", "visit"], COLS, 1e-5)
    direct = reference_based_mi(dia, "JR", events=read_events(REF / "dia_events_JR.csv", dia),
                                delta=2.0)  # fmt: skip
    assert_close(direct.contrasts(), rc[rc["delta"] == 2], ["arm", "visit"], [*COLS, "p"], 1e-5)
    assert (direct.contrasts()["delta"] == 2).all()


def test_tipping_point_matches_rbmi(jackknife):
    ref = ref_csv("dia_delta_JR_tipping_visit7.csv")
    star = ref[ref["kind"].str.startswith("tipping")].iloc[0]
    exact = jackknife["JR"].tipping_point_exact(-1.0, 5.0, 7.0)
    assert len(exact) == 1
    assert exact["delta"].iloc[0] == pytest.approx(star["delta"], abs=1e-4)
    assert exact["p"].iloc[0] == pytest.approx(0.05, abs=1e-9)
    grid = jackknife["JR"].tipping_point(ref.loc[ref["kind"] == "grid", "delta"], 7.0)
    assert_close(grid, ref[ref["kind"] == "grid"], ["visit", "delta"], [*COLS, "p"], 1e-5)
    # the first delta of the grid whose conclusion differs from delta 0: D = 2
    assert grid.loc[grid["tipping_point"], "delta"].tolist() == [2.0]


@pytest.mark.parametrize("strategy", ["MAR", "JR"])
def test_four_arm_trial_matches_the_multi_arm_ancova(strategy):
    """synthetic_condmean_jackknife_*.csv: four arms, every arm against TAU in one ANCOVA
    (rbmi's ancova takes two groups; the R side used its own ancova_multi on rbmi's imputations),
    21 subjects without a post-baseline score imputed (JR: from the reference throughout)."""
    trial = load_trial(SYNTHETIC, ROOT / "analyses" / "saloheimo2016.toml")
    ev = read_events(REF / f"synthetic_events_{strategy}.csv", trial)
    res = reference_based_mi(trial, strategy, events=ev)
    rc = ref_csv("synthetic_condmean_jackknife_contrasts.csv")
    rl = ref_csv("synthetic_condmean_jackknife_lsmeans.csv")
    c = res.contrasts()
    assert sorted(c["arm"].unique()) == ["IPT", "IPT+MED", "PeGT"]
    assert_close(c, rc[rc["strategy"] == strategy], ["arm", "visit"], [*COLS, "p"], 1e-5)
    assert_close(res.lsmeans(), rl[rl["strategy"] == strategy], ["arm", "visit"], COLS, 1e-5)


# ------------------------------------------------------------------------------------------
# rbmi's published vignette (CondMean_Inference.html)
# ------------------------------------------------------------------------------------------


def _vignette_rows(table: str) -> pd.DataFrame:
    pub = pd.read_csv(REF / "vignette_published.csv")
    return pub[(pub["vignette"] == "CondMean_Inference") & (pub["table"] == table)]


def _as_published(res) -> dict:
    """Our numbers in the vignette's terms: its data have THERAPY levels (DRUG, PLACEBO), so
    trt = PLACEBO - DRUG (our contrast negated, CI swapped), lsm_ref = DRUG, lsm_alt = PLACEBO."""
    out = {}
    for _, r in res.contrasts().iterrows():
        v = f"{r['visit']:g}"
        out[f"trt_{v}"] = (-r["estimate"], r["se"], -r["ci_high"], -r["ci_low"], r["p"])
    for _, r in res.lsmeans().iterrows():
        name = "lsm_ref" if r["arm"] == "DRUG" else "lsm_alt"
        out[f"{name}_{r['visit']:g}"] = (r["estimate"], r["se"], r["ci_low"], r["ci_high"], None)
    return out


def _check_vignette(res, table: str):
    rows = _vignette_rows(table)
    assert len(rows) == 12
    ours = _as_published(res)
    tol = 0.0005 + 1e-9
    for _, r in rows.iterrows():
        est, se, lo, hi, p = ours[r["parameter"]]
        for mine, theirs in (
            (est, r["estimate"]),
            (se, r["se"]),
            (lo, r["ci_low"]),
            (hi, r["ci_high"]),
        ):
            assert abs(mine - theirs) <= tol, (r["parameter"], mine, theirs)
        if p is not None and pd.notna(r["p"]):
            assert abs(p - r["p"]) <= tol


def test_vignette_condmean_inference_jump_to_reference(jackknife):
    _check_vignette(jackknife["JR"], "JR condmean jackknife")


def test_vignette_mar_with_the_delta_that_reproduces_jump_to_reference(dia, jackknife):
    """The vignette computes, once, delta = JR - MAR conditional means of the full data, and
    adds it to the MAR imputations of every jackknife sample: JR's estimates, larger SEs."""
    jr, mar = jackknife["JR"].imputed(), jackknife["MAR"].imputed()
    table = jr[["subject_id", "visit"]].assign(delta=jr["change"] - mar["change"])
    table = table[table["delta"] != 0]
    res = reference_based_mi(dia, "MAR", events=read_events(REF / "dia_events_MAR.csv", dia),
                             delta=table)  # fmt: skip
    _check_vignette(res, "MAR condmean jackknife + delta matching JR")
    np.testing.assert_allclose(res.contrasts()["estimate"], jackknife["JR"].contrasts()["estimate"],
                               atol=1e-12)  # fmt: skip


# ------------------------------------------------------------------------------------------
# bootstrap and approximate Bayes (Monte Carlo)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["MAR", "JR"])
def test_condmean_bootstrap_within_monte_carlo_error_of_rbmi(dia, strategy):
    res = reference_based_mi(dia, strategy, events=read_events(REF / f"dia_events_{strategy}.csv", dia),
                             method="condmean", resampling="bootstrap", n_samples=500, seed=4242)  # fmt: skip
    ref = ref_csv("dia_condmean_bootstrap_contrasts.csv")
    ref = ref[ref["strategy"] == strategy]
    normal = res.contrasts().merge(ref[ref["method"] == "condmean_bootstrap_normal"],
                                   on="visit", suffixes=("", "_r"))  # fmt: skip
    assert (normal["method"] == "condmean_bootstrap").all() and res.n_failures == 0
    np.testing.assert_allclose(normal["estimate"], normal["estimate_r"], atol=1e-6)
    np.testing.assert_allclose(normal["se"], normal["se_r"], rtol=0.15)
    res.interval = "percentile"
    pct = res.contrasts().merge(ref[ref["method"] == "condmean_bootstrap_percentile"],
                                on="visit", suffixes=("", "_r"))  # fmt: skip
    assert pct["df"].isna().all()
    for side in ("ci_low", "ci_high"):
        assert (np.abs(pct[side] - pct[f"{side}_r"]) <= 0.5 * normal["se_r"]).all()
    # p = 2 min(q, 1 - q), q the level where the percentiles cross 0: MC sd 2 sqrt(q(1-q)/B)
    q = pct["p_r"] / 2
    assert (
        np.abs(pct["p"] - pct["p_r"]) <= 4 * math.sqrt(2) * 2 * np.sqrt(q * (1 - q) / 500)
    ).all()


@pytest.mark.parametrize("strategy", ["MAR", "JR"])
def test_approximate_bayes_within_monte_carlo_error_of_rbmi(dia, strategy):
    m = 500
    res = reference_based_mi(dia, strategy, events=read_events(REF / f"dia_events_{strategy}.csv", dia),
                             method="approxbayes", n_samples=m, seed=20)  # fmt: skip
    ref = ref_csv("dia_approxbayes_contrasts.csv")
    ref = (
        ref[ref["strategy"] == strategy].groupby("visit")[["estimate", "se", "df", "p", "b"]].mean()
    )
    c = res.contrasts().set_index("visit")
    assert (c["method"] == "approxbayes").all()
    for v, r in ref.iterrows():
        o = c.loc[float(v)]
        assert (
            abs(o["estimate"] - r["estimate"]) <= 4 * math.sqrt(r["b"] / m + r["b"] / 1500) + 1e-9
        )
        assert o["se"] == pytest.approx(r["se"], rel=0.03)
        assert abs(o["df"] - r["df"]) <= 15
        assert abs(o["p"] - r["p"]) <= 0.01
    visit4 = c.loc[4.0]  # nothing missing: every imputation is the same data set
    assert visit4["se"] == pytest.approx(0.68262790574849, abs=1e-6)
    assert visit4["df"] == pytest.approx(170 / 172 * 169, abs=1e-9)  # Barnard-Rubin df_obs


def test_bayes_posterior_draws_agree_with_rbmi_approximate_bayes(dia):
    """rbmi's method_bayes needs Stan (not installed for the reference); its vignette's MCMC
    result is a loose target (README). The Gibbs posterior draws give the approximate-Bayes
    numbers within the same Monte Carlo bounds, converged chains, and visit 4 exactly."""
    m = 500
    res = reference_based_mi(dia, "JR", events=read_events(REF / "dia_events_JR.csv", dia),
                             method="bayes", n_samples=m, seed=7)  # fmt: skip
    ref = ref_csv("dia_approxbayes_contrasts.csv")
    ref = ref[ref["strategy"] == "JR"].groupby("visit")[["estimate", "se", "b"]].mean()
    c = res.contrasts().set_index("visit")
    for v, r in ref.iterrows():
        o = c.loc[float(v)]
        assert (
            abs(o["estimate"] - r["estimate"]) <= 4 * math.sqrt(r["b"] / m + r["b"] / 1500) + 1e-9
        )
        assert o["se"] == pytest.approx(r["se"], rel=0.03)
    assert c.loc[4.0, "se"] == pytest.approx(0.68262790574849, abs=1e-6)
    diag = res.diagnostics
    assert diag["rhat"].max() < 1.02 and diag["ess"].min() > 150


# ------------------------------------------------------------------------------------------
# the command line, once per method
# ------------------------------------------------------------------------------------------

DIA_ARGS = ["--design", DIA_DESIGN]


def test_cli_condmean_jackknife_matches_rbmi(dia, run_cli, tmp_path):
    code, out, err = run_cli("mi", DIA, *DIA_ARGS, "--strategy", "CIR", "--events",
                             REF / "dia_events_CIR.csv", "--method", "condmean", "--resampling",
                             "jackknife", "--quiet", "--out", tmp_path)  # fmt: skip
    assert code == 0, err
    rc, rl = (
        ref_csv("dia_condmean_jackknife_contrasts.csv"),
        ref_csv("dia_condmean_jackknife_lsmeans.csv"),
    )
    c = pd.read_csv(tmp_path / "mi_contrasts.csv")
    lsm = pd.read_csv(tmp_path / "mi_lsmeans.csv")
    assert list(c.columns[:11]) == ["arm", "reference", "visit", "estimate", "se", "df", "ci_low",
                                    "ci_high", "p", "strategy", "method"]  # fmt: skip
    assert list(lsm.columns[:7]) == ["arm", "visit", "estimate", "se", "df", "ci_low", "ci_high"]
    assert c["visit_label"].tolist() == ["Week 1", "Week 2", "Week 4", "Week 6"]
    assert_close(c, rc[rc["strategy"] == "CIR"], ["arm", "reference", "visit"], [*COLS, "p"], 1e-5)
    assert_close(lsm, rl[rl["strategy"] == "CIR"], ["arm", "visit"], COLS, 1e-5)
    assert "Week 6" in out


def test_cli_dropouts_without_events_file_follow_strategy(dia, run_cli, tmp_path):
    """Without --events, the dropout rule of the reference files is applied with --strategy."""
    code, _, err = run_cli("mi", DIA, *DIA_ARGS, "--strategy", "LMCF", "--quiet", "--out", tmp_path)
    assert code == 0, err
    rc = ref_csv("dia_condmean_jackknife_contrasts.csv")
    assert_close(pd.read_csv(tmp_path / "mi_contrasts.csv"), rc[rc["strategy"] == "LMCF"],
                 ["arm", "visit"], [*COLS, "p"], 1e-5)  # fmt: skip


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("approxbayes", []),
        ("bayes", ["--chains", "2"]),
        ("condmean", ["--resampling", "bootstrap"]),
    ],
)
def test_cli_monte_carlo_methods_write_the_spec_tables(dia, run_cli, tmp_path, method, extra):
    code, out, err = run_cli("mi", DIA, *DIA_ARGS, "--strategy", "JR", "--events",
                             REF / "dia_events_JR.csv", "--method", method, *extra,
                             "--imputations", "60", "--seed", "3", "--quiet", "--out", tmp_path)  # fmt: skip
    assert code == 0, err
    c = pd.read_csv(tmp_path / "mi_contrasts.csv")
    ref = ref_csv("dia_condmean_jackknife_contrasts.csv")
    ref = ref[ref["strategy"] == "JR"].reset_index(drop=True)
    # visit 4 has nothing to impute: every method gives the complete-data estimate
    assert c["estimate"].iloc[0] == pytest.approx(ref["estimate"].iloc[0], abs=1e-9)
    # a loose check of the rest (60 samples): within 0.3 of rbmi's conditional mean estimate
    assert (np.abs(c["estimate"] - ref["estimate"]) < 0.3).all()
    assert (c["strategy"] == "JR").all()
    if method == "bayes":
        diag = pd.read_csv(tmp_path / "mi_diagnostics.csv")
        assert {"parameter", "rhat", "ess"} <= set(diag.columns)
        assert "R-hat" in out
