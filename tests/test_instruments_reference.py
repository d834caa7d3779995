"""Two instruments in one analysis-data file, as a sponsor hands it over (issue 24).

The trial: tests/reference/adam2/ - a simulated three-arm trial in ADaM BDS shape: PARAMCD
HAMD17 (HAM-D 17, lower is better) and WBMEAN (a continuous well-being score 1-5, higher is
better) in one long file, text visit codes (AVISIT "WEEK 4"), the baseline record marked by
ABLFL (at SCREENING for six subjects), repeated assessments flagged ANL01FL = "N" and screening
rows with ANL01FL empty, and unmapped ADaM columns (BASE, CHG) that must not be used. One design
file (adam2.toml) describes both instruments; every command is run with --instrument, as a user
would.

Reference numbers: tests/reference/adam2/make_reference.R (R 4.2.2; mmrm, emmeans,
clinicalsignificance; sessionInfo.txt), computed from the raw file with the design written out
there, independently of this code. Tolerances as the other reference tests: response 1e-6
relative; MMRM estimates and SEs 1e-4 relative, df 0.05, -2 log-likelihood 1e-3; reliable change
1e-10 (closed form), categories exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.cli import main

from .conftest import ROOT, sha256

REF = ROOT / "tests" / "reference" / "adam2"
DATA, DESIGN = REF / "adam2.csv", REF / "adam2.toml"
INSTRUMENTS = {"hamd": "HAM-D 17", "wb": "Well-being"}
RULES = ("observed", "nri", "locf")


def r_csv(name):
    return pd.read_csv(REF / name, dtype={"arm": str, "reference": str, "visit": str})


def read(folder, name):
    return pd.read_csv(folder / f"{name}.csv", dtype={"arm": str, "reference": str, "visit": str})


def close(py, r, cols, rtol=1e-6, atol=1e-8):
    for c in cols:
        np.testing.assert_allclose(
            py[c].to_numpy(float), r[c].to_numpy(float), rtol=rtol, atol=atol, err_msg=c
        )


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """validate, response (three rules), mmrm and reliable-change (cut-offs a and c) run once
    for each instrument, through the command line."""
    import contextlib
    import io

    base = tmp_path_factory.mktemp("adam2")
    before = sha256(DATA)
    out = {}
    for tag, name in INSTRUMENTS.items():
        common = ["--design", str(DESIGN), "--instrument", name]
        runs = {f"response_{rule}": ["response", "--missing", rule] for rule in RULES}
        runs["mmrm"] = ["mmrm"]
        runs["rc_a"] = ["reliable-change", "--cutoff", "a"]
        runs["rc_c"] = ["reliable-change", "--cutoff", "c", "--no-figure"]
        texts = {}
        for folder, args in runs.items():
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main([args[0], str(DATA), *common, *args[1:], "--out",
                             str(base / tag / folder)])  # fmt: skip
            assert code == 0, err.getvalue()
            texts[folder] = err.getvalue()
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            assert main(["validate", str(DATA), *common]) == 0
        texts["validate"] = stdout.getvalue()
        out[tag] = (base / tag, texts)
    assert sha256(DATA) == before
    return out


@pytest.mark.parametrize("tag", list(INSTRUMENTS))
def test_validate_says_which_rows_are_left_out(outputs, tag):
    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    param = {"hamd": "HAMD17", "wb": "WBMEAN"}[tag]
    rows = raw[raw["PARAMCD"] == param]
    n_flagged_out = int((rows["ANL01FL"] != "Y").sum())
    n_n = int((rows["ANL01FL"] == "N").sum())
    text = outputs[tag][1]["validate"]
    assert f"{n_flagged_out} rows with ANL01FL other than 'Y'" in text and f"{n_n} 'N'" in text
    assert f"of {len(raw)} in the file" in text
    assert INSTRUMENTS[tag] in text and "(this one)" in text
    # every analysing command says so too
    assert f"{n_flagged_out} rows with ANL01FL other than 'Y'" in outputs[tag][1]["mmrm"]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("tag", list(INSTRUMENTS))
def test_response_and_remission_match_r(outputs, tag, rule):
    folder = outputs[tag][0] / f"response_{rule}"
    r_rates = r_csv(f"adam2_{tag}_{rule}_rates.csv")
    r_comp = r_csv(f"adam2_{tag}_{rule}_comparisons.csv")
    for endpoint, name, count in (("responder", "response", "responders"),
                                  ("remitter", "remission", "remitters")):  # fmt: skip
        py = read(folder, f"{name}_rates")
        py = py[py["n"] > 0].sort_values(["arm", "visit"]).reset_index(drop=True)
        r = r_rates[r_rates["endpoint"] == endpoint].sort_values(["arm", "visit"])
        r = r.reset_index(drop=True)
        assert py[["arm", "visit"]].equals(r[["arm", "visit"]]), "visits written as the codes"
        assert (py["n"].to_numpy() == r["n"].to_numpy()).all()
        assert (py[count].to_numpy() == r["events"].to_numpy()).all()
        close(py, r, ["rate", "ci_low", "ci_high"])
        py = (
            read(folder, f"{name}_comparisons").sort_values(["arm", "visit"]).reset_index(drop=True)
        )
        r = r_comp[r_comp["endpoint"] == endpoint].sort_values(["arm", "visit"])
        r = r.reset_index(drop=True)
        assert py[["arm", "visit"]].equals(r[["arm", "visit"]])
        close(py, r, ["risk_difference", "rd_ci_low", "rd_ci_high", "risk_ratio", "rr_ci_low",
                      "rr_ci_high", "odds_ratio", "or_ci_low", "or_ci_high", "p_fisher",
                      "p_holm"])  # fmt: skip


@pytest.mark.parametrize("tag", list(INSTRUMENTS))
def test_mmrm_matches_r_mmrm(outputs, tag):
    folder = outputs[tag][0] / "mmrm"
    fit, r_fit = read(folder, "mmrm_fit").iloc[0], r_csv(f"adam2_{tag}_mmrm_fit.csv").iloc[0]
    assert fit["n_subjects"] == r_fit["n_subjects"] and fit["n_obs"] == r_fit["n_obs"]
    assert fit["neg2_reml_loglik"] == pytest.approx(r_fit["neg2_reml_loglik"], abs=1e-3)
    for name in ("lsmeans", "contrasts"):
        py = read(folder, f"mmrm_{name}").sort_values(["arm", "visit"]).reset_index(drop=True)
        r = r_csv(f"adam2_{tag}_mmrm_{name}.csv").sort_values(["arm", "visit"])
        r = r.reset_index(drop=True)
        assert py[["arm", "visit"]].equals(r[["arm", "visit"]])
        close(py, r, ["estimate", "se", "ci_low", "ci_high"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(py["df"], r["df"], atol=0.05)


@pytest.mark.parametrize("cutoff", ["a", "c"])
@pytest.mark.parametrize("tag", list(INSTRUMENTS))
def test_reliable_change_matches_clinicalsignificance(outputs, tag, cutoff):
    folder = outputs[tag][0] / f"rc_{cutoff}"
    py = read(folder, "reliable_change")
    r = r_csv(f"adam2_{tag}_rc_subjects.csv")
    r = r[r["cutoff_type"] == cutoff]
    both = py.merge(r, on=["subject_id", "visit"], how="outer", indicator=True, suffixes=("", "_r"))
    assert (both["_merge"] == "both").all()
    d = 1.0 if tag == "wb" else -1.0
    np.testing.assert_allclose(both["rci"], d * both["rci_r"], rtol=1e-10, atol=1e-12)
    for col in ("baseline", "score", "change"):
        np.testing.assert_allclose(both[col], both[f"{col}_r"], rtol=1e-10, atol=1e-12)
    for col in ("category", "arm", "clinical_before", "functional_after"):
        assert (both[col] == both[f"{col}_r"]).all(), col
    crit = read(folder, "reliable_change_criteria")
    rc = r_csv(f"adam2_{tag}_rc_criteria.csv")
    rc = rc[rc["cutoff_type"] == cutoff]
    got = crit.merge(rc, on="visit", suffixes=("", "_r"))
    assert len(got) == 4 and (got["n"] == got["n_r"]).all()
    for col in ("m_clinical", "sd_clinical", "s_diff", "cutoff"):
        np.testing.assert_allclose(got[col], got[f"{col}_r"], rtol=1e-10, err_msg=col)
    rates = read(folder, "reliable_change_rates")
    rr = r_csv(f"adam2_{tag}_rc_rates.csv")
    rr = rr[rr["cutoff_type"] == cutoff]
    got = rates.merge(rr, on=["arm", "visit", "category"], suffixes=("", "_r"))
    assert len(got) == len(rr) == len(rates)
    assert (got["count"] == got["count_r"]).all() and (got["n"] == got["n_r"]).all()
    for col in ("rate", "ci_low", "ci_high"):
        np.testing.assert_allclose(got[col], got[f"{col}_r"], rtol=1e-9, err_msg=col)


def test_the_n_rows_would_change_the_answer():
    """Guard that the test can fail: with the "N" rows kept the file has two rows at some
    visits, so honouring ANL01FL is what makes the analysis possible at all."""
    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    n = raw[raw["ANL01FL"] == "N"]
    assert len(n) >= 10
    keys = ["USUBJID", "PARAMCD", "AVISIT"]
    kept = raw[raw["ANL01FL"] == "Y"]
    assert kept.merge(n[keys], on=keys).shape[0] == len(n)  # each "N" row repeats a "Y" visit
