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
        # each sensitivity analysis names the estimand it estimates (its own or its endpoint's)
        own = s.estimand or plan.endpoint(s.endpoint).estimand
        line = out[out.index(f"  {s.id}: ") :].splitlines()[1]
        assert line.strip().endswith(f"estimand {own}"), line
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


ADAM = ROOT / "tests" / "reference" / "adam2"
TWO_INSTRUMENTS = """
[[endpoints]]
id = "primary"
role = "primary"
variable = "change"
analysis = "mmrm"
instrument = "HAM-D 17"

[[endpoints]]
id = "wellbeing"
role = "key-secondary"
variable = "change"
analysis = "mmrm"
instrument = "Well-being"

[[endpoints]]
id = "wb-remission"
variable = "remission"
analysis = "response"
instrument = "WBMEAN"

[multiplicity]
method = "hierarchical"
"""


def test_a_plan_over_two_instruments_reads_the_file_once_and_speaks_each_direction(
    tmp_path, run_cli, monkeypatch
):  # fmt: skip
    """Issue 24 with issue 23: endpoints on a lower-is-better and a higher-is-better instrument
    of one analysis-data file; each analysed on its own rows, each worded in its direction."""
    import ipt_outcomes.data.readers as readers

    design = tmp_path / "adam2_plan.toml"
    design.write_text((ADAM / "adam2.toml").read_text(encoding="utf-8") + TWO_INSTRUMENTS,
                      encoding="utf-8")  # fmt: skip
    reads = []
    original = readers.read_table
    monkeypatch.setattr(readers, "read_table", lambda *a, **k: reads.append(a) or original(*a, **k))
    code, _, err = run_cli("report", "--data", ADAM / "adam2.csv", "--design", design,
                           "--out", tmp_path / "r")  # fmt: skip
    assert code == 0, err
    assert len(reads) == 1
    ard = pd.read_csv(tmp_path / "r" / "ard.csv", keep_default_na=False)
    got = ard.groupby("analysis_id")["instrument"].first().to_dict()
    assert got == {"population-fas": "", "primary": "HAM-D 17", "wellbeing": "Well-being",
                   "wb-remission": "Well-being"}  # fmt: skip
    assert set(ard["visit"]) >= {"WEEK 12"}  # visits as in the input
    # the primary is the HAM-D rows' MMRM; the key secondary the well-being rows'
    trial = load_trial(ADAM / "adam2.csv", design)
    wb = load_trial(ADAM / "adam2.csv", design, instrument="Well-being")
    for aid, tr in (("primary", trial), ("wellbeing", wb)):
        from ipt_outcomes.models.mmrm import fit_mmrm

        want = fit_mmrm(tr.subset_arms([a for a in tr.arms])).contrasts()
        rows = ard[(ard["analysis_id"] == aid) & (ard["contrast"] == "difference")
                   & (ard["statistic"] == "estimate") & (ard["visit"] == "WEEK 12")]  # fmt: skip
        w = want[want["visit"] == want["visit"].max()].set_index("arm")["estimate"]
        for r in rows.itertuples():
            assert abs(r.value - w[r.arm]) < 1e-9
    notes = pd.read_csv(tmp_path / "r" / "tables" / "tlf_footnotes.csv", keep_default_na=False)

    def said(name):
        return " ".join(notes.loc[notes["name"] == name, "text"])

    assert "negative values favour the arm" in said("primary-contrasts")
    assert "positive values favour the arm" in said("wellbeing-contrasts")
    assert "negative values" not in said("wellbeing-contrasts")


def test_mi_command_keeps_a_covariate_in_both_models_as_the_plans_sensitivity_does(
    run_cli, tmp_path
):
    """``mi --covariate SEX`` is the same analysis as the plan's MI sensitivity with SEX (checked
    against rbmi in test_plan_reference.py)."""
    import dataclasses

    code, _, err = run_cli("mi", DATA, "--design", DESIGN, "--strategy", "JR", "--covariate",
                           "SEX", "--out", tmp_path / "mi")  # fmt: skip
    assert code == 0, err
    cli = pd.read_csv(tmp_path / "mi" / "mi_contrasts.csv")
    trial = load_trial(DATA, DESIGN)
    plan = trial.design.plan
    from ipt_outcomes.data.analysis_plan import Population

    everyone = Population(id="everyone", rule="baseline")  # as the mi command: no population
    prim = dataclasses.replace(plan.endpoint("primary"), estimand=None, population="everyone")
    plan = dataclasses.replace(
        plan, populations=(everyone,), endpoints=(prim,), estimands=(),
        multiplicity=dataclasses.replace(
            plan.multiplicity, family=("primary",)),
        sensitivity=(dataclasses.replace(plan.sensitivity[-1], endpoint="primary",
                                         estimand=None),),
        subgroups=())  # fmt: skip
    res = run_plan(trial, plan)
    mi = next(r for r in res.results if r.kind == "sensitivity").tables["contrasts"]
    for r in mi.itertuples(index=False):
        hit = cli[(cli["arm"] == r.arm) & (cli["visit"].astype(float) == float(r.visit))]
        assert abs(float(hit["estimate"].iloc[0]) - r.estimate) < 1e-9
    code, _, err = run_cli("mi", DATA, "--design", DESIGN, "--method", "bayes", "--covariate",
                           "SEX", "--out", tmp_path / "b")  # fmt: skip
    assert code == 1 and "condmean and approxbayes" in err


def test_a_reliable_change_endpoint_reports_the_jacobson_truax_categories(tmp_path, run_cli):
    """Issue 24 with issue 23: variable = "reliable-change" gives the categories' rates and the
    comparisons of the reliable-change command (checked against R clinicalsignificance), and its
    family hypothesis is recovery."""
    from ipt_outcomes.stats.reliable_change import reliable_change

    design = tmp_path / "rc.toml"
    design.write_text((ADAM / "adam2.toml").read_text(encoding="utf-8") + """
[[endpoints]]
id = "recovery"
role = "primary"
variable = "reliable-change"
analysis = "response"
""", encoding="utf-8")  # fmt: skip
    trial = load_trial(ADAM / "adam2.csv", design)
    res = run_plan(trial)
    want = reliable_change(trial, visits=[trial.post_visits[-1]])
    got = res.result("recovery").tables["rc_rates"]
    got = got[got["fit"] == "observed"].drop(columns="fit").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want.rates.reset_index(drop=True))
    fam = res.family
    assert len(fam) == 2 and (fam["endpoint"] == "recovery").all()
    comp = want.comparisons
    rec = comp[comp["outcome"] == "recovered"].set_index("arm")["p_fisher"]
    assert dict(zip(fam["arm"], fam["p"], strict=True)) == rec.to_dict()


def test_the_report_reads_the_score_file_once_and_hashes_what_it_read(tmp_path, monkeypatch):
    """Issue 23: each input read once; the provenance's SHA-256 of the data is of the bytes read
    (the file is not read again to hash it)."""
    import hashlib
    from pathlib import Path

    from ipt_outcomes.cli import main

    data = tmp_path / "plan_trial.csv"
    data.write_bytes(DATA.read_bytes())
    reads = []
    original = Path.read_bytes

    def counting(self):
        if self.name == data.name:
            reads.append(self)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    design = tmp_path / "d.toml"
    design.write_text(DESIGN.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "events.csv").write_bytes((REF / "events.csv").read_bytes())
    assert main(["report", "--data", str(data), "--design", str(design), "--out",
                 str(tmp_path / "r")]) == 0  # fmt: skip
    assert len(reads) == 1
    prov = pd.read_csv(tmp_path / "r" / "provenance.csv", dtype=str, keep_default_na=False)
    row = prov[prov["key"].str.startswith("sha256 of data")]
    assert row["value"].iloc[0] == hashlib.sha256(DATA.read_bytes()).hexdigest()
    labels = " ".join(prov["key"])
    assert "sha256 of design" in labels and "events file" in labels
