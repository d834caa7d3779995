"""``meta`` against R metafor 3.8-1 (tests/reference/meta: meta_reference.R, its CSV output and
sessionInfo.txt).

The cases (cases.csv) are every therapy of the Metapsy depression database (the shipped excerpt)
with several effect sizes per study pooled at rho = 0.5, one effect size per study, rho = 0 and
0.8, subgroups by risk of bias, format, rating and comparator (studies in several levels
included), the whole database by therapy, and hand-built hostile shapes: k = 2 and 3, effects
all equal (tau^2 = 0), a trial with a tiny standard error, strong heterogeneity, tau^2 near the
boundary, 40 simulated trials in a tab-separated file, and a semicolon file with NA rows.
Each is fitted with every method (REML, ML, PM, DL) and test (Knapp-Hartung, z).

Tolerances (the reference is metafor with tight controls, see the README):
pooled estimate, SE, CI, PI, Q, test statistic and p: 1e-9 relative (1e-12 absolute);
tau^2, I^2, H^2 and the Q-profile intervals: 1e-8 relative (1e-10 absolute); weights 1e-9
relative; aggregation 1e-12; Egger 1e-9.

Two documented exceptions, where metafor itself is the less accurate side:
* ``tiny_se`` (a trial with SE 1e-6, weight 1e12): metafor computes Q as y'Py with
  P = W - W X (X'WX)^-1 X'W and loses about 7 digits to cancellation (Q = 6.7618088 against
  6.7618069 in exact rational arithmetic); DerSimonian-Laird's tau^2 is built on Q and inherits
  it. That case is compared at 1e-5 relative, and Q is checked against exact arithmetic.
* ``equal_effects``: every effect is 0.3, so Egger's regression fits exactly and its t is 0/0;
  metafor prints a t made of rounding noise, we return no value and say why.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.cli import main
from ipt_outcomes.meta import meta_analysis, read_effect_sizes

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference" / "meta"
CASES = pd.read_csv(REF / "cases.csv", dtype=str, keep_default_na=False)
POOLED = pd.read_csv(REF / "pooled.csv", keep_default_na=False, na_values=["NA"],
                     dtype={"by": str, "subgroup": str})  # fmt: skip
STUDIES = pd.read_csv(REF / "studies.csv")
AGGREGATED = pd.read_csv(REF / "aggregated.csv")
EGGER = pd.read_csv(REF / "egger.csv")
BETWEEN = pd.read_csv(REF / "between.csv")
METHODS = ("reml", "ml", "pm", "dl")
TESTS = ("knha", "z")

TIGHT = ["estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "q", "q_p", "statistic", "p"]
HETEROGENEITY = ["tau2", "i2", "h2", "tau2_ci_low", "tau2_ci_high", "i2_ci_low", "i2_ci_high",
                 "h2_ci_low", "h2_ci_high"]  # fmt: skip


def case(name: str) -> pd.Series:
    return CASES.set_index("case").loc[name]


@functools.cache
def load(name: str) -> pd.DataFrame:
    """The case's effect sizes, selected as meta_reference.R selects them."""
    cs = case(name)
    where = [(cs["where_col"], (cs["where_value"],))] if cs["where_col"] else []
    keep = [cs["by"]] if cs["by"] else []
    d = read_effect_sizes(ROOT / cs["file"], effect=cs["effect_col"], se=cs["se_col"],
                          study=cs["study_col"], keep=keep, where=where)  # fmt: skip
    if cs["first_per_study"] == "TRUE":
        d = d.drop_duplicates("study", keep="first")
    return d.copy()


@functools.cache
def fit(name: str, method: str, test: str):
    cs = case(name)
    rho = float(cs["rho"]) if cs["rho"] else None
    return meta_analysis(load(name), method=method, test=test, by=cs["by"] or None, rho=rho)


#: metafor's own rounding error is larger than the default tolerance here (module docstring)
LOOSE = {"tiny_se": 1e-5}


def close(ours, ref, rtol, atol, what):
    ours = np.asarray(ours, dtype=float)
    ref = np.asarray(ref, dtype=float)
    assert ours.shape == ref.shape, what
    both_nan = np.isnan(ours) & np.isnan(ref)
    ok = both_nan | np.isclose(ours, ref, rtol=rtol, atol=atol)
    assert ok.all(), f"{what}: ours {ours[~ok]} vs metafor {ref[~ok]}"


ALL = [(c, m, t) for c in CASES["case"] for m in METHODS for t in TESTS]


@pytest.mark.parametrize(("name", "method", "test"), ALL)
def test_pooled_rows_equal_metafor(name, method, test):
    res = fit(name, method, test)
    ref = POOLED[(POOLED["case"] == name) & (POOLED["method"] == method) & (POOLED["test"] == test)]
    ours = res.pooled_table().merge(res.fit_table().drop(columns=["k", "tau2", "i2", "method", "test"]),
                                    on=["by", "subgroup"])  # fmt: skip
    assert list(ours["subgroup"]) == list(ref["subgroup"])
    assert list(ours["k"]) == list(ref["k"])
    assert list(ours["test"]) == list(ref["test_used"])  # z with one study, as metafor
    assert list(ours["q_df"]) == list(ref["q_df"])
    for col in TIGHT:
        close(ours[col], ref[col], LOOSE.get(name, 1e-9), 1e-12, f"{name} {method} {test} {col}")
    for col in HETEROGENEITY:
        close(ours[col], ref[col], LOOSE.get(name, 1e-8), 1e-10, f"{name} {method} {test} {col}")
    close(ours["df"], ref["df"], 0, 0, f"{name} df")


@pytest.mark.parametrize(("name", "method"), [(c, m) for c in CASES["case"] for m in METHODS])
def test_studies_and_weights_equal_metafor(name, method):
    res = fit(name, method, "knha")
    studies = res.studies_table()
    agg = AGGREGATED[AGGREGATED["case"] == name]
    w = STUDIES[(STUDIES["case"] == name) & (STUDIES["method"] == method)]
    assert list(studies["study"]) == list(agg["study"]) == list(w["study"])
    close(studies["estimate"], agg["yi"], 1e-12, 1e-14, f"{name} aggregated effect")
    close(studies["se"], agg["sei"], 1e-12, 1e-14, f"{name} aggregated se")
    close(studies["ci_low"], agg["ci_low"], 1e-12, 1e-12, f"{name} study ci_low")
    close(studies["ci_high"], agg["ci_high"], 1e-12, 1e-12, f"{name} study ci_high")
    close(studies["weight"], w["weight"], LOOSE.get(name, 1e-9), 1e-11, f"{name} {method} weight")
    assert studies["weight"].sum() == pytest.approx(100.0, abs=1e-9)


@pytest.mark.parametrize("name", list(CASES["case"]))
def test_egger_equals_metafor_regtest(name):
    res = fit(name, "reml", "knha")
    ref = EGGER[EGGER["case"] == name].iloc[0]
    e = res.egger
    assert e["df"] == ref["df"]
    if name == "equal_effects":  # an exact fit: metafor's t is rounding noise (see above)
        assert abs(ref["intercept"]) < 1e-12
        assert np.isnan(e["t"]) and "straight line" in e["note"]
        return
    for ours, theirs in (("intercept", "intercept"), ("se", "se"), ("t", "t"), ("p", "p"),
                         ("limit_estimate", "limit_estimate"), ("limit_ci_low", "limit_ci_low"),
                         ("limit_ci_high", "limit_ci_high")):  # fmt: skip
        close([e[ours]], [ref[theirs]], 1e-9, 1e-12, f"{name} Egger {ours}")
    if np.isnan(ref["p"]):
        assert e["note"], "an empty Egger test says why"


@pytest.mark.parametrize(("name", "method", "test"),
                         [(c, m, t) for c in CASES.loc[CASES["by"] != "", "case"]
                          for m in METHODS for t in TESTS])  # fmt: skip
def test_subgroup_difference_equals_metafor_fixed_effect_q(name, method, test):
    res = fit(name, method, test)
    ref = BETWEEN[(BETWEEN["case"] == name) & (BETWEEN["method"] == method)
                  & (BETWEEN["test"] == test)].iloc[0]  # fmt: skip
    assert res.between["df"] == ref["df"]
    close([res.between["q"], res.between["p"]], [ref["q"], ref["p"]], 1e-9, 1e-12, name)


def test_q_with_a_tiny_standard_error_equals_exact_arithmetic():
    from fractions import Fraction

    from ipt_outcomes.meta import cochran_q

    d = pd.read_csv(ROOT / "tests" / "data" / "metapsy" / "tiny_se.csv", dtype=str)
    y = [Fraction(v) for v in d["yi"]]
    w = [1 / Fraction(v) ** 2 for v in d["sei"]]
    mu = sum(a * b for a, b in zip(w, y, strict=True)) / sum(w)
    exact = float(sum(a * (b - mu) ** 2 for a, b in zip(w, y, strict=True)))
    ours = cochran_q(d["yi"].astype(float), d["sei"].astype(float) ** 2)["q"]
    assert ours == pytest.approx(exact, rel=1e-13)
    metafor = POOLED.loc[POOLED["case"] == "tiny_se", "q"].iloc[0]
    assert abs(metafor - exact) / exact > 1e-8  # the reason for the looser comparison


def _cli_frame(name: str, tmp_path: Path) -> list[str]:
    """The command line of a case; a one-row-per-study case is written to a file first, with
    pandas' semicolon and decimal-comma output (another writer than the database's)."""
    cs = case(name)
    if cs["first_per_study"] == "TRUE":
        raw = pd.read_csv(ROOT / cs["file"], sep=";", decimal=",", keep_default_na=False,
                          na_values=["NA"], dtype={"rob": str})  # fmt: skip
        raw = raw[raw[cs["where_col"]] == cs["where_value"]].drop_duplicates(cs["study_col"])
        path = tmp_path / f"{name}.csv"
        raw.to_csv(path, sep=";", decimal=",", index=False, na_rep="NA")
        args = [str(path)]
    else:
        args = [str(ROOT / cs["file"])]
        if cs["where_col"]:
            args += ["--where", f"{cs['where_col']}={cs['where_value']}"]
    args += ["--effect", cs["effect_col"], "--se", cs["se_col"], "--study-col", cs["study_col"]]
    if cs["rho"]:
        args += ["--aggregate", cs["rho"]]
    if cs["by"]:
        args += ["--by", cs["by"]]
    return args


@pytest.mark.parametrize(("name", "method", "test"), [
    ("ipt_by_rob", "reml", "knha"), ("ipt_first", "pm", "z"), ("simulated40", "ml", "knha"),
    ("na_rows_by_rob", "dl", "knha"), ("k2", "reml", "knha"), ("otherpsy_agg05", "pm", "knha"),
    ("pst_first_by_comparator", "reml", "z"),
])  # fmt: skip
def test_cli_tables_equal_metafor(name, method, test, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["meta", *_cli_frame(name, tmp_path), "--method", method, "--test", test,
            "--no-plots", "--out", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    pooled = pd.read_csv(out / "meta_pooled.csv", keep_default_na=False, na_values=[""],
                         dtype={"by": str, "subgroup": str})  # fmt: skip
    assert list(pooled.columns) == ["by", "subgroup", "k", "estimate", "se", "ci_low", "ci_high",
                                    "pi_low", "pi_high", "tau2", "i2", "q", "q_df", "q_p",
                                    "method", "test"]  # fmt: skip
    ref = POOLED[(POOLED["case"] == name) & (POOLED["method"] == method) & (POOLED["test"] == test)]
    assert list(pooled["subgroup"].fillna("")) == list(ref["subgroup"])
    for col in ["estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "q", "q_p"]:
        close(pooled[col], ref[col], 1e-9, 1e-12, f"{name} CLI {col}")
    for col in ["tau2", "i2"]:
        close(pooled[col], ref[col], 1e-8, 1e-10, f"{name} CLI {col}")
    studies = pd.read_csv(out / "meta_studies.csv")
    assert list(studies.columns) == ["study", "estimate", "se", "weight", "ci_low", "ci_high"]
    w = STUDIES[(STUDIES["case"] == name) & (STUDIES["method"] == method)]
    close(studies["weight"], w["weight"], 1e-9, 1e-11, f"{name} CLI weight")
    egger = pd.read_csv(out / "meta_egger.csv")
    assert list(egger.columns) == ["intercept", "se", "p"]
    ref_e = EGGER[EGGER["case"] == name].iloc[0]
    close(egger.iloc[0], ref_e[["intercept", "se", "p"]], 1e-9, 1e-12, f"{name} CLI Egger")
