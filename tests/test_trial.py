"""One trial, understood once (issue 13): a statistician's own trial read through its design.

The trial: tests/reference/madrs3/ - a simulated three-arm MADRS trial with analysis-data columns
(USUBJID, TRT01P, AVISITN, AVAL), visit codes 10-50 (baseline 10) mapped by the design to weeks
0-12, remission MADRS <= 10; and the same trial with a BASE column beside the baseline record.
Reference numbers: tests/reference/madrs3/make_reference.R (R 4.2.2; mmrm, emmeans, lme4,
lmerTest, sandwich; sessionInfo.txt), computed from the raw file independently of this code.
Tolerances as the other reference tests: response 1e-6 relative; MMRM estimates and SEs 1e-4
relative, df 0.05; LMM fixed effects 1e-4, variance components and log-likelihood 1e-3, df 0.05.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.design import load_design, parse_design
from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.exceptions import DesignError

from .conftest import DESIGNS, EXTERNAL, ROOT, sha256

REF = ROOT / "tests" / "reference" / "madrs3"
DATA, DESIGN = REF / "madrs3.csv", REF / "madrs3.toml"
BASECOL, BASECOL_DESIGN = REF / "madrs3_basecol.csv", REF / "madrs3_basecol.toml"
RULES = ("observed", "nri", "locf")


def r_csv(name):
    return pd.read_csv(REF / name, dtype={"arm": str, "reference": str})


def close(py, r, cols, rtol=1e-6, atol=1e-8):
    for c in cols:
        np.testing.assert_allclose(
            py[c].to_numpy(float), r[c].to_numpy(float), rtol=rtol, atol=atol, err_msg=c
        )


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Every command run once on each shape of the trial, as a user would run them."""
    from ipt_outcomes.cli import main

    base = tmp_path_factory.mktemp("madrs3")
    out = {}
    for shape, data, design in (("row", DATA, DESIGN), ("column", BASECOL, BASECOL_DESIGN)):
        before = sha256(data)
        for rule in RULES:
            d = base / shape / f"response_{rule}"
            assert (
                main(
                    [
                        "response",
                        str(data),
                        "--design",
                        str(design),
                        "--missing",
                        rule,
                        "--out",
                        str(d),
                    ]
                )
                == 0
            )
        for df in ("kenward-roger", "satterthwaite"):
            d = base / shape / f"mmrm_{df}"
            assert (
                main(["mmrm", str(data), "--design", str(design), "--df", df, "--out", str(d)]) == 0
            )
        for method in ("reml", "ml"):
            for slope in (False, True):
                d = base / shape / f"lmm_{method}_{slope}"
                args = [
                    "lmm",
                    str(data),
                    "--design",
                    str(design),
                    "--method",
                    method,
                    "--out",
                    str(d),
                ]
                assert main(args + (["--random-slope"] if slope else [])) == 0
        assert sha256(data) == before
        out[shape] = base / shape
    return out


def read(outputs, shape, folder, name):
    return pd.read_csv(
        outputs[shape] / folder / f"{name}.csv", dtype={"arm": str, "reference": str}
    )


@pytest.mark.parametrize("rule", RULES)
def test_response_rates_and_comparisons_match_r_under_every_rule(outputs, rule):
    rates_r = r_csv(f"madrs3_{rule}_rates.csv")
    comp_r = r_csv(f"madrs3_{rule}_comparisons.csv")
    for endpoint, table, events in (("responder", "response", "responders"),
                                    ("remitter", "remission", "remitters")):  # fmt: skip
        py = read(outputs, "row", f"response_{rule}", f"{table}_rates")
        py = py[py["n"] > 0].sort_values(["arm", "visit"]).reset_index(drop=True)
        r = (
            rates_r[rates_r["endpoint"] == endpoint]
            .sort_values(["arm", "visit"])
            .reset_index(drop=True)
        )
        assert py[["arm", "visit"]].astype(str).equals(r[["arm", "visit"]].astype(str))
        assert (py["n"].to_numpy() == r["n"].to_numpy()).all()
        assert (py[events].to_numpy() == r["events"].to_numpy()).all()
        close(py.rename(columns={"ci_low": "wilson_low", "ci_high": "wilson_high"}), r,
              ["rate", "wilson_low", "wilson_high"])  # fmt: skip
        py = read(outputs, "row", f"response_{rule}", f"{table}_comparisons")
        py = py[py["n"] > 0].sort_values(["arm", "visit"]).reset_index(drop=True)
        r = (
            comp_r[comp_r["endpoint"] == endpoint]
            .sort_values(["arm", "visit"])
            .reset_index(drop=True)
        )
        assert py[["arm", "visit"]].astype(str).equals(r[["arm", "visit"]].astype(str))
        close(py, r, ["risk_difference", "rd_ci_low", "rd_ci_high", "risk_ratio", "rr_ci_low",
                      "rr_ci_high", "odds_ratio", "or_ci_low", "or_ci_high", "p_fisher", "nnt",
                      "nnt_ci_low", "nnt_ci_high", "p_holm"])  # fmt: skip


@pytest.mark.parametrize(
    ("df", "tag"), [("kenward-roger", "kr"), ("satterthwaite", "satterthwaite")]
)
def test_mmrm_matches_r_mmrm(outputs, df, tag):
    fit = read(outputs, "row", f"mmrm_{df}", "mmrm_fit").iloc[0]
    r_fit = r_csv("madrs3_fit.csv").iloc[0]
    assert fit["n_subjects"] == r_fit["n_subjects"] and fit["n_obs"] == r_fit["n_obs"]
    assert fit["neg2_reml_loglik"] == pytest.approx(r_fit["neg2_reml_loglik"], abs=1e-3)
    for name in ("lsmeans", "contrasts"):
        py = read(outputs, "row", f"mmrm_{df}", f"mmrm_{name}").sort_values(["arm", "visit"])
        r = r_csv(f"madrs3_{name}_{tag}.csv").sort_values(["arm", "visit"])
        py, r = py.reset_index(drop=True), r.reset_index(drop=True)
        assert py[["arm", "visit"]].astype(str).equals(r[["arm", "visit"]].astype(str))
        close(py, r, ["estimate", "se"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(py["df"], r["df"], atol=0.05)


def test_lmm_uses_the_designs_time_in_weeks_and_matches_lmertest(outputs):
    fixed_r = r_csv("madrs3_lmm_fixed.csv")
    fits_r = r_csv("madrs3_lmm_fit.csv")
    for method in ("reml", "ml"):
        for slope in (False, True):
            label = f"madrs3_{'slope' if slope else 'intercept'}_{method}"
            py = read(outputs, "row", f"lmm_{method}_{slope}", "lmm_fixed").set_index("term")
            r = fixed_r[fixed_r["model"] == label].set_index("term_canonical")
            py = py.loc[r.index]
            close(py, r, ["estimate", "se"], rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(py["df"], r["df"], atol=0.05)
            fit = read(outputs, "row", f"lmm_{method}_{slope}", "lmm_fit").iloc[0]
            rf = fits_r[fits_r["model"] == label].iloc[0]
            assert fit["loglik"] == pytest.approx(rf["loglik"], abs=1e-3)
            assert fit["n_obs"] == rf["n_obs"] and fit["n_subjects"] == rf["n_subjects"]
            cols = ["var_intercept", "var_residual"] + (["var_slope"] if slope else [])
            close(pd.DataFrame([fit]), pd.DataFrame([rf]), cols, rtol=1e-3, atol=1e-5)


def test_week_12_ancova_and_hedges_g_match_r(outputs):
    py = (
        read(outputs, "row", "lmm_reml_False", "ancova_hc3")
        .sort_values("arm")
        .reset_index(drop=True)
    )
    r = r_csv("madrs3_ancova_hc3.csv").sort_values("arm").reset_index(drop=True)
    close(py, r, ["estimate", "se", "df", "p", "ci_low", "ci_high"])
    py = (
        read(outputs, "row", "lmm_reml_False", "hedges_g").sort_values("arm").reset_index(drop=True)
    )
    r = r_csv("madrs3_hedges_g.csv").sort_values("arm").reset_index(drop=True)
    close(py, r, ["g", "se", "ci_low", "ci_high"])


def test_baseline_column_beside_the_baseline_record_gives_the_same_analysis(outputs):
    """The ADaM shape (BASE on every row and the baseline record at AVISITN 10): the record is
    the baseline and is never analysed as a post-baseline visit."""
    for folder in sorted(p.name for p in outputs["row"].iterdir()):
        for path in sorted((outputs["row"] / folder).glob("*.csv")):
            a = pd.read_csv(path)
            b = pd.read_csv(outputs["column"] / folder / path.name)
            pd.testing.assert_frame_equal(
                a, b, check_exact=False, rtol=1e-9, obj=f"{folder}/{path.name}"
            )
    c = read(outputs, "column", "mmrm_kenward-roger", "mmrm_contrasts")
    assert "10" not in set(c["visit"].astype(str))


def test_tables_keep_visit_codes_and_add_the_designs_labels(outputs):
    t = read(outputs, "row", "mmrm_kenward-roger", "mmrm_contrasts")
    assert sorted(set(t["visit"])) == [20, 30, 40, 50]
    assert dict(zip(t["visit"], t["visit_label"], strict=True)) == {
        20: "Week 2", 30: "Week 4", 40: "Week 8", 50: "Week 12"}  # fmt: skip


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def test_report_names_the_instrument_arms_and_visits_by_label(tmp_path):
    from ipt_outcomes.cli import main

    assert (
        main(["report", "--data", str(DATA), "--design", str(DESIGN), "--out", str(tmp_path)]) == 0
    )
    parser = _Text()
    parser.feed((tmp_path / "report.html").read_text(encoding="utf-8"))
    text = " ".join(parser.text)
    assert "MADRS" in text and "Drug 20 mg" in text and "Week 12" in text
    assert not re.search(r"HAM-?D|[Mm]onths?\b", text), re.findall(
        r".{30}(?:HAM-?D|[Mm]onth).{30}", text
    )
    assert not re.search(r"\b(PBO|LOW|HIGH)\b", text), re.findall(
        r".{30}\b(?:PBO|LOW|HIGH)\b.{30}", text
    )
    assert not re.search(r"\b[Vv]isit (20|30|40|50)\b", text)
    assert "Published source" not in text  # the design gives no citation


def test_one_report_run_derives_once_and_fits_each_model_once(tmp_path, monkeypatch):
    import ipt_outcomes.data.trial as trial_mod
    import ipt_outcomes.estimands.imputation as imputation
    import ipt_outcomes.models.lmm.core as lmm_core
    import ipt_outcomes.models.mmrm.fit as mmrm_fit
    from ipt_outcomes.cli import main

    calls = {"derive": 0, "mmrm": 0, "lmm": 0, "read": 0, "imputation_model": 0}

    def counting(name, fn):
        def wrapped(*a, **k):
            calls[name] += 1
            return fn(*a, **k)

        return wrapped

    monkeypatch.setattr(trial_mod, "derive_outcomes", counting("derive", trial_mod.derive_outcomes))
    monkeypatch.setattr(mmrm_fit, "Model", counting("mmrm", mmrm_fit.Model))
    monkeypatch.setattr(lmm_core, "_LMMModel", counting("lmm", lmm_core._LMMModel))
    monkeypatch.setattr(
        imputation, "ImputationModel", counting("imputation_model", imputation.ImputationModel)
    )
    import ipt_outcomes.data.readers as readers

    monkeypatch.setattr(readers, "read_table", counting("read", readers.read_table))
    # one process, so that every call is counted here (with two cores the report shares its
    # analyses and figures with a forked child, each still done once)
    import ipt_outcomes.runtime.background as background

    monkeypatch.setattr(background.os, "cpu_count", lambda: 1)
    assert (
        main(["report", "--data", str(DATA), "--design", str(DESIGN), "--out", str(tmp_path)]) == 0
    )
    # one read and one derivation; the default plan (the design declares none) fits one MMRM
    # (the primary; unstructured converges: no fallback), one growth model (no therapy groups
    # here, so no partially nested models) and one imputation model for the three multiple-
    # imputation sensitivity analyses (JR, CIR and the tipping point's MAR impute the same data:
    # they share the model and its jackknife refits)
    assert calls == {"derive": 1, "mmrm": 1, "lmm": 1, "read": 1, "imputation_model": 1}


# ------------------------------------------------------------------------------------------
# the design file
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[analysis]\nrefrence = "TAU"\n',
            "unknown key 'refrence' in [analysis]; did you mean 'reference'?",
        ),
        (
            "[instrument]\nmaximum = 63\n",
            "unknown key 'maximum' in [instrument]; did you mean 'max'?",
        ),
        ("[visit]\nunit = 'weeks'\n", "unknown section [visit]; did you mean [visits]?"),
        (
            "[analysis]\nremission_max = -5\n",
            "remission_max = -5 is outside the instrument's range 0-52",
        ),
        (
            "[visits]\nschedule = [0, 2, 4]\ntimes = [0, 4, 2]\n",
            "visits.times: times must be increasing",
        ),
        ("[visits]\nschedule = [0, 2]\nkey = [3]\n", "key visits 3 are not in visits.schedule"),
        (
            '[[arms]]\ncode = "A"\n[analysis]\nreference = "B"\n',
            "reference arm 'B' is not one of the arms",
        ),
        ("[visits]\nschedule = [0, 2]\ntimes = [0]\n", "1 times for 2 scheduled visits"),
    ],
)
def test_a_design_file_mistake_is_refused_naming_the_key(tmp_path, run_cli, text, message):
    path = tmp_path / "design.toml"
    path.write_text(text)
    with pytest.raises(DesignError) as err:
        load_design(path)
    assert message in str(err.value)
    code, out, err_text = run_cli("validate", DATA, "--design", path)
    assert code == 1 and message in err_text and "Traceback" not in err_text


def test_default_labels_come_from_unit_and_time():
    d = parse_design({"visits": {"unit": "weeks", "baseline": 10, "schedule": [10, 20, 30],
                                 "times": [0, 2, 4]}})  # fmt: skip
    assert d.labels == ("Baseline", "Week 2", "Week 4")
    assert d.time_of(30) == 4 and d.visit_label(20) == "Week 2"


# ------------------------------------------------------------------------------------------
# the external trials: report and lmm read the same data the same way
# ------------------------------------------------------------------------------------------

EXTERNAL_TRIALS = {
    "antidepressant_dia": ("antidepressant_dia.csv", "weeks", {4: 1, 5: 2, 6: 4, 7: 6}, "HAM-D 17"),
    "riesby": ("riesby.csv", "weeks", {1: 1, 5: 5}, "HAM-D 17"),
    "btheb": ("btheb_long.csv", "months", {2: 2, 8: 8}, "BDI-II"),
    "claus_2020": ("claus_2020.csv", "measurements", {1: 0, 2: 1, 4: 3}, "HAM-D 17"),
}


@pytest.mark.parametrize("name", list(EXTERNAL_TRIALS))
def test_external_trial_reads_right_and_lmm_and_report_accept_it(name, tmp_path, run_cli):
    file, unit, times, instrument = EXTERNAL_TRIALS[name]
    path = EXTERNAL / file
    if not path.exists():
        pytest.skip(f"external data not available at {path}")
    trial = load_trial(path, DESIGNS / f"{name}.toml")
    assert trial.design.visit_unit == unit and trial.instrument.name == instrument
    for visit, time in times.items():
        assert trial.time_of(visit) == time
    assert trial.time_of(trial.baseline_visit) == 0  # the intercept is at baseline
    code, out, err = run_cli(
        "lmm", path, "--design", DESIGNS / f"{name}.toml", "--out", tmp_path / "lmm"
    )
    assert code == 0, err
    code, out, err = run_cli("report", "--data", path, "--design", DESIGNS / f"{name}.toml",
                             "--out", tmp_path / "report")  # fmt: skip
    assert code == 0, err
    visits = pd.read_csv(tmp_path / "report" / "tables" / "visits.csv")
    assert dict(zip(visits["visit"], visits["time"], strict=True)) | times == dict(
        zip(visits["visit"], visits["time"], strict=True)
    )
    # the report's growth model is the default plan's, on the full analysis set
    from ipt_outcomes.models.lmm import growth_model
    from ipt_outcomes.plan.populations import members, restrict
    from ipt_outcomes.plan.resolve import FAS

    lmm_report = pd.read_csv(tmp_path / "report" / "tables" / "growth__fixed.csv")
    fas = restrict(trial, members(trial, FAS))
    want = growth_model(fas).fixed_effects()
    pd.testing.assert_frame_equal(lmm_report[want.columns], want, check_dtype=False)
    if fas.scores["subject_id"].nunique() == trial.scores["subject_id"].nunique():
        lmm_cli = pd.read_csv(tmp_path / "lmm" / "lmm_fixed.csv")
        pd.testing.assert_frame_equal(lmm_report[want.columns], lmm_cli[want.columns])


# ------------------------------------------------------------------------------------------
# a starter design from the data; nothing to analyse
# ------------------------------------------------------------------------------------------


def test_design_command_writes_a_starter_that_loads(tmp_path, run_cli):
    out = tmp_path / "starter.toml"
    code, _, err = run_cli("design", DATA, "--subject-col", "USUBJID", "--arm-col", "TRT01P",
                           "--visit-col", "AVISITN", "--outcome-col", "AVAL", "--baseline-visit", "10",
                           "--out", out)  # fmt: skip
    assert code == 0, err
    d = load_design(out)
    assert set(d.arm_codes) == {"PBO", "LOW", "HIGH"} and d.reference == "PBO"
    assert d.schedule == (10, 20, 30, 40, 50) and d.baseline_visit == 10 and d.key_visits == (50,)
    observed_max = pd.read_csv(DATA)["AVAL"].max()
    assert d.columns.outcome == "AVAL" and d.instrument.maximum == observed_max
    trial = load_trial(DATA, out)
    assert len(trial.post_visits) == 4


def test_validate_says_valid_but_nothing_to_analyse_when_the_baseline_visit_is_absent(
    write_csv, run_cli
):
    path = write_csv("subject_id,arm,visit,hamd17\nA,TAU,1,20\nA,TAU,2,10\nB,CBT,1,22\nB,CBT,2,9\n")
    code, out, err = run_cli("validate", path)
    assert (
        code == 1 and "valid, but nothing to analyse" in out and "baseline score at visit 0" in out
    )
    code, out, err = run_cli("mmrm", path, "--out", path.parent / "o")
    assert code == 1 and "nothing to analyse" in err and not (path.parent / "o").exists()
    code, out, err = run_cli("validate", path, "--baseline-visit", "1")
    assert code == 0, out


def test_visits_before_the_baseline_visit_are_screening_and_not_analysed(write_csv):
    path = write_csv(
        "subject_id,arm,visit,hamd17\nA,TAU,0,25\nA,TAU,4,20\nA,TAU,8,10\n"
        "B,X,0,24\nB,X,4,22\nB,X,8,12\n"
    )
    trial = load_trial(path, baseline_visit=4)
    assert trial.post_visits == (8.0,) and trial.visits == (4.0, 8.0)
    assert trial.derived["change"].tolist() == [-10.0, -10.0]
    assert any(p.rule == "visit_before_baseline" for p in trial.problems)
