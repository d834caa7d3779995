"""The report: numbered TLFs, every number traced to a table, the same numbers in HTML, RTF and
PDF, Chromium rendering, reproducibility, and the acceptance check of issue 29 on the project's
report: RTF and PDF with their page furniture (A4, running header, "Page x of y", repeated
column headers), the synthetic mark on every exported table and figure, no page holding only
footnotes, no heading orphaned at a page's end, none of the visible defects.

The project's report is built once for the module from the data `make data` writes (the
synthetic trial and its calibration table, so the report knows the data are synthetic), as
HTML, RTF, SVG and PDF (PDF when Chromium is installed); the tests read what it wrote. The
helpers that read RTF and PDF (:func:`rtf_text`, :func:`rtf_pages`, :func:`pdf_pages`, ...)
are shared with ``test_report_foreign.py``.
"""

from __future__ import annotations

import hashlib
import html.parser
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ipt_outcomes.datasets import simulate_trial, write_trial_csv
from ipt_outcomes.report.html import read_provenance, read_tables
from ipt_outcomes.report.page import SYNTHETIC

from .conftest import ROOT

DESIGN = ROOT / "analyses" / "saloheimo2016.toml"
CHROMIUM = shutil.which("chromium"), shutil.which("chromedriver")
POPPLER = shutil.which("pdftotext"), shutil.which("pdfinfo")


def _need_chromium():
    if not all(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian chromium and chromium-driver (.ci/run does)")
        pytest.skip("Debian chromium / chromium-driver not installed")


def build(run_cli, data, out, *extra):
    code, stdout, err = run_cli("report", "--data", data, "--out", out, *extra)
    assert code == 0, err
    return out


def _need_poppler():
    if not all(POPPLER):
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian poppler-utils (pdftotext, pdfinfo)")
        pytest.skip("pdftotext / pdfinfo (Debian poppler-utils) not installed: the PDF's pages "
                    "cannot be read")  # fmt: skip


@pytest.fixture(scope="module")
def trial_file(tmp_path_factory):
    """The project's trial as `make data` writes it: the data and its calibration table."""
    from ipt_outcomes.cli import main

    folder = tmp_path_factory.mktemp("data")
    path, calib = folder / "trial.csv", folder / "calibration.csv"
    args = ["simulate", "--seed", "2016", "--out", str(path), "--calibration", str(calib),
            "--quiet"]  # fmt: skip
    assert main(args) == 0
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


_CONTROL = re.compile(r"\\([a-z]+)(-?\d+)? ?|\\'([0-9a-f]{2})|\\([\\{}~_*-])|\\\n")


def _plain(doc: str, *, skip_furniture: bool = True) -> str:
    """Plain text of RTF (a whole document or a fragment): cells end with a tab, rows and
    paragraphs with a new line; the font table, ``\\*`` destinations and (unless asked) the
    running header and footer are left out. Fails on unbalanced braces or an unknown escape."""
    out, depth, i, skip_group = [], 0, 0, None
    skipped = ("{\\fonttbl", "{\\colortbl", "{\\*") + (("{\\header", "{\\footer") if skip_furniture
                                                       else ())  # fmt: skip
    while i < len(doc):
        ch = doc[i]
        if ch == "{":
            depth += 1
            if skip_group is None and doc.startswith(skipped, i):
                skip_group = depth
            i += 1
        elif ch == "}":
            if skip_group == depth:
                skip_group = None
            depth -= 1
            assert depth >= 0, "unbalanced braces"
            i += 1
        elif ch == "\\":
            m = _CONTROL.match(doc, i)
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
            elif word == "chpgn":
                out.append("<PAGE>")
            elif hexa:
                out.append(bytes.fromhex(hexa).decode("cp1252"))
            elif sym and sym != "*":
                out.append(sym)
        else:
            if not skip_group and ch not in "\r\n":
                out.append(ch)
            i += 1
    assert depth == 0, "unbalanced braces"
    return "".join(out)


def rtf_text(doc: str) -> str:
    """Plain text of an RTF document's body (see :func:`_plain`); fails on anything that is not
    well-formed 7-bit RTF."""
    assert doc.startswith("{\\rtf1"), doc[:20]
    assert doc.isascii()
    return _plain(doc)


def rtf_group(doc: str, opener: str) -> str:
    """The text of the first group starting with ``opener`` (e.g. ``{\\header``), as RTF."""
    start = doc.index(opener)
    depth = 0
    for i in range(start, len(doc)):
        if doc[i] == "{" and doc[i - 1] != "\\":
            depth += 1
        elif doc[i] == "}" and doc[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return doc[start : i + 1]
    raise AssertionError(f"{opener} group not closed")


def rtf_furniture(doc: str) -> tuple[str, str]:
    """(running header, footer) of an RTF document as text; the page number field as
    ``<PAGE>``, the number of pages field as ``<PAGES>``."""

    def text(group):
        g = group.replace("{\\field{\\*\\fldinst NUMPAGES }}", "<PAGES>")
        return _plain(g[len("{\\header") : -1])  # "{\\footer" is as long

    return text(rtf_group(doc, "{\\header")), text(rtf_group(doc, "{\\footer"))


def rtf_pages(doc: str) -> list[list[list[str]]]:
    """The body of each page (rtflite's page breaks) as rows of cell texts."""
    head = doc.index("\\paperw")
    pages = re.split(r"\\page(?![a-z])", doc[head:])
    out = []
    for page in pages:
        rows = []
        for row in re.split(r"\\row(?![a-z])", page):
            if "\\cell" not in row:
                continue
            cells = _plain("{" + row[row.index("\\trowd") :] + "}") if "\\trowd" in row else ""
            rows.append([c.strip() for c in cells.split("\t")[:-1]])
        out.append(rows)
    return out


def pdf_pages(pdf) -> list[list[str]]:
    """Each page of a PDF as its non-empty text lines (pdftotext, layout kept)."""
    import subprocess

    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    return [
        [ln.strip() for ln in page.splitlines() if ln.strip()] for page in text.split("\f")[:-1]
    ]


def pdf_image_pages(pdf) -> set[int]:
    """The pages (from 1) of a PDF that hold an image (pdfimages -list)."""
    import subprocess

    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    return {int(line.split()[0]) for line in listing.splitlines()[2:] if line.strip()}


def pdf_page_sizes(pdf) -> list[str]:
    """The size of every page of a PDF as pdfinfo names it (e.g. ``"841.92 x 594.96 pts (A4)"``)."""
    import subprocess

    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "100000", str(pdf)], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    return re.findall(r"Page\s+\d+ size:\s+(.*)", info)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", str(text).replace("\u2007", " ")).strip()


#: text that must never be shown in a table cell or footnote: an empty value printed as text, a
#: command-line option (the report's reader edits a design file), Altman's NNT through infinity,
#: a hyphen for a minus sign
DEFECTS = {
    "nan": re.compile(r"\bnan\b", re.I),
    "None": re.compile(r"\bNone\b"),
    "command-line option": re.compile(r"(?<![\w-])--[a-z]"),
    "NNT through infinity": re.compile(r"infinity to"),
    "hyphen for a minus sign": re.compile(r"(^|[\s(])-\d"),
}


def defects_in(texts) -> list[tuple[str, str]]:
    """(defect, text) for every text that shows one of :data:`DEFECTS`."""
    return [(name, t) for t in texts for name, rx in DEFECTS.items() if rx.search(str(t))]


def check_rtf_document(path, *, study: str, synthetic: bool, paper=(16838, 11906)) -> dict:
    """The acceptance check of one RTF table: paper (landscape, every page), running header
    (study, SYNTHETIC DATA exactly when synthetic), footer (program, version, run date, Page x
    of y), the title and the column headers repeated at the top of every page, the footnotes
    after the last row, no defect in any cell or footnote. Returns what it read."""
    doc = Path(path).read_text(encoding="ascii")
    text = rtf_text(doc)
    w, h = paper
    sizes = re.findall(r"\\paperw(\d+)\\paperh(\d+)", doc)
    assert sizes and set(sizes) == {(str(w), str(h))}, (path.name, set(sizes))
    assert "\\landscape" in doc
    header, footer = rtf_furniture(doc)
    assert _squash(study) in _squash(header), (path.name, header)
    assert (SYNTHETIC in header) == synthetic, (path.name, header)
    assert re.search(r"Page <PAGE>\s+of <PAGES>", footer), footer
    assert "ipt-outcomes" in footer and re.search(r"run \d{4}-\d\d-\d\d \d\d:\d\d UTC", footer)
    pages = rtf_pages(doc)
    title = text.split("\n", 1)[0]
    assert title.startswith(("Table 14.", "Listing 16.")), title
    column_header = pages[0][0]
    for k, rows in enumerate(pages):
        assert rows and rows[0] == column_header, (path.name, k + 1, rows[:1])
    chunks = re.split(r"\\page(?![a-z])", doc[doc.index("\\paperw") :])
    for k, chunk in enumerate(chunks):  # the title on every page, the footnotes on the last
        if k == len(chunks) - 1:
            chunk = chunk.rstrip()[:-1]  # the document's closing brace
        shown = _plain("{" + chunk + "}")
        assert _squash(title) in _squash(shown), (path.name, k + 1)
        assert ("Software: ipt-outcomes" in shown) == (k == len(chunks) - 1), (path.name, k + 1)
    cells = [c for rows in pages for r in rows for c in r]
    bad = defects_in(cells)
    assert not bad, (path.name, bad[:5])
    return dict(text=text, header=header, footer=footer, pages=pages, title=title)


def check_pdf(pdf, *, study: str, synthetic: bool, footnotes, headings, paper="A4") -> list:
    """The acceptance check of the PDF: every page the paper size, the running header (study
    name, SYNTHETIC DATA exactly when synthetic) and "Page x of y" on every page, no page whose
    body is only footnotes, no section or group heading as the last line of a page. Returns
    the pages' lines."""
    sizes = pdf_page_sizes(pdf)
    pages = pdf_pages(pdf)
    assert len(sizes) == len(pages) > 0
    assert all(f"({paper})" in s for s in sizes), set(sizes)
    notes = [_squash(re.sub(r"^\d+\.\s*", "", f)) for f in footnotes]
    every = " || ".join(notes)
    heads = [_squash(x) for x in headings]
    for k, lines in enumerate(pages):
        first, last = lines[0], lines[-1]
        assert _squash(study)[:40] in _squash(first), (k + 1, first)
        assert (SYNTHETIC in first) == synthetic, (k + 1, first)
        assert re.search(rf"Page {k + 1} of {len(pages)}$", last), (k + 1, last)
        assert "ipt-outcomes" in last
        body = [_squash(re.sub(r"^\d+\.\s+", "", ln)) for ln in lines[1:-1]]
        body = [b for b in body if b]
        assert body, f"page {k + 1} is empty"
        others = [b for b in body if b not in every]
        assert others, f"page {k + 1} holds only footnotes: {body[:3]}"
        assert _squash(lines[-2]) not in heads, f"heading {lines[-2]!r} orphaned at page {k + 1}"
    # a figure's number and title on the page of its picture, never alone at a page's end
    images = pdf_image_pages(pdf)
    for k, lines in enumerate(pages):
        for line in lines[1:-1]:
            if re.match(r"Figure \d+(\.\d+)+ ", line):
                assert k + 1 in images, f"{line[:40]!r} on page {k + 1}, its picture on another"
    return pages


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


# ------------------------------------------------------------------------------------------
# acceptance (issue 29): page furniture, the synthetic mark, no visible defects
# ------------------------------------------------------------------------------------------


def _study(tables) -> str:
    return tables["trial"].set_index("key")["value"]["name"]


def test_acceptance_every_rtf_has_its_page_furniture_and_the_synthetic_mark(report_dir, tables):
    """Issue 29: A4 landscape on every page, the running header with the study and SYNTHETIC
    DATA, the footer with program, run date and Page x of y, the column headers repeated on
    every page of a multi-page table or listing, the footnotes on its last page, the synthetic
    note among the footnotes, and no defect in any cell."""
    from ipt_outcomes.report.rtf import rtf_name

    tlf = tables["tlf"]
    several = 0
    for row in tlf[tlf["kind"] != "Figure"].itertuples(index=False):
        got = check_rtf_document(report_dir / "rtf" / rtf_name(row.label), study=_study(tables),
                                 synthetic=True)  # fmt: skip
        several += len(got["pages"]) > 1
        assert f"{SYNTHETIC}: the scores are generated" in got["text"], row.label
        assert row.program.split(",")[0] in _squash(got["footer"]), row.label
    assert several >= 2  # the flow table and the listing run over pages: headers repeated


def test_acceptance_rtf_marks_modelled_rows_and_aligns_numbers_on_the_decimal_point(
    report_dir, tables
):
    """Issue 29: modelled rows in italics (rtflite's text format), the footnote says so; number
    cells right-aligned and padded with figure spaces so that each number's decimal point lines
    up with the one above it."""
    from ipt_outcomes.report.rtf import rtf_name

    tlf = tables["tlf"].set_index("name")
    doc = (report_dir / "rtf" / rtf_name(tlf.loc["primary-lsmeans", "label"])).read_text("ascii")
    rows = [r[r.index("\\trowd") :] for r in re.split(r"\\row(?![a-z])", doc) if "\\trowd" in r]
    cells = [_plain("{" + r + "}").split("\t") for r in rows]
    modelled = [r for r, c in zip(rows, cells, strict=True)
                if len(c) > 2 and c[0].endswith("(modelled)")]  # fmt: skip
    assert modelled and all("\\i " in r or "\\i\\" in r for r in modelled)
    assert all("\\qr" in r for r in modelled)  # numbers right-aligned, not centred
    text = rtf_text(doc)
    assert "its rows in italics" in text
    number = re.compile(r"^\u2212?\d+\.\d+ \([\u2007\u2212\d.]+ to [\u2007\u2212\d.]+\)$")
    cells = [c.strip() for line in text.split("\n") for c in line.split("\t")]
    cells = [c for c in cells if number.match(c)]
    assert len(cells) > 10 and any("\u2007" in c for c in cells)
    # decimal points line up: the text right of the estimate's point has one width in a column
    tails = {len(c.split(".", 1)[1]) for c in cells if "(" in c}
    assert len(tails) == 1, tails


def test_acceptance_pdf_has_page_furniture_and_no_page_of_footnotes_alone(report_dir, tables, page):
    """Issue 29: A4 throughout, the running header with the study and SYNTHETIC DATA and
    "Page x of y" on every page, no page holding only footnotes, no heading orphaned at the
    end of a page."""
    _need_chromium()
    _need_poppler()
    text, _ = page
    notes = list(tables["tlf_footnotes"]["text"].astype(str)) + ["Software: ipt-outcomes"]
    headings = [h for h in re.findall(r"<h[23][^>]*>(.*?)</h[23]>", text, flags=re.S)]
    headings = [re.sub(r"<[^>]+>", "", h) for h in headings]
    numbered = [f"{i + 1}. {h}" for i, h in enumerate(re.findall(r"<h2[^>]*>(.*?)</h2>", text))]
    pages = check_pdf(report_dir / "report.pdf", study=_study(tables), synthetic=True,
                      footnotes=notes, headings=headings + numbered)  # fmt: skip
    assert len(pages) >= len(tables["tlf"])
    shown = " ".join(" ".join(p) for p in pages)
    for label in tables["tlf"]["label"]:
        assert label in shown


def test_acceptance_every_exported_figure_carries_the_synthetic_mark(report_dir, tables):
    """Issue 29: every PNG and SVG of the project's trial says SYNTHETIC DATA (drawn in the
    figure, and in the file's description with what the figure shows)."""
    from PIL import Image

    figures = tables["tlf"][tables["tlf"]["kind"] == "Figure"]
    for name in figures["name"]:
        png = Image.open(report_dir / "figures" / f"{name}.png")
        assert SYNTHETIC in png.info.get("Description", ""), name
        svg = (report_dir / "figures" / f"{name}.svg").read_text(encoding="utf-8")
        assert SYNTHETIC in svg.split("</metadata>", 1)[-1], name  # drawn, not only described
        assert "calibrated to" in svg


def test_acceptance_no_visible_defect_in_any_cell_or_footnote_of_the_html(page, tables):
    """Issue 29: no table cell or footnote of the HTML shows nan, None, a command-line option,
    an NNT interval through infinity or a hyphen for a minus sign; no "nominal" in an adjusted
    p column; no "Unadjusted p" column."""
    _, parser = page
    texts = []
    for name, t in parser.tlfs.items():
        texts += [c for r in t["rows"] for c in r] + t["notes"] + [t["title"], t["population"]]
        header = t["rows"][0] if t["rows"] else []
        for j, h in enumerate(header):
            assert "Unadjusted p" not in h, name
            if "Adjusted p" in h:
                assert all(r[j].strip() != "nominal" for r in t["rows"][1:] if j < len(r)), name
    bad = defects_in(texts)
    assert not bad, bad[:5]
    assert any("\u2212" in c for c in texts)  # negative numbers are there, with true minus


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
        titles = set(tables["tlf"].loc[tables["tlf"]["kind"] == "Figure", "title"])
        for *_x, alt in images:  # alt text says what the figure shows, not only its title
            assert alt and alt not in titles and len(alt) > 80, alt
            assert re.match(r"(Line chart|Bar chart|Forest plot|Heat map|Flow diagram|Chart)", alt)
        captions = driver.execute_script(
            "return Array.from(document.querySelectorAll('section.tlf table'))"
            ".map(t => [t.caption ? t.caption.textContent : '', "
            "Array.from(t.tHead.rows[0].cells).every(c => c.scope === 'col')]);"
        )
        assert captions and all(c.strip().startswith(("Table", "Listing")) and ok
                                for c, ok in captions)  # fmt: skip
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
    import ipt_outcomes.runtime.background as background
    from ipt_outcomes.exceptions import IptOutcomesError

    monkeypatch.setattr(background.os, "cpu_count", lambda: cores)
    frame = pd.DataFrame({"arm": ["A", "B"], "estimate": [1.5, -0.25]})
    got = background.Background(lambda f: f.assign(double=2 * f["estimate"]), frame).result()
    assert got["double"].tolist() == [3.0, -0.5]
    with pytest.raises(IptOutcomesError, match="no scores at the key visit"):
        background.Background(_refuse, "no scores at the key visit").result()
