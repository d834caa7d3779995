"""Rules of the meta-analysis on tiny hand-built inputs: each test's name states the rule.

Expected values here come from the definitions (formulas worked by hand or by exact
arithmetic), never from the package's own output; agreement with metafor on real data is in
test_meta_reference.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, t

from ipt_outcomes.exceptions import DataValidationError, IptOutcomesError
from ipt_outcomes.meta import (
    aggregate_effects,
    effect_sizes_from_frame,
    egger_test,
    estimate_tau2,
    generalised_q,
    log_likelihood,
    meta_analysis,
    parse_number,
    random_effects,
    subgroup_levels,
    tau2_confint,
)

Y = np.array([0.21, 0.55, -0.10, 0.83, 0.30, 0.47])
S = np.array([0.12, 0.20, 0.15, 0.31, 0.10, 0.25])
V = S**2


def frame(y=Y, s=S, names=None):
    names = names or [f"S{i}" for i in range(len(y))]
    return pd.DataFrame({"study": names, "effect": y, "se": s})


# --- tau^2 estimators -------------------------------------------------------------------------


def test_dl_tau2_is_the_moment_formula():
    w = 1 / V
    mu = np.sum(w * Y) / np.sum(w)
    q = np.sum(w * (Y - mu) ** 2)
    by_hand = (q - (len(Y) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w))
    assert estimate_tau2(Y, V, "dl").tau2 == pytest.approx(max(0, by_hand), rel=1e-14)


def test_pm_tau2_makes_the_generalised_q_equal_k_minus_1():
    tau2 = estimate_tau2(Y, V, "pm").tau2
    assert tau2 > 0
    assert generalised_q(Y, V, tau2) == pytest.approx(len(Y) - 1, rel=1e-12)


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_likelihood_estimate_is_a_stationary_point_and_the_global_maximum(method):
    tau2 = estimate_tau2(Y, V, method).tau2
    assert tau2 > 0
    h = 1e-6 * tau2
    slope = (log_likelihood(Y, V, tau2 + h, method) - log_likelihood(Y, V, tau2 - h, method)) / (
        2 * h
    )
    assert abs(slope) < 1e-6
    grid = np.linspace(0, 1, 20001)
    best = max(log_likelihood(Y, V, g, method) for g in grid)
    assert log_likelihood(Y, V, tau2, method) >= best - 1e-12


@pytest.mark.parametrize("method", ["reml", "ml", "pm", "dl"])
def test_tau2_is_zero_when_effects_vary_less_than_their_standard_errors(method):
    y = np.array([0.30, 0.31, 0.29, 0.30])
    v = np.array([0.04, 0.05, 0.03, 0.06])
    est = estimate_tau2(y, v, method)
    assert est.tau2 == 0.0
    assert est.boundary


@pytest.mark.parametrize("method", ["reml", "ml", "pm", "dl"])
def test_tau2_scales_with_the_square_of_the_effect_scale(method):
    a = estimate_tau2(Y, V, method).tau2
    b = estimate_tau2(10 * Y, 100 * V, method).tau2
    assert b == pytest.approx(100 * a, rel=1e-10)


@pytest.mark.parametrize("method", ["reml", "ml", "pm", "dl"])
def test_pooled_result_does_not_depend_on_the_order_of_studies(method):
    rng = np.random.default_rng(1)
    order = rng.permutation(len(Y))
    a = random_effects(frame(), method=method)
    b = random_effects(frame(Y[order], S[order]), method=method)
    for col in ("estimate", "se", "tau2", "ci_low", "pi_high", "i2", "q"):
        assert getattr(b, col) == pytest.approx(getattr(a, col), rel=1e-12, abs=1e-15)


def test_shifting_every_effect_shifts_the_estimate_and_nothing_else():
    a = random_effects(frame())
    b = random_effects(frame(Y + 1.5))
    assert b.estimate == pytest.approx(a.estimate + 1.5, rel=1e-13)
    assert b.tau2 == pytest.approx(a.tau2, rel=1e-10)
    assert b.se == pytest.approx(a.se, rel=1e-10)


# --- pooling, intervals, weights --------------------------------------------------------------


def test_knapp_hartung_scales_the_se_and_uses_t_with_k_minus_1_df():
    fit = random_effects(frame(), method="dl", test="knha")
    w = 1 / (V + fit.tau2)
    mu = np.sum(w * Y) / np.sum(w)
    s2 = np.sum(w * (Y - mu) ** 2) / (len(Y) - 1)
    se = math.sqrt(s2 / np.sum(w))
    crit = t.ppf(0.975, len(Y) - 1)
    assert fit.estimate == pytest.approx(mu, rel=1e-14)
    assert fit.se == pytest.approx(se, rel=1e-13)
    assert fit.ci_low == pytest.approx(mu - crit * se, rel=1e-13)
    assert fit.df == len(Y) - 1
    assert fit.pi_high == pytest.approx(mu + crit * math.sqrt(se**2 + fit.tau2), rel=1e-13)


def test_z_test_uses_the_normal_quantile_for_ci_and_prediction_interval():
    fit = random_effects(frame(), method="dl", test="z")
    se = math.sqrt(1 / np.sum(1 / (V + fit.tau2)))
    z = norm.ppf(0.975)
    assert fit.se == pytest.approx(se, rel=1e-13)
    assert fit.ci_high == pytest.approx(fit.estimate + z * se, rel=1e-13)
    assert fit.pi_low == pytest.approx(fit.estimate - z * math.sqrt(se**2 + fit.tau2), rel=1e-13)
    assert math.isnan(fit.df)


def test_weights_are_inverse_variance_in_percent_and_sum_to_100():
    fit = random_effects(frame(), method="reml")
    w = 1 / (V + fit.tau2)
    assert fit.studies["weight"].to_numpy() == pytest.approx(100 * w / w.sum(), rel=1e-13)
    assert fit.studies["weight"].sum() == pytest.approx(100, abs=1e-12)


def test_study_intervals_are_normal_intervals_of_each_effect():
    fit = random_effects(frame())
    z = norm.ppf(0.975)
    assert fit.studies["ci_low"].to_numpy() == pytest.approx(Y - z * S, rel=1e-14)


def test_i2_of_dl_equals_q_minus_df_over_q():
    fit = random_effects(frame(), method="dl")
    assert fit.q > fit.q_df
    assert fit.i2 == pytest.approx(100 * (fit.q - fit.q_df) / fit.q, rel=1e-12)


def test_one_study_gives_tau2_zero_and_the_z_test_as_metafor():
    fit = random_effects(frame(Y[:1], S[:1]), test="knha")
    assert fit.tau2 == 0 and fit.test == "z"
    assert (fit.q, fit.q_df, fit.q_p) == (0.0, 0, 1.0)
    assert fit.ci_low == pytest.approx(Y[0] - norm.ppf(0.975) * S[0], rel=1e-14)
    assert any("one study" in n for n in fit.notes)


def test_knapp_hartung_with_equal_effects_has_zero_width_and_says_so():
    fit = random_effects(frame([0.3] * 4, [0.1, 0.2, 0.15, 0.25]), test="knha")
    assert fit.tau2 == 0 and fit.se == 0 and fit.ci_low == fit.ci_high == 0.3
    assert any("Knapp-Hartung" in n for n in fit.notes)


def test_a_tiny_standard_error_dominates_the_pooled_effect():
    fit = random_effects(frame([0.15, 0.42, 0.08, 0.61], [1e-6, 0.21, 0.18, 0.30]), method="ml")
    assert fit.tau2 == 0
    assert fit.estimate == pytest.approx(0.15, abs=1e-9)
    assert fit.studies["weight"].iloc[0] > 99.99


def test_tau2_interval_bounds_solve_the_q_profile_equations():
    from scipy.stats import chi2

    ci = tau2_confint(Y, V)
    k = len(Y)
    assert ci["tau2_ci_high"] > 0
    assert generalised_q(Y, V, ci["tau2_ci_high"]) == pytest.approx(
        chi2.ppf(0.025, k - 1), rel=1e-10
    )
    if ci["tau2_ci_low"] > 0:
        assert generalised_q(Y, V, ci["tau2_ci_low"]) == pytest.approx(
            chi2.ppf(0.975, k - 1), rel=1e-10
        )
    else:
        assert generalised_q(Y, V, 0) <= chi2.ppf(0.975, k - 1)


# --- aggregation --------------------------------------------------------------------------------


def test_aggregation_with_rho_zero_is_the_fixed_effect_mean_of_the_study():
    d = frame([0.4, 0.8, 0.2], [0.2, 0.1, 0.3], ["A", "A", "B"])
    a = aggregate_effects(d, 0.0)
    w = np.array([1 / 0.04, 1 / 0.01])
    assert a["effect"].iloc[0] == pytest.approx((w @ [0.4, 0.8]) / w.sum(), rel=1e-14)
    assert a["se"].iloc[0] == pytest.approx(math.sqrt(1 / w.sum()), rel=1e-14)


def test_aggregation_of_two_equal_se_effects_has_variance_v_times_1_plus_rho_over_2():
    d = frame([0.4, 0.6], [0.2, 0.2], ["A", "A"])
    for rho in (0.0, 0.3, 0.5, 0.9):
        a = aggregate_effects(d, rho)
        assert a["effect"].iloc[0] == pytest.approx(0.5, rel=1e-14)
        assert a["se"].iloc[0] ** 2 == pytest.approx(0.04 * (1 + rho) / 2, rel=1e-13)


def test_aggregation_leaves_a_single_effect_unchanged_and_keeps_first_appearance_order():
    d = frame([0.1, 0.4, 0.6, 0.9], [0.1, 0.2, 0.2, 0.3], ["B", "A", "A", "C"])
    a = aggregate_effects(d, 0.5)
    assert list(a["study"]) == ["B", "A", "C"]
    assert list(a["n_effects"]) == [1, 2, 1]
    assert a.loc[a["study"] == "C", "effect"].item() == 0.9


def test_aggregation_does_not_depend_on_the_order_of_a_studys_rows():
    d = frame([0.1, 0.5, 0.3], [0.1, 0.2, 0.15], ["A", "A", "A"])
    a = aggregate_effects(d, 0.6)
    b = aggregate_effects(d.iloc[::-1], 0.6)
    assert b["effect"].iloc[0] == pytest.approx(a["effect"].iloc[0], rel=1e-14)


def test_a_study_in_several_rows_without_aggregation_is_refused_naming_its_rows():
    d = frame([0.1, 0.5, 0.3], [0.1, 0.2, 0.15], ["A", "B", "A"]).assign(
        row=["row 2", "row 3", "row 4"]
    )
    with pytest.raises(DataValidationError, match=r"study A has 2 effect sizes \(rows 2, 4\)"):
        meta_analysis(d)


def test_fewer_than_two_studies_are_refused():
    d = frame([0.1, 0.5], [0.1, 0.2], ["A", "A"])
    with pytest.raises(IptOutcomesError, match="at least 2 studies; there is 1 study"):
        meta_analysis(d, rho=0.5)


# --- subgroups ------------------------------------------------------------------------------


def test_each_subgroup_is_the_model_of_its_own_rows():
    d = frame().assign(grp=["a", "b", "a", "b", "a", "b"])
    res = meta_analysis(d, by="grp")
    for level in ("a", "b"):
        alone = random_effects(d[d["grp"] == level])
        assert res.subgroups[level].estimate == pytest.approx(alone.estimate, rel=1e-14)
        assert res.subgroups[level].tau2 == pytest.approx(alone.tau2, rel=1e-12, abs=1e-15)
    assert list(res.pooled_table()["subgroup"]) == ["", "a", "b"]


def test_subgroup_difference_is_a_fixed_effect_q_of_the_subgroup_estimates():
    from scipy.stats import chi2

    d = frame().assign(grp=["a", "b", "a", "b", "a", "b"])
    res = meta_analysis(d, by="grp", test="z")
    est = np.array([res.subgroups[g].estimate for g in "ab"])
    w = 1 / np.array([res.subgroups[g].se for g in "ab"]) ** 2
    q = np.sum(w * (est - np.sum(w * est) / np.sum(w)) ** 2)
    assert res.between["q"] == pytest.approx(q, rel=1e-13)
    assert res.between["p"] == pytest.approx(chi2.sf(q, 1), rel=1e-12)


def test_subgroup_levels_sort_numbers_numerically_and_put_missing_last():
    assert subgroup_levels(["10", "2", "", "1"]) == ["1", "2", "10", "(missing)"]
    assert subgroup_levels(["wl", "cau", "other ctr"]) == ["cau", "other ctr", "wl"]


def test_rows_without_a_subgroup_form_their_own_level_with_a_note():
    d = frame().assign(grp=["a", "", "a", "b", "a", "b"])
    res = meta_analysis(d, by="grp")
    assert list(res.subgroups) == ["a", "b", "(missing)"]
    assert any("no grp" in n for n in res.notes)


# --- Egger ----------------------------------------------------------------------------------


def test_egger_intercept_is_the_ols_intercept_of_standardised_effect_on_precision():
    z, prec = Y / S, 1 / S
    x = np.column_stack([np.ones_like(prec), prec])
    coef, res, *_ = np.linalg.lstsq(x, z, rcond=None)
    sigma2 = res[0] / (len(Y) - 2)
    se0 = math.sqrt(sigma2 * np.linalg.inv(x.T @ x)[0, 0])
    e = egger_test(Y, S)
    assert e["intercept"] == pytest.approx(coef[0], rel=1e-12)
    assert e["se"] == pytest.approx(se0, rel=1e-12)
    assert e["p"] == pytest.approx(2 * t.sf(abs(coef[0] / se0), len(Y) - 2), rel=1e-11)
    assert e["limit_estimate"] == pytest.approx(coef[1], rel=1e-12)


def test_egger_finds_a_planted_small_study_effect():
    rng = np.random.default_rng(7)
    se = rng.uniform(0.05, 0.5, 60)
    y = 0.2 + 2.0 * se + rng.normal(0, se)  # small studies report larger effects
    e = egger_test(y, se)
    assert e["intercept"] > 0 and e["p"] < 0.001


def test_egger_needs_three_studies_and_differing_standard_errors():
    assert "at least 3" in egger_test([0.1, 0.2], [0.1, 0.2])["note"]
    assert "all equal" in egger_test([0.1, 0.2, 0.4], [0.2, 0.2, 0.2])["note"]
    assert math.isnan(egger_test([0.1, 0.2], [0.1, 0.2])["p"])


# --- reading ----------------------------------------------------------------------------------


def test_decimal_commas_are_read_in_semicolon_files_only():
    assert parse_number("0,25", ",") == 0.25
    assert parse_number("-1,5e-2", ",") == -0.015
    assert math.isnan(parse_number("0,25", "."))
    assert parse_number("NA") is None and parse_number("") is None


def test_rows_without_effect_or_se_are_left_out_with_a_note_naming_row_and_study():
    raw = pd.DataFrame({"study": ["A", "B", "C"], ".g": ["0.1", "NA", "0.3"],
                        ".g_se": ["0.1", "0.2", ""]})  # fmt: skip
    d = effect_sizes_from_frame(raw, source="f.csv")
    assert list(d["study"]) == ["A"]
    assert d.attrs["notes"] == [
        "row 3, study B: the effect (.g) is missing; left out",
        "row 4, study C: the standard error (.g_se) is missing; left out",
    ]


def test_every_bad_cell_is_named_with_file_row_study_and_column():
    raw = pd.DataFrame({"study": ["A", "B", "", "D"], ".g": ["0.1", "x", "0.2", "inf"],
                        ".g_se": ["0", "0.2", "0.1", "0.1"]})  # fmt: skip
    with pytest.raises(DataValidationError) as err:
        effect_sizes_from_frame(raw, source="f.csv")
    text = str(err.value)
    assert "f.csv, row 2, column .g_se: study A: the standard error must be positive, got 0" in text
    assert "f.csv, row 3, column .g: study B: 'x' is not a number" in text
    assert "f.csv, row 4, column study: the study is empty" in text
    assert "f.csv, row 5, column .g: study D: 'inf' is not a finite number" in text


def test_a_missing_column_is_named_with_the_columns_the_file_has():
    raw = pd.DataFrame({"study": ["A"], "g": ["0.1"], "se": ["0.1"]})
    with pytest.raises(
        IptOutcomesError,
        match=r"no column '\.g' \(for --effect\).*has the columns 'study', 'g', 'se'",
    ):
        effect_sizes_from_frame(raw, source="f.csv")
