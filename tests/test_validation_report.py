"""make validation (validation/build.py): the plan maps every test module, command and table; the
report follows the tests to their references and tolerances and says what the run proved."""

from __future__ import annotations

import csv
import importlib.util
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from ipt_outcomes.cli import COMMANDS

from .conftest import ROOT

spec = importlib.util.spec_from_file_location("validation_build", ROOT / "validation" / "build.py")
build = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = build  # dataclasses look their module up
spec.loader.exec_module(build)

REFERENCE = "tests/reference"
PLAN = tomllib.loads((ROOT / "validation" / "requirements.toml").read_text(encoding="utf-8"))


def _junit(path: Path, cases: list[tuple[str, str, str]]) -> Path:
    """A JUnit XML as pytest writes it: (node id, outcome, message) per case."""
    body = []
    for nodeid, outcome, message in cases:
        module, name = nodeid.split("::", 1)
        inner = {"passed": "", "failed": f'<failure message="{message}">x</failure>',
                 "skipped": f'<skipped message="Skipped: {message}" />'}[outcome]  # fmt: skip
        body.append(
            f'<testcase classname="{module[:-3].replace("/", ".")}" name="{name}" time="0.1">'
            f'<properties><property name="nodeid" value="{nodeid}" /></properties>{inner}</testcase>'
        )
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
        f'timestamp="2026-01-02T03:04:05.000+00:00">{"".join(body)}</testsuite></testsuites>',
        encoding="utf-8",
    )
    return path


# --- the plan itself --------------------------------------------------------------------------


def test_every_test_module_is_mapped_to_a_requirement():
    patterns = [p for r in PLAN["requirement"] for p in r.get("tests", [])]
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py"))
    assert [m for m in modules if not build.module_is_mapped(m, patterns)] == []


def test_every_requirement_that_is_not_pending_names_test_files_that_exist():
    for req in PLAN["requirement"]:
        if req.get("pending"):
            continue
        files = {p.split("::", 1)[0] for p in req["tests"]}
        for f in files:
            assert list(ROOT.glob(f)), f"{req['id']}: no file matches {f}"


def test_every_command_of_the_cli_is_in_a_requirement():
    covered = {c for r in PLAN["requirement"] for c in r.get("commands", [])}
    assert {name for name, *_ in COMMANDS} <= covered


def test_every_reference_in_the_plan_exists_or_is_pending_or_outside():
    pending = {k for r in PLAN["requirement"] if r.get("pending") for k in r.get("references", [])}
    for key in {
        *PLAN["references"],
        *(k for r in PLAN["requirement"] for k in r.get("references", [])),
    }:
        if key.startswith(("published:", "../shared/")) or key in pending:
            continue
        assert (ROOT / key).exists(), key


def test_requirement_ids_are_unique():
    ids = [r["id"] for r in PLAN["requirement"]]
    assert len(ids) == len(set(ids))


# --- the pieces -------------------------------------------------------------------------------


def test_patterns_match_files_and_node_names():
    node = "tests/test_response_reference.py::test_gee_exchangeable_matches_geepack[dia]"
    assert build.matches(node, "tests/test_response_reference.py")
    assert build.matches(node, "tests/test_response_*.py")
    assert build.matches(node, "tests/test_response_reference.py::test_gee_*")
    assert not build.matches(node, "tests/test_response_reference.py::test_rates_*")
    assert not build.matches(node, "tests/test_response.py")
    assert build.matches(
        "src/ipt_outcomes/format.py::ipt_outcomes.format.fmt", "src/ipt_outcomes/*"
    )


def test_a_tests_references_and_tolerances_are_found_through_the_names_it_uses(tmp_path):
    module = tmp_path / "test_x.py"
    module.write_text(textwrap.dedent('''
        import numpy as np
        import pytest
        REF = ROOT / "tests" / "reference" / "response"
        OTHER = ROOT / "tests" / "reference" / "lmm"
        ROWS = read(REF / "x.csv")
        CASES = list(ROWS)

        def check(a, b):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)

        @pytest.fixture
        def gls():
            return read("tests/reference/mmrm/gls_riesby_fit.csv")

        @pytest.mark.parametrize("case", CASES)
        def test_uses_rows_through_the_parametrize_list(case):
            check(case, case)

        def test_uses_a_fixture(gls):
            assert gls == pytest.approx(1.0, abs=1e-3)

        def test_reads_nothing():
            assert "see tests/reference/lmm for more" and "reference/x y"
    '''), encoding="utf-8")  # fmt: skip
    index = build.ModuleIndex(module)
    a = index.test("test_uses_rows_through_the_parametrize_list")
    # (the expected folders are not written as paths here, or this test would read as a reference)
    assert a.references == {f"{REFERENCE}/response"}
    assert a.tolerances == {"rtol=1e-6", "atol=1e-8"}
    b = index.test("test_uses_a_fixture")
    assert b.references == {f"{REFERENCE}/mmrm"} and b.tolerances == {"abs=1e-3"}
    c = index.test("test_reads_nothing")
    assert c.references == set() and c.tolerances == set()


def test_r_and_package_versions_are_read_from_session_info(tmp_path):
    (tmp_path / "sessionInfo.txt").write_text(
        "R version 4.2.2 Patched (2022-11-10 r83330)\n\nother attached packages:\n"
        "[1] dplyr_1.0.10 rbmi_1.5.2  \n\nloaded via a namespace (and not attached):\n"
        " [1] Rcpp_1.0.10\n",
        encoding="utf-8",
    )
    (tmp_path / "versions.txt").write_text("mice 3.15.0\n", encoding="utf-8")
    assert build._versions(tmp_path) == "R 4.2.2; dplyr 1.0.10, rbmi 1.5.2, mice 3.15.0"


def test_spec_commands_and_tables_are_read_from_its_tables(tmp_path):
    spec_md = tmp_path / "SPEC.md"
    spec_md.write_text(
        "## Input\n| `arm` | text |\n## Command line\n"
        "| `validate FILE` | checks |\n| `grim --percent P` | x | `grim.csv`: `n` |\n"
        "## Output tables\n`response_rates.csv`: `arm`. Events come from `events.csv`.\n",
        encoding="utf-8",
    )
    commands, outputs = build.spec_names(spec_md, ["events.csv"])
    assert commands == {"validate", "grim"}
    assert outputs == {"grim.csv", "response_rates.csv"}


# --- the report -------------------------------------------------------------------------------


def _plan(tmp_path, extra: str = "") -> Path:
    commands = ", ".join(f'"{name}"' for name, *_ in COMMANDS)
    path = tmp_path / "requirements.toml"
    path.write_text(textwrap.dedent(f'''
        [[requirement]]
        id = "GEE"
        title = "GEE"
        commands = [{commands}]
        tests = ["tests/test_response_reference.py"]
        references = ["tests/reference/response"]

        [[requirement]]
        id = "EVERYTHING"
        title = "every module"
        pending = true
        tests = ["tests/*.py", "src/*"]

        [[requirement]]
        id = "RULES"
        title = "rules only"
        tests = ["tests/test_derive.py"]

        [[requirement]]
        id = "LATER"
        title = "planned"
        pending = true
        tests = ["tests/test_later*.py"]
    ''') + extra, encoding="utf-8")  # fmt: skip
    return path


def _run(tmp_path, plan: Path, cases) -> tuple[int, dict, str]:
    junit = _junit(tmp_path / "junit.xml", cases)
    out = tmp_path / "out"
    code = build.main(["--requirements", str(plan), "--junit", str(junit), "--coverage",
                       str(tmp_path / "none.json"), "--spec", str(tmp_path / "no-spec.md"),
                       "--out", str(out)])  # fmt: skip
    with (out / "traceability.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    status = {r["requirement"]: r["status"] for r in rows}
    return code, status, (out / "index.html").read_text(encoding="utf-8")


GEE = "tests/test_response_reference.py::test_gee_exchangeable_matches_geepack[dia]"
RULE = "tests/test_derive.py::test_remission_is_score_seven_or_less"


def test_statuses_follow_the_run_and_pending_is_not_yet_validated(tmp_path):
    code, status, html = _run(
        tmp_path, _plan(tmp_path), [(GEE, "passed", ""), (RULE, "passed", "")]
    )
    assert status == {"GEE": "validated", "RULES": "tested, no reference comparison",
                      "EVERYTHING": "not yet validated", "LATER": "not yet validated"}  # fmt: skip
    assert code == 0
    assert "2026-01-02 03:04:05 UTC" in html and "R 4.2.2" in html  # the response sessionInfo


def test_a_failed_test_fails_the_build_and_shows_in_the_report(tmp_path):
    code, status, html = _run(
        tmp_path, _plan(tmp_path), [(GEE, "failed", "off by 1e-3"), (RULE, "passed", "")]
    )
    assert code == 1 and status["GEE"] == "FAILED" and "off by 1e-3" in html


def test_skipped_tests_are_not_run_with_their_reason(tmp_path):
    code, status, html = _run(
        tmp_path, _plan(tmp_path), [(GEE, "skipped", "no chromium"), (RULE, "passed", "")]
    )
    assert code == 0 and status["GEE"] == "not run" and "no chromium" in html


def test_a_requirement_without_a_test_fails_the_build_unless_pending(tmp_path):
    extra = '\n[[requirement]]\nid = "NEW"\ntitle = "new"\ntests = ["tests/test_nothing.py"]\n'
    code, status, html = _run(tmp_path, _plan(tmp_path, extra), [(GEE, "passed", "")])
    assert code == 1 and status["NEW"] == "NO TEST" and "NEW: no test matches" in html
    assert status["LATER"] == "not yet validated"


def test_a_test_module_mapped_to_no_requirement_fails_the_build(tmp_path):
    plan = _plan(tmp_path).read_text(encoding="utf-8").replace('"tests/*.py", ', "")
    (tmp_path / "requirements.toml").write_text(plan, encoding="utf-8")
    code, _, html = _run(tmp_path, tmp_path / "requirements.toml", [(RULE, "passed", "")])
    assert code == 1 and "tests/test_output.py is mapped to no requirement" in html


@pytest.mark.parametrize("missing", ["command", "spec"])
def test_a_command_or_spec_table_in_no_requirement_fails_the_build(tmp_path, missing):
    plan = _plan(tmp_path)
    if missing == "command":
        plan.write_text(plan.read_text(encoding="utf-8").replace('"grim", ', ""), encoding="utf-8")
    (tmp_path / "no-spec.md").write_text(
        "## Command line\n| `grim --n N` | x | `grim.csv` |\n", encoding="utf-8"
    )
    code, _, html = _run(tmp_path, plan, [(GEE, "passed", ""), (RULE, "passed", "")])
    assert code == 1
    if missing == "command":
        assert "command grim (ipt_outcomes.cli.COMMANDS) is in no requirement" in html
    else:
        assert "SPEC.md output table grim.csv is in no requirement" in html


def test_the_report_is_the_same_bytes_for_the_same_run(tmp_path):
    plan = _plan(tmp_path)
    cases = [(GEE, "passed", ""), (RULE, "skipped", "why")]
    first = _run(tmp_path, plan, cases)[2]
    assert _run(tmp_path, plan, cases)[2] == first
