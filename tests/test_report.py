"""The report: numbered TLFs, every number traced to a table, the same numbers in HTML, RTF and
PDF, Chromium rendering, reproducibility.

The project's report is built once for the module (HTML, RTF, and PDF when Chromium is
installed); the tests read what it wrote.
"""

from __future__ import annotations

import hashlib
import html.parser
import os
import re
import shutil

import pandas as pd
import pytest

from ipt_outcomes.datasets import simulate_trial, write_trial_csv
from ipt_outcomes.report.html import read_provenance, read_tables

from .conftest import ROOT

DESIGN = ROOT / "analyses" / "saloheimo2016.toml"
CHROMIUM = shutil.which("chromium"), shutil.which("chromedriver")


def _need_chromium():
    if not all(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian chromium and chromium-driver (.ci/run does)")
        pytest.skip("Debian chromium / chromium-driver not installed")


def build(run_cli, data, out, *extra):
    code, stdout, err = run_cli("report", "--data", data, "--out", out, *extra)
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def trial_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "trial.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        write_trial_csv(simulate_trial().data, fh)
    return path


@pytest.fixture(scope="module")
def report_dir(trial_file, tmp_path_factory):
    from ipt_outcomes.cli import main

    out = tmp_path_factory.mktemp("report")
    formats = "html,rtf,svg,pdf" if CHROMIUM[0] else "html,rtf,svg"
    args = ["report", "--data", str(trial_file), "--design", str(DESIGN), "--out", str(out),
            "--formats", formats]  # fmt: skip
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def tables(report_dir):
    t = read_tables(report_dir / "tables")
    t["provenance"] = read_provenance(report_dir / "provenance.csv")
    return t


@pytest.fixture(scope="module")
def page(report_dir):
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(text)
    return text, parser


VOID = {"img", "meta", "br", "hr", "link", "input"}


class _Collect(html.parser.HTMLParser):
    """Tagged values (spans with data-src), the text outside them, and each TLF's parts."""

    def __init__(self):
        super().__init__()
        self.tagged = []  # (src, row, col, fmt, text)
        self.untagged = []
        self.stack = []  # (tag, role) of open elements
        self.cur = None
        self.tlfs = {}  # id -> number, kind, label, title, population, notes, rows, ...
        self.tlf = None
        self.cell = None
        self.row = None
        self.row_class = ""
        self.sentences = []

    def _roles(self):
        return {r for _t, r in self.stack if r}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        role = None
        if tag in ("style", "title"):
            role = "skip"
        elif tag == "section" and "tlf" in cls:
            self.tlf = dict(number=a["data-number"], kind=a["data-kind"], label="", title="",
                            population="", notes=[], rows=[], row_classes=[], images=0)  # fmt: skip
            self.tlfs[a["id"]] = self.tlf
            role = "tlf"
        elif tag == "span" and ("tlf-label" in cls or "tlf-title" in cls):
            role = cls[0][4:]
        elif tag == "p" and "tlf-population" in cls:
            role = "population"
        elif tag == "ol" and "tlf-footnotes" in cls:
            role = "footnotes"
        elif tag == "li" and "footnotes" in self._roles():
            self.tlf["notes"].append("")
            role = "note"
        elif tag == "ul" and "sentences" in cls:
            role = "sentences"
        elif tag == "tr" and self.tlf is not None:
            self.row, self.row_class = [], " ".join(cls)
        elif tag in ("td", "th") and self.tlf is not None:
            self.cell = ""
        elif tag == "img" and self.tlf is not None:
            self.tlf["images"] += 1
        if "data-src" in a and "data-row" in a:
            self.cur = [a["data-src"], int(a["data-row"]), a["data-col"], a["data-fmt"], ""]
        if tag not in VOID:
            self.stack.append((tag, role))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if self.cur is not None and tag == "span":
            self.tagged.append(tuple(self.cur))
            self.cur = None
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell)
            self.cell = None
        if tag == "tr" and self.row is not None:
            self.tlf["rows"].append(self.row)
            self.tlf["row_classes"].append(self.row_class)
            self.row = None
        while self.stack:
            t, role = self.stack.pop()
            if role == "tlf":
                self.tlf = None
            if t == tag:
                break

    def handle_data(self, data):
        roles = self._roles()
        if "skip" in roles:
            return
        if self.cur is not None:
            self.cur[4] += data
        else:
            self.untagged.append(data)
        if self.tlf is not None:
            for field in ("label", "title", "population"):
                if field in roles:
                    self.tlf[field] += data
            if "note" in roles:
                self.tlf["notes"][-1] += data
            if self.cell is not None:
                self.cell += data
        if "sentences" in roles:
            self.sentences.append(data)


def _visible(text: str) -> str:
    """The page's text as a reader sees it (no tags, styles or attribute values)."""
    parser = _Collect()
    parser.feed(text)
    return " ".join(x for t in parser.tagged for x in [t[4]]) + " " + "".join(parser.untagged)


# ------------------------------------------------------------------------------------------
# the TLFs
# ------------------------------------------------------------------------------------------

REQUIRED = {
    "consort_diagram": "Figure", "consort": "Table", "baseline": "Table", "populations": "Table",
    "descriptive_scores": "Table", "descriptive_change": "Table", "primary-lsmeans": "Table",
    "primary-contrasts": "Table", "primary-figure": "Figure", "key-secondary-effects": "Table",
    "key-secondary-forest": "Figure", "response-rates": "Table", "response-comparisons": "Table",
    "multiplicity": "Table", "dropouts": "Listing",
}  # fmt: skip


def _plan():
    from ipt_outcomes.data.design import load_design

    return load_design(DESIGN).plan


def test_report_has_the_three_stages_of_files(report_dir, tables):
    assert {p.name for p in report_dir.iterdir()} >= {"report.html", "ard.csv", "plan.json",
                                                     "provenance.csv", "tables", "figures"}  # fmt: skip
    names = {p.stem for p in (report_dir / "tables").glob("*.csv")}
    assert {"published_vs_reproduced", "primary__contrasts", "primary__lsmeans", "consort", "tlf",
            "descriptive_scores", "descriptive_change", "key-secondary__effects", "multiplicity",
            "analyses", "estimands", "populations"} <= names  # fmt: skip
    figures = {p.name for p in (report_dir / "figures").iterdir()}
    tlf = tables["tlf"]
    for name in tlf.loc[tlf["kind"] == "Figure", "name"]:
        assert {f"{name}.png", f"{name}.svg"} <= figures


def test_every_tlf_has_its_number_title_population_and_footnotes(page, tables):
    _, parser = page
    tlf = tables["tlf"]
    assert set(REQUIRED) <= set(tlf["name"])
    for name, kind in REQUIRED.items():
        assert tlf.loc[tlf["name"] == name, "kind"].iloc[0] == kind
    for row in tlf.itertuples(index=False):
        shown = parser.tlfs[row.name]
        assert shown["number"] == row.number and shown["kind"] == row.kind
        assert shown["label"] == f"{row.kind} {row.number}"
        assert row.number.split(".")[:2] == row.part.split(".")
        assert shown["title"].strip() and shown["population"].strip()
        assert len(shown["notes"]) >= 2, row.name  # method / missing data, and the software
        assert shown["notes"][-1].startswith("Software: ipt-outcomes")
        if row.kind == "Figure":
            assert shown["images"] == 1
        else:
            assert len(shown["rows"]) >= 2  # header and at least one row
    # numbered without gaps within each part and kind, in ICH E3 parts; 14.3 is for safety data
    assert set(tlf["part"].astype(str)) <= {"14.1", "14.2", "16.2"}
    for (_part, _kind), group in tlf.groupby(["part", "kind"]):
        assert [int(n.split(".")[-1]) for n in group["number"]] == list(range(1, len(group) + 1))


def test_the_report_shows_the_endpoints_in_the_plans_order(page, tables):
    """Issue 23: sections and TLFs in the plan's order: the endpoints as declared, then the
    multiplicity family, the sensitivity analyses and the subgroup analyses."""
    text, _ = page
    plan = _plan()
    want = [e.id for e in plan.endpoints] + ["multiplicity"]
    want += [s.id or f"{s.endpoint}-{s.analysis}" for s in plan.sensitivity]
    groups = re.findall(r'<h3 class="group" id="group-([^"]+)"', text)
    groups = [g for g in groups if g != "descriptive"]
    assert groups[: len(plan.endpoints) + 1] == want[: len(plan.endpoints) + 1]
    assert len(groups) == len(plan.endpoints) + 1 + len(plan.sensitivity) + len(plan.subgroups)
    order = list(tables["analyses"]["id"])
    assert order[: len(plan.endpoints)] == [e.id for e in plan.endpoints]


def test_every_number_in_an_analysis_table_is_in_the_ard_under_its_analysis_id(page, report_dir):
    """Issue 23: every number of an analysis shown in the report is a row of ard.csv under the
    analysis id of the table it was read from."""
    _, parser = page
    ard = pd.read_csv(report_dir / "ard.csv", keep_default_na=False)
    ard["value"] = ard["value"].astype(float)
    tables = read_tables(report_dir / "tables")
    by_id = {k: g["value"].to_numpy() for k, g in ard.groupby("analysis_id")}
    checked = 0
    for src, row, col, kind, _shown in parser.tagged:
        if "__" not in src or kind in ("arm", "vlabel", "text", "term", "bool"):
            continue
        value = tables[src].iloc[row][col]
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        if value != value:  # empty
            continue
        aid = src.split("__")[0]
        assert aid in by_id, src
        close = abs(by_id[aid] - value) <= 1e-9 * max(1.0, abs(value))
        assert close.any(), (src, row, col, value)
        checked += 1
    assert checked > 300


def test_the_modelled_arm_stays_outside_the_trials_counts(page, tables):
    """Issue 23: CONSORT and population lines count the randomised trial (134), never the
    modelled arm; the modelled arm is fitted with the reference alone and never tested."""
    _, parser = page
    trial = tables["trial"].set_index("key")["value"]
    assert trial["subjects"] == "134"
    assert parser.tlfs["consort"]["population"].strip().endswith("(n = 134)")
    arms = tables["arms"]
    label = arms.loc[arms["modelled"].astype(str) == "True", "label"].iloc[0]
    assert label.endswith("(modelled)")
    pops = tables["populations"]
    fas = pops[(pops["population"] == "fas") & (pops["modelled"].astype(str) != "True")]
    line = parser.tlfs["primary-contrasts"]["population"]
    assert f"n = {int(fas['n'].astype(int).sum())}" in line
    sentences = "".join(parser.sentences)
    assert sentences and label not in sentences
    for name in ("primary-contrasts", "key-secondary-effects"):
        shown = parser.tlfs[name]
        marked = [r for r, c in zip(shown["rows"], shown["row_classes"], strict=True)
                  if "modelled" in c]  # fmt: skip
        assert marked and all(label in r[0] or r[0] == "" for r in marked)
        assert all("not tested" in r for r in marked if r[0])
    family = tables["multiplicity"]
    assert not (family["arm"] == "IPT+MED").any()


def test_ls_means_and_contrasts_come_from_the_same_fit(tables):
    """Issue 23: a contrast is the difference of the LS means shown beside it."""
    lsm, con = tables["primary__lsmeans"], tables["primary__contrasts"]
    assert len(con) and set(con["fit"]) == {"observed", "modelled"}
    for r in con.itertuples(index=False):
        same = lsm[(lsm["fit"] == r.fit) & (lsm["visit"].astype(float) == float(r.visit))]
        a = same.loc[same["arm"] == r.arm, "estimate"].iloc[0]
        ref = same.loc[same["arm"] == r.reference, "estimate"].iloc[0]
        assert abs((a - ref) - r.estimate) < 1e-9


def test_the_estimand_is_stated_in_the_attributes_of_ich_e9(page, tables):
    """Issue 23: population, treatment, variable, intercurrent events with their strategies,
    population-level summary - and missing data described as missing data."""
    est = tables["estimands"]
    assert list(est["attribute"]) == ["Treatment conditions", "Population", "Variable",
                                      "Intercurrent events and strategies",
                                      "Missing data (not intercurrent events)",
                                      "Population-level summary"]  # fmt: skip
    ice = est.loc[est["attribute"] == "Intercurrent events and strategies", "description"].iloc[0]
    assert "antidepressant" in ice and "treatment policy" in ice
    assert "leaving follow-up" not in ice and "missed" not in ice.lower()
    text, _ = page
    assert 'id="section-plan"' in text


def test_the_multiplicity_rule_is_the_plans_and_is_applied(tables):
    from ipt_outcomes.plan import adjust

    plan = _plan()
    fam = tables["multiplicity"]
    m = plan.multiplicity
    assert set(fam["method"]) == {m.method}
    want = adjust(fam["p"].astype(float).to_numpy(), m.method, weights=m.weights,
                  transitions=m.transitions)  # fmt: skip
    assert (abs(fam["p_adjusted"].astype(float) - want) < 1e-12).all()
    assert list(fam["endpoint"].drop_duplicates()) == list(m.family)


# ------------------------------------------------------------------------------------------
# reproducibility and provenance
# ------------------------------------------------------------------------------------------


def test_published_vs_reproduced_has_the_spec_columns_and_the_six_rates(report_dir):
    t = pd.read_csv(report_dir / "tables" / "published_vs_reproduced.csv")
    assert list(t.columns) == ["arm", "visit", "published_percent", "reproduced_percent", "n",
                               "responders"]  # fmt: skip
    assert len(t) == 6 and (t["published_percent"] == t["reproduced_percent"]).all()


def test_rebuilding_the_report_gives_identical_bytes(report_dir, trial_file, tmp_path, run_cli):
    again = build(run_cli, trial_file, tmp_path / "again", "--design", DESIGN, "--formats", "html")
    for path in sorted((report_dir / "tables").glob("*.csv")) + [report_dir / "ard.csv",
                                                                report_dir / "plan.json"]:  # fmt: skip
        other = again / path.relative_to(report_dir)
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(
            other.read_bytes()).digest(), path.name  # fmt: skip


def test_plan_json_holds_the_endpoints_in_order_with_defaults_filled(report_dir):
    import json

    doc = json.loads((report_dir / "plan.json").read_text(encoding="utf-8"))
    plan = _plan()
    eps = doc["endpoints"]
    assert [e["id"] for e in eps] == [e.id for e in plan.endpoints]
    for e in eps:
        assert e["instrument"] == "HAM-D 17" and e["population"] == "fas"
        assert e["visits"] or e["analysis"] == "lmm"


def test_report_is_self_contained(page, tables):
    text, _ = page
    assert "<script" not in text.lower()
    assert not re.search(r"""\s(?:src|href)=["'](?!data:|#)""", text)
    n_figures = int((tables["tlf"]["kind"] == "Figure").sum())
    assert text.count('src="data:image/png;base64,') == n_figures
    assert "http://" not in text and "@import" not in text


def test_provenance_records_run_date_versions_inputs_commit_and_build_time(report_dir):
    prov = pd.read_csv(report_dir / "provenance.csv", dtype=str).set_index("key")["value"]
    assert {
        "run date",
        "ipt-outcomes",
        "numpy",
        "jinja2",
        "git commit",
        "time to build (s)",
    } <= set(prov.index)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", prov["run date"])
    assert any(k.startswith("sha256 of data") for k in prov.index)
    assert float(prov["time to build (s)"]) > 0
    for key, value in prov.items():  # no absolute paths
        assert not re.search(r"(^|[\s(])/", f"{key} {value}"), (key, value)


def test_a_seed_is_shown_as_a_whole_number(tmp_path):
    from ipt_outcomes.cli.report import _seed_of

    (tmp_path / "calibration.csv").write_text("quantity,target,achieved\nseed,,2016.0\n")
    assert _seed_of(tmp_path / "trial.csv") == "2016"


def test_data_derived_strings_are_escaped_in_html_and_rtf(tmp_path):
    from ipt_outcomes.cli import main

    data = simulate_trial(5, n_per_arm=25, include_modelled_arm=False).data
    evil = "<script>alert(1)</script>{\\rtf1 \\par}"
    data["arm"] = data["arm"].replace({"IPT": evil})
    path = tmp_path / "evil.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        write_trial_csv(data, fh)
    out = tmp_path / "out"
    assert main(["report", "--data", str(path), "--out", str(out), "--formats", "html,rtf"]) == 0
    text = (out / "report.html").read_text(encoding="utf-8")
    assert (
        "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    )
    for rtf in (out / "rtf").glob("*.rtf"):
        shown = rtf_text(rtf.read_text(encoding="ascii"))
        if "alert" in shown:
            assert evil in shown
    figures = {p.suffix for p in (out / "figures").iterdir()}
    assert figures == {".png"}  # SVG only when asked (--formats ...,svg)


# ------------------------------------------------------------------------------------------
# RTF, PDF and Chromium
# ------------------------------------------------------------------------------------------


def rtf_text(doc: str) -> str:
    """Plain text of an RTF document: cells end with a tab, rows and paragraphs with a new line.

    Fails on anything that is not well-formed RTF: a missing header, unbalanced braces,
    non-ASCII bytes or an unknown escape.
    """
    assert doc.startswith("{\\rtf1"), doc[:20]
    assert doc.isascii()
    out, depth, i, skip_group = [], 0, 0, None
    control = re.compile(r"\\([a-z]+)(-?\d+)? ?|\\'([0-9a-f]{2})|\\([\\{}~_-])|\\\n")
    while i < len(doc):
        ch = doc[i]
        if ch == "{":
            depth += 1
            if doc.startswith("{\\fonttbl", i) or doc.startswith("{\\*", i):
                skip_group = skip_group or depth
            i += 1
        elif ch == "}":
            if skip_group == depth:
                skip_group = None
            depth -= 1
            assert depth >= 0, "unbalanced braces"
            i += 1
        elif ch == "\\":
            m = control.match(doc, i)
            assert m, f"bad escape at {i}: {doc[i : i + 10]!r}"
            i = m.end()
            if skip_group:
                continue
            word, num, hexa, sym = m.group(1), m.group(2), m.group(3), m.group(4)
            if word == "u":
                out.append(chr(int(num) % 65536))
                i += 1  # the fallback character
            elif word == "cell":
                out.append("\t")
            elif word in ("row", "par", "line"):
                out.append("\n")
            elif hexa:
                out.append(bytes.fromhex(hexa).decode("cp1252"))
            elif sym:
                out.append(sym)
        else:
            if not skip_group and ch not in "\r\n":
                out.append(ch)
            i += 1
    assert depth == 0, "unbalanced braces"
    return "".join(out)


def test_every_table_is_also_an_rtf_that_parses_and_carries_its_numbers(report_dir, page, tables):
    from ipt_outcomes.report.rtf import rtf_name

    _, parser = page
    tlf = tables["tlf"]
    expected = {rtf_name(label) for label in tlf.loc[tlf["kind"] != "Figure", "label"]}
    assert {p.name for p in (report_dir / "rtf").glob("*.rtf")} == expected
    for row in tlf[tlf["kind"] != "Figure"].itertuples(index=False):
        text = rtf_text((report_dir / "rtf" / rtf_name(row.label)).read_text(encoding="ascii"))
        cells = {c.strip() for line in text.split("\n") for c in line.split("\t")}
        assert f"{row.label} {row.title}" in text
        assert f"Population: {row.population}" in text
        html_cells = [c.strip() for r in parser.tlfs[row.name]["rows"] for c in r]
        missing = [c for c in html_cells if c and c not in cells]
        assert not missing, (row.label, missing[:5])
        for note in parser.tlfs[row.name]["notes"]:
            assert note.strip() in text.replace("\n", " ") or note.strip() in text


def test_the_pdf_has_a_page_or_more_for_every_tlf(report_dir, tables):
    _need_chromium()
    data = (report_dir / "report.pdf").read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= len(tables["tlf"]), (pages, len(tables["tlf"]))


def test_report_renders_in_headless_chromium_with_no_console_errors(report_dir, tables):
    _need_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = CHROMIUM
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,1600"):  # fmt: skip
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        driver.get((report_dir / "report.html").resolve().as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);"
        )
        n_figures = int((tables["tlf"]["kind"] == "Figure").sum())
        assert len(images) == n_figures and all(ok and w > 0 for ok, w, _alt in images), images
        figure_labels = set(tables["tlf"].loc[tables["tlf"]["kind"] == "Figure", "label"])
        assert {alt.split(":")[0] for *_x, alt in images} == figure_labels
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
        shot = ROOT / "reports" / "report_screenshot.png"
        shot.parent.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()


def test_pdf_without_chromium_is_refused_before_any_work(
    run_cli, trial_file, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("IPT_CHROMIUM", raising=False)
    code, _, err = run_cli(
        "report", "--data", trial_file, "--out", tmp_path / "out", "--formats", "pdf"
    )
    assert code == 1 and "Chromium" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "design"),
    [("claus_2020.csv", "claus_2020.toml"), ("riesby.csv", "riesby.toml"),
     ("btheb_long.csv", "btheb.toml"), ("antidepressant_dia.csv", "antidepressant_dia.toml")],
)  # fmt: skip
def test_report_works_on_other_trials(run_cli, external, tmp_path, name, design):
    """Other labels, visit codes, baseline at visit 1, baseline as a column, missing baselines."""
    out = build(
        run_cli, external(name), tmp_path / "out", "--design", ROOT / "tests" / "designs" / design
    )
    text = (out / "report.html").read_text(encoding="utf-8")
    tlf = pd.read_csv(out / "tables" / "tlf.csv", dtype=str)
    assert text.count('src="data:image/png;base64,') == int((tlf["kind"] == "Figure").sum()) >= 7
    assert {"primary-contrasts", "key-secondary-effects", "descriptive_change"} <= set(tlf["name"])
    assert (out / "ard.csv").exists() and (out / "plan.json").exists()
    assert len(pd.read_csv(out / "tables" / "published_vs_reproduced.csv")) == 0


def _refuse(message):
    from ipt_outcomes.exceptions import IptOutcomesError

    raise IptOutcomesError(message)


@pytest.mark.parametrize("cores", [1, 2])
def test_background_stage_gives_its_value_or_raises_its_error(monkeypatch, cores):
    """A report stage run beside the others (forked with two cores, in-process with one) hands
    back its value, or raises the user's error it raised, not a crash of the child."""
    import ipt_outcomes.report.background as background
    from ipt_outcomes.exceptions import IptOutcomesError

    monkeypatch.setattr(background.os, "cpu_count", lambda: cores)
    frame = pd.DataFrame({"arm": ["A", "B"], "estimate": [1.5, -0.25]})
    got = background.Background(lambda f: f.assign(double=2 * f["estimate"]), frame).result()
    assert got["double"].tolist() == [3.0, -0.5]
    with pytest.raises(IptOutcomesError, match="no scores at the key visit"):
        background.Background(_refuse, "no scores at the key visit").result()
