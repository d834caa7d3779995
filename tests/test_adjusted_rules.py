"""Rules of ipt_outcomes.stats.adjusted on tiny hand-built frames (each test name states the rule).

Expected numbers come from closed forms derived in the docstrings, never from the project's
output. The reference comparisons with R beeca and SAS are in test_adjusted_reference.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipt_outcomes.stats.adjusted import marginal_effects, marginal_effects_by_visit, working_model

COLUMNS = [
    "arm",
    "reference",
    "contrast",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "p",
    "variance",
    "n",
]
NUMBERS = ["estimate", "se", "ci_low", "ci_high", "p", "risk", "risk_reference"]


def two_arms(events_a=12, n_a=30, events_b=6, n_b=25) -> pd.DataFrame:
    """Arm A and arm B (the reference) with the given events; no covariates."""
    return pd.DataFrame(
        {
            "arm": ["A"] * n_a + ["B"] * n_b,
            "y": [1] * events_a + [0] * (n_a - events_a) + [1] * events_b + [0] * (n_b - events_b),
        }
    )


def with_covariates(n=120, seed=7) -> pd.DataFrame:
    """Three arms, a numeric and a text covariate, outcome from a logistic model (seeded)."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "arm": np.tile(["C", "A", "B"], n // 3),
            "baseline": rng.normal(22, 4, n).round(),
            "sex": rng.choice(["female", "male"], n),
            "site": np.repeat(["s1", "s2", "s3", "s4"], n // 4),
        }
    )
    lp = -0.2 + 0.7 * (d["arm"] == "A") + 0.3 * (d["arm"] == "B") - 0.12 * (d["baseline"] - 22)
    lp += 0.4 * (d["sex"] == "male")
    d["y"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    return d


def effects(data, **kw):
    kw = {"outcome": "y", "arm": "arm", "reference": "B", **kw}
    return marginal_effects(data, **kw).set_index(["arm", "contrast"])


# ------------------------------------------------------------------------------------------
# no covariates: the adjusted analysis reduces to the unadjusted one (closed forms)
# ------------------------------------------------------------------------------------------


def test_without_covariates_rd_is_difference_in_proportions_and_ge_se_is_unpooled_wald():
    """Saturated model x = (1, arm): fitted risks are the arm proportions p_k, so the
    predictions under arm k equal p_k for everyone and the marginal risks are p_k. The HC0 meat
    sum_i (y_i - p_k)^2 x_i x_i' equals X'WX (sum over arm k of (y - p_k)^2 = n_k p_k (1 - p_k)),
    so the sandwich is (X'WX)^-1; in the parametrisation (logit p_0, logit p_1) it is
    diag(1 / (n_k p_k (1 - p_k))), and the delta method gives Var(p_k) = p_k (1 - p_k) / n_k,
    Cov = 0: the unpooled Wald variance of p_1 - p_0. Same for the model-based variance."""
    d = two_arms()
    p1, n1, p0, n0 = 12 / 30, 30, 6 / 25, 25
    wald = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    for variance in ("ge", "model"):
        rd = effects(d, variance=variance).loc[("A", "risk_difference")]
        assert rd["estimate"] == pytest.approx(p1 - p0, rel=1e-12)
        assert rd["se"] == pytest.approx(wald, rel=1e-9)
        assert rd["risk"] == pytest.approx(p1, rel=1e-12)
        assert rd["risk_reference"] == pytest.approx(p0, rel=1e-12)


def test_without_covariates_ratios_have_katz_and_woolf_standard_errors():
    """With Var(p_k) = p_k (1 - p_k) / n_k and no covariance (previous test), the delta method
    gives se(log RR)^2 = (1 - p1)/(n1 p1) + (1 - p0)/(n0 p0) (Katz) and
    se(log OR)^2 = 1/a + 1/b + 1/c + 1/d (Woolf), a..d the 2x2 cell counts."""
    d = two_arms()
    res = effects(d)
    a, b, c, e = 12, 18, 6, 19  # events / non-events in A, then in B
    rr = res.loc[("A", "risk_ratio")]
    assert rr["estimate"] == pytest.approx((12 / 30) / (6 / 25), rel=1e-12)
    katz = math.sqrt(1 / a - 1 / 30 + 1 / c - 1 / 25)
    assert rr["se"] / rr["estimate"] == pytest.approx(katz, rel=1e-9)
    orow = res.loc[("A", "odds_ratio")]
    assert orow["estimate"] == pytest.approx((a / b) / (c / e), rel=1e-12)
    assert orow["se"] / orow["estimate"] == pytest.approx(
        math.sqrt(1 / a + 1 / b + 1 / c + 1 / e), rel=1e-9
    )


def test_without_covariates_ye_se_uses_sample_variances_with_n_minus_one():
    """Ye: predictions are constant within each column, so every cov term and var_all vanish and
    V_kk = var_k(y) / (pi_k n) = var_k(y) / n_k with var_k(y) = n_k p_k (1 - p_k) / (n_k - 1);
    V_kl = 0. Hence se(RD) = sqrt(sum_k p_k (1 - p_k) / (n_k - 1))."""
    d = two_arms()
    p1, n1, p0, n0 = 12 / 30, 30, 6 / 25, 25
    rd = effects(d, variance="ye").loc[("A", "risk_difference")]
    assert rd["se"] == pytest.approx(
        math.sqrt(p1 * (1 - p1) / (n1 - 1) + p0 * (1 - p0) / (n0 - 1)), rel=1e-9
    )


# ------------------------------------------------------------------------------------------
# intervals, p-values and output shape
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.05, 0.10])
def test_intervals_are_wald_for_rd_and_log_scale_for_ratios(alpha):
    res = marginal_effects(
        with_covariates(),
        outcome="y",
        arm="arm",
        covariates=["baseline", "sex"],
        reference="C",
        alpha=alpha,
    )
    z = stats.norm.ppf(1 - alpha / 2)
    rd = res[res["contrast"] == "risk_difference"]
    np.testing.assert_allclose(rd["ci_low"], rd["estimate"] - z * rd["se"], rtol=1e-12)
    np.testing.assert_allclose(rd["ci_high"], rd["estimate"] + z * rd["se"], rtol=1e-12)
    np.testing.assert_allclose(
        rd["p"], 2 * stats.norm.sf(np.abs(rd["estimate"] / rd["se"])), rtol=1e-9
    )
    ratio = res[res["contrast"] != "risk_difference"]
    log_se = ratio["se"] / ratio["estimate"]
    log_est = np.log(ratio["estimate"])
    np.testing.assert_allclose(ratio["ci_low"], np.exp(log_est - z * log_se), rtol=1e-12)
    np.testing.assert_allclose(ratio["ci_high"], np.exp(log_est + z * log_se), rtol=1e-12)
    np.testing.assert_allclose(ratio["p"], 2 * stats.norm.sf(np.abs(log_est / log_se)), rtol=1e-9)


def test_contrasts_are_computed_from_the_marginal_risks():
    res = marginal_effects(
        with_covariates(), outcome="y", arm="arm", covariates=["baseline"], reference="C"
    ).set_index(["arm", "contrast"])
    for arm in ("A", "B"):
        p, q = res.loc[(arm, "risk_ratio"), ["risk", "risk_reference"]]
        assert res.loc[(arm, "risk_difference"), "estimate"] == pytest.approx(p - q, rel=1e-12)
        assert res.loc[(arm, "risk_ratio"), "estimate"] == pytest.approx(p / q, rel=1e-12)
        assert res.loc[(arm, "odds_ratio"), "estimate"] == pytest.approx(
            p / (1 - p) / (q / (1 - q)), rel=1e-12
        )


def test_output_columns_and_one_row_per_arm_and_contrast_in_arms_order():
    d = with_covariates()
    res = marginal_effects(d, outcome="y", arm="arm", covariates=["baseline"], reference="C")
    assert list(res.columns[: len(COLUMNS)]) == COLUMNS
    assert {"risk", "risk_reference", "note"} <= set(res.columns)
    assert list(zip(res["arm"], res["contrast"], strict=True)) == [
        (a, c) for a in ("A", "B") for c in ("risk_difference", "risk_ratio", "odds_ratio")
    ]
    assert (res["reference"] == "C").all() and (res["variance"] == "ge").all()
    assert (res["n"] == len(d)).all() and (res["note"] == "").all()
    res = marginal_effects(
        d, outcome="y", arm="arm", covariates=["baseline"], reference="C", arms=["B", "A"]
    )
    assert list(res["arm"]) == ["B"] * 3 + ["A"] * 3


def test_same_input_gives_identical_output():
    d = with_covariates()
    kw = {"outcome": "y", "arm": "arm", "covariates": ["baseline", "sex"], "reference": "C"}
    for variance, strata in (("ge", ()), ("ye", ("site",)), ("model", ())):
        first = marginal_effects(d, variance=variance, strata=strata, **kw)
        second = marginal_effects(d.copy(), variance=variance, strata=strata, **kw)
        pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_input_frame_is_not_modified():
    d = with_covariates()
    before = d.copy()
    marginal_effects(d, outcome="y", arm="arm", covariates=["baseline", "sex"], reference="C")
    pd.testing.assert_frame_equal(d, before, check_exact=True)


# ------------------------------------------------------------------------------------------
# invariances of the marginal effect (coding, scale, row order, boolean outcome)
# ------------------------------------------------------------------------------------------


def _same(a: pd.DataFrame, b: pd.DataFrame, rtol=1e-9):
    for c in ("estimate", "se", "ci_low", "ci_high", "p", "risk", "risk_reference"):
        np.testing.assert_allclose(a[c], b[c], rtol=rtol, atol=1e-12, err_msg=c)


@pytest.mark.parametrize("variance", ["ge", "ye", "model"])
def test_factor_reference_level_and_numeric_scale_do_not_change_the_effects(variance):
    """Predictions (and so the marginal risks and D Sigma D') do not depend on how a factor is
    coded or on an affine change of a numeric covariate."""
    d = with_covariates()
    kw = {"outcome": "y", "arm": "arm", "reference": "C", "variance": variance}
    base = marginal_effects(d, covariates=["baseline", "sex"], **kw)
    recoded = d.assign(
        sex=pd.Categorical(d["sex"], categories=["male", "female"]),
        baseline=d["baseline"] * 10 + 3,
    )
    _same(base, marginal_effects(recoded, covariates=["baseline", "sex"], **kw))


def test_row_order_does_not_change_the_effects():
    d = with_covariates()
    kw = {"outcome": "y", "arm": "arm", "covariates": ["baseline", "sex"], "reference": "C"}
    shuffled = d.sample(frac=1, random_state=3)
    _same(marginal_effects(d, **kw), marginal_effects(shuffled, **kw), rtol=1e-10)


def test_boolean_and_zero_one_outcomes_give_the_same_effects():
    d = with_covariates()
    kw = {"outcome": "y", "arm": "arm", "covariates": ["baseline"], "reference": "C"}
    _same(marginal_effects(d, **kw), marginal_effects(d.assign(y=d["y"] == 1), **kw), rtol=0)


def test_reference_level_of_the_arm_does_not_change_the_marginal_risks():
    d = with_covariates()
    kw = {"outcome": "y", "arm": "arm", "covariates": ["baseline", "sex"]}
    a = marginal_effects(d, reference="C", **kw).set_index(["arm", "contrast"])
    b = marginal_effects(d, reference="A", **kw).set_index(["arm", "contrast"])
    # risk of B is the same whichever arm is the reference; RD(B vs C) = RD(B vs A) - RD(C vs A)
    assert a.loc[("B", "risk_ratio"), "risk"] == pytest.approx(b.loc[("B", "risk_ratio"), "risk"])
    assert a.loc[("B", "risk_difference"), "estimate"] == pytest.approx(
        b.loc[("B", "risk_difference"), "estimate"] - b.loc[("C", "risk_difference"), "estimate"]
    )


def test_ye_with_a_single_stratum_equals_ye_without_strata():
    """At the maximum-likelihood fit the residuals sum to zero within each arm (the arm
    indicators are in the span of the design), so with one stratum every rbar_kz is 0 and the
    stratification term vanishes."""
    d = with_covariates().assign(one="all")
    kw = {
        "outcome": "y",
        "arm": "arm",
        "covariates": ["baseline"],
        "reference": "C",
        "variance": "ye",
    }
    _same(marginal_effects(d, **kw), marginal_effects(d, strata=["one"], **kw), rtol=1e-8)


def test_ye_strata_need_not_be_model_covariates():
    d = with_covariates()
    kw = {
        "outcome": "y",
        "arm": "arm",
        "covariates": ["baseline"],
        "reference": "C",
        "variance": "ye",
    }
    plain = marginal_effects(d, **kw)
    strat = marginal_effects(d, strata=["site"], **kw)
    np.testing.assert_allclose(strat["estimate"], plain["estimate"], rtol=1e-12)
    assert (strat["note"] == "").all() and (strat["strata"] == "site").all()
    assert not np.allclose(strat["se"], plain["se"], rtol=1e-6)


# ------------------------------------------------------------------------------------------
# not estimable: a note, no number, nothing raised
# ------------------------------------------------------------------------------------------


def _no_numbers_with_note(res: pd.DataFrame, words: str):
    assert res[NUMBERS].isna().all().all()
    assert res["note"].str.contains(words, regex=False).all(), res["note"].iloc[0]


def test_arm_with_no_events_gives_a_note_not_a_number():
    res = marginal_effects(two_arms(events_a=0), outcome="y", arm="arm", reference="B")
    _no_numbers_with_note(res, "separation: no events in arm A")
    assert len(res) == 3 and (res["n"] == 55).all()


def test_arm_where_every_subject_has_the_event_gives_a_note_not_a_number():
    res = marginal_effects(two_arms(events_b=25), outcome="y", arm="arm", reference="B")
    _no_numbers_with_note(res, "every subject has the event in arm B")


@pytest.mark.parametrize("quasi", [False, True])
def test_covariate_that_separates_the_outcome_gives_a_note_not_a_number(quasi):
    """Both arms have events and non-events, but y = 1 exactly when x > 20 (complete
    separation); with x = 20 holding both outcomes the separation is quasi-complete."""
    x = np.array([10, 12, 14, 16, 18, 22, 24, 26, 28, 30] * 2, dtype=float)
    d = pd.DataFrame({"arm": ["A"] * 10 + ["B"] * 10, "x": x, "y": (x > 20).astype(int)})
    if quasi:
        d = pd.concat([d, pd.DataFrame({"arm": ["A", "A", "B"], "x": 20.0, "y": [0, 1, 1]})])
    res = marginal_effects(d, outcome="y", arm="arm", covariates=["x"], reference="B")
    _no_numbers_with_note(res, "separation")


def test_fit_that_does_not_converge_gives_a_note_not_a_number(monkeypatch):
    monkeypatch.setattr(working_model, "MAX_ITER", 1)
    res = marginal_effects(
        with_covariates(), outcome="y", arm="arm", covariates=["baseline"], reference="C"
    )
    _no_numbers_with_note(res, "did not converge")


def test_collinear_covariates_give_a_note_not_a_number():
    d = with_covariates()
    d["baseline_x2"] = 2 * d["baseline"] + 1
    res = marginal_effects(
        d, outcome="y", arm="arm", covariates=["baseline", "baseline_x2"], reference="C"
    )
    _no_numbers_with_note(res, "not of full rank")


def test_ye_stratum_without_subjects_of_an_arm_gives_a_note_not_a_number():
    d = with_covariates()
    d.loc[(d["site"] == "s4") & (d["arm"] == "A"), "site"] = "s3"
    res = marginal_effects(
        d,
        outcome="y",
        arm="arm",
        covariates=["baseline"],
        reference="C",
        variance="ye",
        strata=["site"],
    )
    _no_numbers_with_note(res, "has no subjects in some arm")


def test_rows_with_a_missing_covariate_are_excluded_and_counted_in_the_note():
    d = with_covariates()
    d.loc[[0, 5], "baseline"] = np.nan
    kw = {"outcome": "y", "arm": "arm", "covariates": ["baseline"], "reference": "C"}
    res = marginal_effects(d, **kw)
    assert (res["n"] == len(d) - 2).all()
    assert res["note"].str.contains("2 rows with a missing").all()
    _same(res, marginal_effects(d.drop(index=[0, 5]), **kw), rtol=0)


# ------------------------------------------------------------------------------------------
# bad arguments raise ValueError naming the argument
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "argument"),
    [
        ({"outcome": "nope"}, "outcome"),
        ({"arm": "nope"}, "arm"),
        ({"covariates": ["baseline", "nope"]}, "covariates"),
        ({"variance": "ye", "strata": ["nope"]}, "strata"),
        ({"reference": "Z"}, "reference"),
        ({"arms": ["A", "Z"]}, "arms"),
        ({"alpha": 0}, "alpha"),
        ({"alpha": 1}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"variance": "robust"}, "variance"),
        ({"variance": "ge", "strata": ["site"]}, "strata"),
        ({"variance": "model", "strata": ["site"]}, "strata"),
        ({"covariates": ["arm"]}, "covariates"),
    ],
)
def test_bad_argument_is_refused_naming_it(kw, argument):
    base = {"outcome": "y", "arm": "arm", "covariates": ["baseline"], "reference": "C"}
    with pytest.raises(ValueError, match=argument):
        marginal_effects(with_covariates(), **{**base, **kw})


def test_outcome_that_is_not_binary_is_refused():
    d = with_covariates()
    d.loc[0, "y"] = 2
    with pytest.raises(ValueError, match="outcome"):
        marginal_effects(d, outcome="y", arm="arm", reference="C")


def test_reference_given_as_text_matches_numeric_arm_labels():
    d = two_arms().assign(arm=lambda x: (x["arm"] == "A").astype(int))  # A -> 1, B -> 0
    res = marginal_effects(d, outcome="y", arm="arm", reference="0")
    assert list(res["arm"]) == [1, 1, 1] and (res["reference"] == 0).all()
    assert res["estimate"].iloc[0] == pytest.approx(12 / 30 - 6 / 25, rel=1e-12)


# ------------------------------------------------------------------------------------------
# by visit
# ------------------------------------------------------------------------------------------


def long_outcomes() -> pd.DataFrame:
    d = with_covariates().reset_index(names="subject_id").rename(columns={"y": "responder"})
    late = d.assign(visit=8, responder=d["responder"][::-1].to_numpy())
    return pd.concat([late, d.assign(visit=4)], ignore_index=True)


def test_by_visit_inserts_visit_after_reference_and_sorts_visits():
    out = long_outcomes()
    res = marginal_effects_by_visit(out, covariates=["baseline"], reference="C")
    assert list(res.columns[:12]) == [*COLUMNS[:2], "visit", *COLUMNS[2:], "risk"]
    assert list(res["visit"]) == [4] * 6 + [8] * 6
    for visit in (4, 8):
        one = out[out["visit"] == visit]
        alone = marginal_effects(
            one, outcome="responder", arm="arm", covariates=["baseline"], reference="C"
        )
        _same(res[res["visit"] == visit].reset_index(drop=True), alone, rtol=0)


def test_by_visit_arm_without_subjects_at_a_visit_gives_a_note():
    out = long_outcomes()
    out = out[~((out["visit"] == 8) & (out["arm"] == "A"))]
    res = marginal_effects_by_visit(out, covariates=["baseline"], reference="C")
    gone = res[(res["visit"] == 8) & (res["arm"] == "A")]
    assert len(gone) == 3
    _no_numbers_with_note(gone, "no analysed subjects in arm A")
    assert res.loc[res["arm"] == "B", "estimate"].notna().all()


def test_by_visit_refuses_two_rows_for_a_subject_at_one_visit():
    out = long_outcomes()
    out = pd.concat([out, out.iloc[[0]]])
    with pytest.raises(ValueError, match="outcomes"):
        marginal_effects_by_visit(out, covariates=["baseline"], reference="C")


def test_by_visit_refuses_strata_with_ge():
    with pytest.raises(ValueError, match="strata"):
        marginal_effects_by_visit(
            long_outcomes(), covariates=["baseline"], reference="C", strata=["site"]
        )
