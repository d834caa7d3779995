"""The command line: exit codes, messages, untouched inputs, whole-or-nothing outputs."""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import subprocess
import sys
import warnings

import numpy as np
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


def test_failed_simulate_leaves_no_file_and_keeps_an_old_one(run_cli, tmp_path, monkeypatch):
    import ipt_outcomes.datasets as synthetic

    target, cal = tmp_path / "sub" / "trial.csv", tmp_path / "cal.csv"
    code, out, err = run_cli("simulate", "--seed", "1", "--out", target, "--n-per-arm", "1")
    assert code == 2 and "--n-per-arm: must be at least 2" in err and not target.exists()

    def half_then_fail(data, fh):  # fails half-way through writing
        fh.write("subject_id,arm\n")
        raise RuntimeError("disk trouble")

    monkeypatch.setattr(synthetic, "write_trial_csv", half_then_fail)
    args = ("simulate", "--seed", "1", "--n-per-arm", "5", "--quiet", "--calibration", cal)
    code, out, err = run_cli(*args, "--out", target)
    assert code == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file, no new folder
    old = tmp_path / "trial.csv"
    old.write_text("old contents")
    code, *_ = run_cli(*args, "--out", old)
    assert code == 1 and old.read_text() == "old contents"
    assert list(tmp_path.iterdir()) == [old]


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


# --- issue 19: never overwrite an input, never leave half a report, user errors are not bugs ---


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize(
    ("command", "name"), [("response", "response_rates.csv"), ("mmrm", "mmrm_fit.csv")]
)
def test_an_input_inside_out_under_an_output_name_is_never_overwritten(
    run_cli, project_trial_csv, tmp_path, command, name
):
    """`mkdir s; cp trial.csv s/response_rates.csv; ipt-outcomes response s/response_rates.csv
    --out s` once replaced the input; now it is refused and nothing in s changes."""
    s = tmp_path / "s"
    s.mkdir()
    data = s / name
    shutil.copyfile(project_trial_csv, data)
    before = sha256(data)
    code, out, err = run_cli(command, data, "--design", PROJECT_DESIGN, "--out", s)
    assert code == 1, err
    assert f"{data}: this output would overwrite the input file {data}" in err
    assert "Traceback" not in err and "internal error" not in err
    assert sha256(data) == before and _tree(s) == [name]


def test_report_refuses_an_input_in_its_own_output_folder(run_cli, project_trial_csv, tmp_path):
    d = tmp_path / "D"
    (d / "tables").mkdir(parents=True)
    data = d / "tables" / "trial.csv"
    shutil.copyfile(project_trial_csv, data)
    before = sha256(data)
    code, out, err = run_cli("report", "--data", data, "--design", PROJECT_DESIGN, "--out", d)
    assert code == 1 and "would overwrite the input file" in err, err
    assert sha256(data) == before and _tree(tmp_path) == ["D", "D/tables", "D/tables/trial.csv"]


def test_formula_arm_names_go_all_the_way_through_report(run_cli, tmp_path):
    """Issue 19 case 2: an arm named =HYPERLINK("x") once broke `report` after 21 tables. The
    whole report is built; no table cell starts a formula; every file has the usual mode."""
    rows = ["subject_id,arm,visit,hamd17"]
    for i in range(24):
        arm = "TAU" if i % 2 else '"=HYPERLINK(""x"")"'
        rows += [f"S{i:02d},{arm},0,{20 + i % 7}", f"S{i:02d},{arm},4,{12 + (i * 5) % 9}",
                 f"S{i:02d},{arm},8,{8 + (i * 3) % 10}"]  # fmt: skip
    data = tmp_path / "hyper.csv"
    data.write_text("\n".join(rows) + "\n")
    out_dir = tmp_path / "report"
    old = os.umask(0o022)
    try:
        code, out, err = run_cli("report", "--data", data, "--out", out_dir)
    finally:
        os.umask(old)
    assert code == 0, err
    assert (out_dir / "report.html").exists() and (out_dir / "provenance.csv").exists()
    for p in out_dir.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o755 if p.is_dir() else 0o644), p
    for csv in out_dir.rglob("*.csv"):
        for line in csv.read_text(encoding="utf-8").splitlines():
            assert not any(c.startswith(("=", "@", "+")) for c in line.split(",")), (csv, line)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _failing(monkeypatch, exc):
    import ipt_outcomes.cli.grim as grim

    def run(args):
        raise exc

    monkeypatch.setattr(grim, "run", run)


@pytest.mark.parametrize(
    ("exc", "status", "message"),
    [
        (MemoryError(), 1, "out of memory: the data or the options ask for more"),
        (np.linalg.LinAlgError("Singular matrix"), 1, "the model cannot be estimated"),
        (
            OSError(errno.ENOSPC, "No space left on device", "out/t.csv"),
            1,
            "ipt-outcomes: out/t.csv: No space left on device",
        ),  # fmt: skip
        (
            PermissionError(errno.EACCES, "Permission denied", "data.csv"),
            1,
            "ipt-outcomes: data.csv: Permission denied",
        ),  # fmt: skip
        (KeyboardInterrupt(), 130, "ipt-outcomes: interrupted; nothing was written"),
        (KeyError("visit"), 1, "internal error (KeyError"),  # a bug is still called one
    ],
    ids=["memory", "singular", "disk-full", "permission", "ctrl-c", "bug"],
)
def test_failures_map_to_one_message_and_an_exit_status(run_cli, monkeypatch, exc, status,
                                                          message):  # fmt: skip
    _failing(monkeypatch, exc)
    code, out, err = run_cli("grim", "--percent", "61", "--n", "27")
    assert code == status and message in err and "Traceback" not in err


def test_library_warnings_are_quiet_and_ours_are_one_line(run_cli, monkeypatch):
    from ipt_outcomes.exceptions import ConvergenceWarning

    def noisy(args):
        warnings.warn("ill-conditioned", RuntimeWarning, stacklevel=1)
        warnings.warn("fell back to cs", ConvergenceWarning, stacklevel=1)
        return 0

    import ipt_outcomes.cli.grim as grim

    monkeypatch.setattr(grim, "run", noisy)
    code, out, err = run_cli("grim", "--percent", "61", "--n", "27")
    assert code == 0
    assert err == "ipt-outcomes: warning: fell back to cs\n"


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`ipt-outcomes validate FILE | head -1` on a file with thousands of problems: the rest
    of the listing goes nowhere, with no traceback and no "internal error"."""
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "subject_id,arm,visit,hamd17\n" + "".join(f"S{i},TAU,0,x\n" for i in range(20000))
    )
    shell = f"'{sys.executable}' -m ipt_outcomes.cli validate '{bad}' | head -1"
    proc = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=300)
    assert proc.stdout.startswith(f"{bad}: 20000 problems with the data")
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mmrm", "x.csv", "--alpha", "1.5"], "--alpha: must be between 0 and 1"),
        (["power", "--rates", "0.4,0.6", "--n-per-arm", "20", "--sims", "0"], "at least 1"),
        (["grim", "--percent", "150", "--n", "20"], "between 0 and 100"),
        (["fragility", "--events", "-1,5", "--totals", "9,9"], "counts cannot be negative"),
        (["simulate", "--seed", "1", "--out", "t.csv", "--n-per-arm", "100000000"], "at most"),
        (["power", "--rates", "0.4,0.6", "--n-per-arm", "9", "--target-power", "1"], "between 0"),
        (["response", "x.csv", "--alpha", "nan"], "expected a finite number"),
        (["validate", "x.csv", "--baseline-visit", "-1"], "must not be negative"),
    ],
)
def test_arguments_are_range_checked_where_parsed(run_cli, tmp_path, args, message):
    code, out, err = run_cli(*args)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_malformed_published_figures_file_is_a_user_error(run_cli, project_trial_csv, tmp_path):
    (tmp_path / "published.csv").write_text("arm,visit,rate\nTAU,3,abc\n")
    design = tmp_path / "design.toml"
    design.write_text('[published]\nfigures = "published.csv"\n')
    code, out, err = run_cli("report", "--data", project_trial_csv, "--design", design,
                             "--out", tmp_path / "out")  # fmt: skip
    assert code == 1 and "internal error" not in err and "published.csv" in err, err
    assert not (tmp_path / "out").exists()
