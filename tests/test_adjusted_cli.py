"""Covariate-adjusted response through the Trial and the command line, against R beeca.

Reference: tests/reference/adjusted/scores_adjusted.csv, made by make_reference.R there (R 4.2.2,
beeca 0.2.0, glm with epsilon 1e-14) from the raw score files: the project's synthetic trial
snapshot, the DIA trial (../shared/data/external), a simulated three-arm file with sites, and
Riesby (separation at week 1). Each rule (observed / nri / locf) decides who is analysed, the
responder is derived from the scores, covariates are taken at baseline. Tolerance: 1e-6 relative
(1e-9 absolute) for estimates and standard errors, as beeca's README recommends for tight fits.
This file checks the path users take (load_trial -> adjusted_response, and `ipt-outcomes response
--adjust`); tests/test_adjusted_reference.py checks the estimator itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.stats.adjusted import adjusted_response

from .conftest import DESIGNS, EXTERNAL, ROOT

REF = ROOT / "tests" / "reference" / "adjusted"
ROWS = pd.read_csv(REF / "scores_adjusted.csv", keep_default_na=False, dtype={"arm": str})
CONTRASTS = {"diff": "risk_difference", "rr": "risk_ratio", "or": "odds_ratio"}

TRIALS = {
    "synthetic": (ROOT / "tests" / "reference" / "response" / "synthetic_trial.csv",
                  ROOT / "analyses" / "saloheimo2016.toml", {}),
    "dia": (EXTERNAL / "antidepressant_dia.csv", DESIGNS / "antidepressant_dia.toml", {}),
    "three_arm_scores": (REF / "three_arm_scores.csv", None, {"reference": "Placebo"}),
    "riesby": (EXTERNAL / "riesby.csv", DESIGNS / "riesby.toml", {}),
}  # fmt: skip

CASES = (
    ROWS[["dataset", "rule", "covariates", "strata", "method"]]
    .drop_duplicates()
    .itertuples(index=False, name=None)
)


@pytest.fixture(scope="module")
def trials():
    out = {}
    for name, (path, design, kw) in TRIALS.items():
        if path.exists():
            out[name] = load_trial(path, design, **kw)
    return out


@pytest.mark.parametrize(("dataset", "rule", "covariates", "strata", "method"), list(CASES))
def test_adjusted_response_of_a_trial_matches_beeca(
    trials, dataset, rule, covariates, strata, method
):
    if dataset not in trials:
        pytest.skip(f"external data for {dataset} not available")
    got = adjusted_response(
        trials[dataset],
        rule,
        covariates=covariates.split("+"),
        variance=method,
        strata=strata.split("+") if strata else (),
    )
    ref = ROWS[
        (ROWS["dataset"] == dataset) & (ROWS["rule"] == rule) & (ROWS["covariates"] == covariates)
        & (ROWS["strata"] == strata) & (ROWS["method"] == method) & ROWS["contrast"].isin(list(CONTRASTS))
    ].assign(contrast=lambda r: r["contrast"].map(CONTRASTS))  # fmt: skip
    key = ["arm", "visit", "contrast"]
    merged = ref.merge(got.astype({"visit": float}), on=key, how="left", suffixes=("_r", ""))
    assert len(merged) == len(ref) and merged["n"].notna().all()
    ok = merged["status"] == "ok"
    np.testing.assert_array_equal(merged.loc[ok, "n"], merged.loc[ok, "n_r"])
    for col in ("estimate", "se"):
        np.testing.assert_allclose(
            merged.loc[ok, col].astype(float), merged.loc[ok, f"{col}_r"].astype(float),
            rtol=1e-6, atol=1e-9, err_msg=col,
        )  # fmt: skip
    failed = merged.loc[~ok]
    assert failed["estimate"].isna().all() and (failed["note"].astype(str) != "").all()


def test_response_adjust_on_the_command_line_matches_beeca(run_cli, tmp_path):
    """The three-arm file with sites: baseline + site in the working model, Ye's variance
    stratified by site (beeca's documented path), non-responder imputation."""
    path = REF / "three_arm_scores.csv"
    code, out, err = run_cli("response", path, "--reference", "Placebo", "--missing", "nri",
                             "--adjust", "baseline", "--adjust", "site", "--variance", "ye",
                             "--strata", "site", "--out", tmp_path)  # fmt: skip
    assert code == 0, err
    got = pd.read_csv(tmp_path / "response_adjusted.csv")
    assert list(got.columns[:11]) == ["arm", "reference", "visit", "contrast", "estimate", "se",
                                      "ci_low", "ci_high", "p", "variance", "n"]  # fmt: skip
    ref = ROWS[(ROWS["dataset"] == "three_arm_scores") & (ROWS["rule"] == "nri")
               & (ROWS["covariates"] == "baseline+site") & (ROWS["strata"] == "site")
               & ROWS["contrast"].isin(list(CONTRASTS))]  # fmt: skip
    ref = ref.assign(contrast=ref["contrast"].map(CONTRASTS)).astype(
        {"estimate": float, "se": float, "visit": float}
    )
    merged = ref.merge(
        got.astype({"visit": float}), on=["arm", "visit", "contrast"], suffixes=("_r", "")
    )
    assert len(merged) == len(ref) == 12
    np.testing.assert_allclose(merged["estimate"], merged["estimate_r"], rtol=1e-6)
    np.testing.assert_allclose(merged["se"], merged["se_r"], rtol=1e-6)
    # intervals: the risk difference on its own scale, ratios on the log scale
    z = 1.959963984540054
    rd = merged[merged["contrast"] == "risk_difference"]
    np.testing.assert_allclose(rd["ci_low"], rd["estimate_r"] - z * rd["se_r"], rtol=1e-6)
    rr = merged[merged["contrast"] == "risk_ratio"]
    np.testing.assert_allclose(
        rr["ci_high"], rr["estimate_r"] * np.exp(z * rr["se_r"] / rr["estimate_r"]), rtol=1e-6
    )
    assert "Covariate-adjusted risk difference" in out
    # the unadjusted tables are written as before
    assert (tmp_path / "response_comparisons.csv").exists()


def test_separation_gives_a_note_and_the_unadjusted_results_still_written(run_cli, tmp_path):
    path = EXTERNAL / "riesby.csv"
    if not path.exists():
        pytest.skip("external data not available")
    code, out, err = run_cli("response", path, "--design", DESIGNS / "riesby.toml",
                             "--adjust", "baseline", "--out", tmp_path)  # fmt: skip
    assert code == 0, err
    adj = pd.read_csv(tmp_path / "response_adjusted.csv")
    week1 = adj[adj["visit"] == 1]
    assert week1["estimate"].isna().all() and week1["note"].str.contains("separation").all()
    assert "not estimated" in out and "Week 1" in out
    assert pd.read_csv(tmp_path / "response_comparisons.csv")["visit"].eq(1).any()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--adjust", "nope"], "covariate 'nope' is not a column"),
        (["--adjust", "baseline", "--strata", "site"], "--strata needs --variance ye"),
        (["--adjust", "arm"], "'arm' cannot be a covariate"),
    ],
)
def test_adjust_mistakes_are_refused_with_a_message(run_cli, tmp_path, args, message):
    path = REF / "three_arm_scores.csv"
    code, out, err = run_cli(
        "response", path, "--reference", "Placebo", *args, "--out", tmp_path / "o"
    )
    assert code == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
