"""Teaching kit: worksheet rendering (one object, two versions), the RoB 2 file and algorithm,
the baseline-adjustment simulation, and the eight worksheets built end to end on the project's
trial from the report's own tables - every number they share with the report is the report's."""

from __future__ import annotations

import html.parser
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.exceptions import DesignError
from ipt_outcomes.report.views import render
from ipt_outcomes.stats.power import sample_size
from ipt_outcomes.teaching import (
    ReportNumbers,
    Task,
    Worksheet,
    adjustment_scenario,
    frame,
    load_rob2,
    read_report_tables,
    render_worksheet,
    rob2_overall,
    rob2_traffic_light,
    simulate_adjustment,
    summarise_adjustment,
)
from ipt_outcomes.teaching.adjustment import AdjustmentScenario

from .conftest import ROOT

ROB2 = ROOT / "analyses" / "teaching" / "rob2_saloheimo2016.toml"


def _ws():
    return Worksheet(9, "demo", "Demo <b>", "goal", [
        Task("What is 1 + 1?", answer="SECRET-ANSWER two", table=pd.DataFrame({"x": [1.5]}),
             answer_table=pd.DataFrame({"SECRET-TABLE": [2]})),
    ])  # fmt: skip


def test_student_version_hides_every_answer_and_the_key_shows_them():
    student, key = render_worksheet(_ws(), "student"), render_worksheet(_ws(), "key")
    assert "SECRET" not in student and "Your answer" in student
    assert "SECRET-ANSWER two" in key and "SECRET-TABLE" in key and "Your answer" not in key
    for page in (student, key):  # what is given appears in both, escaped
        assert "What is 1 + 1?" in page and "Demo &lt;b&gt;" in page and "<td" in page


def test_render_refuses_an_unknown_version():
    with pytest.raises(ValueError, match="version"):
        render_worksheet(_ws(), "teacher")


@pytest.mark.parametrize(
    ("judgements", "overall"),
    [
        (["low"] * 5, "low"),
        (["low", "some concerns", "low", "low", "low"], "some concerns"),
        (["low", "some concerns", "high", "low", "some concerns"], "high"),
    ],
)
def test_rob2_overall_is_the_worst_domain(judgements, overall):
    assert rob2_overall(judgements) == overall


def test_project_rob2_file_loads_with_five_domains_and_overall():
    table = load_rob2(ROB2)
    assert table["domain"].tolist() == ["D1", "D2", "D3", "D4", "D5", "Overall"]
    assert table["judgement"].iloc[-1] == rob2_overall(table["judgement"].iloc[:5])
    rob2_traffic_light(table).draw()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('id = "D5"', 'id = "D6"'), "D6"),
        (lambda t: t.replace('id = "D5"', 'id = "D4"'), "D4 is given twice"),
        (
            lambda t: t.replace('judgement = "high"', 'judgement = "serious"'),
            "D3 judgement 'serious'",
        ),
        (lambda t: t.replace("[study]", '[study]\noverall = "low"'), "less severe"),
        (lambda t: t + "\n[[domain\n", "cannot read"),
    ],
)
def test_bad_rob2_files_are_refused_naming_file_and_domain(tmp_path, edit, message):
    bad = tmp_path / "rob2.toml"
    bad.write_text(edit(ROB2.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(DesignError, match=re.escape(message)) as err:
        load_rob2(bad)
    assert str(bad) in str(err.value)


def test_a_quote_from_the_report_is_kept_in_text_and_tables_and_the_rest_is_escaped():
    n = ReportNumbers({"t": pd.DataFrame({"arm": ["A"], "p": [0.0004]})})
    q = n.q("t", "p", "p_text", arm="A")
    ws = Worksheet(1, "x", "T", "g", [Task(q + " and <i>", table=frame({"p": [q]}))])
    page = render_worksheet(ws, "student")
    assert (
        page.count('data-src="t" data-row="0" data-col="p" data-fmt="p_text">p &lt; 0.001</span>')
        == 2
    )
    assert "&lt;i&gt;" in page


# ------------------------------------------------------------------------------------------
# why adjust for baseline: the simulation
# ------------------------------------------------------------------------------------------


def test_true_marginal_risk_difference_matches_a_large_sample():
    s = AdjustmentScenario("remitter", 100, 19.0, 4.0, 6.0, 0.6, -0.35)
    rng = np.random.default_rng(1)
    x = rng.normal(19.0, 4.0, 400_000)
    eta = 6.0 - 0.35 * x
    big = np.mean(1 / (1 + np.exp(-(eta + 0.6))) - 1 / (1 + np.exp(-eta)))
    assert s.true_risk_difference == pytest.approx(big, abs=1e-3)


def test_adjusting_for_a_prognostic_baseline_narrows_the_spread_and_keeps_coverage():
    """A strongly prognostic baseline (odds ratio about 4 per SD): the adjusted risk difference
    varies clearly less, both are unbiased within Monte-Carlo error, coverage stays near 95%."""
    s = AdjustmentScenario("remitter", 100, 19.0, 4.0, 6.5, 0.6, -0.35)
    res = simulate_adjustment(s, sims=200, seed=7)
    summary = summarise_adjustment(res, s).set_index("method")
    adj, un = summary.loc["baseline-adjusted"], summary.loc["unadjusted"]
    assert adj["variance_ratio"] < 0.85 and un["variance_ratio"] == pytest.approx(1.0)
    for r in (adj, un):
        assert abs(r["bias"]) < 3 * r["bias_mc_se"]
        assert abs(r["coverage"] - 0.95) < 3 * math.sqrt(0.95 * 0.05 / 200)
    again = simulate_adjustment(s, sims=5, seed=7)
    pd.testing.assert_frame_equal(again, res[res["sim"] < 5].reset_index(drop=True))


def test_a_scenario_fitted_to_the_trial_finds_baseline_predicts_remission_more_than_response(
    project_trial,
):
    from ipt_outcomes.data.trial import trial_from_frame

    trial = trial_from_frame(project_trial.data, ROOT / "analyses" / "saloheimo2016.toml")
    resp = adjustment_scenario(trial, "PeGT", 3.0, "responder")
    rem = adjustment_scenario(trial, "PeGT", 3.0, "remitter")
    assert abs(math.log(rem.odds_ratio_per_sd)) > abs(math.log(resp.odds_ratio_per_sd))
    with pytest.raises(ValueError, match="endpoint"):
        adjustment_scenario(trial, "PeGT", 3.0, "improved")


# ------------------------------------------------------------------------------------------
# the worksheets, built from the report's tables
# ------------------------------------------------------------------------------------------


class _Quotes(html.parser.HTMLParser):
    """Values tagged with their source table, row, column and kind, and the visible text."""

    def __init__(self):
        super().__init__()
        self.quotes, self.text, self.cur, self.skip = [], [], None, 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("style", "title"):
            self.skip += 1
        if tag == "span" and "data-src" in a:
            self.cur = [a["data-src"], int(a["data-row"]), a["data-col"], a["data-fmt"], ""]

    def handle_endtag(self, tag):
        if tag in ("style", "title"):
            self.skip -= 1
        if tag == "span" and self.cur is not None:
            self.quotes.append(tuple(self.cur))
            self.cur = None

    def handle_data(self, data):
        if self.skip:
            return
        self.text.append(data)
        if self.cur is not None:
            self.cur[4] += data


def _quotes(path):
    parser = _Quotes()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


BUILD_ARGS = ["--sims", "40", "--imputations", "6", "--workers", "1"]


@pytest.fixture(scope="module")
def report_and_built(tmp_path_factory, project_trial_csv):
    """The project's report (``ipt-outcomes report``), and meanwhile, in a second process, the
    worksheets as build.py builds them without --tables: the report's tables built in memory,
    as ``ipt-outcomes report`` builds them."""
    from ipt_outcomes.cli import main

    design = str(ROOT / "analyses" / "saloheimo2016.toml")
    report, built = tmp_path_factory.mktemp("report"), tmp_path_factory.mktemp("teaching")
    log = tmp_path_factory.mktemp("log") / "build.txt"
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "analyses" / "teaching" / "build.py"), "--data",
             str(project_trial_csv), "--design", design, "--out", str(built), *BUILD_ARGS],
            stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        try:
            code = main(["report", "--data", str(project_trial_csv), "--design", design,
                         "--out", str(report)])  # fmt: skip
        finally:
            proc.wait()
    assert proc.returncode == 0, log.read_text(encoding="utf-8")
    assert code == 0
    return report, built


@pytest.fixture(scope="module")
def report(report_and_built):
    return report_and_built[0]


@pytest.fixture(scope="module")
def built(report_and_built):
    return report_and_built[1]


@pytest.fixture(scope="module")
def report_tables(report):
    return read_report_tables(report / "tables")


N_WORKSHEETS = 8


def _pages(built):
    """Every worksheet page, student and key (not the indexes)."""
    return sorted(built.glob("*_student.html")) + sorted((built / "keys").glob("*_key.html"))


def test_make_teaching_builds_eight_worksheets_with_keys_in_their_own_folder(built):
    keys = sorted((built / "keys").glob("*_key.html"))
    students = sorted(built.glob("*_student.html"))
    assert len(keys) == len(students) == N_WORKSHEETS
    assert not list(built.glob("*_key.html")), "no key beside the student sheets"
    for k, s in zip(keys, students, strict=True):
        key, student = k.read_text(encoding="utf-8"), s.read_text(encoding="utf-8")
        assert key.count('class="task"') == student.count('class="task"') >= 3
        assert 'class="answer"' in key and 'class="answer"' not in student
        assert "<script" not in key and "http" not in key.replace("https://", "")  # self-contained


def test_students_index_links_no_key_and_the_instructors_index_links_every_key(built):
    students = (built / "index.html").read_text(encoding="utf-8")
    assert "_key" not in students and "keys/" not in students
    assert students.count("_student.html") == N_WORKSHEETS
    keys = (built / "keys" / "index.html").read_text(encoding="utf-8")
    assert keys.count("_key.html") == N_WORKSHEETS
    for href in re.findall(r'href="([^"]+)"', keys):
        assert (built / "keys" / href).resolve().exists(), href


def test_every_sheet_states_objectives_level_and_time(built):
    for path in _pages(built):
        page = path.read_text(encoding="utf-8")
        assert "Learning objectives." in page and page.count("<li>") >= 3, path.name
        assert re.search(r"<strong>Level:</strong> \w", page), path.name
        assert re.search(r"<strong>Time:</strong> \d+ minutes", page), path.name


def test_every_worksheet_says_where_its_data_come_from(built):
    for path in _pages(built):
        text = " ".join(_quotes(path).text)
        if path.name.startswith("08"):
            assert "Metapsy" in text and "ODC-By" in text, path.name
        elif path.name.startswith("06"):
            assert "uses no patient data" in text, path.name
        else:
            assert "synthetic" in text and "calibrated to" in text, path.name


def test_every_number_a_worksheet_shares_with_the_report_is_the_reports(
    built, report, report_tables
):
    """Worksheets quote the report's tables (built in memory by build.py): each quote renders
    as the report's written table renders that cell, and where the report shows the same
    cell, the two texts are equal."""
    tables = report_tables
    shown = {q[:4]: q[4] for q in _quotes(report / "report.html").quotes}
    shared, per_sheet = 0, {}
    for path in _pages(built):
        for src, row, col, kind, text in _quotes(path).quotes:
            assert text == render(tables, src, row, col, kind), (path.name, src, row, col, text)
            if (src, row, col, kind) in shown:
                assert text == shown[(src, row, col, kind)], (path.name, src, row, col)
                shared += 1
                per_sheet[path.name[:2]] = per_sheet.get(path.name[:2], 0) + 1
    assert shared >= 40
    assert {"01", "02", "03", "04", "05", "07"} <= set(per_sheet), per_sheet


def test_keys_give_exact_answers(built):
    for path in (built / "keys").glob("*_key.html"):
        text = " ".join(_quotes(path).text)
        assert not re.search(r"\babout \d", text), (
            path.name,
            re.findall(r".{30}about \d.{20}", text),
        )
        assert not re.search(r"NNT[BH] \d+\.\d", text)  # NNTs rounded up to whole patients


def test_worksheet_4_key_shows_the_computed_sample_size(built):
    key = (built / "keys" / "04_sample_size_key.html").read_text(encoding="utf-8")
    n = sample_size(0.42, 0.61, 0.80, "chisq")["n_per_arm"]
    assert f"{n} per arm for the chi-square test" in key


def test_worksheet_6_draws_the_rob2_file_and_every_file_it_names_exists(built):
    key = (built / "keys" / "06_risk_of_bias_key.html").read_text(encoding="utf-8")
    table = load_rob2(ROB2)
    assert f"Overall: {table['judgement'].iloc[-1]}" in key
    assert key.count("data:image/png;base64,") == 1
    for path in _pages(built):
        text = " ".join(_quotes(path).text)
        for name in re.findall(r"[\w./-]+\.(?:md|toml|csv)\b", text):
            assert (ROOT / name).exists() or (built / name).exists(), (path.name, name)


def test_worksheet_4_warns_against_power_at_the_observed_effect(built):
    key = " ".join(_quotes(built / "keys" / "04_sample_size_key.html").text)
    assert "Hoenig" in key and "post-hoc" in key
    assert "a result with p = 0.05 always has an observed power of 50%" in key
    rows = re.findall(r"(0\.\d\d)\s*(\d+\.\d)%", key)  # the p -> observed power table
    from scipy.stats import norm

    for p, power in rows:
        z = norm.isf(float(p) / 2)
        expected = norm.cdf(z - norm.ppf(0.975)) + norm.cdf(-z - norm.ppf(0.975))
        assert float(power) == pytest.approx(100 * expected, abs=0.05)


def test_worksheet_5_tipping_point_is_the_reports(built, report, report_tables):
    name = "primary-tipping-point-MAR__exact"
    exact = report_tables[name]
    row = int(exact.index[(exact["arm"] == "PeGT") & (exact["visit"] == 12)][0])
    quotes = _quotes(built / "keys" / "05_missing_data_key.html").quotes
    assert (name, row, "delta", "f2") in {q[:4] for q in quotes}
    shown = {q[:4]: q[4] for q in _quotes(report / "report.html").quotes}
    assert (name, row, "delta", "f2") in shown  # the report shows the same cell


def test_worksheet_5_compares_the_reports_missing_data_rules(built, report_tables):
    """Task 1 quotes the key secondary analysis and its missing-rule sensitivity analyses:
    each rule's adjusted risk difference of PeGT against TAU at month 12, observed arms."""
    quotes = {q[:3] for q in _quotes(built / "keys" / "05_missing_data_key.html").quotes}
    for src in ("key-secondary__effects", "key-secondary-missing-rule-nri__effects",
                "key-secondary-missing-rule-locf__effects"):  # fmt: skip
        t = report_tables[src]
        row = int(t.index[(t["arm"] == "PeGT") & (t["visit"] == 12) & (t["fit"] == "observed")
                          & (t["contrast"] == "risk_difference")][0])  # fmt: skip
        assert (src, row, "estimate") in quotes, src


def test_observed_arms_are_quoted_from_the_observed_arms_fit(built, report_tables):
    """A table with two fits holds the reference arm twice (with the observed arms, and with
    the modelled arm alone): every quoted row of an observed arm is from the observed fit."""
    arms = report_tables["arms"]
    modelled = set(arms.loc[arms["modelled"].astype(str) == "True", "arm"])
    checked = 0
    for path in _pages(built):
        for src, row, _col, _kind, _text in _quotes(path).quotes:
            t = report_tables[src]
            if "fit" in t.columns and t["fit"].nunique() > 1 and t["arm"].iloc[row] not in modelled:
                assert t["fit"].iloc[row] == "observed", (path.name, src, row)
                checked += 1
    assert checked >= 30


def test_worksheets_from_a_built_reports_tables_are_those_built_in_memory(
    built, report, project_trial_csv, tmp_path
):
    """build.py --tables (what make teaching does) reads the report's CSVs back with every text
    kept as text: the worksheets are byte for byte those built from the tables in memory."""
    sys.path.insert(0, str(ROOT / "analyses" / "teaching"))
    try:
        import build
    finally:
        sys.path.remove(str(ROOT / "analyses" / "teaching"))
    only = ["ws1_risk_difference", "ws3_consistency", "ws5_missing_data"]
    args = ["--data", str(project_trial_csv), "--design", str(ROOT / "analyses" / "saloheimo2016.toml"),
            "--tables", str(report / "tables")]  # fmt: skip
    assert build.main([*args, "--out", str(tmp_path), *BUILD_ARGS, "--only", *only]) == 0
    pages = sorted(tmp_path.glob("*_student.html")) + sorted(tmp_path.glob("keys/*_key.html"))
    assert len(pages) == 2 * len(only)
    for page in pages:
        twin = built / page.relative_to(tmp_path)
        assert page.read_bytes() == twin.read_bytes(), page.name


def test_report_tables_read_back_keep_every_text_as_text(tmp_path):
    """pandas' defaults would read an arm coded NA (or N/A, null, nan) as missing."""
    (tmp_path / "rates.csv").write_text(
        "arm,reference,visit,rate,note,significant,fit\n"
        "NA,null,3,0.5,,True,observed\nN/A,null,3,,'=1,False,modelled\n", encoding="utf-8"
    )  # fmt: skip
    t = read_report_tables(tmp_path)["rates"]
    assert t["arm"].tolist() == ["NA", "N/A"] and t["reference"].tolist() == ["null", "null"]
    assert t["visit"].dtype.kind == "i" and t["rate"].iloc[0] == 0.5 and np.isnan(t["rate"].iloc[1])
    assert t["note"].tolist() == ["", "=1"]  # the writer's guard against formulas undone
    assert t["significant"].tolist() == [True, False] and t["significant"].dtype == bool
    n = ReportNumbers({"rates": t})
    assert n.row("rates", arm="N/A", fit="modelled") == 1
    with pytest.raises(Exception, match="no report tables"):
        read_report_tables(tmp_path / "empty")


def test_worksheet_3_asks_why_agreement_with_a_calibration_target_proves_nothing(built):
    key = " ".join(_quotes(built / "keys" / "03_consistency_checks_key.html").text)
    assert "calibrated to" in key and "a check that cannot fail tests nothing" in key


def test_worksheet_8_numbers_are_the_meta_commands(built, tmp_path, run_cli):
    from ipt_outcomes.format import fmt

    excerpt = built / "data" / "depression-psyctr_excerpt.csv"
    assert (built / "data" / "README.md").exists(), "the excerpt travels with its NOTICE"
    out = tmp_path / "meta"
    code, _, err = run_cli("meta", excerpt, "--where", "condition_arm1=ipt", "--aggregate", "0.5",
                           "--no-plots", "--out", out)  # fmt: skip
    assert code == 0, err
    pooled = pd.read_csv(out / "meta_pooled.csv").iloc[0]
    egger = pd.read_csv(out / "meta_egger.csv").iloc[0]
    key = " ".join(_quotes(built / "keys" / "08_meta_analysis_key.html").text)
    g = lambda c: fmt(pooled[c], "f2")  # noqa: E731
    assert f"Pooled g = {g('estimate')} (95% CI {g('ci_low')} to {g('ci_high')};" in key
    assert f"The 95% prediction interval, {g('pi_low')} to {g('pi_high')}," in key
    assert (
        f"I² = {fmt(pooled['i2'], 'f0')}%" in key and f"tau² = {fmt(pooled['tau2'], 'f3')}" in key
    )
    assert f"Egger's test: intercept {fmt(egger['intercept'], 'f2')}" in key
    assert "Saloheimo, 2016" in key


def test_worksheet_8_without_the_excerpt_says_how_to_get_it(tmp_path):
    from types import SimpleNamespace

    sys.path.insert(0, str(ROOT / "analyses" / "teaching"))
    try:
        import ws8_meta_analysis
    finally:
        sys.path.remove(str(ROOT / "analyses" / "teaching"))
    ws = ws8_meta_analysis.build(SimpleNamespace(metapsy=tmp_path / "absent.csv"))
    assert len(ws.tasks) == 1 and "make_excerpt.py" in ws.tasks[0].question


def test_worksheet_7_panels_tick_labels_do_not_collide():
    """Tick labels on one line keep at least 10 pixels apart at the worksheets' 90 dpi. With the
    old layout (three panels side by side, 9 x 3.4 inches) and estimates from -19 to 38 points,
    as the worksheet's 500 simulated trials give, one panel's "40" came within 5 pixels of the
    next panel's "-20"."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ipt_outcomes.teaching import adjustment_plot

    rng = np.random.default_rng(3)
    outcomes = ["hypothetical strong covariate", "remission", "response"]
    values = np.r_[rng.normal(0.1, 0.07, 200), -0.19, 0.38]
    r = pd.DataFrame([{"outcome": o, "method": m, "estimate": e} for o in outcomes
                      for m in ("unadjusted", "baseline-adjusted") for e in values])  # fmt: skip
    fig = adjustment_plot(r, dict.fromkeys(outcomes, 0.1)).draw()
    try:
        fig.set_dpi(90)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        boxes = [lab.get_window_extent(renderer) for ax in fig.axes
                 for lab in ax.get_xticklabels() + ax.get_yticklabels()
                 if lab.get_visible() and lab.get_text()]  # fmt: skip
        assert len(boxes) > 6
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), (a, b)
                if abs(a.y0 - b.y0) < 2:  # on one line
                    assert max(b.x0 - a.x1, a.x0 - b.x1) >= 10, (a, b)
    finally:
        plt.close(fig)
