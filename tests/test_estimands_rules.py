"""Rules of reference-based multiple imputation, on small constructed trials.

Each test states a rule that holds exactly (or a property of the algorithm) and checks it against
an independent computation: ordinary least squares by numpy, scipy's L-BFGS-B, Rubin's rules as
checked against mice (``tests/reference/mi``), R's ``quantile(type = 6)``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.trial import trial_from_frame
from ipt_outcomes.estimands.analysis import pool_rubin_many, quantile_type6
from ipt_outcomes.estimands.bayes import effective_sample_size, split_rhat
from ipt_outcomes.estimands.events import intercurrent_events, read_events
from ipt_outcomes.estimands.imputation import mi_data
from ipt_outcomes.estimands.mvn import pool_rubin
from ipt_outcomes.estimands.reference_based import reference_based_mi
from ipt_outcomes.exceptions import DataValidationError, IptOutcomesError


def make_scores(arms=("TAU", "CBT"), n_per_arm=30, visits=(0, 4, 8, 12), seed=1, dropout=0.3,
                effect=-3.0):  # fmt: skip
    """Integer HAM-D scores with random dropout (the reference arm first in ``arms``)."""
    rng = np.random.default_rng(seed)
    rows = []
    for a, arm in enumerate(arms):
        for i in range(n_per_arm):
            base = int(rng.integers(16, 30))
            u = rng.normal(0, 3)
            stop = len(visits) if rng.random() > dropout else int(rng.integers(1, len(visits)))
            for j, v in enumerate(visits):
                if j == 0:
                    score = base
                elif j >= stop:
                    continue
                else:
                    mean = base - 2 * j + a * effect * j / (len(visits) - 1) + u
                    score = int(np.clip(round(mean + rng.normal(0, 2.5)), 0, 52))
                rows.append((f"{arm}{i:02d}", arm, v, score))
    return pd.DataFrame(rows, columns=["subject_id", "arm", "visit", "hamd17"])


def make_trial(**kw):
    return trial_from_frame(make_scores(**kw), reference="TAU")


@pytest.fixture(scope="module")
def small():
    return make_trial()


# ------------------------------------------------------------------------------------------
# the events file
# ------------------------------------------------------------------------------------------


def test_events_file_problems_are_all_reported_by_row_subject_and_column(small, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "subject_id,visit,strategy\n"
        "CBT00,8,JR\n"  # fine
        "NOBODY,8,JR\n"  # row 3: unknown subject
        "CBT01,0,JR\n"  # row 4: the baseline is not a post-baseline visit
        "CBT02,5,JR\n"  # row 5: not a visit of the trial
        "CBT03,8,XYZ\n"  # row 6: unknown strategy
        "CBT00,12,CR\n"  # row 7: second row of a subject
        "CBT04,,MAR\n"  # row 8: empty visit
    )
    with pytest.raises(DataValidationError) as err:
        read_events(path, small)
    text = str(err.value)
    assert "6 problems" in text
    assert "row 3, subject NOBODY, column subject_id: subject is not in the score file" in text
    assert "row 4, subject CBT01, column visit: visit 0 is not a post-baseline visit" in text
    assert "row 5, subject CBT02, column visit" in text
    assert "row 6, subject CBT03, column strategy: strategy 'XYZ' is not one of" in text
    assert "row 7, subject CBT00, column subject_id: subject already has an event in row 2" in text
    assert "row 8, subject CBT04, column visit: visit is empty" in text


def test_events_file_gives_visits_as_the_score_file_does_with_text_codes(tmp_path):
    """With visit codes ("WEEK 8", as ADaM AVISIT) the events file names visits by code too (it
    once refused every such row as 'not a number')."""
    from ipt_outcomes import load_trial

    codes = {0: "BASELINE", 4: "WEEK 4", 8: "WEEK 8", 12: "WEEK 12"}
    scores = make_scores().assign(visit=lambda d: d["visit"].map(codes))
    scores.to_csv(tmp_path / "scores.csv", index=False)
    (tmp_path / "design.toml").write_text(
        '[analysis]\nreference = "TAU"\n[visits]\nbaseline = "BASELINE"\n'
        'schedule = ["BASELINE", "WEEK 4", "WEEK 8", "WEEK 12"]\ntimes = [0, 4, 8, 12]\n'
    )
    trial = load_trial(tmp_path / "scores.csv", tmp_path / "design.toml")
    path = tmp_path / "events.csv"
    path.write_text("subject_id,visit,strategy\nCBT00,WEEK 8,JR\nCBT01,WEEK 12,cir\n")
    got = read_events(path, trial)
    assert got["visit"].tolist() == [8.0, 12.0] and got["strategy"].tolist() == ["JR", "CIR"]
    path.write_text("subject_id,visit,strategy\nCBT00,WEEK 7,JR\nCBT01,BASELINE,JR\n")
    with pytest.raises(DataValidationError) as err:
        read_events(path, trial)
    text = str(err.value)
    assert "row 2, subject CBT00, column visit: visit 'WEEK 7' is not one of the design's" in text
    assert "row 3, subject CBT01, column visit: visit 'BASELINE' is not a post-baseline" in text


def test_events_file_without_a_strategy_column_is_refused_naming_it(small, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("subject_id,visit\nCBT00,8\n")
    with pytest.raises(DataValidationError, match="column 'strategy' is missing"):
        read_events(path, small)


def test_cli_refuses_a_bad_events_file_with_exit_1_and_writes_nothing(small, run_cli, tmp_path):
    scores = tmp_path / "scores.csv"
    make_scores().to_csv(scores, index=False)
    events = tmp_path / "events.csv"
    events.write_text("subject_id,visit,strategy\nCBT00,8,jump\n")
    code, _, err = run_cli("mi", scores, "--reference", "TAU", "--events", events,
                           "--quiet", "--out", tmp_path / "out")  # fmt: skip
    assert code == 1
    assert "row 2, subject CBT00, column strategy: strategy 'jump' is not one of" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_events_strategy_any_case_and_observed_values_after_the_event_are_set_missing(
    small, tmp_path
):
    """SPEC: data from the event's visit on are set missing and imputed under its strategy."""
    d = small.derived
    full = d.groupby("subject_id")["score"].count()
    subject = full[full == 3].index[0]  # observed at 4, 8 and 12
    path = tmp_path / "events.csv"
    path.write_text(f"subject_id,visit,strategy\n{subject},8,cir\n")
    ev = read_events(path, small)
    assert ev["strategy"].tolist() == ["CIR"]
    data = mi_data(small, "MAR", ev)
    row = list(data.subjects).index(subject)
    assert np.isnan(data.y[row, 1:]).all() and not np.isnan(data.y[row, 0])
    assert data.n_set_missing == 2 and data.strategy[row] == "CIR" and data.ice[row] == 1


def test_dropout_rule_event_at_the_visit_after_the_last_score_and_gaps_stay_mar():
    scores = pd.DataFrame({
        "subject_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 4 + ["d"] * 4,
        "arm": ["TAU"] * 8 + ["CBT"] * 8,
        "visit": [0, 4, 8, 12] * 4,
        "hamd17": [20, 15, None, None, 22, None, 14, 12, 25, None, None, None, 21, 18, 15, 11],
    })  # fmt: skip
    ice = intercurrent_events(trial_from_frame(scores, reference="TAU"), "JR").set_index(
        "subject_id"
    )
    assert ice.loc["a", "visit"] == 8 and ice.loc["a", "strategy"] == "JR"  # dropout after 4
    assert np.isnan(ice.loc["b", "visit"]) and ice.loc["b", "strategy"] == "MAR"  # gap at 4 only
    assert ice.loc["c", "visit"] == 4  # no post-baseline score: event at the first visit
    assert np.isnan(ice.loc["d", "visit"]) and ice.loc["d", "source"] == "none"


# ------------------------------------------------------------------------------------------
# beyond rbmi: one visit, more arms
# ------------------------------------------------------------------------------------------


def _ols(y, X):
    return np.linalg.lstsq(X, y, rcond=None)[0]


def test_single_post_baseline_visit_mar_gives_the_complete_case_ancova():
    """One visit: the imputation model is OLS of change on arm and baseline, and imputing its
    fitted values (conditional mean, MAR) leaves the ANCOVA coefficients unchanged."""
    trial = make_trial(visits=(0, 8), n_per_arm=25, dropout=0.3, seed=4)
    res = reference_based_mi(trial, "MAR")
    d = res.data
    obs = ~np.isnan(d.y[:, 0])
    assert (~obs).sum() > 5
    beta = _ols(d.y[obs, 0], d.design()[obs])
    assert res.contrasts()["estimate"].iloc[0] == pytest.approx(beta[1], abs=1e-9)


def test_single_post_baseline_visit_jump_to_reference_imputes_the_reference_arm_mean():
    trial = make_trial(visits=(0, 8), n_per_arm=25, dropout=0.3, seed=4)
    res = reference_based_mi(trial, "JR")
    d, B = res.data, res.model.beta
    imputed = res.imputed().set_index("subject_id")
    dropouts = np.flatnonzero(np.isnan(d.y[:, 0]) & (d.arm != d.ref_index))
    ref_mean = d.design(as_reference=True) @ B
    for i in dropouts:  # the event is at the first (only) visit: the reference mean throughout
        assert imputed.loc[d.subjects[i], "change"] == pytest.approx(ref_mean[i, 0], abs=1e-9)
    assert res.contrasts()["se"].iloc[0] > 0


def test_three_arms_without_missing_data_give_ols_and_its_jackknife():
    """No missing data: every estimate is the OLS coefficient of the full data; the jackknife
    SE is that of OLS refitted without each subject, sqrt((n-1)/n sum (b_i - b_mean)^2)."""
    trial = make_trial(arms=("TAU", "IPT", "CBT"), n_per_arm=12, visits=(0, 4, 8), dropout=0.0)
    res = reference_based_mi(trial, "JR")
    d = res.data
    assert not np.isnan(d.y).any()
    X = d.design()
    c = res.contrasts()
    others = [d.arms[a] for a in d.others]  # the columns of X after the intercept
    assert sorted(others) == ["CBT", "IPT"] and (c["reference"] == "TAU").all()
    for t in range(d.T):
        full = _ols(d.y[:, t], X)
        loo = np.array([_ols(np.delete(d.y[:, t], i), np.delete(X, i, axis=0)) for i in range(d.n)])
        se = np.sqrt((d.n - 1) / d.n * ((loo - loo.mean(axis=0)) ** 2).sum(axis=0))
        rows = c[c["visit"] == d.visits[t]].set_index("arm").loc[others]
        np.testing.assert_allclose(rows["estimate"], full[1:3], atol=1e-10)
        np.testing.assert_allclose(rows["se"], se[1:3], atol=1e-10)


def test_lmcf_with_the_event_at_the_first_visit_is_refused_naming_the_subject():
    scores = make_scores(seed=2)
    first = scores.groupby("subject_id")["visit"].transform("size") == 1
    lone = scores.loc[first, "subject_id"]
    if lone.empty:  # make one subject with a baseline only
        sid = scores["subject_id"].iloc[-1]
        scores = scores[(scores["subject_id"] != sid) | (scores["visit"] == 0)]
        lone = pd.Series([sid])
    with pytest.raises(IptOutcomesError, match=f"LMCF needs an observed visit.*{lone.iloc[0]}"):
        reference_based_mi(trial_from_frame(scores, reference="TAU"), "LMCF")


def test_delta_shifts_only_missing_post_event_values_of_non_reference_arms():
    scores = make_scores(seed=5)
    # an intermittent gap in CBT: visit 4 missing, later visits observed
    gap = scores["subject_id"].eq("CBT00") & scores["visit"].eq(4)
    scores = scores[~gap]
    trial = trial_from_frame(scores, reference="TAU")
    res0 = reference_based_mi(trial, "MAR")
    res = reference_based_mi(trial, "MAR", delta=3.0)
    diff = (res.imputed()["change"] - res0.imputed()["change"]).to_numpy().reshape(res.data.n, -1)
    d = res.data
    expected = 3.0 * (d.missing & d.post_ice & (d.arm != d.ref_index)[:, None])
    np.testing.assert_allclose(diff, expected, atol=1e-12)
    row = list(d.subjects).index("CBT00")
    if not np.isnan(d.y[row, 1:]).all():  # the gap itself is MAR and not shifted
        assert diff[row, 0] == 0
    # the estimate moves by delta times the ANCOVA coefficient of the shifted cells
    shift = res.full.coef_shift[0, 1, -1]
    moved = res.contrasts()["estimate"].iloc[-1] - res0.contrasts()["estimate"].iloc[-1]
    assert moved == pytest.approx(3.0 * shift, abs=1e-10)


# ------------------------------------------------------------------------------------------
# variance options, pooling, diagnostics
# ------------------------------------------------------------------------------------------


def test_information_anchored_variance_is_the_resampling_one_under_mar(small):
    """Under MAR the strategy's and MAR's complete-data variances coincide, so the
    information-anchored SE is the jackknife SE; under JR it keeps MAR's share of lost
    information, so it exceeds JR's own jackknife SE (Cro et al. 2019)."""
    mar = reference_based_mi(small, "MAR")
    ia = reference_based_mi(small, "MAR", variance="information-anchored")
    np.testing.assert_allclose(ia.contrasts()["se"], mar.contrasts()["se"], rtol=1e-12)
    jr = reference_based_mi(small, "JR")
    jr_ia = reference_based_mi(small, "JR", variance="information-anchored")
    last = jr.contrasts()["se"].iloc[-1], jr_ia.contrasts()["se"].iloc[-1]
    assert last[1] > last[0]
    np.testing.assert_allclose(jr_ia.contrasts()["estimate"], jr.contrasts()["estimate"])


def test_rubin_pooling_of_many_parameters_matches_pool_rubin():
    """pool_rubin is checked against mice::pool.scalar (tests/test_imputation.py)."""
    rng = np.random.default_rng(3)
    est = rng.normal(1, 0.3, (20, 2, 3))
    var = rng.uniform(0.05, 0.1, (20, 2, 3))
    est[:, 0, 0] = 0.7  # no between-imputation variance: df = df_obs
    pooled = pool_rubin_many(est, var, 40)
    for j in range(2):
        for t in range(3):
            one = pool_rubin(est[:, j, t], var[:, j, t], df_complete=40)
            for key in ("estimate", "se", "df", "ci_low", "ci_high", "p"):
                assert pooled[key][j, t] == pytest.approx(one[key], rel=1e-10)
    assert pooled["df"][0, 0] == pytest.approx(41 / 43 * 40)


def test_type6_quantiles_and_the_percentile_p_value_as_r():
    x = np.arange(1.0, 11.0)
    # R: quantile(1:10, c(0.05, 0.1, 0.5, 0.975), type = 6) -> 1, 1.1, 5.5, 10
    np.testing.assert_allclose(quantile_type6(x, [0.05, 0.1, 0.5, 0.975]), [1, 1.1, 5.5, 10])
    from ipt_outcomes.estimands.analysis import _percentile_p

    assert _percentile_p(x) == 0.0  # every bootstrap estimate positive
    # crossing 0 halfway between -1 and 1 (ranks 5 and 6 of 10): q = 5.5 / 11, p = 2q
    assert _percentile_p(np.r_[-5.0:0.0, 1.0:6.0]) == pytest.approx(2 * 5.5 / 11)


def test_split_rhat_and_effective_sample_size_on_known_chains():
    rng = np.random.default_rng(8)
    iid = rng.normal(size=(4, 500))
    assert split_rhat(iid) == pytest.approx(1.0, abs=0.01)
    assert 1500 < effective_sample_size(iid) < 2600
    stuck = iid + np.array([0.0, 0.0, 2.0, 2.0])[:, None]
    assert split_rhat(stuck) > 1.3
    ar = np.zeros((4, 500))  # AR(1) with rho 0.9: ESS about n (1 - rho) / (1 + rho)
    for t in range(1, 500):
        ar[:, t] = 0.9 * ar[:, t - 1] + rng.normal(size=4)
    assert 50 < effective_sample_size(ar) < 200


# ------------------------------------------------------------------------------------------
# the optimiser and the refits
# ------------------------------------------------------------------------------------------


def test_batched_lbfgsb_follows_scipy_lbfgsb_with_r_optim_settings():
    """Our vectorised L-BFGS-B (no bounds, memory 5, factr 1e7, pgtol 0) ends where scipy's
    L-BFGS-B ends with the same settings (R's optim defaults), from several starts."""
    from scipy import optimize

    from ipt_outcomes.models.optim import minimize_batch

    def rosen(x):
        f = 100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2
        g = np.zeros_like(x)
        g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
        g[1:] += 200 * (x[1:] - x[:-1] ** 2)
        return f.sum(), g

    starts = np.random.default_rng(1).uniform(-1.5, 1.5, (6, 4))

    def evaluate(members, X):
        out = [rosen(x) for x in X]
        return np.array([o[0] for o in out]), np.array([o[1] for o in out])

    X, f, ok = minimize_batch(evaluate, starts)
    assert ok.all()
    for x0, x in zip(starts, X, strict=True):
        ref = optimize.minimize(rosen, x0, jac=True, method="L-BFGS-B", options=dict(
            maxcor=5, ftol=1e7 * np.finfo(float).eps, gtol=0, maxiter=100))  # fmt: skip
        np.testing.assert_allclose(x, ref.x, atol=1e-8)


def test_exact_refits_of_many_samples_equal_single_fits(small):
    res = reference_based_mi(small, "MAR", optimizer="exact")
    model = res.model
    W = np.ones((3, small.baseline.size))
    W[0, 0] = W[1, 5] = 0
    W[2] = np.random.default_rng(2).integers(0, 3, W.shape[1])
    many = model.refitter.fit_many(W, model.theta, model.hessian0)
    for w, r in zip(W, many, strict=True):
        one = model.refitter.fit(w, model.theta)
        assert r.converged and one.converged
        np.testing.assert_allclose(r.beta, one.beta, atol=1e-7)


def test_rbmi_and_exact_optimisers_differ_only_at_optimiser_precision(small):
    a = reference_based_mi(small, "JR").contrasts()
    b = reference_based_mi(small, "JR", optimizer="exact").contrasts()
    np.testing.assert_allclose(a["estimate"], b["estimate"], atol=1e-3)
    np.testing.assert_allclose(a["se"], b["se"], atol=1e-3)


# ------------------------------------------------------------------------------------------
# determinism, the command line
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "kw"), [("approxbayes", {"n_samples": 300}),
                                             ("bayes", {"n_samples": 40, "chains": 2})])  # fmt: skip
def test_same_seed_gives_the_same_numbers_whatever_the_number_of_workers(small, method, kw):
    one = reference_based_mi(small, "JR", method=method, seed=11, workers=1, **kw)
    two = reference_based_mi(small, "JR", method=method, seed=11, workers=2, **kw)
    pd.testing.assert_frame_equal(one.contrasts(), two.contrasts(), check_exact=True)
    pd.testing.assert_frame_equal(one.lsmeans(), two.lsmeans(), check_exact=True)
    other = reference_based_mi(small, "JR", method=method, seed=12, workers=1, **kw)
    assert not np.allclose(
        one.contrasts()["estimate"].iloc[-1], other.contrasts()["estimate"].iloc[-1]
    )


def test_cli_tipping_point_writes_the_grid_the_exact_point_and_the_figure(run_cli, tmp_path):
    scores = tmp_path / "scores.csv"
    make_scores(n_per_arm=40, effect=-6.0, seed=9).to_csv(scores, index=False)
    code, out, err = run_cli("mi", scores, "--reference", "TAU", "--strategy", "JR",
                             "--tipping-point", "--delta-max", "6", "--delta-step", "1",
                             "--quiet", "--out", tmp_path / "out")  # fmt: skip
    assert code == 0, err
    grid = pd.read_csv(tmp_path / "out" / "tipping_point.csv")
    assert grid["delta"].tolist() == list(range(-6, 7)) and (grid["visit"] == 12).all()
    exact = pd.read_csv(tmp_path / "out" / "mi_tipping_point.csv")
    for _, r in exact.iterrows():
        assert r["p"] == pytest.approx(0.05, abs=1e-8)
        side = grid[(grid["delta"] - r["delta"]).abs() <= 1]
        assert side["significant"].nunique() == 2  # the conclusion changes around it
    assert (tmp_path / "out" / "tipping_point.png").stat().st_size > 1000
    assert "Tipping point" in out or "No tipping point" in out


def test_cli_mvn_method_keeps_the_mar_outputs_and_refuses_events(run_cli, tmp_path):
    scores = tmp_path / "scores.csv"
    make_scores().to_csv(scores, index=False)
    events = tmp_path / "events.csv"
    events.write_text("subject_id,visit,strategy\nCBT00,8,JR\n")
    code, _, err = run_cli("mi", scores, "--reference", "TAU", "--method", "mvn", "--events",
                           events, "--quiet", "--out", tmp_path / "o")  # fmt: skip
    assert code == 1 and "--events needs a reference-based --method" in err


def test_cli_information_anchored_needs_condmean(run_cli, tmp_path):
    scores = tmp_path / "scores.csv"
    make_scores().to_csv(scores, index=False)
    code, _, err = run_cli("mi", scores, "--reference", "TAU", "--method", "approxbayes",
                           "--variance", "information-anchored", "--out", tmp_path / "o")  # fmt: skip
    assert code == 1 and "information-anchored" in err
    assert not (tmp_path / "o").exists()


def test_reference_based_mi_checks_its_arguments(small):
    for kw, word in [({"method": "mcmc"}, "method"), ({"resampling": "x"}, "resampling"),
                     ({"n_samples": 1}, "n_samples"), ({"delta": math.inf}, "delta"),
                     ({"variance": "information-anchored", "method": "bayes"}, "condmean")]:  # fmt: skip
        with pytest.raises(ValueError, match=word):
            reference_based_mi(small, "MAR", **kw)
    with pytest.raises(ValueError, match="strategy"):
        reference_based_mi(small, "J2R")
