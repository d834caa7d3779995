"""Acceptance check of issue 24 on a trial the project had not seen.

The trial: tests/reference/instruments_acceptance/ - acc2.csv (make_acc2_data.py, seeded), a two-arm
trial in ADaM BDS shape with PARAMCD WHO5PCT (WHO-5 percentage score 0-100, higher is better,
listed first in the design) and HAMDTOT (HAM-D 17, 0-52, lower is better), text visit codes
(AVISIT), the baseline record flagged ABLFL, and ANL01FL = "N" on rows that must be left out:
LOCF-derived records (DTYPE), UNSCHEDULED visits outside the schedule, repeated assessments with
another value, out-of-window records that are a subject's only one at the visit, repeated
baselines; SCREENING rows have ANL01FL empty. One design file (acc2.toml) describes both.

Reference numbers: make_reference.R (R 4.2.2; prop.test, fisher.test, mmrm with Kenward-Roger
and Satterthwaite, emmeans, clinicalsignificance; sessionInfo.txt), computed from the raw file
with the design written out there. Tolerances (README.md): counts and categories exactly;
response 1e-6 relative; MMRM estimates, SEs and limits 1e-4 relative (1e-4 absolute near 0),
p 1e-3 relative, df 0.05, -2 log-likelihood 1e-3; reliable change 1e-10 (closed form), Wilson
limits 1e-9.

Also: the report on the higher-is-better instrument speaks its direction everywhere (acc2_plan.toml),
and a 1000-subject trial with continuous scores goes through design, validate, mmrm, lmm and
report without an internal error.
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.cli import main

from .conftest import ROOT, sha256

REF = ROOT / "tests" / "reference" / "instruments_acceptance"
DATA, DESIGN, PLAN = REF / "acc2.csv", REF / "acc2.toml", REF / "acc2_plan.toml"
INSTRUMENTS = {"who5": ("WHO-5", "WHO5PCT"), "hamd": ("HAM-D 17", "HAMDTOT")}
RULES = ("observed", "nri", "locf")
CUTOFFS = ("a", "b", "c")
DFS = {"kr": [], "satterthwaite": ["--df", "satterthwaite"]}


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def r_csv(name):
    return pd.read_csv(REF / name, dtype={"arm": str, "reference": str, "visit": str})


def read(path):
    return pd.read_csv(path, dtype={"arm": str, "reference": str, "visit": str})


def raw():
    return pd.read_csv(DATA, dtype={"ABLFL": str, "ANL01FL": str, "AVISIT": str},
                       keep_default_na=False, na_values={"AVAL": [""]})  # fmt: skip


def close(py, r, cols, rtol=1e-6, atol=1e-8):
    assert len(py) == len(r) and len(r)
    for c in cols:
        np.testing.assert_allclose(
            py[c].to_numpy(float), r[c].to_numpy(float), rtol=rtol, atol=atol, err_msg=c
        )


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """validate, response (three rules), mmrm (Kenward-Roger, Satterthwaite) and
    reliable-change (cut-offs a, b, c) for each instrument, through the command line."""
    base = tmp_path_factory.mktemp("acc2")
    before = sha256(DATA)
    out = {}
    for tag, (name, _) in INSTRUMENTS.items():
        common = ["--design", DESIGN, "--instrument", name]
        runs = {f"response_{rule}": ["response", "--missing", rule] for rule in RULES}
        runs.update({f"mmrm_{df}": ["mmrm", *flags] for df, flags in DFS.items()})
        runs.update({f"rc_{c}": ["reliable-change", "--cutoff", c, "--no-figure"] for c in CUTOFFS})
        texts = {}
        for folder, args in runs.items():
            code, _, err = cli(args[0], DATA, *common, *args[1:], "--out", base / tag / folder)
            assert code == 0, err
            assert "internal error" not in err
            texts[folder] = err
        code, stdout, err = cli("validate", DATA, *common)
        assert code == 0, err
        texts["validate"] = stdout
        out[tag] = (base / tag, texts)
    assert sha256(DATA) == before
    return out


@pytest.mark.parametrize("tag", list(INSTRUMENTS))
def test_validate_says_which_rows_are_left_out_by_the_analysis_flag(outputs, tag):
    d = raw()
    d = d[d["PARAMCD"] == INSTRUMENTS[tag][1]]
    n_no, n_empty = int((d["ANL01FL"] == "N").sum()), int((d["ANL01FL"] == "").sum())
    assert n_no > 100 and n_empty == 140  # the traps are there
    text = outputs[tag][1]["validate"]
    assert f"{n_no + n_empty} rows with ANL01FL other than 'Y' ({n_empty} empty, {n_no} 'N') " \
           "are left out" in text  # fmt: skip
    higher = tag == "who5"
    assert ("higher is better" if higher else "lower is better") in text


def test_the_rows_flagged_out_would_change_every_count():
    """The test can fail: keeping the ANL01FL = "N" rows (LOCF-derived records, repeated and
    out-of-window assessments) would change the number assessed at every post-baseline visit
    of some arm; the R reference counts only "Y" rows."""
    d = raw()
    r = r_csv("who5_observed_rates.csv")
    r = r[r["endpoint"] == "responder"].set_index(["arm", "visit"])["n"]
    every = d[(d["PARAMCD"] == "WHO5PCT") & d["AVAL"].notna() & (d["AVISIT"] != "BASELINE")]
    every = every[every["AVISIT"].isin(["WEEK 4", "WEEK 8", "WEEK 12", "WEEK 16"])]
    kept = every.drop_duplicates(["USUBJID", "AVISIT"]).groupby(["TRT01P", "AVISIT"]).size()
    kept.index.names = ["arm", "visit"]
    kept = kept.reindex(r.index)
    assert (kept > r).any()
    assert (kept.xs("WEEK 16", level="visit") > r.xs("WEEK 16", level="visit")).all()


@pytest.mark.parametrize("tag", list(INSTRUMENTS))
@pytest.mark.parametrize("rule", RULES)
def test_response_and_remission_equal_r(outputs, tag, rule):
    folder = outputs[tag][0] / f"response_{rule}"
    rates_r = r_csv(f"{tag}_{rule}_rates.csv")
    comps_r = r_csv(f"{tag}_{rule}_comparisons.csv")
    for endpoint, stem, events in (("responder", "response", "responders"),
                                   ("remitter", "remission", "remitters")):  # fmt: skip
        r = rates_r[rates_r["endpoint"] == endpoint]
        py = read(folder / f"{stem}_rates.csv")
        m = r.merge(py, on=["arm", "visit"], suffixes=("_r", ""), validate="1:1")
        assert len(m) == len(r) == len(py)
        assert (m["n"] == m["n_r"]).all() and (m[events] == m["events"]).all(), stem
        close(m, m.rename(columns=lambda c: c[:-2] if c.endswith("_r") else c + "_py"),
              ["rate", "ci_low", "ci_high"])  # fmt: skip
        c = comps_r[comps_r["endpoint"] == endpoint]
        pc = read(folder / f"{stem}_comparisons.csv")
        m = c.merge(pc, on=["arm", "reference", "visit"], suffixes=("_r", ""), validate="1:1")
        assert len(m) == len(c) == len(pc)
        cols = ["risk_difference", "rd_ci_low", "rd_ci_high", "risk_ratio", "rr_ci_low",
                "rr_ci_high", "odds_ratio", "or_ci_low", "or_ci_high", "p_fisher"]  # fmt: skip
        for col in cols:
            np.testing.assert_allclose(m[col].to_numpy(float), m[f"{col}_r"].to_numpy(float),
                                       rtol=1e-6, atol=1e-9, err_msg=f"{stem} {col}")  # fmt: skip


@pytest.mark.parametrize("tag", list(INSTRUMENTS))
@pytest.mark.parametrize("df", list(DFS))
def test_mmrm_equals_r(outputs, tag, df):
    folder = outputs[tag][0] / f"mmrm_{df}"
    for table in ("lsmeans", "contrasts"):
        r = r_csv(f"{tag}_mmrm_{df}_{table}.csv")
        py = read(folder / f"mmrm_{table}.csv")
        m = r.merge(py, on=["arm", "visit"], suffixes=("_r", ""), validate="1:1")
        assert len(m) == len(r) == len(py)
        for col in ["estimate", "se", "ci_low", "ci_high"] + (
            ["t"] if table == "contrasts" else []
        ):
            np.testing.assert_allclose(m[col], m[f"{col}_r"], rtol=1e-4, atol=1e-4,
                                       err_msg=f"{table} {col}")  # fmt: skip
        np.testing.assert_allclose(m["df"], m["df_r"], rtol=0, atol=0.05, err_msg=f"{table} df")
        if table == "contrasts":
            np.testing.assert_allclose(m["p"], m["p_r"], rtol=1e-3, atol=1e-12)
    fit_r, fit = r_csv(f"{tag}_mmrm_{df}_fit.csv"), read(folder / "mmrm_fit.csv")
    assert fit["n_subjects"].iloc[0] == fit_r["n_subjects"].iloc[0]
    assert fit["n_obs"].iloc[0] == fit_r["n_obs"].iloc[0]
    assert abs(fit["neg2_reml_loglik"].iloc[0] - fit_r["neg2_reml_loglik"].iloc[0]) < 1e-3


@pytest.mark.parametrize("tag", list(INSTRUMENTS))
@pytest.mark.parametrize("cutoff", CUTOFFS)
def test_reliable_change_equals_clinicalsignificance(outputs, tag, cutoff):
    folder = outputs[tag][0] / f"rc_{cutoff}"
    d = 1 if tag == "who5" else -1
    s = r_csv(f"{tag}_rc_subjects.csv")
    s = s[s["cutoff_type"] == cutoff]
    py = read(folder / "reliable_change.csv")
    m = s.merge(py, on=["subject_id", "visit"], suffixes=("_r", ""), validate="1:1")
    assert len(m) == len(s) == len(py)
    assert (m["arm"] == m["arm_r"]).all()
    close(m, m.assign(baseline=m["baseline_r"], score=m["score_r"], change=m["change_r"],
                      rci=d * m["rci_r"]), ["baseline", "score", "change", "rci"], rtol=1e-10)  # fmt: skip
    bad = m[m["category"] != m["category_r"]]
    assert bad.empty, bad[["subject_id", "visit", "category", "category_r"]]
    assert m["category"].nunique() >= 3  # several categories exercised
    crit_r = r_csv(f"{tag}_rc_criteria.csv")
    crit_r = crit_r[crit_r["cutoff_type"] == cutoff]
    crit = read(folder / "reliable_change_criteria.csv")
    m = crit_r.merge(crit, on="visit", suffixes=("_r", ""), validate="1:1")
    assert len(m) == len(crit_r) == 4 and (m["n"] == m["n_r"]).all()
    for col in ("m_clinical", "sd_clinical", "s_diff", "cutoff"):
        np.testing.assert_allclose(m[col], m[f"{col}_r"], rtol=1e-10, err_msg=col)
    rates_r = r_csv(f"{tag}_rc_rates.csv")
    rates_r = rates_r[rates_r["cutoff_type"] == cutoff]
    rates = read(folder / "reliable_change_rates.csv")
    m = rates_r.merge(rates, on=["arm", "visit", "category"], suffixes=("_r", ""), validate="1:1")
    assert len(m) == len(rates_r)
    assert (m["n"] == m["n_r"]).all() and (m["count"] == m["count_r"]).all()
    for col in ("rate", "ci_low", "ci_high"):
        np.testing.assert_allclose(m[col], m[f"{col}_r"], rtol=1e-9, atol=1e-12, err_msg=col)


# ------------------------------------------------------------------------------------------
# the report on the higher-is-better instrument


@pytest.fixture(scope="module")
def who5_report(tmp_path_factory):
    """The report of the plan (acc2_plan.toml: WHO-5 endpoints and one HAM-D 17 endpoint)."""
    from ipt_outcomes.report.html import read_tables

    out = tmp_path_factory.mktemp("acc2_report") / "report"
    code, _, err = cli("report", "--data", DATA, "--design", PLAN, "--out", out)
    assert code == 0 and "internal error" not in err, err
    return out, read_tables(out / "tables")


def test_the_report_on_the_higher_is_better_instrument_speaks_its_direction(who5_report):
    out, tables = who5_report
    notes = tables["tlf_footnotes"].groupby("name")["text"].apply(" ".join)
    assert "higher scores mean better outcomes" in notes["descriptive_scores"]
    assert "positive values are improvement" in notes["descriptive_change"]
    assert "positive values favour the arm" in notes["primary-contrasts"]
    assert "positive values favour the arm" in notes["primary-mi-JR-contrasts"]
    assert "negative values favour the arm" in notes["hamd-contrasts"]  # HAM-D: lower is better
    favour = notes[notes.str.contains("negative values favour|negative g favours")]
    assert list(favour.index) == ["hamd-contrasts"]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (out / "report.html").read_text()))
    assert "remission (WHO-5 of 52 or more)" in text.lower().replace("who-5", "WHO-5")
    assert "lower is better" not in text.replace("HAM-D 17", "")  # no WHO-5 sentence says so
    trial = tables["trial"].set_index("key")["value"]
    assert trial["higher_is_better"] == "True" and trial["instrument"] == "WHO-5"


def test_remission_is_defined_in_each_instruments_direction_wherever_the_plan_names_it():
    """Regression: a plan's remission endpoint was described as "remission on WHO-5", its
    threshold (and so its direction) stated nowhere in the report."""
    from ipt_outcomes.data.trial import load_trial
    from ipt_outcomes.plan.describe import remission_variable

    trial = load_trial(DATA, PLAN)
    assert remission_variable("WHO-5", trial) == "remission (WHO-5 of 52 or more)"
    assert remission_variable("HAM-D 17", trial) == "remission (HAM-D 17 of 7 or less)"
    code, out, err = cli("plan", DATA, "--design", PLAN)
    assert code == 0, err
    assert (
        "who5-remission (secondary): remission (WHO-5 of 52 or more) at Week 16: rates and" in out
    )


def test_the_waterfall_of_the_higher_is_better_instrument_rises_with_improvement(who5_report):
    """Regression: the waterfall drew WHO-5 improvement as a negative "Change from baseline (%)"
    (the lower-is-better convention) with the response line at -50%."""
    from ipt_outcomes.report.figures import FigureLabels, waterfall_plot

    _, tables = who5_report
    d = raw()
    d = d[(d["PARAMCD"] == "WHO5PCT") & (d["ANL01FL"] == "Y")]
    base = d[d["ABLFL"] == "Y"].set_index("USUBJID")["AVAL"]
    w16 = d[(d["AVISIT"] == "WEEK 16") & d["AVAL"].notna() & d["USUBJID"].isin(base.index)]
    expected = (
        100
        * (w16["AVAL"] - base[w16["USUBJID"]].to_numpy())
        / (100 - base[w16["USUBJID"]].to_numpy())
    )
    wf = tables["waterfall"]
    got = wf.set_index("subject_id")["percent_change"].astype(float)
    exp = pd.Series(expected.to_numpy(), index=w16["USUBJID"].to_numpy())
    np.testing.assert_allclose(got[exp.index], exp, rtol=1e-12)
    assert (got > 0).mean() > 0.9  # WHO-5 rose for most participants
    assert (
        (wf["percent_change"].astype(float) >= 50) == (wf["responder"].astype(str) == "True")
    ).all()
    for _, arm in wf.groupby("arm", sort=False):  # from worsening to improvement
        assert arm["percent_change"].astype(float).is_monotonic_increasing
    from ipt_outcomes.data.trial import load_trial

    internal = _internal_visits(tables, load_trial(DATA, PLAN))
    fig = waterfall_plot(internal["waterfall"], FigureLabels.from_tables(internal))
    lines = [layer for layer in fig.layers if type(layer.geom).__name__ == "geom_hline"]
    assert [float(y) for line in lines for y in line.geom.data["yintercept"]] == [50.0]
    assert "room to improve" in fig.labels.y


def _internal_visits(tables, trial):
    """The exported tables with their visit codes ("WEEK 16") turned back into the design's
    internal visit values, as the report draws its figures from them."""
    design = trial.design
    value = {design.visit_code(v): v for v in trial.visits}
    out = {}
    for name, t in tables.items():
        cols = [c for c in ("visit", "visit2", "last_visit") if c in t.columns]
        out[name] = t.assign(**{c: [value.get(str(v), v) if v == v else v for v in t[c]]
                                for c in cols})  # fmt: skip
    return out


def test_the_figures_of_the_higher_is_better_report_pass_the_house_checks(who5_report):
    from ipt_outcomes.data.trial import load_trial

    from .test_report_figures import check_figures, figures_of

    trial = load_trial(DATA, PLAN)
    tables = _internal_visits(who5_report[1], trial)
    check_figures(tables, trial.scores)  # nothing clipped, arm colours for arms only, minus signs
    figs = {name: f for name, _, _, f in figures_of(tables, trial.scores)}
    assert "positive: better" in figs["primary-tipping-point-figure"].labels.x
    assert "room to improve" in figs["waterfall"].labels.y


# ------------------------------------------------------------------------------------------
# 1000 subjects, continuous scores


def _continuous_trial(seed: int) -> pd.DataFrame:
    """1000 subjects, two arms, monthly visits 0-10 with monotone dropout and gaps; a
    lower-is-better mean item score 0-3 with six decimals (never a whole number)."""
    rng = np.random.default_rng(seed)
    n = 1000
    arm = rng.choice(["Active therapy", "Waitlist"], n)
    rows = []
    for i in range(n):
        b = rng.uniform(1.2, 2.9)
        eff = 0.5 if arm[i] == "Active therapy" else 0.2
        u, drop = rng.normal(0, 0.25), rng.integers(3, 12)
        for m in range(min(drop, 11)):
            y = b if m == 0 else (b - eff * (1 - np.exp(-m / 3)) + u * m / 10
                                  + rng.normal(0, 0.2))  # fmt: skip
            if m > 0 and rng.random() < 0.05:
                continue
            rows.append(dict(pid=f"P{i:05d}", group=arm[i], month=m,
                             symptoms=float(np.clip(y, 0.001, 2.999))))  # fmt: skip
    return pd.DataFrame(rows)


def test_a_1000_subject_trial_with_continuous_scores_runs_through_every_command(tmp_path):
    data = tmp_path / "big.csv"
    _continuous_trial(20261207).to_csv(data, index=False, float_format="%.6f")
    toml = tmp_path / "big.toml"
    flags = ["--subject-col", "pid", "--arm-col", "group", "--visit-col", "month",
             "--outcome-col", "symptoms"]  # fmt: skip
    code, _, err = cli("design", data, *flags, "--out", toml)
    assert code == 0, err
    text = toml.read_text()
    assert "integer = false" in text and "higher_is_better = false" in text
    toml.write_text(text.replace('unit = ""', 'unit = "months"')
                    .replace('reference = "Active therapy"', 'reference = "Waitlist"'))  # fmt: skip
    code, out, err = cli("validate", data, "--design", toml)
    assert code == 0, err
    assert "1000 subjects" in out and "continuous; lower is better" in out
    for args in (["mmrm"], ["lmm", "--random-slope"]):
        code, out, err = cli(
            args[0], data, "--design", toml, *args[1:], "--out", tmp_path / args[0]
        )
        assert code == 0 and "internal error" not in err, err
    contrasts = read(tmp_path / "mmrm" / "mmrm_contrasts.csv")
    assert (contrasts["estimate"] < 0).all()  # the active arm improves more (scores fall)
    code, _, err = cli("report", "--data", data, "--design", toml, "--out", tmp_path / "report")
    assert code == 0 and "internal error" not in err, err
    assert (tmp_path / "report" / "report.html").stat().st_size > 0


def test_design_writes_a_starter_for_the_file_whatever_direction_it_guesses(tmp_path):
    """Regression: `design` refused acc2.csv ("baseline score is 0, so percent improvement from
    baseline is undefined") because it read the WHO-5 rows, whose direction it cannot infer,
    as lower-is-better. It writes the starter and says what the direction would change; the
    user's direction then makes the file valid."""
    toml = tmp_path / "acc2.toml"
    code, _, err = cli("design", DATA, "--out", toml)
    assert code == 0, err
    assert "internal error" not in err
    assert "WHO5PCT: 2 subjects (ACC2-0120, ACC2-0230) have a baseline of 0" in err
    assert "set higher_is_better = true" in err
    text = toml.read_text()
    assert 'param = "WHO5PCT"' in text and 'param = "HAMDTOT"' in text
    code, out, err = cli("validate", DATA, "--design", toml, "--instrument", "WHO5PCT")
    assert code == 1 and "baseline score is 0" in out + err  # lower is better, as written
    who5 = text.split('name = "WHO5PCT"')[1].split("[columns]")[0]
    fixed = who5.replace("higher_is_better = false", "higher_is_better = true #").replace(
        "max = 96", "max = 100 #").replace("remission_max = 0", "remission_min = 52 #")  # fmt: skip
    toml.write_text(text.replace(who5, fixed))
    code, out, err = cli("validate", DATA, "--design", toml, "--instrument", "WHO5PCT")
    assert code == 0, err
    assert "higher is better" in out


def test_design_still_refuses_a_file_with_other_problems(tmp_path):
    d = raw()
    d.loc[d.index[5], "TRT01P"] = "Usual care" if d.loc[d.index[5], "TRT01P"] != "Usual care" \
        else "IPT + TAU"  # fmt: skip
    bad = tmp_path / "bad.csv"
    d.to_csv(bad, index=False)
    code, _, err = cli("design", bad, "--out", tmp_path / "bad.toml")
    assert code == 1 and "internal error" not in err
    assert not (tmp_path / "bad.toml").exists()
