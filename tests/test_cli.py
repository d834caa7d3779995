"""The command line: exit codes, messages, untouched inputs, whole-or-nothing outputs."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .conftest import DESIGNS, ROOT, sha256

PROJECT_DESIGN = ROOT / "analyses" / "saloheimo2016.toml"


def test_validate_project_trial_exits_0_and_shows_published_rates(run_cli, project_trial_csv):
    code, out, err = run_cli("validate", project_trial_csv, "--design", PROJECT_DESIGN)
    assert code == 0, err
    assert "valid - 900 rows, 180 subjects in 4 arms" in out
    assert (
        "Modelled, not observed (per the design): IPT plus antidepressant medication (modelled)"
        in out
    )
    assert "0 subjects without a baseline score are excluded" in out
    for label, visit, n, k, pct in (
        ("Interpersonal psychotherapy", "Month 3", 38, 16, "42.1"),
        ("Psychoeducative group therapy", "Month 3", 28, 17, "60.7"),
        ("Treatment as usual", "Month 12", 31, 21, "67.7"),
    ):
        assert re.search(rf"{label}\s+{visit}\s+{n}\s+{k}\s+{pct}", out), label


def test_validate_bad_file_lists_every_problem_and_exits_1(run_cli, write_csv):
    path = write_csv("subject_id,arm,visit,hamd17\nA,TAU,0,20\nA,TAU,3,x\nB,,0,0\n")
    before = sha256(path)
    code, out, err = run_cli("validate", path)
    assert code == 1
    assert "3 problems" in out
    assert f"{path}, row 3, subject A, column hamd17: score 'x' is not a number" in out
    assert f"{path}, row 4, subject B, column arm: arm is empty" in out
    assert "baseline score is 0" in out
    assert "Traceback" not in out + err
    assert sha256(path) == before


def test_validate_unreadable_file_exits_1_with_one_message(run_cli, tmp_path):
    code, out, err = run_cli("validate", tmp_path / "nope.csv")
    assert code == 1 and "no such file" in err and "Traceback" not in err


def test_usage_error_exits_2(run_cli):
    code, out, err = run_cli("validate")
    assert code == 2 and "usage:" in err
    code, out, err = run_cli("simulate", "--seed", "x", "--out", "a.csv")
    assert code == 2


def test_mapping_flags_and_baseline_col_on_dia_trial(run_cli, external):
    path = external("antidepressant_dia.csv")
    args = [
        "--subject-col",
        "PATIENT",
        "--arm-col",
        "THERAPY",
        "--visit-col",
        "VISIT",
        "--outcome-col",
        "HAMDTL17",
        "--baseline-col",
        "BASVAL",
        "--reference",
        "PLACEBO",
    ]
    code, out, err = run_cli("validate", path, *args)
    assert code == 0, out + err
    assert "608 rows, 172 subjects in 2 arms" in out
    # antidepressant_dia.md: observed rows per visit 172, 158, 149, 129 (baseline from BASVAL)
    assert re.search(r"DRUG\s+84\s+84\s+84\s+77\s+73\s+64", out)
    assert re.search(r"PLACEBO\s+88\s+88\s+88\s+81\s+76\s+65", out)


@pytest.mark.parametrize(
    ("name", "design", "expect"),
    [
        ("claus_2020.csv", "claus_2020.toml", "172 rows, 43 subjects in 2 arms"),
        ("btheb_long.csv", "btheb.toml", "400 rows, 100 subjects in 2 arms"),
        ("riesby.csv", "riesby.toml", "5 subjects without a baseline score are excluded"),
    ],
)
def test_external_trials_validate_with_their_designs(run_cli, external, name, design, expect):
    code, out, err = run_cli("validate", external(name), "--design", DESIGNS / design)
    assert code == 0, out + err
    assert expect in out


def test_unknown_reference_arm_is_refused(run_cli, project_trial_csv):
    code, out, err = run_cli(
        "validate", project_trial_csv, "--design", PROJECT_DESIGN, "--reference", "CBT"
    )
    assert code == 1 and "--reference 'CBT' is not one of" in err


def test_simulate_writes_csv_and_calibration_and_prints_the_table(run_cli, tmp_path):
    out_csv, cal = tmp_path / "sub" / "trial.csv", tmp_path / "cal.csv"
    code, out, err = run_cli("simulate", "--seed", "2016", "--out", out_csv, "--calibration", cal)
    assert code == 0, err
    assert "Calibration of the synthetic trial (seed 2016" in out
    assert "cannot all be true at once" in out
    assert out_csv.read_text().startswith(
        "subject_id,arm,visit,hamd17,therapy_group,antidepressant,age,sex,cgi_s,sofas\n"
    )
    assert "\r" not in out_csv.read_text()
    assert cal.read_text().startswith("quantity,arm,visit,target,achieved,status,kind,source\n")


def test_simulate_same_seed_same_bytes(run_cli, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert run_cli("simulate", "--seed", "5", "--out", a, "--quiet")[0] == 0
    assert run_cli("simulate", "--seed", "5", "--out", b, "--quiet")[0] == 0
    assert sha256(a) == sha256(b)


def test_failed_simulate_leaves_no_file_and_keeps_an_old_one(run_cli, tmp_path):
    target = tmp_path / "trial.csv"
    code, out, err = run_cli("simulate", "--seed", "1", "--out", target, "--n-per-arm", "1")
    assert code == 1 and not target.exists() and "Traceback" not in err
    target.write_text("old contents")
    code, *_ = run_cli("simulate", "--seed", "1", "--out", target, "--n-per-arm", "1")
    assert code == 1 and target.read_text() == "old contents"
    assert list(tmp_path.iterdir()) == [target]


def test_console_script_reports_bad_data_without_traceback(write_csv):
    path = write_csv("subject_id,arm,visit,hamd17\nA,TAU,0,99\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ipt_outcomes.cli", "validate", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "row 2, subject A, column hamd17: score 99 is outside" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
