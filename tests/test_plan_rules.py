"""Rules of the analysis plan: the schema refuses what cannot be run, naming it; the
multiplicity rules on hand-built families; populations, events and the ARD's conventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.design import parse_design
from ipt_outcomes.data.trial import trial_from_frame
from ipt_outcomes.exceptions import DesignError, IptOutcomesError
from ipt_outcomes.plan import adjust, default_plan, resolve_plan, run_plan
from ipt_outcomes.plan.intercurrent import estimand_events, without_post_event_scores

ARMS = [{"code": "PBO"}, {"code": "ACT"}]


def design(**plan):
    return parse_design({"arms": ARMS, "analysis": {"reference": "PBO"}, **plan})


def refused(match: str, **plan):
    with pytest.raises(DesignError, match=match):
        design(**plan)


# --------------------------------------------------------------------------- the schema
def test_a_population_that_does_not_exist_is_refused_naming_it():
    refused(r"endpoints\[1\]\.population: population 'pps' does not exist; did you mean 'pp'",
            populations=[{"id": "pp", "flag": "PPROTFL"}],
            endpoints=[{"id": "primary", "population": "pps"}])  # fmt: skip


def test_an_estimand_that_does_not_exist_is_refused_naming_it():
    refused(r"estimand 'tp' does not exist",
            estimands=[{"id": "treatment-policy"}], endpoints=[{"id": "e", "estimand": "tp"}])  # fmt: skip


def test_an_endpoint_of_the_family_that_does_not_exist_is_refused():
    refused(r"multiplicity\.family\[2\]: endpoint 'key' does not exist",
            endpoints=[{"id": "primary"}],
            multiplicity={"method": "holm", "family": ["primary", "key"]})  # fmt: skip


def test_a_sensitivity_analysis_of_a_missing_endpoint_is_refused():
    refused(r"sensitivity\[1\]\.endpoint: endpoint 'prim' does not exist",
            endpoints=[{"id": "primary"}],
            sensitivity=[{"endpoint": "prim", "analysis": "mi"}])  # fmt: skip


@pytest.mark.parametrize(("analysis", "variable"),
                         [("mmrm", "response"), ("adjusted-response", "change"),
                          ("lmm", "remission"), ("mi", "response")])  # fmt: skip
def test_an_analysis_that_cannot_serve_its_variable_is_refused_by_name(analysis, variable):
    refused(f"analysis '{analysis}' cannot serve variable '{variable}'",
            endpoints=[{"id": "e", "analysis": analysis, "variable": variable}])  # fmt: skip


def test_an_unknown_key_in_an_endpoint_is_refused_with_the_nearest_valid_one():
    refused(r"unknown key 'covariate' in \[endpoints\[1\]\]; did you mean 'covariates'",
            endpoints=[{"id": "e", "covariate": ["SEX"]}])  # fmt: skip


def test_a_population_needs_a_rule_or_a_flag_but_not_both():
    refused("give either rule or flag", populations=[{"id": "p"}], endpoints=[{"id": "e"}])
    refused("give either rule or flag",
            populations=[{"id": "p", "rule": "all", "flag": "FASFL"}], endpoints=[{"id": "e"}])  # fmt: skip


def test_graphical_weights_and_transitions_must_be_a_graph():
    eps = [{"id": "a"}, {"id": "b"}]
    refused("add up to at most 1", endpoints=eps,
            multiplicity={"method": "graphical", "weights": [0.7, 0.7],
                          "transitions": [[0, 1], [1, 0]]})  # fmt: skip
    refused(r"2 x 2 matrix", endpoints=eps,
            multiplicity={"method": "graphical", "weights": [0.5, 0.5],
                          "transitions": [[0, 1]]})  # fmt: skip
    refused("0 on the diagonal", endpoints=eps,
            multiplicity={"method": "graphical", "weights": [0.5, 0.5],
                          "transitions": [[0.5, 0.5], [1, 0]]})  # fmt: skip
    refused("belong to method 'graphical'", endpoints=eps,
            multiplicity={"method": "holm", "weights": [0.5, 0.5]})  # fmt: skip


def test_nri_is_refused_for_a_continuous_endpoint():
    refused("non-responder imputation needs a binary variable",
            endpoints=[{"id": "e", "variable": "change", "analysis": "mmrm"}],
            sensitivity=[{"endpoint": "e", "analysis": "missing-rule", "missing": "nri"}])  # fmt: skip


def test_a_plan_without_endpoints_is_refused():
    refused("declares no", populations=[{"id": "fas", "rule": "post-baseline"}])


def test_a_declared_plan_fills_in_what_it_leaves_out(tmp_path):
    d = design(endpoints=[{"id": "primary", "role": "primary"},
                          {"id": "key", "role": "key-secondary", "variable": "response",
                           "analysis": "response"}])  # fmt: skip
    assert d.plan.declared
    trial = _trial(d)
    plan = resolve_plan(trial)
    primary, key = plan.endpoints
    assert primary.visits == trial.key_visits and primary.population == "fas"
    assert primary.instrument == trial.instrument.name
    assert key.missing == "observed"
    assert plan.multiplicity.family == ("primary", "key")  # primary and key secondary


# --------------------------------------------------------------------------- multiplicity
def test_hierarchical_adjusted_p_is_the_running_maximum_in_family_order():
    p = [0.01, 0.04, 0.03, 0.2, 0.001]
    assert adjust(p, "hierarchical").tolist() == [0.01, 0.04, 0.04, 0.2, 0.2]


def test_a_missing_p_counts_in_the_family_and_is_never_rejected():
    got = adjust([0.01, np.nan, 0.02], "holm")
    assert np.isnan(got[1]) and got[0] == pytest.approx(0.03) and got[2] == pytest.approx(0.04)
    got = adjust([0.01, np.nan, 0.001], "hierarchical")
    assert np.isnan(got[1]) and got[2] == 1.0  # testing stopped at the missing one


def test_the_holm_graph_is_holm_and_the_chain_is_the_fixed_sequence():
    p = np.array([0.012, 0.04, 0.001, 0.3])
    m = len(p)
    full = [[0 if i == j else 1 / (m - 1) for j in range(m)] for i in range(m)]
    np.testing.assert_allclose(adjust(p, "graphical", weights=[1 / m] * m, transitions=full),
                               adjust(p, "holm"))  # fmt: skip
    chain = [[1.0 if j == i + 1 else 0 for j in range(m)] for i in range(m)]
    np.testing.assert_allclose(adjust(p, "graphical", weights=[1, 0, 0, 0], transitions=chain),
                               adjust(p, "hierarchical"))  # fmt: skip
    none = [[0.0] * m for _ in range(m)]
    np.testing.assert_allclose(adjust(p, "graphical", weights=[1 / m] * m, transitions=none),
                               adjust(p, "bonferroni"))  # fmt: skip


# --------------------------------------------------------------------------- data
def _frame(n=40, seed=3):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        arm = "ACT" if i % 2 else "PBO"
        base = int(rng.integers(18, 30))
        flag = "Y" if i % 5 else "N"
        for v, drop in ((0, 0), (4, 4 if arm == "ACT" else 2), (8, 11 if arm == "ACT" else 7)):
            score = base - drop + int(rng.integers(-5, 6)) if v else base
            rows.append(dict(subject_id=f"S{i:02d}", arm=arm, visit=v, hamd17=score,
                             PPROTFL=flag, SEX="F" if i % 3 else "M",
                             rescue=int(i % 7 == 0 and v == 8)))  # fmt: skip
    return pd.DataFrame(rows)


def _trial(d, frame=None):
    return trial_from_frame(_frame() if frame is None else frame, d)


def test_a_population_flag_counts_the_subjects_flagged_y_per_arm():
    d = design(populations=[{"id": "pp", "flag": "PPROTFL"}],
               endpoints=[{"id": "e", "population": "pp"}])  # fmt: skip
    frame = _frame()
    res = run_plan(_trial(d, frame))
    ard = res.ard()
    pop = ard[(ard["analysis"] == "population") & (ard["statistic"] == "n")]
    want = frame[frame["PPROTFL"] == "Y"].groupby("arm")["subject_id"].nunique()
    assert dict(zip(pop["arm"], pop["value"].astype(int), strict=True)) == want.to_dict()


def test_a_flag_that_is_not_y_or_n_is_refused_naming_row_subject_and_column():
    frame = _frame()
    frame.loc[4, "PPROTFL"] = "maybe"
    d = design(populations=[{"id": "pp", "flag": "PPROTFL"}],
               endpoints=[{"id": "e", "population": "pp"}])  # fmt: skip
    with pytest.raises(IptOutcomesError, match=r"row 6, subject S01, column PPROTFL"):
        run_plan(_trial(d, frame))


def test_a_population_flag_column_that_is_not_in_the_data_is_refused():
    d = design(populations=[{"id": "pp", "flag": "PPFL"}],
               endpoints=[{"id": "e", "population": "pp"}])  # fmt: skip
    with pytest.raises(IptOutcomesError, match=r"flag column 'PPFL' is not a column.*PPROTFL"):
        resolve_plan(_trial(d))


def test_a_hypothetical_strategy_leaves_out_scores_from_the_event_on(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("subject_id,visit\nS01,4\nS03,8\n")
    est = {"id": "h", "intercurrent_events": [
        {"name": "rescue", "events": str(events), "strategy": "hypothetical"}]}  # fmt: skip
    d = design(estimands=[est], endpoints=[{"id": "e", "estimand": "h"}])
    trial = _trial(d)
    ev = estimand_events(trial, d.plan.estimands[0])
    assert ev[["subject_id", "visit", "strategy"]].values.tolist() == [
        ["S01", 4.0, "hypothetical"], ["S03", 8.0, "hypothetical"]]  # fmt: skip
    blanked = without_post_event_scores(trial, ev)
    der = blanked.derived.set_index(["subject_id", "visit"])
    assert der.loc[("S01", 4.0), "score"] != der.loc[("S01", 4.0), "score"]  # NaN
    assert np.isnan(der.loc[("S01", 8.0), "change"]) and np.isnan(der.loc[("S03", 8.0), "score"])
    assert not np.isnan(der.loc[("S03", 4.0), "score"])
    policy = ev.assign(strategy="treatment-policy")
    assert without_post_event_scores(trial, policy) is trial  # treatment policy: nothing removed


def test_an_event_column_marks_the_first_visit_its_value_changes():
    est = {"id": "h", "intercurrent_events": [
        {"name": "rescue", "column": "rescue", "strategy": "hypothetical"}]}  # fmt: skip
    d = design(estimands=[est], endpoints=[{"id": "e", "estimand": "h"}])
    ev = estimand_events(_trial(d), d.plan.estimands[0])
    assert sorted(ev["subject_id"]) == ["S00", "S07", "S14", "S21", "S28", "S35"]
    assert set(ev["visit"]) == {8.0}


def test_every_number_of_an_analysis_is_in_the_ard_once_per_result():
    d = design(endpoints=[{"id": "primary", "role": "primary"},
                          {"id": "key", "role": "key-secondary", "variable": "response",
                           "analysis": "adjusted-response", "covariates": ["baseline"]},
                          {"id": "anc", "analysis": "ancova", "covariates": ["baseline", "SEX"]}],
               multiplicity={"method": "hierarchical"})  # fmt: skip
    res = run_plan(_trial(d))
    ard = res.ard()
    ident = [c for c in ard.columns if c != "value"]
    assert not ard.duplicated(ident).any()
    prim = res.result("primary").tables["contrasts"]
    for r in prim.itertuples(index=False):
        hit = ard[(ard["analysis_id"] == "primary") & (ard["arm"] == r.arm)
                  & (ard["visit"] == r.visit) & (ard["contrast"] == "difference")]  # fmt: skip
        got = hit.set_index("statistic")["value"]
        assert got["estimate"] == r.estimate and got["se"] == r.se and got["df"] == r.df
    fam = res.family
    assert list(fam["endpoint"]) == ["primary", "key"]  # one compared arm, one key visit
    assert fam["p"].notna().all()
    assert fam["p_adjusted"].tolist() == np.maximum.accumulate(fam["p"]).tolist()
    padj = ard[ard["statistic"] == "p_adjusted"]
    assert len(padj) == len(fam) and set(padj["analysis_id"]) == {"primary", "key"}


def test_the_default_plan_runs_when_the_design_declares_none():
    d = design()
    assert not d.plan.declared
    trial = _trial(d)
    plan = default_plan(trial)
    assert [e.id for e in plan.endpoints][:2] == ["primary", "key-secondary"]
    assert plan.multiplicity.method == "holm"
