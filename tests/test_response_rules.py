"""Rules and edge cases of the response analysis, each on a tiny hand-built trial."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.design import Arm, TrialDesign
from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.exceptions import ConvergenceWarning
from ipt_outcomes.stats.response import (
    analyse_response,
    binary_outcomes,
    chi_square_by_visit,
    compare_with_reference,
    gee_response,
    nnt_interval,
    proportion_ci,
    rates,
    risk_difference_ci,
)

from .conftest import ROOT, sha256


def trial(write_csv, rows, design=None):
    """rows: (subject, arm, baseline, {visit: score}) -> Trial."""
    lines = ["subject_id,arm,visit,hamd17"]
    for sid, arm, base, scores in rows:
        lines.append(f"{sid},{arm},0,{base}")
        for v, y in scores.items():
            lines.append(f"{sid},{arm},{v},{'' if y is None else y}")
    return load_trial(write_csv("\n".join(lines) + "\n"), design)


def arm_rows(prefix, arm, responders, non_responders, visit=3):
    rows = [(f"{prefix}{i}", arm, 20, {visit: 5}) for i in range(responders)]
    rows += [(f"{prefix}n{i}", arm, 20, {visit: 15}) for i in range(non_responders)]
    return rows


def compare(scores, reference="TAU", endpoint="responder"):
    out = binary_outcomes(scores, "observed")
    return compare_with_reference(out, reference, endpoint).set_index("arm")


def test_zero_percent_arm_leaves_undefined_ratio_intervals_empty_with_reasons(write_csv):
    s = trial(write_csv, arm_rows("a", "IPT", 0, 5) + arm_rows("t", "TAU", 3, 2))
    row = compare(s).loc["IPT"]
    assert row["risk_difference"] == pytest.approx(-0.6)
    assert row["risk_ratio"] == 0 and np.isnan(row["rr_ci_low"]) and np.isnan(row["rr_ci_high"])
    assert row["odds_ratio"] == 0 and np.isnan(row["or_ci_low"])
    assert (
        "risk ratio interval undefined" in row["note"]
        and "odds ratio interval undefined" in row["note"]
    )
    # 1 / 0.6 = 1.67, rounded up to 2
    assert row["nnt"] == pytest.approx(-1 / 0.6) and row["nnt_text"].startswith("NNTH 2")


def test_hundred_percent_arm_makes_odds_ratio_undefined(write_csv):
    s = trial(write_csv, arm_rows("a", "IPT", 5, 0) + arm_rows("t", "TAU", 2, 3))
    row = compare(s).loc["IPT"]
    assert np.isnan(row["odds_ratio"]) and "odds ratio undefined" in row["note"]
    assert row["risk_ratio"] == pytest.approx(2.5) and not np.isnan(row["rr_ci_low"])
    rate = rates(binary_outcomes(s), "responder").set_index("arm").loc["IPT"]
    assert (rate["rate"], rate["ci_high"]) == (1.0, 1.0)


def test_zero_events_in_reference_makes_risk_ratio_undefined(write_csv):
    s = trial(write_csv, arm_rows("a", "IPT", 2, 3) + arm_rows("t", "TAU", 0, 5))
    row = compare(s).loc["IPT"]
    assert np.isnan(row["risk_ratio"]) and "no events in the reference arm" in row["note"]


def test_equal_rates_give_undefined_nnt_not_a_division_error(write_csv):
    s = trial(write_csv, arm_rows("a", "IPT", 5, 0) + arm_rows("t", "TAU", 5, 0))
    row = compare(s).loc["IPT"]
    assert row["risk_difference"] == 0 and np.isnan(row["nnt"])
    assert "NNT undefined" in row["note"] and row["nnt_text"].startswith("not defined")
    assert row["risk_ratio"] == 1 and row["p_fisher"] == 1


def test_arm_of_one_subject(write_csv):
    s = trial(write_csv, arm_rows("a", "IPT", 1, 0) + arm_rows("t", "TAU", 2, 3))
    r = rates(binary_outcomes(s), "responder").set_index("arm").loc["IPT"]
    assert (r["n"], r["responders"]) == (1, 1)
    lo, hi = proportion_ci(1, 1)
    assert (r["ci_low"], r["ci_high"]) == (lo, hi) and hi == 1.0
    assert not np.isnan(compare(s).loc["IPT", "p_fisher"])


def test_visit_where_one_arm_has_no_observations(write_csv):
    rows = [(f"a{i}", "IPT", 20, {3: 5, 12: None}) for i in range(3)]
    rows += [(f"t{i}", "TAU", 20, {3: 15, 12: 8}) for i in range(3)]
    s = trial(write_csv, rows)
    out = binary_outcomes(s, "observed")
    r = rates(out, "responder", arms=["IPT", "TAU"], visits=[3.0, 12.0]).set_index(["arm", "visit"])
    assert r.loc[("IPT", 12.0), "n"] == 0 and np.isnan(r.loc[("IPT", 12.0), "rate"])
    assert r.loc[("IPT", 12.0), "note"] == "no observations"
    c = compare_with_reference(out, "TAU", arms=["IPT", "TAU"], visits=[3.0, 12.0]).set_index(
        "visit"
    )
    assert "no observations in 'IPT'" in c.loc[12.0, "note"] and np.isnan(
        c.loc[12.0, "risk_difference"]
    )
    chi = chi_square_by_visit(out, arms=["IPT", "TAU"], visits=[3.0, 12.0]).set_index("visit")
    assert "fewer than two arms" in chi.loc[12.0, "note"]


def test_labels_with_spaces_and_plus_pass_through(write_csv):
    s = trial(
        write_csv, arm_rows("a", "IPT + MED", 4, 1) + arm_rows("t", "Treatment as usual", 2, 3)
    )
    res = analyse_response(s, reference="Treatment as usual")
    assert set(res.response_rates["arm"]) == {"IPT + MED", "Treatment as usual"}
    assert res.response_comparisons["arm"].tolist() == ["IPT + MED"]
    assert set(res.gee["arm"]) <= {"IPT + MED"}


def test_visits_in_weeks_are_reported_as_given(write_csv, run_cli, tmp_path):
    rows = [(f"a{i}", "CBT", 20, {2: 12, 4: 9, 8: 6 + i}) for i in range(4)]
    rows += [(f"t{i}", "TAU", 20, {2: 16, 4: 14, 8: 9 + i}) for i in range(4)]
    s = trial(write_csv, rows)
    assert sorted(binary_outcomes(s)["visit"].unique()) == [2.0, 4.0, 8.0]
    path = s.source
    code, out, err = run_cli("response", path, "--out", tmp_path)
    assert code == 0, err
    gee = pd.read_csv(tmp_path / "response_gee.csv")
    assert gee["note"].str.contains("separation").all()  # no responders at weeks 2 and 4
    text = (tmp_path / "response_rates.csv").read_text().splitlines()
    assert text[1].startswith("CBT,2,4,0,") and any(line.startswith("TAU,8,4,") for line in text)


def test_observed_rule_counts_only_subjects_with_a_score(write_csv):
    s = trial(
        write_csv, [("a", "TAU", 20, {3: 5}), ("b", "TAU", 20, {3: None}), ("c", "TAU", 20, {})]
    )
    out = binary_outcomes(s, "observed")
    assert out["subject_id"].tolist() == ["a"]


def test_nri_counts_missing_visits_as_non_response(write_csv):
    s = trial(
        write_csv,
        [
            ("a", "TAU", 20, {3: 5, 12: None}),
            ("b", "TAU", 20, {3: 15, 12: 5}),
            ("c", "TAU", 20, {}),
        ],
    )
    out = binary_outcomes(s, "nri").set_index(["subject_id", "visit"])
    assert len(out) == 6  # every subject with a baseline at every post-baseline visit
    assert not out.loc[("a", 12.0), "responder"] and out.loc[("a", 12.0), "imputed"]
    assert not out.loc[("c", 3.0), "remitter"]
    assert out.loc[("b", 12.0), "responder"] and not out.loc[("b", 12.0), "imputed"]


def test_locf_carries_the_last_score_forward_and_falls_back_to_baseline(write_csv):
    s = trial(
        write_csv,
        [
            ("a", "TAU", 20, {3: 5, 6: None, 12: None}),
            ("b", "TAU", 20, {3: None, 6: None, 12: None}),
        ],
    )
    out = binary_outcomes(s, "locf").set_index(["subject_id", "visit"])
    assert out.loc[("a", 12.0), "score"] == 5 and out.loc[("a", 12.0), "responder"]
    assert out.loc[("b", 3.0), "score"] == 20 and not out.loc[("b", 3.0), "responder"]


def test_locf_does_not_carry_a_later_score_backwards(write_csv):
    s = trial(write_csv, [("a", "TAU", 20, {3: None, 12: 5})])
    out = binary_outcomes(s, "locf").set_index("visit")
    assert out.loc[3.0, "score"] == 20 and out.loc[12.0, "score"] == 5


def test_subjects_without_baseline_are_left_out_of_every_rule(write_csv, tmp_path):
    path = write_csv(
        "subject_id,arm,visit,hamd17\na,TAU,0,20\na,TAU,3,5\nb,TAU,0,\nb,TAU,3,5\nc,TAU,3,5\n"
    )
    s = load_trial(path)
    for rule in ("observed", "nri", "locf"):
        assert set(binary_outcomes(s, rule)["subject_id"]) == {"a"}


def test_holm_family_is_the_key_visits(write_csv):
    rows = []
    for i in range(6):
        rows.append((f"a{i}", "IPT", 20, {1: 5, 3: 5 if i < 5 else 15}))
        rows.append((f"t{i}", "TAU", 20, {1: 15, 3: 15 if i < 5 else 5}))
    design = TrialDesign(arms=(Arm("IPT"), Arm("TAU")), key_visits=(3.0,))
    s = trial(write_csv, rows, design)
    c = analyse_response(s).response_comparisons.set_index("visit")
    assert np.isnan(c.loc[1.0, "p_holm"])  # not a key visit
    assert c.loc[3.0, "p_holm"] == pytest.approx(c.loc[3.0, "p_fisher"])  # a family of one


def test_nnt_wording_follows_altman():
    """Altman (1998): NNT rounded up, worded NNTB / NNTH, the interval through infinity when
    the risk difference interval includes 0."""
    assert nnt_interval(-0.25, -0.4, -0.1)[3] == "NNTH 4 (95% CI NNTH 3 to NNTH 10)"
    assert nnt_interval(0.1, 0.0, 0.2)[3] == "NNTB 10 (95% CI infinity to infinity to NNTB 5)"


def test_newcombe_1998_worked_examples():
    """Newcombe, Stat Med 1998;17:873-890, Table II, method 10 (hybrid score)."""
    assert [round(x, 4) for x in risk_difference_ci(56, 70, 48, 80)] == [0.0524, 0.3339]
    assert [round(x, 4) for x in risk_difference_ci(9, 10, 3, 10)] == [0.1705, 0.8090]


def test_interval_methods_and_arguments_are_checked():
    with pytest.raises(ValueError, match="method"):
        proportion_ci(1, 2, "wald")
    with pytest.raises(ValueError, match="n >= 1"):
        proportion_ci(0, 0)
    with pytest.raises(ValueError, match="alpha"):
        proportion_ci(1, 2, alpha=1.5)
    with pytest.raises(ValueError, match="rd_method"):
        compare_with_reference(
            pd.DataFrame({"arm": ["A"], "visit": [1.0], "responder": [True]}), "A", rd_method="wald"
        )


def test_gee_reports_separation_instead_of_a_silent_number():
    from .conftest import DESIGNS, EXTERNAL

    path = EXTERNAL / "riesby.csv"
    if not path.exists():
        pytest.skip("external data not available")
    s = load_trial(path, DESIGNS / "riesby.toml")
    out = binary_outcomes(s, "observed")
    with pytest.warns(ConvergenceWarning):
        table, fit = gee_response(out, "0", correlation="exchangeable")
    # no responders in either arm at week 1, the model's first visit: nothing is estimable
    assert table["note"].str.contains("not estimable: separation").all()
    assert table["odds_ratio"].isna().all()
    assert fit["converged"] is False


def test_response_cli_writes_spec_tables_with_spec_columns_first(run_cli, tmp_path):
    data = ROOT / "tests" / "reference" / "response" / "synthetic_trial.csv"
    before = sha256(data)
    code, out, err = run_cli(
        "response",
        data,
        "--design",
        ROOT / "analyses" / "saloheimo2016.toml",
        "--missing",
        "nri",
        "--out",
        tmp_path,
    )
    assert code == 0, err
    assert sha256(data) == before
    head = (tmp_path / "response_rates.csv").read_text().splitlines()[0]
    assert head.startswith("arm,visit,n,responders,rate,ci_low,ci_high")
    head = (tmp_path / "remission_rates.csv").read_text().splitlines()[0]
    assert head.startswith("arm,visit,n,remitters,rate,ci_low,ci_high")
    head = (tmp_path / "response_comparisons.csv").read_text().splitlines()[0]
    assert head.startswith(
        "arm,reference,visit,risk_difference,rd_ci_low,rd_ci_high,risk_ratio,rr_ci_low,rr_ci_high,"
        "odds_ratio,or_ci_low,or_ci_high,p_fisher,nnt"
    )
    assert (tmp_path / "response_gee.csv").exists() and "non-responder imputation" in out


def test_response_cli_refuses_unknown_reference_without_writing(run_cli, tmp_path, write_csv):
    path = write_csv("subject_id,arm,visit,hamd17\na,IPT,0,20\na,IPT,3,5\nb,CBT,0,20\nb,CBT,3,9\n")
    code, out, err = run_cli("response", path, "--out", tmp_path / "out")
    assert code == 1 and "reference arm 'TAU' is not in the data" in err
    assert not (tmp_path / "out").exists()


def test_nnt_interval_limits_are_inverted_rd_limits():
    nnt, lo, hi, _ = nnt_interval(0.2, 0.05, 0.35)
    assert (nnt, lo, hi) == (5.0, 1 / 0.35, 1 / 0.05)
    assert math.isinf(nnt_interval(0.0, -0.1, 0.1)[0])
