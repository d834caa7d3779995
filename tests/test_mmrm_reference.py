"""The MMRM against R: mmrm (unstructured, KR-linear and Satterthwaite) and nlme::gls (others).

References:
* tests/reference/mmrm_r/ (a copy of ../shared/reference/mmrm) - R 4.2.2, mmrm 0.3 (TMB 1.9.2), emmeans 1.8.4; made by
  make_reference.R there: chg ~ visit + arm:visit + base:visit + us(visit | subject), REML,
  vcov "Kenward-Roger-Linear" or Satterthwaite, LS means and trt.vs.ctrl contrasts from emmeans.
* tests/reference/mmrm/make_gls_reference.R - nlme::gls with corCompSymm, corAR1, corARMA,
  corSymm and varIdent (sessionInfo_gls.txt), model-based SEs.

Tolerances (issue 4): estimates and SEs 1e-4 relative, df 0.05 absolute, -2 REML log-likelihood
1e-3. t, p and CI limits follow from those: a limit est +/- q(df) SE moves by up to
1e-4 |est| + q 1e-4 SE + SE dq, so CI limits are checked to 2e-4 (|estimate| + 2 SE), p to 1e-3
relative or 1e-5 absolute and t to 2e-4 relative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.models.mmrm import fit_mmrm

from .conftest import EXTERNAL, ROOT

MMRM_REF = ROOT / "tests" / "reference" / "mmrm_r"  # copied from ../shared/reference/mmrm
GLS_REF = ROOT / "tests" / "reference" / "mmrm"


def _external(name):
    path = EXTERNAL / name
    if not path.exists():
        pytest.skip(f"external data not available at {path}")
    return pd.read_csv(path)


def btheb():
    b = _external("btheb_long.csv")
    d = pd.DataFrame({"subject_id": b["subject"].astype(str), "arm": b["treatment"], "visit": b["time"].astype(float),
                      "change": b["bdi"] - b["bdi.pre"], "baseline": b["bdi.pre"]})  # fmt: skip
    return d.dropna(), "TAU"


def claus():
    c = _external("claus_2020.csv")
    base = c[c["time"] == 1].set_index("id")["hamd"]
    c = c[c["time"] != 1].assign(base=lambda x: x["id"].map(base))
    d = pd.DataFrame({"subject_id": c["id"].astype(str), "arm": c["treatment"], "visit": c["time"].astype(float),
                      "change": c["hamd"] - c["base"], "baseline": c["base"]})  # fmt: skip
    return d.dropna(), "TAU"


def riesby():
    r = _external("riesby.csv")
    base = r[r["week"] == 0].set_index("id")["hamd"]
    r = r[r["week"] != 0].assign(base=lambda x: x["id"].map(base))
    arm = np.where(r["endog"] == 1, "endogenous", "non-endogenous")
    d = pd.DataFrame({"subject_id": r["id"].astype(str), "arm": arm, "visit": r["week"].astype(float),
                      "change": r["hamd"] - r["base"], "baseline": r["base"]})  # fmt: skip
    return d.dropna(), "non-endogenous"


DATA = {"btheb": btheb, "claus_2020": claus, "riesby": riesby}


def check(py, ref, cols):
    m = py.merge(ref, on=["arm", "visit"], suffixes=("", "_r"), validate="one_to_one")
    assert len(m) == len(ref) == len(py)
    for c in ("estimate", "se"):
        np.testing.assert_allclose(m[c], m[f"{c}_r"], rtol=1e-4, err_msg=c)
    if "df" in cols:
        np.testing.assert_allclose(m["df"], m["df_r"], atol=0.05, rtol=0, err_msg="df")
    for c in ("ci_low", "ci_high"):
        if c in cols:
            tol = 2e-4 * (np.abs(m["estimate_r"]) + 2 * m["se_r"])
            assert (np.abs(m[c] - m[f"{c}_r"]) <= tol).all(), c
    if "p" in cols:
        np.testing.assert_allclose(m["p"], m["p_r"], rtol=1e-3, atol=1e-5, err_msg="p")
        np.testing.assert_allclose(m["t"], m["t_r"], rtol=2e-4, err_msg="t")


@pytest.mark.parametrize(
    "df_method,tag", [("kenward-roger", "kr"), ("satterthwaite", "satterthwaite")]
)
@pytest.mark.parametrize("name", list(DATA))
def test_unstructured_matches_r_mmrm(name, df_method, tag):
    data, ref_arm = DATA[name]()
    fit = fit_mmrm(data, reference=ref_arm, df=df_method)
    ref_fit = pd.read_csv(MMRM_REF / f"{name}_fit.csv")
    assert fit.neg2_loglik == pytest.approx(ref_fit["neg2_reml_loglik"].iloc[0], abs=1e-3)
    assert (fit.n_subjects, fit.n_obs) == (ref_fit["n_subjects"].iloc[0], ref_fit["n_obs"].iloc[0])
    ls = pd.read_csv(MMRM_REF / f"{name}_lsmeans_{tag}.csv", dtype={"arm": str})
    check(fit.lsmeans(), ls, ["df", "ci_low", "ci_high"])
    ct = pd.read_csv(MMRM_REF / f"{name}_contrasts_{tag}.csv", dtype={"arm": str})
    check(fit.contrasts(), ct, ["df", "ci_low", "ci_high", "p"])
    assert fit.converged and fit.covariance == "us"


@pytest.mark.parametrize("covariance", ["us", "cs", "csh", "ar1", "ar1h", "toep", "toeph"])
@pytest.mark.parametrize("name", ["btheb", "riesby"])
def test_other_structures_match_nlme_gls(name, covariance):
    data, ref_arm = DATA[name]()
    fit = fit_mmrm(
        data, reference=ref_arm, covariance=covariance, df="satterthwaite", fallback=False
    )
    ref_fit = pd.read_csv(GLS_REF / f"gls_{name}_fit.csv").set_index("covariance").loc[covariance]
    assert fit.neg2_loglik == pytest.approx(ref_fit["neg2_loglik_nlme"], abs=1e-3)
    for kind in ("lsmeans", "contrasts"):
        ref = pd.read_csv(GLS_REF / f"gls_{name}_{kind}.csv", dtype={"arm": str})
        ref = ref[ref["covariance"] == covariance].drop(columns=["covariance"])
        py = getattr(fit, kind)()
        check(py, ref, [])  # model-based SEs (Satterthwaite leaves Phi unadjusted)


def test_kenward_roger_df_equals_satterthwaite_df_for_one_contrast():
    """mmrm's KR vignette: for a scalar contrast the KR df is Satterthwaite's (unadjusted Phi)."""
    data, ref_arm = btheb()
    kr = fit_mmrm(data, reference=ref_arm, df="kenward-roger").contrasts()
    sat = fit_mmrm(data, reference=ref_arm, df="satterthwaite").contrasts()
    np.testing.assert_allclose(kr["df"], sat["df"], rtol=1e-10)
    assert (kr["se"] >= sat["se"] - 1e-12).all()
