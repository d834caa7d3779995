"""ipt_outcomes.stats.adjusted against R beeca and SAS, number by number.

References: tests/reference/adjusted/ (README.md there documents every file).
- R beeca 0.2.0 ``get_marginal_effect`` (openpharma/beeca commit 4b72c14a; R 4.2.2, sandwich
  3.0-2; sessionInfo.txt), run by make_reference.R on a ``glm`` fitted with
  ``glm.control(epsilon = 1e-14, maxit = 100)`` (the "tight" rows; the README explains why the
  default-glm rows are not used): trial01_effects.csv, three_arm_effects.csv, risks.csv,
  risks_vcov.csv and scores_adjusted.csv (per-visit response derived by R from raw scores).
- SAS ``%Margins`` (SAS KB 63038) and the SAS macro of Ge et al. (2011), as shipped with beeca
  (``margins_trial01``, ``ge_macro_trial01``): model-based covariance, so
  ``variance="model"``.

Tolerances (README "Checks and tolerances"): beeca relative 1e-6 with absolute 1e-9 for
estimates, SEs, risks and their covariance; SAS absolute 1e-6 on the estimate and 1e-7 on the
SE. Intervals and p-values are recomputed here from beeca's estimate and SE with the formulas of
beeca's vignette (est +- z se, ratios on the log scale; 2 Phi(-|z|)), since beeca gives none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipt_outcomes.stats.adjusted import marginal_effects, marginal_effects_by_visit, marginal_risks

from .conftest import EXTERNAL, ROOT

REF = ROOT / "tests" / "reference" / "adjusted"
RTOL, ATOL = 1e-6, 1e-9
# beeca's contrast names -> the project's
CONTRAST = {"diff": "risk_difference", "rr": "risk_ratio", "or": "odds_ratio"}
# beeca's method names -> the project's variance argument
VARIANCE = {"ge": "ge", "ge_model_based": "model", "ye": "ye"}


def ref_csv(name: str) -> pd.DataFrame:
    """A reference CSV with arm labels as text and an empty strata cell as ""."""
    d = pd.read_csv(
        REF / name,
        dtype={"arm": str, "arm2": str, "reference": str, "strata": str, "note": str},
        keep_default_na=False,
        na_values={"estimate": [""], "se": [""], "risk_arm": [""], "risk_reference": [""]},
    )
    return d


def close(actual, expected, what, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(
        np.asarray(actual, float), np.asarray(expected, float), rtol=rtol, atol=atol, err_msg=what
    )


def check_against_beeca(py: pd.DataFrame, ref: pd.DataFrame, keys: list[str]) -> None:
    """Every beeca row of ``ref`` against the project's rows ``py``.

    diff, rr and or are the project's estimate and se; logrr and logor are log(estimate) and
    se / estimate of the project's ratio rows (beeca: se(rr) = rr se(log rr)).
    """
    name = {**CONTRAST, "logrr": "risk_ratio", "logor": "odds_ratio"}
    ref = ref.assign(log=ref["contrast"].str.startswith("log"), contrast=ref["contrast"].map(name))
    m = ref.merge(py, on=[*keys, "contrast"], suffixes=("_r", ""))
    assert len(m) == len(ref) > 0
    assert not m.duplicated([*keys, "contrast", "log"]).any()
    lg, py_est, py_se = m["log"].to_numpy(), m["estimate"].to_numpy(), m["se"].to_numpy()
    close(np.where(lg, np.log(np.where(lg, py_est, 1.0)), py_est), m["estimate_r"], "estimate")
    close(np.where(lg, py_se / py_est, py_se), m["se_r"], "se")
    # intervals and p-values from beeca's estimate and SE (vignette formulas)
    m = m[~m["log"]]
    est, se = m["estimate_r"].to_numpy(), m["se_r"].to_numpy()
    rd = (m["contrast"] == "risk_difference").to_numpy()
    z = stats.norm.ppf(0.975)
    log_est = np.log(np.where(rd, 1.0, est))
    log_se = se / np.where(rd, 1.0, est)
    low = np.where(rd, est - z * se, np.exp(log_est - z * log_se))
    high = np.where(rd, est + z * se, np.exp(log_est + z * log_se))
    p = 2 * stats.norm.sf(np.where(rd, np.abs(est / se), np.abs(log_est / log_se)))
    close(m["ci_low"], low, "ci_low")
    close(m["ci_high"], high, "ci_high")
    close(m["p"], p, "p")


# ------------------------------------------------------------------------------------------
# trial01 (beeca's own data) and the 3-arm trial: effects, risks and their covariance
# ------------------------------------------------------------------------------------------


def trial01() -> pd.DataFrame:
    return pd.read_csv(REF / "trial01.csv", dtype={"trtp": str})


def three_arm() -> pd.DataFrame:
    return pd.read_csv(REF / "three_arm.csv")


def strata_of(s: str) -> tuple:
    return tuple(s.split("+")) if s else ()


TRIAL01_CASES = [
    (cov, strata, method)
    for cov, strata, method in ref_csv("trial01_effects.csv")[["covariates", "strata", "method"]]
    .drop_duplicates()
    .itertuples(index=False)
]


@pytest.mark.parametrize(("covariate", "strata", "method"), TRIAL01_CASES)
def test_trial01_effects_match_beeca(covariate, strata, method):
    ref = ref_csv("trial01_effects.csv")
    ref = ref[
        (ref["covariates"] == covariate)
        & (ref["strata"] == strata)
        & (ref["method"] == method)
        & (ref["glm"] == "tight")
    ]
    py = marginal_effects(
        trial01(),
        outcome="aval",
        arm="trtp",
        covariates=[covariate],
        reference="0",
        variance=VARIANCE[method],
        strata=strata_of(strata),
    )
    assert (py["n"] == ref["n"].iloc[0]).all()
    assert list(py["arm"]) == ["1"] * 3
    check_against_beeca(py, ref, ["arm", "reference"])


THREE_ARM_CASES = [
    tuple(r)
    for r in ref_csv("three_arm_effects.csv")[["reference", "strata", "method"]]
    .drop_duplicates()
    .itertuples(index=False)
]


@pytest.mark.parametrize(("reference", "strata", "method"), THREE_ARM_CASES)
def test_three_arm_effects_match_beeca(reference, strata, method):
    ref = ref_csv("three_arm_effects.csv")
    ref = ref[
        (ref["reference"] == reference) & (ref["strata"] == strata) & (ref["method"] == method)
    ]
    py = marginal_effects(
        three_arm(),
        outcome="response",
        arm="arm",
        covariates=["age", "region", "stratum"],
        reference=reference,
        variance=VARIANCE[method],
        strata=strata_of(strata),
    )
    assert (py["n"] == 300).all()
    # default order: the other arms sorted (beeca: factor-level order, also sorted here)
    others = sorted({"Placebo", "Drug A", "Drug B"} - {reference})
    assert list(py["arm"]) == [a for a in others for _ in range(3)]
    check_against_beeca(py, ref, ["arm", "reference"])


RISK_CASES = [
    tuple(r)
    for r in ref_csv("risks.csv")
    .query("glm == 'tight'")[["dataset", "covariates", "strata", "method"]]
    .drop_duplicates()
    .itertuples(index=False)
]


@pytest.mark.parametrize(("dataset", "covariates", "strata", "method"), RISK_CASES)
def test_marginal_risks_and_covariance_match_beeca(dataset, covariates, strata, method):
    sel = "dataset == @dataset and covariates == @covariates and strata == @strata "
    sel += "and method == @method and glm == 'tight'"
    risks = ref_csv("risks.csv").query(sel)
    vcov = ref_csv("risks_vcov.csv").query(sel)
    if dataset == "trial01":
        data, outcome, arm = trial01(), "aval", "trtp"
    else:
        data, outcome, arm = three_arm(), "response", "arm"
    mr = marginal_risks(
        data,
        outcome=outcome,
        arm=arm,
        covariates=covariates.split("+"),
        variance=VARIANCE[method],
        strata=strata_of(strata),
    )
    assert mr.note == ""
    s = mr.summary().merge(risks, on="arm", suffixes=("", "_r"), validate="one_to_one")
    assert len(s) == len(risks) == len(mr.arms)
    close(s["risk"], s["risk_r"], "risk")
    close(s["se"], s["se_r"], "risk se")
    cov = mr.cov_frame().stack().rename("cov_py").reset_index()
    c = cov.merge(vcov, on=["arm", "arm2"], validate="one_to_one")
    assert len(c) == len(vcov) == len(mr.arms) ** 2
    close(c["cov_py"], c["cov"], "covariance of the risks")


# ------------------------------------------------------------------------------------------
# SAS (%Margins and the Ge et al. macro), model-based variance
# ------------------------------------------------------------------------------------------


def trial01_model_based(alpha=0.05) -> pd.Series:
    py = marginal_effects(
        trial01(),
        outcome="aval",
        arm="trtp",
        covariates=["bl_cov"],
        reference="0",
        variance="model",
        alpha=alpha,
    )
    return py.set_index("contrast").loc["risk_difference"]


def test_trial01_matches_sas_margins():
    sas = pd.read_csv(REF / "sas_margins_trial01.csv").iloc[0]
    assert sas["Contrast"] == "2 - 1" and sas["Alpha"] == 0.05  # trtp 1 - trtp 0
    rd = trial01_model_based(alpha=sas["Alpha"])
    close(rd["estimate"], sas["Estimate"], "estimate", rtol=0, atol=1e-6)
    close(rd["se"], sas["StdErr"], "se", rtol=0, atol=1e-7)
    # %Margins: Wald interval with the normal quantile and the chi-square (1 df) p-value
    close(rd["ci_low"], sas["Lower"], "ci_low", rtol=0, atol=1e-6)
    close(rd["ci_high"], sas["Upper"], "ci_high", rtol=0, atol=1e-6)
    close(rd["p"], sas["Pr"], "p", rtol=0, atol=1e-6)
    assert (rd["estimate"] / rd["se"]) ** 2 == pytest.approx(sas["ChiSq"], abs=1e-5)


def test_trial01_matches_sas_ge_macro():
    sas = pd.read_csv(REF / "sas_ge_macro_trial01.csv").iloc[0]
    # the macro's interval is diff +- 1.96 se: the project's at alpha = 2 (1 - Phi(1.96))
    rd = trial01_model_based(alpha=2 * stats.norm.sf(1.96))
    close(rd["estimate"], sas["diff"], "estimate", rtol=0, atol=1e-6)
    close(rd["se"], sas["se"], "se", rtol=0, atol=1e-7)
    close(rd["risk"], sas["pt"], "risk (treated)", rtol=0, atol=1e-6)
    close(rd["risk_reference"], sas["pC"], "risk (control)", rtol=0, atol=1e-6)
    close(rd["ci_low"], sas["lower"], "lower", rtol=0, atol=1e-6)
    close(rd["ci_high"], sas["upper"], "upper", rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------
# score files: per-visit response built here from the raw scores, then by visit
# ------------------------------------------------------------------------------------------


def per_visit_response(post: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Per-visit responders under a missing-data rule (SPEC "Missing-data rules").

    ``post``: post-baseline rows ``subject_id, arm, visit, score, baseline`` plus subject-level
    covariates (baseline missing = subject not analysable). observed: baseline and a score at the
    visit; nri: every subject with a baseline at every visit, no score = non-response; locf: the
    last score at or before the visit, the baseline if none. Response: improvement >= 50%.
    """
    post = post[post["baseline"].notna()]
    if rule == "observed":
        rows = post[post["score"].notna()].assign(used=lambda d: d["score"])
    else:
        subjects = post.drop(columns=["visit", "score"]).drop_duplicates("subject_id")
        visits = pd.DataFrame({"visit": sorted(post["visit"].unique())})
        grid = subjects.merge(visits, how="cross")
        rows = grid.merge(post[["subject_id", "visit", "score"]], how="left")
        rows = rows.sort_values(["subject_id", "visit"])
        if rule == "nri":
            rows["used"] = rows["score"]
        else:
            rows["used"] = rows.groupby("subject_id")["score"].ffill().fillna(rows["baseline"])
    improvement = (rows["baseline"] - rows["used"]) / rows["baseline"]
    return rows.assign(responder=rows["used"].notna() & (improvement >= 0.5))


def long_with_baseline(raw, subject, arm, visit, score, covariates=()) -> pd.DataFrame:
    """Post-baseline rows of a file whose baseline is the row at visit 0."""
    d = pd.DataFrame(
        {"subject_id": raw[subject], "arm": raw[arm].astype(str), "visit": raw[visit]}
    ).assign(score=raw[score], **{c: raw[c] for c in covariates})
    base = d[d["visit"] == 0].set_index("subject_id")["score"].rename("baseline")
    return d[d["visit"] > 0].join(base, on="subject_id")


def score_file(dataset: str) -> pd.DataFrame:
    if dataset == "synthetic":
        raw = pd.read_csv(ROOT / "tests" / "reference" / "response" / "synthetic_trial.csv")
        return long_with_baseline(raw, "subject_id", "arm", "visit", "hamd17", ["sex"])
    if dataset == "three_arm_scores":
        raw = pd.read_csv(REF / "three_arm_scores.csv")
        return long_with_baseline(raw, "subject_id", "arm", "visit", "hamd17", ["site", "sex"])
    if dataset == "riesby":
        path = EXTERNAL / "riesby.csv"
        if not path.exists():
            pytest.skip(f"external data not available at {path}")
        return long_with_baseline(pd.read_csv(path), "id", "endog", "week", "hamd")
    path = EXTERNAL / "antidepressant_dia.csv"  # baseline carried as a column (BASVAL)
    if not path.exists():
        pytest.skip(f"external data not available at {path}")
    raw = pd.read_csv(path)
    return pd.DataFrame(
        {
            "subject_id": raw["PATIENT"],
            "arm": raw["THERAPY"],
            "visit": raw["VISIT"],
            "score": raw["HAMDTL17"],
            "baseline": raw["BASVAL"],
            "GENDER": raw["GENDER"],
        }
    )


SCORES = ref_csv("scores_adjusted.csv")
SCORE_CASES = [
    tuple(r) for r in SCORES[["dataset", "rule"]].drop_duplicates().itertuples(index=False)
]


@pytest.mark.parametrize(("dataset", "rule"), SCORE_CASES)
def test_score_files_by_visit_match_beeca(dataset, rule):
    outcomes = per_visit_response(score_file(dataset), rule)
    ref_all = SCORES[(SCORES["dataset"] == dataset) & (SCORES["rule"] == rule)]
    keys = ["visit", "arm", "reference"]
    n_ok = n_failed = 0
    for (covs, strata, method), ref in ref_all.groupby(["covariates", "strata", "method"]):
        py = marginal_effects_by_visit(
            outcomes,
            covariates=covs.split("+"),
            reference=ref["reference"].iloc[0],
            variance=VARIANCE[method],
            strata=strata_of(strata),
        )
        what = f"{dataset} {rule} {covs} strata={strata!r} {method}"
        # counts per visit and arm, as R derived them from the raw scores
        counts = ref.drop_duplicates(keys).merge(
            py.drop_duplicates(keys), on=keys, suffixes=("_r", ""), validate="one_to_one"
        )
        assert len(counts) == ref.drop_duplicates(keys).shape[0], what
        for c in ("n", "n_arm", "n_reference", "events_arm", "events_reference"):
            assert (counts[c] == counts[f"{c}_r"]).all(), f"{what}: {c}"
        ok = ref[ref["status"] == "ok"]
        if len(ok):
            check_against_beeca(py, ok, keys)
            risks = ok.drop_duplicates(keys).merge(py.drop_duplicates(keys), on=keys)
            close(risks["risk"], risks["risk_arm"], f"{what}: risk")
            close(risks["risk_reference_x"], risks["risk_reference_y"], f"{what}: risk ref")
            n_ok += len(ok)
        failed = ref[ref["status"] != "ok"]
        if len(failed):
            # separation (no responders in either arm at riesby week 1): no numbers, a note
            f = failed[["visit", "arm"]].drop_duplicates().merge(py, on=["visit", "arm"])
            assert len(f) == 3 * len(failed[["visit", "arm"]].drop_duplicates()), what
            numbers = ["estimate", "se", "ci_low", "ci_high", "p", "risk", "risk_reference"]
            assert f[numbers].isna().all().all(), what
            assert f["note"].str.contains("separation").all(), what
            assert f["note"].str.contains("no events in arm 0, 1").all(), what
            n_failed += len(failed)
        # every visit the project reports has a reference row, and nothing more
        assert sorted(py["visit"].unique()) == sorted(ref["visit"].unique()), what
    assert n_ok + n_failed == len(ref_all)


# ------------------------------------------------------------------------------------------
# an arm that separates the outcome, the others not (separated_arm.R)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variance", ["ge", "ye"])
def test_one_separating_arm_leaves_the_other_comparisons_as_beeca_gives_them(variance):
    """Arm C has no responders: beeca's glm stops with C's coefficient near -30 and B vs A is
    what it is at the supremum of the likelihood; the project fits the model without C (the same
    estimates) and averages the predictions over all subjects, as beeca does. C vs A: no number,
    a note (beeca prints a boundary value there)."""
    data = ref_csv("separated_arm.csv")
    ref = ref_csv("separated_arm_effects.csv")
    ref = ref[ref["variance"] == variance]
    assert (ref["coef_armC"] < -25).all()  # the reference is at the boundary, as described
    py = marginal_effects(
        data, outcome="y", arm="arm", covariates=["age", "region", "site"], reference="A",
        variance=variance, strata=["site"] if variance == "ye" else (),
    )  # fmt: skip
    b = ref[ref["arm"] == "B"].assign(contrast=lambda f: f["contrast"].map(CONTRAST))
    m = b.merge(py, on=["arm", "contrast"], suffixes=("_r", ""), validate="one_to_one")
    assert len(m) == 3
    close(m["estimate"], m["estimate_r"], f"{variance}: estimate")
    close(m["se"], m["se_r"], f"{variance}: se")
    close(m["risk"], m["risk_arm"], f"{variance}: risk")
    close(m["risk_reference"], m["risk_reference_r"], f"{variance}: risk of A")
    assert m["note"].str.contains("working model fitted without arm C").all()
    c = py[py["arm"] == "C"]
    assert len(c) == 3 and c[["estimate", "se", "ci_low", "ci_high", "p"]].isna().all().all()
    assert c["note"].str.contains("separation: no events in arm C").all()
