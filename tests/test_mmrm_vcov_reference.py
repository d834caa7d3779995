"""The MMRM's covariances of the fixed effects, df methods, structures and weights against R mmrm.

References: tests/reference/mmrm_vcov/ (README.md there): R mmrm 0.3.18 built from source,
emmeans 1.8.4, on three simulated trials of make_data.py (2, 3 and 4 arms, 291-400 subjects,
dropout and gaps; default columns and analysis-data shape with a BASE column; uneven times),
for every structure (us, toep, toeph, ar1, ar1h, ad, adh, cs, csh, sp_exp on the design's
times), every (df, vcov) pair R allows (Kenward-Roger with both Kenward-Roger forms;
Satterthwaite with asymptotic and the three empirical ones; residual and between-within), with
and without weights, and on formulas (interactions, a factor covariate, one covariance per
arm, sp_exp on subject-specific days).

Tolerances (README there): SEs and -2 log-likelihood 1e-4 relative; LS means and contrasts 1e-4
of max(|estimate|, SE) (R's optimiser stops about 1e-5 short of the optimum); df 1e-3 relative;
t 2e-4 of max(|t|, 1); p, Type III F and denominator df 1e-3 relative (or 1e-6 absolute);
CI limits 2e-4 (|estimate| + 2 SE).
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes import load_trial
from ipt_outcomes.models.mmrm import fit_mmrm, mmrm

from .conftest import ROOT

REF = ROOT / "tests" / "reference" / "mmrm_vcov"
DATASETS = {
    "trial2": (REF / "trial2.csv", None, "wt"),
    "trial4": (REF / "trial4.csv", None, "wt"),
    "trial3_adam": (REF / "trial3_adam.csv", REF / "trial3_adam.toml", "WGT"),
}
STRUCTURES = ("us", "toep", "toeph", "ar1", "ar1h", "ad", "adh", "cs", "csh", "sp_exp")
R_NAMES = {
    "Kenward-Roger": "kenward-roger",
    "Satterthwaite": "satterthwaite",
    "Residual": "residual",
    "Between-Within": "between-within",
    "Asymptotic": "asymptotic",
    "Kenward-Roger-Linear": "kenward-roger-linear",
    "Empirical": "empirical",
    "Empirical-Bias-Reduced": "empirical-bias-reduced",
    "Empirical-Jackknife": "empirical-jackknife",
}


@cache
def reference(name: str) -> pd.DataFrame:
    path = REF / f"ref_{name}.csv"
    return pd.read_csv(path, keep_default_na=True)


@cache
def trial(name):
    path, design, _ = DATASETS[name]
    return load_trial(path, design)


@cache
def python_fit(name, structure, weighted):
    _, _, wcol = DATASETS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback: the structure asked for is the one fitted
        return fit_mmrm(trial(name), covariance=structure, df="satterthwaite",
                        weights=wcol if weighted else None, fallback=False)  # fmt: skip


def _cases(name):
    if not (REF / f"ref_{name}.csv").exists():
        return []
    ref = reference(name)
    out = []
    for case in pd.unique(ref["case"]):
        structure, df, vcov, weighted = case.split("|")
        out.append(pytest.param(name, case, id=f"{name}-{case.replace('|', '-')}"))
    return out


def _norm_term(term: str) -> str:
    parts = ["baseline" if p == "base" else p.lower() for p in term.split(":")]
    return ":".join(sorted(parts))


def compare(res, ref: pd.DataFrame, visits_numeric: bool = True) -> None:
    """Every table of ``res`` against the R rows of one case."""
    if (ref["table"] == "error").any():
        pytest.fail("R failed on this case: " + str(ref["message"].iloc[0]))
    fit = ref[ref["table"] == "fit"].iloc[0]
    np.testing.assert_allclose(res.neg2_loglik, fit["neg2_loglik"], rtol=1e-4)
    assert res.n_obs == fit["n_obs"]
    key = (lambda v: float(v)) if visits_numeric else str
    for table, py in (("lsmeans", res.lsmeans()), ("contrasts", res.contrasts())):
        r = ref[ref["table"] == table].copy()
        r["visit"] = r["visit"].map(key)
        # emmeans writes a contrast of a level with '+' in it as "(IPT+MED) - TAU"
        r["arm"] = r["arm"].astype(str).str.replace(r"^\((.*)\)$", r"\1", regex=True)
        py = py.assign(visit=py["visit"].map(key), arm=py["arm"].astype(str))
        m = py.merge(r, on=["arm", "visit"], suffixes=("", "_r"), validate="one_to_one")
        assert len(m) == len(r) == len(py), table
        # 1e-4 relative, or 1e-4 of the SE for estimates near zero: R's L-BFGS-B stops about
        # 1e-5 short of the optimum (its theta differs from the optimum's in the fifth digit)
        scale = np.maximum(np.abs(m["estimate_r"]), m["se_r"])
        assert (np.abs(m["estimate"] - m["estimate_r"]) <= 1e-4 * scale).all(), (
            f"{table} estimate",
            m[["arm", "visit", "estimate", "estimate_r"]],
        )
        np.testing.assert_allclose(m["se"], m["se_r"], rtol=1e-4, err_msg=f"{table} se")
        np.testing.assert_allclose(m["df"], m["df_r"], rtol=1e-3, err_msg=f"{table} df")
        for c in ("ci_low", "ci_high"):
            tol = 2e-4 * (np.abs(m["estimate_r"]) + 2 * m["se_r"])
            assert (np.abs(m[c] - m[f"{c}_r"]) <= tol).all(), f"{table} {c}"
        if table == "contrasts":
            t_scale = np.maximum(np.abs(m["t_r"]), 1.0)  # t near zero: as the estimate
            assert (np.abs(m["t"] - m["t_r"]) <= 2e-4 * t_scale).all(), "t"
            np.testing.assert_allclose(m["p"], m["p_r"], rtol=1e-3, atol=1e-6, err_msg="p")
    r = ref[ref["table"] == "anova"].assign(key=lambda d: d["term"].map(_norm_term))
    if not len(r):  # R's Type III tests were not run for this case (see make_reference.R)
        return
    an = res.anova().assign(key=lambda d: d["term"].map(_norm_term))
    m = an.merge(r, on="key", suffixes=("", "_r"), validate="one_to_one")
    assert len(m) == len(r) == len(an), (list(an["term"]), list(r["term"]))
    np.testing.assert_array_equal(m["num_df"], m["num_df_r"])
    np.testing.assert_allclose(m["den_df"], m["den_df_r"], rtol=1e-3, err_msg="anova den_df")
    np.testing.assert_allclose(m["f"], m["f_r"], rtol=1e-3, err_msg="anova F")
    np.testing.assert_allclose(m["p"], m["p_r"], rtol=1e-3, atol=1e-6, err_msg="anova p")


@pytest.mark.parametrize("name,case", [c for n in DATASETS for c in _cases(n)])
def test_every_structure_vcov_and_df_against_r_mmrm(name, case):
    structure, df, vcov, weighted = case.split("|")
    ref = reference(name)
    ref = ref[ref["case"] == case]
    res = python_fit(name, structure, weighted == "weighted")
    compare(res.with_inference(R_NAMES[df], R_NAMES[vcov]), ref)


def days() -> pd.DataFrame:
    return pd.read_csv(REF / "days.csv")


FORMULAS = {
    "trial2_interaction_sex": (
        "trial2", "change ~ arm * visit + baseline * visit + SEX + us(visit | subject)", None),
    "trial4_group_us": (
        "trial4", "change ~ arm * visit + baseline + age + us(visit | arm / subject)", None),
    "trial4_group_ar1h": (
        "trial4", "change ~ arm * visit + baseline:visit + ar1h(visit | arm / subject)", None),
    "trial3_sex_sp_exp": (
        "trial3_adam",
        "change ~ visit + arm:visit + baseline:visit + SEX + sp_exp(time | subject)", None),
    "trial3_toeph_weighted": (
        "trial3_adam", "change ~ arm * visit + baseline + SEX + toeph(visit | subject)", "WGT"),
    "days_sp_exp": ("days", "y ~ arm * visit + base + sp_exp(day | subject)", None),
    "days_sp_exp_weighted": ("days", "y ~ arm * visit + base + sp_exp(day | subject)", "wt"),
}  # fmt: skip


@cache
def formula_fit(label):
    data, formula, weights = FORMULAS[label]
    d = days() if data == "days" else trial(data)
    return mmrm(formula, d, weights=weights, df="satterthwaite")


def _formula_cases():
    if not (REF / "ref_formulas.csv").exists():
        return []
    ref = reference("formulas")
    return [pytest.param(c, id=c.replace("|", "-")) for c in pd.unique(ref["case"])]


@pytest.mark.parametrize("case", _formula_cases())
def test_formula_interface_against_r_mmrm(case):
    label, df, vcov = case.split("|")
    ref = reference("formulas")
    res = formula_fit(label).with_inference(R_NAMES[df], R_NAMES[vcov])
    compare(res, ref[ref["case"] == case])


def test_a_refit_with_the_options_equals_the_reused_fit():
    """with_inference (used above for speed) gives what a fit with those options gives."""
    a = fit_mmrm(trial("trial2"), covariance="toeph", df="satterthwaite",
                 vcov="empirical-jackknife")  # fmt: skip
    b = python_fit("trial2", "toeph", False).with_inference("satterthwaite", "empirical-jackknife")
    pd.testing.assert_frame_equal(a.contrasts(), b.contrasts(), rtol=1e-8)
    pd.testing.assert_frame_equal(a.anova(), b.anova(), rtol=1e-8)


def test_refused_pairs_are_those_r_refuses():
    from ipt_outcomes.models.mmrm import resolve_vcov

    refused = pd.read_csv(REF / "refused.csv")
    for _, row in refused.iterrows():
        assert row["message"] != "accepted"
        with pytest.raises(ValueError, match="Kenward-Roger|kenward-roger"):
            resolve_vcov(R_NAMES[row["method"]], R_NAMES[row["vcov"]])


class _FromFiles:
    """The CLI's tables read back, shaped as a fit for :func:`compare`."""

    def __init__(self, folder):
        self._ls = pd.read_csv(folder / "mmrm_lsmeans.csv")
        self._ct = pd.read_csv(folder / "mmrm_contrasts.csv")
        self._an = pd.read_csv(folder / "mmrm_anova.csv")
        fit = pd.read_csv(folder / "mmrm_fit.csv").iloc[0]
        self.neg2_loglik, self.n_obs = float(fit["neg2_loglik"]), int(fit["n_obs"])
        self.fit = fit
        self.df_method = fit["df_method"]

    def lsmeans(self):
        return self._ls

    def contrasts(self):
        return self._ct

    def anova(self):
        return self._an


CLI_CASES = [
    ("trial2", "us|Kenward-Roger|Kenward-Roger|unweighted"),
    ("trial2", "sp_exp|Satterthwaite|Empirical-Bias-Reduced|weighted"),
    ("trial2", "adh|Residual|Empirical|unweighted"),
    ("trial4", "ar1h|Between-Within|Asymptotic|unweighted"),
    ("trial4", "us|Satterthwaite|Empirical-Bias-Reduced|unweighted"),
    ("trial3_adam", "sp_exp|Satterthwaite|Empirical-Jackknife|unweighted"),
    ("trial3_adam", "toep|Kenward-Roger|Kenward-Roger|unweighted"),
    ("trial3_adam", "us|Kenward-Roger|Kenward-Roger-Linear|weighted"),
]


@pytest.mark.parametrize("name,case", CLI_CASES, ids=[f"{n}-{c}" for n, c in CLI_CASES])
def test_command_line_options_against_r_mmrm(run_cli, tmp_path, name, case):
    if not (REF / f"ref_{name}.csv").exists():
        pytest.skip(f"ref_{name}.csv not made")
    structure, df, vcov, weighted = case.split("|")
    path, design, wcol = DATASETS[name]
    args = ["mmrm", path, "--covariance", structure, "--df", R_NAMES[df], "--vcov", R_NAMES[vcov],
            "--no-fallback", "--out", tmp_path / "out"]  # fmt: skip
    if design is not None:
        args += ["--design", design]
    if name != "trial3_adam":
        args += ["--reference", "TAU"]
    if weighted == "weighted":
        args += ["--weights", wcol]
    code, out, err = run_cli(*args)
    assert code == 0, err
    got = _FromFiles(tmp_path / "out")
    assert got.fit["vcov"] == R_NAMES[vcov] and got.fit["covariance"] == structure
    ref = reference(name)
    compare(got, ref[ref["case"] == case])


def _external_cases():
    if not (REF / "ref_external.csv").exists():
        return []
    ref = reference("external")
    return [pytest.param(c, id=c.replace("|", "-")) for c in pd.unique(ref["case"])]


@cache
def external_fit(name, structure):
    from .test_mmrm_reference import DATA

    data, ref = DATA[name]()
    return fit_mmrm(data, reference=ref, covariance=structure, df="satterthwaite", fallback=False)


@pytest.mark.parametrize("case", _external_cases())
def test_public_trials_against_r_mmrm(case):
    """btheb, claus_2020 and riesby (../shared/data/external, as tests/reference/mmrm_r)."""
    name, structure, df, vcov = case.split("|")
    ref = reference("external")
    res = external_fit(name, structure).with_inference(R_NAMES[df], R_NAMES[vcov])
    compare(res, ref[ref["case"] == case])
