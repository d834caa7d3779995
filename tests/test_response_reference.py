"""ipt_outcomes.stats.response against R, number by number (tolerance 1e-6).

Reference: tests/reference/response/make_reference.R (R 4.2.2, geepack 1.3.9; sessionInfo.txt)
and its CSV output in that folder. Inputs: synthetic_trial.csv (a fixed snapshot of
`ipt-outcomes simulate --seed 2016`), riesby.csv and antidepressant_dia.csv from
../shared/data/external. R computes the missing-data rules, rates, intervals, tests, NNT and Holm
from the raw scores itself (prop.test, binom.test, fisher.test, chisq.test, p.adjust, hand-coded
Newcombe / Miettinen-Nurminen / Katz / Woolf / Agresti-Coull / NNT) and the GEE with geepack.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.stats.response import (
    binary_outcomes,
    chi_square_by_visit,
    compare_with_reference,
    gee_response,
    rates,
)

from .conftest import DESIGNS, EXTERNAL, ROOT

REF = ROOT / "tests" / "reference" / "response"
RTOL, ATOL = 1e-6, 1e-8

DATASETS = {
    "synthetic": (REF / "synthetic_trial.csv", ROOT / "analyses" / "saloheimo2016.toml"),
    "riesby": (EXTERNAL / "riesby.csv", DESIGNS / "riesby.toml"),
    "dia": (EXTERNAL / "antidepressant_dia.csv", DESIGNS / "antidepressant_dia.toml"),
}
RULES = ("observed", "nri", "locf")


def load(name):
    path, design = DATASETS[name]
    if not path.exists():
        pytest.skip(f"external data not available at {path}")
    return load_trial(path, design)


def r_csv(name):
    return pd.read_csv(REF / name, dtype={"arm": str, "reference": str, "visit": float})


def close(py, r, cols, rtol=RTOL):
    for c in cols:
        np.testing.assert_allclose(
            py[c].to_numpy(float), r[c].to_numpy(float), rtol=rtol, atol=ATOL, err_msg=c
        )


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("name", list(DATASETS))
def test_rates_and_intervals_match_r(name, rule):
    scores = load(name)
    out = binary_outcomes(scores, rule)
    ref = r_csv(f"{name}_{rule}_rates.csv")
    for endpoint in ("responder", "remitter"):
        r = ref[ref["endpoint"] == endpoint].sort_values(["arm", "visit"]).reset_index(drop=True)
        py = {}
        for method, cols in (
            ("wilson", "wilson"),
            ("clopper-pearson", "cp"),
            ("agresti-coull", "ac"),
        ):
            t = rates(out, endpoint, method=method)
            t = t[t["n"] > 0].sort_values(["arm", "visit"]).reset_index(drop=True)
            py[cols] = t
        t = py["wilson"]
        assert t[["arm", "visit"]].equals(r[["arm", "visit"]]), endpoint
        assert (t["n"].to_numpy() == r["n"].to_numpy()).all()
        assert (t.iloc[:, 3].to_numpy() == r["events"].to_numpy()).all()
        close(
            t.rename(columns={"ci_low": "wilson_low", "ci_high": "wilson_high"}),
            r,
            ["rate", "wilson_low", "wilson_high"],
        )
        close(
            py["cp"].rename(columns={"ci_low": "cp_low", "ci_high": "cp_high"}),
            r,
            ["cp_low", "cp_high"],
        )
        close(
            py["ac"].rename(columns={"ci_low": "ac_low", "ci_high": "ac_high"}),
            r,
            ["ac_low", "ac_high"],
        )


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("name", list(DATASETS))
def test_comparisons_match_r(name, rule):
    scores = load(name)
    design = scores.design
    out = binary_outcomes(scores, rule)
    ref = r_csv(f"{name}_{rule}_comparisons.csv")
    for endpoint in ("responder", "remitter"):
        r = ref[ref["endpoint"] == endpoint].sort_values(["arm", "visit"]).reset_index(drop=True)
        kw = dict(endpoint=endpoint, adjust_visits=design.key_visits)
        t = compare_with_reference(out, design.reference, **kw)
        t = t[t["n"] > 0].sort_values(["arm", "visit"]).reset_index(drop=True)
        mn = compare_with_reference(out, design.reference, rd_method="miettinen-nurminen", **kw)
        mn = mn[mn["n"] > 0].sort_values(["arm", "visit"]).reset_index(drop=True)
        assert t[["arm", "visit"]].equals(r[["arm", "visit"]])
        cols = [
            "risk_difference", "rd_ci_low", "rd_ci_high", "risk_ratio", "rr_ci_low", "rr_ci_high",
            "odds_ratio", "or_ci_low", "or_ci_high", "p_fisher", "nnt", "nnt_ci_low", "nnt_ci_high", "p_holm",
        ]  # fmt: skip
        close(t, r, cols)
        close(
            mn.rename(columns={"rd_ci_low": "mn_low", "rd_ci_high": "mn_high"}),
            r,
            ["mn_low", "mn_high"],
        )


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("name", list(DATASETS))
def test_chi_square_matches_r(name, rule):
    out = binary_outcomes(load(name), rule)
    ref = r_csv(f"{name}_{rule}_chisq.csv")
    for endpoint in ("responder", "remitter"):
        r = ref[ref["endpoint"] == endpoint].reset_index(drop=True)
        t = chi_square_by_visit(out, endpoint).dropna(subset=["chi2"]).reset_index(drop=True)
        assert t["visit"].tolist() == r["visit"].tolist()
        close(t, r, ["chi2", "df", "p"])


GEE_COLS = ["log_or", "se", "odds_ratio", "ci_low", "ci_high", "p"]


def gee_reference(name, source, correlation, sample):
    r = r_csv(f"{name}_gee.csv")
    r = r[(r["source"] == source) & (r["correlation"] == correlation) & (r["sample"] == sample)]
    return r.sort_values(["arm", "visit"]).reset_index(drop=True)


@pytest.mark.parametrize("name", ["synthetic", "dia"])
def test_gee_exchangeable_matches_geepack(name):
    scores = load(name)
    out = binary_outcomes(scores, "observed")
    t, fit = gee_response(
        out,
        scores.design.reference,
        correlation="exchangeable",
        report_visits=scores.design.key_visits,
    )
    t = t.sort_values(["arm", "visit"]).reset_index(drop=True)
    r = gee_reference(name, "geepack", "exchangeable", "observed")
    assert t[["arm", "visit"]].equals(r[["arm", "visit"]])
    close(t, r, GEE_COLS)
    assert float(fit["working_correlation"]) == pytest.approx(float(r["alpha"].iloc[0]), rel=1e-5)
    assert fit["converged"]


@pytest.mark.parametrize("name", ["synthetic", "dia"])
def test_gee_unstructured_matches_geepack_on_complete_cases(name):
    scores = load(name)
    out = binary_outcomes(scores, "observed")
    n_visits = out["visit"].nunique()
    complete = out[out.groupby("subject_id")["visit"].transform("size") == n_visits]
    t, fit = gee_response(
        complete,
        scores.design.reference,
        correlation="unstructured",
        report_visits=scores.design.key_visits,
    )
    t = t.sort_values(["arm", "visit"]).reset_index(drop=True)
    r = gee_reference(name, "geepack", "unstructured", "complete")
    close(t, r, GEE_COLS)
    alphas = [float(x) for x in fit["working_correlation"].split(";")]
    np.testing.assert_allclose(alphas, [float(x) for x in r["alpha"].iloc[0].split(";")], rtol=1e-5)


@pytest.mark.parametrize("name", ["synthetic", "dia"])
def test_gee_unstructured_with_missing_visits_matches_hand_coded_r(name):
    """geepack 1.3.9 segfaults on unbalanced clusters with unstructured correlation; the R
    reference is a hand-coded GEE with geepack's estimators, itself checked against geepack in
    make_reference.R (exchangeable on all data, unstructured on complete cases, to ~1e-14)."""
    scores = load(name)
    out = binary_outcomes(scores, "observed")
    t, _ = gee_response(
        out,
        scores.design.reference,
        correlation="unstructured",
        report_visits=scores.design.key_visits,
    )
    t = t.sort_values(["arm", "visit"]).reset_index(drop=True)
    close(t, gee_reference(name, "hand", "unstructured", "observed"), GEE_COLS)


def test_r_hand_coded_gee_agrees_with_geepack_where_geepack_runs():
    for name in ("synthetic", "dia"):
        for corr, sample in (("exchangeable", "observed"), ("unstructured", "complete")):
            close(
                gee_reference(name, "hand", corr, sample),
                gee_reference(name, "geepack", corr, sample),
                GEE_COLS,
                rtol=1e-9,
            )
