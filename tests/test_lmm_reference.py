"""Random-effects models against lme4 / lmerTest and the published Riesby and Beat-the-Blues models.

References: tests/reference/lmm/make_reference.R (R 4.2.2, lme4 1.1-31, lmerTest 3.1-3,
sandwich; sessionInfo.txt) on tests/reference/response/synthetic_trial.csv (a fixed snapshot of
the synthetic trial) and the external data; published values typed from
../shared/data/external/riesby.md (Hedeker & Gibbons 2006, Tables 4.5 and 5.1; e-book REML fits)
and btheb.md (Hothorn & Everitt 2014, HSAUR3 Figures 13.2-13.3).
Tolerances (issue 5): log-likelihood and variance components 1e-3; fixed effects and SEs 1e-4
relative, Satterthwaite df 0.05; published values at their printed precision.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.models.ancova import ancova_by_visit
from ipt_outcomes.models.lmm import (
    RandomTerm,
    fit_lmm,
    growth_model,
    lmm_fit_table,
    partially_nested_model,
)
from ipt_outcomes.stats.effect_sizes import hedges_g

from .conftest import EXTERNAL, ROOT

REF = ROOT / "tests" / "reference" / "lmm"
FITS = pd.read_csv(REF / "lmm_fit_reference.csv")
FIXED = pd.read_csv(REF / "lmm_fixed_reference.csv")


@pytest.fixture(scope="module")
def synthetic():
    path = ROOT / "tests" / "reference" / "response" / "synthetic_trial.csv"
    return load_trial(path, ROOT / "analyses" / "saloheimo2016.toml")


def r_name(term: str) -> str:
    """lme4's coefficient names for ours: arm[IPT]:time -> armIPT:visit."""
    out = term.replace("time", "visit")
    if out.startswith("arm["):
        arm, _, rest = out[4:].partition("]")
        out = f"arm{arm}{rest}"
    return out


def check_fixed(res, label, df=True):
    ref = FIXED[FIXED["model"] == label].set_index("term")
    fe = res.fixed_effects()
    fe.index = [r_name(t) for t in fe["term"]]
    fe = fe.loc[ref.index]
    np.testing.assert_allclose(fe["estimate"], ref["estimate"], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(fe["se"], ref["se"], rtol=1e-4)
    if df:
        np.testing.assert_allclose(fe["df"], ref["df"], atol=0.05)
        np.testing.assert_allclose(fe["p"], ref["p"], rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("slope", [False, True])
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_growth_model_matches_lme4_and_lmertest(synthetic, method, slope):
    label = f"synthetic_{'slope' if slope else 'intercept'}_{method}"
    res = growth_model(synthetic, method=method, random_slope=slope)
    ref = FITS[FITS["model"] == label].iloc[0]
    fit = lmm_fit_table(res, slope).iloc[0]
    assert fit["loglik"] == pytest.approx(ref["loglik"], abs=1e-3)
    for c in ["var_intercept", "var_residual"] + (
        ["var_slope", "cov_intercept_slope"] if slope else []
    ):
        assert fit[c] == pytest.approx(ref[c], abs=1e-3), c
    assert (fit["n_obs"], fit["n_subjects"]) == (ref["n_obs"], ref["n_subjects"])
    check_fixed(res, label)


def test_near_singular_random_slope_is_reported_not_hidden(synthetic):
    """In this trial the intercept-slope correlation is 0.9996 (lme4 agrees): a singular G."""
    res = growth_model(synthetic, random_slope=True)
    fit = lmm_fit_table(res, True).iloc[0]
    assert fit["singular"] and "covariance matrix singular" in fit["message"]


def test_partially_nested_model_matches_lme4(synthetic):
    table, icc, (nested, plain) = partially_nested_model(synthetic)
    for fit, label in ((nested, "synthetic_nested_reml"), (plain, "synthetic_notnested_reml")):
        ref = FITS[FITS["model"] == label].iloc[0]
        assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
        assert float(fit.variance_components["subject"].iloc[0, 0]) == pytest.approx(
            ref["var_intercept"], abs=1e-3
        )
        check_fixed(fit, label)
    ref = FITS[FITS["model"] == "synthetic_nested_reml"].iloc[0]
    assert icc["var_group"].iloc[0] == pytest.approx(ref["var_group"], abs=1e-3)
    expected_icc = ref["var_group"] / (
        ref["var_group"] + ref["var_intercept"] + ref["var_residual"]
    )
    assert icc["icc"].iloc[0] == pytest.approx(expected_icc, abs=1e-5)
    se = table[table["term"] == "arm[PeGT]"].set_index("model")["se"]
    assert se["with therapy-group effect"] > se["ignoring therapy groups"]


def test_ancova_hc3_matches_sandwich(synthetic):
    ours = ancova_by_visit(synthetic).set_index(["arm", "visit"]).sort_index()
    ref = pd.read_csv(REF / "ancova_hc3_reference.csv").assign(
        visit=lambda x: x["visit"].astype(float)
    )
    ref = ref.set_index(["arm", "visit"]).sort_index()
    for c in ("estimate", "se", "df", "t", "p", "ci_low", "ci_high", "n"):
        np.testing.assert_allclose(ours[c], ref[c], rtol=1e-6, atol=1e-9, err_msg=c)


def test_hedges_g_matches_hand_coded_r(synthetic):
    ours = hedges_g(synthetic).set_index(["arm", "visit"]).sort_index()
    ref = pd.read_csv(REF / "hedges_g_reference.csv").assign(
        visit=lambda x: x["visit"].astype(float)
    )
    ref = ref.set_index(["arm", "visit"]).sort_index()
    for c in ("g", "se", "ci_low", "ci_high", "n", "n_reference"):
        np.testing.assert_allclose(ours[c], ref[c], rtol=1e-8, err_msg=c)


# --- published models -------------------------------------------------------------------------


def riesby_frame():
    path = EXTERNAL / "riesby.csv"
    if not path.exists():
        pytest.skip("external data not available")
    r = pd.read_csv(path).dropna(subset=["hamd"]).reset_index(drop=True)
    return r.assign(week2=r["week"] ** 2, subject=r["id"].astype(str))


def riesby_fit(cols, method, random=("1", "week")):
    r = riesby_frame()
    X = pd.DataFrame({"(Intercept)": 1.0, **{c: r[c] for c in cols}})
    return fit_lmm(
        r,
        "hamd",
        X,
        [RandomTerm("subject", random, name="subject")],
        method=method,
        subject="subject",
    )


def printed(value, expected, decimals):
    assert abs(value - expected) <= 0.5 * 10**-decimals + 1e-9, (value, expected)


def test_riesby_random_slope_ml_reproduces_hedeker_gibbons_table_4_5():
    res = riesby_fit(["week"], "ml")
    fe = res.fixed_effects().set_index("term")
    printed(fe.loc["(Intercept)", "estimate"], 23.58, 2)
    printed(fe.loc["(Intercept)", "se"], 0.55, 2)
    printed(fe.loc["week", "estimate"], -2.38, 2)
    printed(fe.loc["week", "se"], 0.21, 2)
    G = res.variance_components["subject"]
    printed(G.iloc[0, 0], 12.63, 2)
    printed(G.iloc[1, 1], 2.08, 2)
    printed(G.iloc[0, 1], -1.42, 2)
    printed(res.variance_components["residual"], 12.22, 2)
    printed(res.loglik, -1109.52, 2)
    assert -2 * res.loglik == pytest.approx(2219.038, abs=1e-2)  # OpenMx regression test value


def test_riesby_quadratic_ml_reproduces_hedeker_gibbons_table_5_1():
    res = riesby_fit(["week", "week2"], "ml", random=("1", "week", "week2"))
    fe = res.fixed_effects().set_index("term")
    for term, est, se in (
        ("(Intercept)", 23.76, 0.55),
        ("week", -2.63, 0.48),
        ("week2", 0.05, 0.09),
    ):
        printed(fe.loc[term, "estimate"], est, 2)
        printed(fe.loc[term, "se"], se, 2)
    G = res.variance_components["subject"].to_numpy()
    for (i, j), v in {
        (0, 0): 10.44,
        (1, 1): 6.64,
        (2, 2): 0.19,
        (0, 1): -0.92,
        (0, 2): -0.11,
        (1, 2): -0.94,
    }.items():
        printed(G[i, j], v, 2)
    printed(res.variance_components["residual"], 10.52, 2)
    printed(res.loglik, -1103.82, 2)


def test_riesby_reml_models_reproduce_the_ebook():
    ri = riesby_fit(["week"], "reml", random=("1",))
    fe = ri.fixed_effects().set_index("term")
    printed(fe.loc["(Intercept)", "estimate"], 23.55, 2)
    printed(fe.loc["week", "estimate"], -2.38, 2)
    printed(ri.variance_components["subject"].iloc[0, 0], 16.446, 3)
    printed(ri.variance_components["residual"], 19.099, 3)
    printed(ri.loglik, -1143.36, 2)
    rs = riesby_fit(["week"], "reml")
    G = rs.variance_components["subject"]
    printed(G.iloc[0, 0], 12.94, 2)
    printed(G.iloc[1, 1], 2.13, 2)
    printed(G.iloc[0, 1], -1.48, 2)
    printed(rs.variance_components["residual"], 12.21, 2)
    printed(rs.loglik, -1109.96, 2)


def test_btheb_random_intercept_ml_reproduces_hsaur3():
    path = EXTERNAL / "btheb_long.csv"
    if not path.exists():
        pytest.skip("external data not available")
    b = pd.read_csv(path).dropna(subset=["bdi"]).reset_index(drop=True)
    X = pd.DataFrame({"(Intercept)": 1.0, "bdi.pre": b["bdi.pre"], "time": b["time"],
                      "treatmentBtheB": (b["treatment"] == "BtheB").astype(float),
                      "drugYes": (b["drug"] == "Yes").astype(float), "length>6m": (b["length"] == ">6m").astype(float)})  # fmt: skip
    b = b.assign(subject=b["subject"].astype(str))
    res = fit_lmm(
        b, "bdi", X, [RandomTerm("subject", ("1",), name="subject")], method="ml", subject="subject"
    )
    fe = res.fixed_effects().set_index("term")
    published = {
        "(Intercept)": (5.59239, 2.24244), "bdi.pre": (0.63968, 0.07789), "time": (-0.70476, 0.14639),
        "treatmentBtheB": (-2.32908, 1.67036), "drugYes": (-2.82495, 1.72684), "length>6m": (0.19708, 1.63832),
    }  # fmt: skip
    for term, (est, se) in published.items():
        printed(fe.loc[term, "estimate"], est, 5)
        printed(fe.loc[term, "se"], se, 5)
    printed(res.variance_components["subject"].iloc[0, 0], 48.78, 2)
    printed(res.variance_components["residual"], 25.14, 2)
    printed(res.loglik, -935.75, 2)
    assert (res.n_obs, res.n_subjects) == (280, 97)
    slope = fit_lmm(
        b,
        "bdi",
        X,
        [RandomTerm("subject", ("1", "time"), name="subject")],
        method="ml",
        subject="subject",
    )
    printed(slope.loglik, -935.52, 2)
    printed(2 * (slope.loglik - res.loglik), 0.4542, 4)  # the book's likelihood-ratio chi-square
