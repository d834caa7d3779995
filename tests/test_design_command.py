"""``ipt-outcomes design`` on analysis-data files, continuous and higher-is-better scores; every
analysis command takes --instrument (issue 24)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.cli import COMMANDS, build_parser
from ipt_outcomes.data.design import load_design
from ipt_outcomes.data.trial import load_trial

from .conftest import ROOT, sha256

ADAM2 = ROOT / "tests" / "reference" / "adam2" / "adam2.csv"


def test_design_writes_one_instrument_per_parameter_of_an_analysis_data_file(tmp_path, run_cli):
    out = tmp_path / "starter.toml"
    before = sha256(ADAM2)
    code, _, err = run_cli("design", ADAM2, "--out", out)
    assert code == 0, err
    assert sha256(ADAM2) == before
    text = out.read_text()
    d = load_design(out)
    assert (d.columns.subject, d.columns.arm, d.columns.visit, d.columns.outcome) == (
        "USUBJID", "TRT01P", "AVISIT", "AVAL")  # fmt: skip
    assert (d.columns.param, d.columns.baseline_flag, d.columns.analysis_flag) == (
        "PARAMCD", "ABLFL", "ANL01FL")  # fmt: skip
    assert d.visit_codes == ("SCREENING", "BASELINE", "WEEK 2", "WEEK 4", "WEEK 8", "WEEK 12")
    assert d.schedule == (-1, 0, 2, 4, 8, 12) and d.visit_unit == "weeks"
    assert d.baseline_visit == 0 and d.key_visits == (12,)
    hamd, wb = d.instruments
    assert (hamd.name, hamd.param, hamd.integer, hamd.higher_is_better) == (
        "HAM-D 17", "HAMD17", True, False)  # fmt: skip
    assert "suggestion: Frank E" in text  # the registry's remission threshold, with its source
    assert "# reliability = 0.789" in text  # a suggestion only: commented out
    assert (wb.param, wb.integer, wb.higher_is_better) == ("WBMEAN", False, False)
    assert "confirm: the direction cannot be inferred" in text
    for name in d.instrument_names:
        trial = load_trial(ADAM2, out, instrument=name)
        assert len(trial.post_visits) == 4


def test_design_guesses_times_from_visit_codes_and_keeps_screening_before_baseline(
    write_csv, tmp_path, run_cli
):
    path = write_csv("id,arm,visit,madrs\n" + "".join(
        f"{s},{a},{v},{y}\n" for s, a in (("1", "PBO"), ("2", "ACT"))
        for v, y in (("Screening", 30), ("Baseline", 28), ("Day 14", 20), ("Day 28", 15))))  # fmt: skip
    out = tmp_path / "d.toml"
    code, _, err = run_cli("design", path, "--subject-col", "id", "--outcome-col", "madrs",
                           "--out", out)  # fmt: skip
    assert code == 0, err
    d = load_design(out)
    assert d.visit_codes == ("Screening", "Baseline", "Day 14", "Day 28")
    assert d.schedule == (-1, 0, 14, 28) and d.visit_unit == "days"
    assert d.instrument.name == "MADRS" and d.instrument.remission_max == 10
    assert load_trial(path, out).post_visits == (14, 28)


def test_design_infers_continuous_scores_and_writes_the_direction_to_confirm(
    write_csv, tmp_path, run_cli
):
    path = write_csv("subject_id,arm,visit,letters\nA,TAU,0,55.5\nA,TAU,3,60.25\nB,IPT,0,40\n"
                     "B,IPT,3,52.0000439\n")  # fmt: skip
    out = tmp_path / "d.toml"
    code, _, err = run_cli("design", path, "--outcome-col", "letters", "--out", out)
    assert code == 0, err
    text = out.read_text()
    assert "integer = false" in text and "higher_is_better = false   # confirm" in text
    d = load_design(out)
    assert not d.instrument.integer and d.instrument.maximum == 61


def test_every_analysis_command_takes_instrument():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    have = {name for name, p in sub.choices.items()
            if any("--instrument" in a.option_strings for a in p._actions)}  # fmt: skip
    analysing = {"validate", "response", "mmrm", "lmm", "mi", "reliable-change", "report"}
    registered = {name for name, _, _ in COMMANDS}
    missing = {c for c in analysing & registered & set(sub.choices) if c not in have}
    # report is the lead's (it covers each instrument of the plan); the others must take it
    assert missing <= {"report"}, missing


@pytest.mark.parametrize("command", ["validate", "response", "mmrm", "lmm", "reliable-change"])
def test_an_unknown_instrument_is_exit_1_naming_the_instruments(command, tmp_path, run_cli):
    design = ROOT / "tests" / "reference" / "adam2" / "adam2.toml"
    args = [command, ADAM2, "--design", design, "--instrument", "BDI"]
    if command != "validate":
        args += ["--out", tmp_path / "o"]
    code, out, err = run_cli(*args)
    assert code == 1 and "no instrument 'BDI'" in out + err and "'Well-being'" in out + err
    assert "Traceback" not in out + err and not (tmp_path / "o").exists()


def test_a_large_trial_with_continuous_higher_is_better_scores_runs_through(tmp_path, run_cli):
    """1000 subjects, 10 monthly visits, a baseline column, continuous scores where higher is
    better (issue 24's failing case): design, validate, mmrm and lmm without an internal
    error, and the effect is read as favouring the arm whose scores rise."""
    rng = np.random.default_rng(24)
    n, visits = 1000, np.arange(1, 11)
    arm = np.where(np.arange(n) % 2, "TRT", "CTL")
    base = np.clip(rng.normal(55, 12, n), 5, 95) + 0.00001
    slope = np.where(arm == "TRT", 0.6, 0.25)
    y = (
        base[:, None]
        + slope[:, None] * visits
        + rng.normal(0, 6, (n, 1))
        + rng.normal(0, 4, (n, 10))
    )
    y = np.clip(y, 0, 100) + 0.0000439
    y[rng.random((n, 10)) < 0.04] = np.nan
    df = pd.DataFrame({"pid": np.repeat([f"P{i:04d}" for i in range(n)], 10),
                       "group": np.repeat(arm, 10), "month": np.tile(visits, n),
                       "bl": np.repeat(base, 10), "letters": y.reshape(-1)})  # fmt: skip
    data = tmp_path / "big.csv"
    df.to_csv(data, index=False)
    toml = tmp_path / "big.toml"
    flags = ["--subject-col", "pid", "--arm-col", "group", "--visit-col", "month",
             "--outcome-col", "letters", "--baseline-col", "bl"]  # fmt: skip
    code, _, err = run_cli("design", data, *flags, "--out", toml)
    assert code == 0, err
    text = toml.read_text()
    assert "integer = false" in text
    toml.write_text(text.replace("higher_is_better = false", "higher_is_better = true  #")
                    .replace("remission_max = 0", "remission_min = 80  #"))  # fmt: skip
    code, out, err = run_cli("validate", data, "--design", toml)
    assert code == 0, out + err
    assert "continuous; higher is better" in out
    code, out, err = run_cli("mmrm", data, "--design", toml, "--out", tmp_path / "m")
    assert code == 0 and "internal error" not in err, err
    contrasts = pd.read_csv(tmp_path / "m" / "mmrm_contrasts.csv")
    assert (contrasts.loc[contrasts["visit"] == 10, "estimate"] > 0).all()
    code, out, err = run_cli("lmm", data, "--design", toml, "--out", tmp_path / "l")
    assert code == 0 and "internal error" not in err, err
    assert "positive values favour the arm" in out
