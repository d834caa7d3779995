"""The acceptance check of issue 29 on a trial the report was not written for: the plan-driven
reference trial of issue 23 (``tests/reference/plan``: a simulated 3-arm MADRS trial with
ADaM column names, flags, visit codes and rescue events, not made by ``simulate``), with a
``[consort]`` section of its own added to its design (screening, reasons for exclusion and for
loss to follow-up).

Its RTF and PDF must have the same page furniture as the project's (A4, running header,
"Page x of y", repeated column headers, no page of footnotes alone) and none of the visible
defects, and say nothing about synthetic data: the report was not told the data are
generated. The report is also printed on US Letter, and a narrower rebuild removes the formats
it did not make this time.
"""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest

from ipt_outcomes.report.html import read_tables

from .conftest import ROOT
from .test_report import (
    CHROMIUM,
    _need_chromium,
    _need_poppler,
    check_pdf,
    check_rtf_document,
    defects_in,
    pdf_page_sizes,
    rtf_text,
)
from .test_report_figures import check_figures

PLAN = ROOT / "tests" / "reference" / "plan"
CONSORT = """
[consort]
# Hand-made for this test: enrolment and reasons the score file cannot know.
assessed = 412
excluded = [
  { reason = "Did not meet inclusion criteria", n = 120 },
  { reason = "Declined to participate", n = 52 },
]
lost = [
  { arm = "PBO", reason = "Withdrew consent", n = 3 },
  { arm = "HIGH", reason = "Adverse event", n = 2 },
]
"""


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    """(design file, data file) of the plan reference trial, its design with a [consort]."""
    folder = tmp_path_factory.mktemp("foreign")
    shutil.copy(PLAN / "events.csv", folder / "events.csv")
    design = folder / "plan_trial.toml"
    design.write_text((PLAN / "plan_trial.toml").read_text(encoding="utf-8") + CONSORT,
                      encoding="utf-8")  # fmt: skip
    return design, PLAN / "plan_trial.csv"


@pytest.fixture(scope="module")
def report_dir(foreign, tmp_path_factory):
    from ipt_outcomes.cli import main

    design, data = foreign
    out = tmp_path_factory.mktemp("report")
    formats = "html,rtf,svg,pdf" if CHROMIUM[0] else "html,rtf,svg"
    args = ["report", "--data", str(data), "--design", str(design), "--out", str(out),
            "--formats", formats]  # fmt: skip
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def tables(report_dir):
    return read_tables(report_dir / "tables")


def _study(tables) -> str:
    return tables["trial"].set_index("key")["value"]["name"]


def test_foreign_every_rtf_has_its_page_furniture_and_no_synthetic_mark(report_dir, tables):
    from ipt_outcomes.report.rtf import rtf_name

    tlf = tables["tlf"]
    several = 0
    for row in tlf[tlf["kind"] != "Figure"].itertuples(index=False):
        got = check_rtf_document(report_dir / "rtf" / rtf_name(row.label), study=_study(tables),
                                 synthetic=False)  # fmt: skip
        several += len(got["pages"]) > 1
        assert "SYNTHETIC" not in got["text"]
    assert several >= 1  # the listing runs over pages: its column headers repeated


def test_foreign_pdf_has_page_furniture_and_no_page_of_footnotes_alone(report_dir, tables):
    _need_chromium()
    _need_poppler()
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    notes = list(tables["tlf_footnotes"]["text"].astype(str)) + ["Software: ipt-outcomes"]
    headings = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<h[23][^>]*>(.*?)</h[23]>", text)]
    numbered = [f"{i + 1}. {h}" for i, h in enumerate(re.findall(r"<h2[^>]*>(.*?)</h2>", text))]
    pages = check_pdf(report_dir / "report.pdf", study=_study(tables), synthetic=False,
                      footnotes=notes, headings=headings + numbered)  # fmt: skip
    assert not any("SYNTHETIC" in ln for p in pages for ln in p)


def test_foreign_report_shows_no_defect_and_no_synthetic_mark(report_dir, tables):
    from ipt_outcomes.report.html import Report
    from ipt_outcomes.report.views import text_of

    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC" not in html
    tables = dict(tables)
    tables["provenance"] = pd.read_csv(report_dir / "provenance.csv", dtype=str,
                                       keep_default_na=False)  # fmt: skip
    report = Report(tables)
    texts = []
    for t in report.all_tlfs():
        texts += [report.text(f) for f in t.footnotes] + [report.text(t.title)]
        if t.view is not None:
            texts += [text_of(c, tables) for r in t.view.rows for c in r]
    bad = defects_in(texts)
    assert not bad, bad[:5]
    for rtf in (report_dir / "rtf").glob("*.rtf"):
        cells = rtf_text(rtf.read_text(encoding="ascii")).replace("\n", "\t").split("\t")
        assert not defects_in(cells), (rtf.name, defects_in(cells)[:3])
    for svg in (report_dir / "figures").glob("*.svg"):
        assert "SYNTHETIC" not in svg.read_text(encoding="utf-8"), svg.name


def test_foreign_flow_has_the_designs_enrolment_and_reasons_for_loss(tables):
    enrol = tables["consort_enrolment"].fillna("")
    got = {(r.stage, r.reason): int(r.n) for r in enrol.itertuples(index=False)}
    assert got[("Assessed for eligibility", "")] == 412
    assert got[("Randomised", "")] == 240 and got[("Excluded", "")] == 172
    assert got[("Excluded", "Declined to participate")] == 52
    lost = tables["consort_lost"]
    assert set(lost["reason"]) >= {"Withdrew consent", "Adverse event", "reason not recorded"}
    flow = tables["consort"]
    last = flow[flow["stage"] == "Assessed"].groupby("arm")["lost"].last()
    assert lost.groupby("arm")["n"].sum().to_dict() == last[last > 0].to_dict()
    analysed = flow[flow["stage"].str.startswith("Analysed")]
    assert set(analysed["stage"]) == {"Analysed (Full analysis set)"}  # the primary's population


def test_foreign_figures_keep_their_text_inside_and_their_colours_for_arms(foreign, tables):
    from ipt_outcomes.data.trial import load_trial

    design, data = foreign
    check_figures(tables, load_trial(data, design).scores)


def test_a_narrower_rebuild_removes_the_formats_it_did_not_make(foreign, tmp_path, run_cli):
    """Issue 29: an HTML-only rebuild left stale PDF, RTF and SVG files; the report removes its
    own files it did not make this time, and nothing else."""
    design, data = foreign
    out = tmp_path / "out"
    code, _, err = run_cli("report", "--data", data, "--design", design, "--out", out,
                           "--formats", "html,rtf,svg")  # fmt: skip
    assert code == 0, err
    assert (out / "rtf").is_dir() and list((out / "figures").glob("*.svg"))
    (out / "my notes.txt").write_text("mine")
    (out / "report.pdf").write_bytes(b"%PDF-1.4 stale")  # as an earlier run with pdf left it
    code, _, err = run_cli("report", "--data", data, "--design", design, "--out", out)
    assert code == 0, err
    assert not (out / "rtf").exists() and not (out / "report.pdf").exists()
    assert not list((out / "figures").glob("*.svg")) and list((out / "figures").glob("*.png"))
    assert (out / "my notes.txt").read_text() == "mine"


def test_the_report_prints_on_letter_when_asked(foreign, tmp_path, run_cli):
    """One page set-up: --paper letter gives Letter RTF tables and a Letter PDF."""
    design, data = foreign
    out = tmp_path / "letter"
    formats = "html,rtf,pdf" if CHROMIUM[0] else "html,rtf"
    code, _, err = run_cli("report", "--data", data, "--design", design, "--out", out,
                           "--formats", formats, "--paper", "letter")  # fmt: skip
    assert code == 0, err
    for rtf in (out / "rtf").glob("*.rtf"):
        doc = rtf.read_text(encoding="ascii")
        assert set(re.findall(r"\\paperw(\d+)\\paperh(\d+)", doc)) == {("15840", "12240")}
    if CHROMIUM[0] and shutil.which("pdfinfo"):
        assert all("(letter)" in s for s in pdf_page_sizes(out / "report.pdf"))


def test_a_word_processor_paginates_the_rtf_as_rtflite_did(report_dir, tmp_path):
    """The repeated column headers are rtflite's: they hold only if a word processor breaks the
    pages where rtflite did. LibreOffice prints the multi-page tables; the page counts agree and
    every printed page starts with the running header and the table's title."""
    import subprocess

    soffice = shutil.which("soffice")
    if not soffice or not shutil.which("pdftotext"):
        pytest.skip("LibreOffice (soffice) or pdftotext not installed: the RTF cannot be printed")
    from .test_report import pdf_pages

    multi = [p for p in sorted((report_dir / "rtf").glob("*.rtf"))
             if re.search(r"\\page(?![a-z])", p.read_text(encoding="ascii"))]  # fmt: skip
    assert multi
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), *map(str, multi)],
                   capture_output=True, timeout=300, check=True)  # fmt: skip
    for rtf in multi:
        doc = rtf.read_text(encoding="ascii")
        pages = pdf_pages(tmp_path / f"{rtf.stem}.pdf")
        assert len(pages) == len(re.findall(r"\\page(?![a-z])", doc)) + 1, rtf.name
        title = rtf_text(doc).split("\n", 1)[0]
        for k, lines in enumerate(pages):
            assert lines[0].startswith("PLAN-REF-01"), (rtf.name, k + 1)
            assert any(ln.startswith(title[:30]) for ln in lines[:4]), (rtf.name, k + 1)
            assert re.search(rf"Page {k + 1} of {len(pages)}", lines[-1]), (rtf.name, lines[-1])
