"""``ipt-outcomes plan`` and ``report`` on a trial with a declared plan (tests/reference/plan):
the plan printed without running, refusals naming what does not exist, and the report running
exactly the plan - ard.csv equal to the library's, the endpoints in the plan's order."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.plan import run_plan

from .conftest import ROOT

REF = ROOT / "tests" / "reference" / "plan"
DATA = REF / "plan_trial.csv"
DESIGN = REF / "plan_trial.toml"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from ipt_outcomes.cli import main

    out = tmp_path_factory.mktemp("planreport")
    assert main(["report", "--data", str(DATA), "--design", str(DESIGN), "--out", str(out)]) == 0
    return out


def test_plan_prints_what_the_report_would_run_without_running_it(run_cli):
    code, out, err = run_cli("plan", DATA, "--design", DESIGN)
    assert code == 0, err
    trial = load_trial(DATA, DESIGN)
    plan = trial.design.plan
    # every endpoint, in order, with its population size from the flag column
    positions = [out.index(f". {e.id} ({e.role})") for e in plan.endpoints]
    assert positions == sorted(positions)
    raw = pd.read_csv(DATA)
    n_pp = raw.loc[raw["PPROTFL"] == "Y", "USUBJID"].nunique()
    assert f"flag PPROTFL = Y): n = {n_pp}" in out
    assert "a fixed testing sequence" in out
    for s in plan.sensitivity:
        assert s.id in out
    assert "by REGION" in out
    assert "Wrote" not in err  # nothing was written


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('population = "pp"', 'population = "per-protocol"',
         r"endpoints\[3\]\.population: population 'per-protocol' does not exist"),
        ('estimand = "rescue-jr"', 'estimand = "rescue-j"', r"estimand 'rescue-j' does not exist"),
        ('family = ["primary", "key-secondary"]', 'family = ["primary", "key-secondry"]',
         r"endpoint 'key-secondry' does not exist; did you mean 'key-secondary'"),
        ('column = "REGION"', 'column = "REGIONS"',
         r"subgroup column 'REGIONS' is not a column .*did you mean 'REGION'"),
        ('flag = "PPROTFL"', 'flag = "PPFL"', r"flag column 'PPFL' is not a column"),
    ],
)  # fmt: skip
def test_a_plan_naming_what_does_not_exist_is_refused_naming_it(run_cli, tmp_path, old, new,
                                                                message):  # fmt: skip
    text = DESIGN.read_text(encoding="utf-8")
    assert old in text
    for f in REF.glob("*.csv"):
        shutil.copy(f, tmp_path / f.name)
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    for command in (
        ("plan", tmp_path / "plan_trial.csv"),
        ("report", "--data", tmp_path / "plan_trial.csv", "--out", tmp_path / "r"),
    ):
        code, out, err = run_cli(*command, "--design", bad)
        assert code == 1, (command, err)
        assert re.search(message, err), err
        assert "Traceback" not in err and "internal error" not in err
    assert not (tmp_path / "r").exists()


def test_the_report_runs_exactly_the_plan_in_its_order(report):
    trial = load_trial(DATA, DESIGN)
    plan = trial.design.plan
    analyses = pd.read_csv(report / "tables" / "analyses.csv", keep_default_na=False)
    want = ([e.id for e in plan.endpoints] + [s.id for s in plan.sensitivity]
            + [g.id for g in plan.subgroups])  # fmt: skip
    assert list(analyses["id"]) == want
    html = (report / "report.html").read_text(encoding="utf-8")
    groups = [g for g in re.findall(r'<h3 class="group" id="group-([^"]+)"', html)
              if g != "descriptive"]  # fmt: skip
    assert groups == [e.id for e in plan.endpoints] + ["multiplicity"] + want[len(plan.endpoints) :]
    doc = json.loads((report / "plan.json").read_text(encoding="utf-8"))
    assert [e["id"] for e in doc["endpoints"]] == [e.id for e in plan.endpoints]
    assert doc["multiplicity"]["method"] == "hierarchical"


def test_ard_csv_is_the_plans_analysis_results_data(report):
    """The report's ard.csv holds exactly run_plan's numbers (the library's, checked against R in
    test_plan_reference.py)."""
    trial = load_trial(DATA, DESIGN)
    want = run_plan(trial).ard()
    got = pd.read_csv(report / "ard.csv", keep_default_na=False, dtype=str)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    ident = [c for c in want.columns if c != "value"]
    w = want.astype({c: str for c in ident}).assign(
        visit=want["visit"].map(lambda v: "" if v == "" else f"{float(v):g}"))  # fmt: skip
    g = got.assign(visit=got["visit"].map(lambda v: "" if v == "" else f"{float(v):g}"),
                   value=got["value"].astype(float))  # fmt: skip
    merged = w.merge(g, on=ident, suffixes=("_lib", "_csv"))
    assert len(merged) == len(want)
    off = merged[~np.isclose(merged["value_lib"], merged["value_csv"], rtol=1e-12, atol=0)]
    assert off.empty, off.head().to_dict("records")
