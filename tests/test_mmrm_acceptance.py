"""Acceptance check of the MMRM's options (issue 26) on a trial made for it, against R mmrm.

References: tests/reference/mmrm_acceptance/ (README.md there): R mmrm 0.3.18 built from source
and emmeans on ``trial.csv`` (make_acceptance_data.py, seeded: 336 subjects, three arms whose
names have spaces and a non-ASCII letter, the reference arm last, non-default columns mapped by
``trial.toml``, visits at uneven weeks 2-24, dropout and gaps, a numeric and a factor covariate,
row weights). Every case runs as a user runs it: the command line (``mmrm --vcov --df
--covariance --weights --covariate --method``) or the formula interface
(``ipt_outcomes.mmrm(formula, trial, ...)``).

Tolerances (README there): -2 log-likelihood and SEs 1e-4 relative; LS means and contrasts 1e-4
of max(|estimate|, SE); df 1e-3 relative; t 2e-4 of max(|t|, 1); p 1e-3 relative or 1e-6
absolute; CI limits 2e-4 (|estimate| + 2 SE); Type III F and denominator df 1e-3 relative.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

import ipt_outcomes
from ipt_outcomes import load_trial

from .conftest import ROOT
from .test_mmrm_vcov_reference import R_NAMES  # R mmrm's method names, ours

REF = ROOT / "tests" / "reference" / "mmrm_acceptance"
DATA, DESIGN = REF / "trial.csv", REF / "trial.toml"
# the command line's options for each "cli_*" model of make_reference.R
CLI_MODELS = {
    "cli_us": [],
    "cli_sp_exp": ["--covariance", "sp_exp"],
    "cli_us_weighted": ["--weights", "w"],
    "cli_toeph_weighted": ["--covariance", "toeph", "--weights", "w"],
    "cli_us_covariates": ["--covariate", "x", "--covariate", "region"],
    "cli_us_ml": ["--method", "ml"],
}
# the formula interface: (formula on the trial's columns, weights)
FORMULAS = {
    "formula_x_interaction": ("change ~ x + arm * visit + us(visit | subject)", None),
    "formula_group_csh": (
        "change ~ region + baseline + arm * visit + csh(visit | arm / subject)", None),
    "formula_sp_exp_weighted": (
        "change ~ arm * visit + baseline * visit + sp_exp(time | subject)", "w"),
}  # fmt: skip


@cache
def reference() -> pd.DataFrame:
    parts = [pd.read_csv(p, encoding="utf-8") for p in sorted(REF.glob("reference_*.csv"))]
    return pd.concat(parts, ignore_index=True)


@cache
def trial():
    return load_trial(DATA, DESIGN)


def _cases(prefix):
    if not list(REF.glob("reference_*.csv")):
        return []
    cases = [c for c in pd.unique(reference()["case"]) if c.startswith(prefix)]
    return [pytest.param(c, id=c.replace("|", "-")) for c in cases]


def _norm_term(term: str) -> str:
    names = {"base": "baseline", "chg": "change"}
    return ":".join(sorted(names.get(p, p).lower() for p in str(term).split(":")))


def compare(lsmeans, contrasts, anova, neg2_loglik, n_obs, ref) -> None:
    """Our tables against the R rows of one case."""
    assert len(ref), "no R rows for this case"
    fit = ref[ref["table"] == "fit"].iloc[0]
    np.testing.assert_allclose(neg2_loglik, fit["neg2_loglik"], rtol=1e-4, err_msg="-2 logL")
    assert n_obs == fit["n_obs"]
    for table, py in (("lsmeans", lsmeans), ("contrasts", contrasts)):
        r = ref[ref["table"] == table].copy()
        r["visit"] = r["visit"].astype(float)
        py = py.assign(visit=py["visit"].astype(float), arm=py["arm"].astype(str))
        m = py.merge(r, on=["arm", "visit"], suffixes=("", "_r"), validate="one_to_one")
        assert len(m) == len(r) == len(py), (table, sorted(set(py["arm"])), sorted(set(r["arm"])))
        scale = np.maximum(np.abs(m["estimate_r"]), m["se_r"])
        assert (np.abs(m["estimate"] - m["estimate_r"]) <= 1e-4 * scale).all(), (
            table, m[["arm", "visit", "estimate", "estimate_r"]])  # fmt: skip
        np.testing.assert_allclose(m["se"], m["se_r"], rtol=1e-4, err_msg=f"{table} se")
        np.testing.assert_allclose(m["df"], m["df_r"], rtol=1e-3, err_msg=f"{table} df")
        for c in ("ci_low", "ci_high"):
            tol = 2e-4 * (np.abs(m["estimate_r"]) + 2 * m["se_r"])
            assert (np.abs(m[c] - m[f"{c}_r"]) <= tol).all(), f"{table} {c}"
        if table == "contrasts":
            assert (m["reference"] == "Placebo").all()
            t_scale = np.maximum(np.abs(m["t_r"]), 1.0)
            assert (np.abs(m["t"] - m["t_r"]) <= 2e-4 * t_scale).all(), "t"
            np.testing.assert_allclose(m["p"], m["p_r"], rtol=1e-3, atol=1e-6, err_msg="p")
    r = ref[ref["table"] == "anova"].assign(key=lambda d: d["term"].map(_norm_term))
    if not len(r):  # not run in R for this case (Satterthwaite with an empirical covariance)
        return
    an = anova.assign(key=lambda d: d["term"].map(_norm_term))
    m = an.merge(r, on="key", suffixes=("", "_r"), validate="one_to_one")
    assert len(m) == len(r) == len(an), (list(an["term"]), list(r["term"]))
    np.testing.assert_array_equal(m["num_df"], m["num_df_r"])
    np.testing.assert_allclose(m["den_df"], m["den_df_r"], rtol=1e-3, err_msg="anova den_df")
    np.testing.assert_allclose(m["f"], m["f_r"], rtol=1e-3, err_msg="anova F")
    np.testing.assert_allclose(m["p"], m["p_r"], rtol=1e-3, atol=1e-6, err_msg="anova p")


@pytest.mark.parametrize("case", _cases("cli_"))
def test_command_line_against_r_mmrm(run_cli, tmp_path, case):
    label, df, vcov = case.split("|")
    out = tmp_path / "out"
    code, _, err = run_cli("mmrm", DATA, "--design", DESIGN, *CLI_MODELS[label], "--df",
                           R_NAMES[df], "--vcov", R_NAMES[vcov], "--no-fallback", "--out", out)  # fmt: skip
    assert code == 0, err
    fit = pd.read_csv(out / "mmrm_fit.csv").iloc[0]
    assert fit["vcov"] == R_NAMES[vcov]
    ref = reference()
    compare(pd.read_csv(out / "mmrm_lsmeans.csv"), pd.read_csv(out / "mmrm_contrasts.csv"),
            pd.read_csv(out / "mmrm_anova.csv"), float(fit["neg2_loglik"]), int(fit["n_obs"]),
            ref[ref["case"] == case])  # fmt: skip


@pytest.mark.parametrize("case", _cases("formula_"))
def test_formula_interface_against_r_mmrm(case):
    label, df, vcov = case.split("|")
    formula, weights = FORMULAS[label]
    res = ipt_outcomes.mmrm(formula, trial(), df=R_NAMES[df], vcov=R_NAMES[vcov],
                            weights=weights)  # fmt: skip
    ref = reference()
    compare(res.lsmeans(), res.contrasts(), res.anova(), res.neg2_loglik, res.n_obs,
            ref[ref["case"] == case])  # fmt: skip


def test_every_case_of_the_reference_is_checked():
    """No R case left without a test (a label added in R needs its options here)."""
    if not list(REF.glob("reference_*.csv")):
        pytest.skip("R references not made")
    labels = {c.split("|")[0] for c in reference()["case"]}
    assert labels == set(CLI_MODELS) | set(FORMULAS)
    assert not (reference()["table"] == "error").any()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--df", "satterthwaite", "--vcov", "kenward-roger"], "goes with --df kenward-roger"),
        (["--df", "kenward-roger", "--vcov", "empirical"], "needs --vcov kenward-roger"),
        (["--df", "residual", "--vcov", "kenward-roger-linear"], "goes with --df kenward-roger"),
        (["--df", "kenward-roger", "--method", "ml"], "needs --method reml"),
    ],
)
def test_pairs_r_refuses_are_usage_errors_naming_them(run_cli, tmp_path, args, message):
    code, _, err = run_cli("mmrm", DATA, "--design", DESIGN, *args, "--out", tmp_path / "o")
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--weights", "nope"], "column 'nope'"),
        (["--weights", "region"], "subject 'P0101'"),
        (["--covariate", "nope"], "nope"),
    ],
)
def test_a_bad_weights_or_covariate_column_is_refused_by_name(run_cli, tmp_path, args, message):
    code, _, err = run_cli("mmrm", DATA, "--design", DESIGN, *args, "--out", tmp_path / "o")
    assert code == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_a_numeric_column_read_as_text_is_a_slope_in_every_model():
    """A CSV's extra numeric column (``x``) is kept as text by the reader; every model takes it
    as R's read.csv does, as numbers (a slope), not as a factor of one level per value (it once
    entered the MMRM as a 228-level factor). Checked against the same column as floats."""
    from ipt_outcomes.models.ancova import fit_ancova

    t = trial()
    frame = t.derived
    assert not pd.api.types.is_numeric_dtype(frame["x"])  # as read: text
    formula = "change ~ x + arm * visit + us(visit | subject)"
    as_text = ipt_outcomes.mmrm(formula, t, df="satterthwaite")
    d = frame[frame["change"].notna()].assign(subject=lambda f: f["subject_id"])
    as_float = ipt_outcomes.mmrm(formula, d.assign(x=d["x"].astype(float)), df="satterthwaite",
                                 reference="Placebo")  # fmt: skip
    assert len(as_text.lsmeans()) == 18
    assert list(as_text.anova()["num_df"]) == list(as_float.anova()["num_df"])
    assert as_text.anova().set_index("term").loc["x", "num_df"] == 1
    pd.testing.assert_frame_equal(as_text.contrasts(), as_float.contrasts(), rtol=1e-8)
    last = d[d["visit"] == 24]
    kw = dict(reference="Placebo", covariates=["baseline", "x"])
    a = fit_ancova(last, "change", **kw)
    b = fit_ancova(last.assign(x=last["x"].astype(float)), "change", **kw)
    assert a["model"]["names"] == b["model"]["names"] and len(a["model"]["names"]) == 5
    pd.testing.assert_frame_equal(a["contrasts"], b["contrasts"], rtol=1e-10)


def test_a_blank_or_na_numeric_covariate_leaves_its_rows_out_as_in_r(run_cli, tmp_path):
    """Blank and ``NA`` cells of a numeric covariate are missing (R's read.csv): those rows are
    left out of the MMRM and the ANCOVA, the same fit as without those subjects."""
    from ipt_outcomes.models.ancova import fit_ancova

    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    gone = ["P0101", "P0102", "P0103"]
    holes = raw.copy()
    holes.loc[holes["pid"].isin(gone[:2]), "x"] = ""
    holes.loc[holes["pid"] == gone[2], "x"] = "NA"
    holes.to_csv(tmp_path / "holes.csv", index=False)
    raw[~raw["pid"].isin(gone)].to_csv(tmp_path / "fewer.csv", index=False)
    fits = {}
    for name in ("holes", "fewer"):
        code, _, err = run_cli("mmrm", tmp_path / f"{name}.csv", "--design", DESIGN,
                               "--covariate", "x", "--out", tmp_path / name)  # fmt: skip
        assert code == 0, err
        fits[name] = pd.read_csv(tmp_path / name / "mmrm_contrasts.csv")
        fit = pd.read_csv(tmp_path / name / "mmrm_fit.csv").iloc[0]
        assert (fit["n_subjects"], fit["n_obs"]) == (333, 1549)
    pd.testing.assert_frame_equal(fits["holes"], fits["fewer"], rtol=1e-8)
    d = load_trial(tmp_path / "holes.csv", DESIGN).derived
    d = d[d["visit"] == 24]
    a = fit_ancova(d, "change", reference="Placebo", covariates=["baseline", "x"])
    b = fit_ancova(d[~d["subject_id"].isin(gone)], "change", reference="Placebo",
                   covariates=["baseline", "x"])  # fmt: skip
    pd.testing.assert_frame_equal(a["contrasts"], b["contrasts"], rtol=1e-10)


def test_mi_refuses_a_missing_numeric_covariate_naming_the_subjects(run_cli, tmp_path):
    """The imputation model needs every analysed subject's covariates: a blank ``x`` is refused
    by name (it once became a factor level, then a formula library's message)."""
    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    raw.loc[raw["pid"] == "P0102", "x"] = ""
    raw.to_csv(tmp_path / "holes.csv", index=False)
    code, _, err = run_cli("mi", tmp_path / "holes.csv", "--design", DESIGN, "--covariate", "x",
                           "--quiet", "--out", tmp_path / "o")  # fmt: skip
    assert code == 1 and "covariate 'x' is missing for 1 subject(s)" in err and "P0102" in err
    assert not (tmp_path / "o").exists()
