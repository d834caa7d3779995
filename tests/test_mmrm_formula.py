"""The MMRM's formula interface (R mmrm's grammar) and the command line's new options: rules on
small constructed data. The numbers are checked against R in test_mmrm_vcov_reference.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ipt_outcomes as ipt
from ipt_outcomes.exceptions import IptOutcomesError
from ipt_outcomes.models.mmrm import fit_mmrm, mmrm, resolve_vcov
from ipt_outcomes.models.mmrm.formula import parse_formula

from .conftest import ROOT


def frame(n=60, seed=3):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        arm = ("A", "B", "C")[i % 3]
        base = rng.normal(20, 3)
        for v in (1, 2, 4):
            y = -v + (arm == "B") * -0.5 * v + 0.3 * (base - 20) + rng.normal(0, 2)
            rows.append((f"s{i}", arm, v, y, base, "F" if i % 2 else "M"))
    return pd.DataFrame(rows, columns=["subject", "arm", "visit", "y", "base", "sex"])


def test_the_formula_is_split_into_response_fixed_effects_and_covariance():
    f = parse_formula("y ~ arm * visit + base + cs(visit | arm / subject)")
    assert f.response == "y"
    assert f.rhs == "1 + arm + visit + base + arm:visit"
    assert (f.covariance.structure, f.covariance.visit) == ("cs", ("visit",))
    assert (f.covariance.group, f.covariance.subject) == ("arm", "subject")
    assert parse_formula("y ~ 0 + arm + us(visit | subject)").rhs.startswith("0 + ")
    assert parse_formula("y ~ arm + sp_exp(x1, x2 | subject)").covariance.visit == ("x1", "x2")


@pytest.mark.parametrize(
    "formula,message",
    [
        ("y ~ arm * visit", "no covariance term"),
        ("y ~ arm + us(visit | subject) + cs(visit | subject)", "more than one covariance term"),
        ("y ~ arm + unstructured(visit | subject)", "unknown covariance structure"),
        ("y ~ arm + us(visit, day | subject)", "takes one visit factor"),
        ("y ~ arm + us(visit | a / b / subject)", "'group / subject'"),
        ("arm + us(visit | subject)", "needs a response and '~'"),
    ],
)
def test_a_formula_r_mmrm_would_refuse_is_refused_by_name(formula, message):
    with pytest.raises(IptOutcomesError, match=message):
        mmrm(formula, frame())


def test_a_column_the_formula_names_must_be_in_the_data():
    with pytest.raises(IptOutcomesError, match="subject column 'patient'"):
        mmrm("y ~ arm + us(visit | patient)", frame())


def test_a_column_in_another_case_is_matched_when_unique():
    d = frame()
    a = mmrm("y ~ arm * visit + SEX + us(visit | subject)", d, df="satterthwaite")
    b = mmrm("y ~ arm * visit + sex + us(visit | subject)", d, df="satterthwaite")
    pd.testing.assert_frame_equal(a.contrasts(), b.contrasts())


def test_the_default_model_as_a_formula_is_the_fit_of_fit_mmrm():
    d = frame().rename(columns={"subject": "subject_id", "y": "change", "base": "baseline"})
    a = fit_mmrm(d, reference="A", df="satterthwaite")
    b = mmrm(
        "change ~ visit + arm:visit + baseline:visit + us(visit | subject_id)",
        d,
        reference="A",
        df="satterthwaite",
    )
    pd.testing.assert_frame_equal(a.lsmeans(), b.lsmeans())
    pd.testing.assert_frame_equal(a.anova(), b.anova())


def test_lsmeans_weight_factor_levels_equally_and_hold_numbers_at_their_mean():
    d = frame()
    fit = mmrm("y ~ arm * visit + base + sex + us(visit | subject)", d, df="satterthwaite")
    row = fit.design.grid_row("B", 2)
    names = fit.design.names
    assert row[names.index("base")] == pytest.approx(d["base"].mean())
    assert row[names.index("sex[T.M]")] == pytest.approx(0.5)  # two levels, equal weights


def test_one_covariance_matrix_per_group():
    fit = mmrm("y ~ arm * visit + us(visit | arm / subject)", frame(), df="satterthwaite")
    assert fit.groups == ["A", "B", "C"] and len(fit.sigma) == 3 and len(fit.theta) == 18


def test_a_group_that_changes_within_a_subject_is_refused():
    d = frame()
    d.loc[d.index[1], "sex"] = "F" if d.loc[d.index[1], "sex"] == "M" else "M"
    with pytest.raises(IptOutcomesError, match="more than one 'sex' group"):
        mmrm("y ~ arm * visit + us(visit | sex / subject)", d)


def test_spatial_exponential_with_subject_specific_times():
    d = frame()
    d["day"] = d["visit"] * 7.0 + np.tile([0.0, 1.0, -1.0], len(d) // 3)
    fit = mmrm("y ~ arm * visit + sp_exp(day | subject)", d, df="satterthwaite")
    assert fit.covariance == "sp_exp" and len(fit.theta) == 2 and fit.sigma == []
    assert len(fit.lsmeans()) == 9  # by the visit factor of the fixed effects


def test_pairs_of_df_and_vcov_that_r_refuses_are_refused_by_name():
    assert resolve_vcov("residual", "empirical") == "empirical"
    for df, vcov in (("kenward-roger", "empirical"), ("satterthwaite", "kenward-roger")):
        with pytest.raises(ValueError, match="Kenward-Roger|kenward-roger"):
            mmrm("y ~ arm * visit + us(visit | subject)", frame(), df=df, vcov=vcov)


def test_the_package_exports_the_formula_interface():
    assert ipt.mmrm is mmrm


def test_cli_refuses_a_pair_r_refuses_with_a_usage_error(run_cli, tmp_path):
    data = ROOT / "tests" / "reference" / "mmrm_vcov" / "trial2.csv"
    code, out, err = run_cli("mmrm", data, "--reference", "TAU", "--df", "satterthwaite",
                             "--vcov", "kenward-roger", "--out", tmp_path / "o")  # fmt: skip
    assert code == 2 and "goes with --df kenward-roger only" in err
    assert not (tmp_path / "o").exists()


def test_cli_weights_must_be_a_positive_number_on_every_row(run_cli, tmp_path, write_csv):
    lines = ["subject_id,arm,visit,hamd17,w"]
    for i in range(12):
        arm = "TAU" if i % 2 else "IPT"
        lines += [f"s{i},{arm},0,{20 + i},1", f"s{i},{arm},4,{12 + i % 5},{'' if i == 3 else 2}"]
    code, out, err = run_cli("mmrm", write_csv("\n".join(lines) + "\n"), "--weights", "w",
                             "--df", "satterthwaite", "--out", tmp_path / "o")  # fmt: skip
    assert code == 1 and "subject 's3'" in err and "Traceback" not in err
    code, out, err = run_cli("mmrm", write_csv("\n".join(lines) + "\n"), "--weights", "nope",
                             "--out", tmp_path / "o")  # fmt: skip
    assert code == 1 and "'nope' is not in" in err
    assert "other columns: w)" in err  # the file's own columns, not the contract's
