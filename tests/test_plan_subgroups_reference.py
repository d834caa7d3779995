"""Subgroup analyses of ANCOVA and response endpoints and the HC3 ANCOVA of the analysis plan
against R (tests/reference/plan_subgroups/make_reference.R: lm + emmeans, anova, sandwich,
fisher.test, the likelihood-ratio test of glm)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.analysis_plan import AnalysisPlan, Endpoint, Population, Subgroup
from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.plan import run_plan

from .conftest import ROOT

REF = ROOT / "tests" / "reference" / "plan_subgroups"
DATA = ROOT / "tests" / "reference" / "plan" / "plan_trial.csv"
DESIGN = ROOT / "tests" / "reference" / "plan" / "plan_trial.toml"
R = pd.read_csv(REF / "reference.csv", keep_default_na=False)


@pytest.fixture(scope="module")
def results():
    trial = load_trial(DATA, DESIGN)
    fas = Population(id="fas", flag="FASFL")
    eps = (
        Endpoint(id="anc", role="primary", variable="change", analysis="ancova",
                 covariates=("baseline", "REGION"), visits=(4.0,), population="fas"),
        Endpoint(id="anc3", variable="change", analysis="ancova", variance="hc3",
                 covariates=("baseline", "REGION"), visits=(4.0,), population="fas"),
        Endpoint(id="resp", variable="response", analysis="response", visits=(4.0,),
                 population="fas"),
    )  # fmt: skip
    plan = AnalysisPlan(
        populations=(fas,), endpoints=eps,
        subgroups=(Subgroup(endpoint="anc", column="SEX", id="anc-sex"),
                   Subgroup(endpoint="resp", column="SEX", id="resp-sex")),
        declared=True,
    )  # fmt: skip
    plan = dataclasses.replace(plan, multiplicity=dataclasses.replace(plan.multiplicity,
                                                                      method="none"))  # fmt: skip
    return run_plan(trial, plan)


def _r(analysis, stat, arm="", level=""):
    hit = R[(R["analysis"] == analysis) & (R["statistic"] == stat) & (R["arm"] == arm)
            & (R["level"] == level)]  # fmt: skip
    assert len(hit) == 1, (analysis, stat, arm, level)
    return float(hit["value"].iloc[0])


def _close(got, want, rtol=1e-9, atol=1e-12):
    assert abs(got - want) <= atol + rtol * abs(want), (got, want)


@pytest.mark.parametrize("stat", ["estimate", "se", "df", "t", "p", "ci_low", "ci_high"])
def test_ancova_subgroup_differences_equal_emmeans(results, stat):
    c = results.result("anc-sex").tables["contrasts"]
    for r in c.itertuples(index=False):
        _close(getattr(r, stat), _r("ancova-subgroup", stat, r.arm, r.level))


def test_ancova_interaction_f_equals_the_nested_anova(results):
    t = results.result("anc-sex").tables["interaction"].iloc[0]
    _close(t["f"], _r("ancova-subgroup", "interaction_f"))
    _close(t["p"], _r("ancova-subgroup", "interaction_p"))
    assert t["num_df"] == _r("ancova-subgroup", "interaction_num_df")
    assert t["den_df"] == _r("ancova-subgroup", "interaction_den_df")


@pytest.mark.parametrize("stat", ["estimate", "se", "df", "p", "ci_low", "ci_high"])
def test_ancova_with_hc3_equals_sandwich(results, stat):
    c = results.result("anc3").tables["contrasts"]
    c = c[c["fit"] == "observed"]
    for r in c.itertuples(index=False):
        _close(getattr(r, stat), _r("ancova-hc3", stat, r.arm))
    lsm = results.result("anc3").tables["lsmeans"]
    for r in lsm.itertuples(index=False):
        if stat in ("estimate", "se"):
            _close(getattr(r, stat), _r("ancova-hc3-lsmean", stat, r.arm))


def test_response_subgroup_differences_and_the_likelihood_ratio_test(results):
    c = results.result("resp-sex").tables["contrasts"]
    assert len(c) == 4
    for r in c.itertuples(index=False):
        _close(r.estimate, _r("response-subgroup", "estimate", r.arm, r.level), atol=1e-12)
        _close(r.p, _r("response-subgroup", "p", r.arm, r.level), rtol=1e-9)
    t = results.result("resp-sex").tables["interaction"].iloc[0]
    _close(t["f"], _r("response-subgroup", "interaction_f"), rtol=1e-7)
    _close(t["p"], _r("response-subgroup", "interaction_p"), rtol=1e-7)
    assert t["num_df"] == _r("response-subgroup", "interaction_num_df")
    assert np.isnan(t["den_df"])
