"""The report: stages, every number traced to a table, reproducibility, rendering in Chromium."""

from __future__ import annotations

import hashlib
import html.parser
import os
import re
import shutil

import pandas as pd
import pytest

from ipt_outcomes.data.synthetic import simulate_trial, write_trial_csv
from ipt_outcomes.report.html import read_tables, render

from .conftest import ROOT

DESIGN = ROOT / "analyses" / "saloheimo2016.toml"


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
    assert (
        main(["report", "--data", str(trial_file), "--design", str(DESIGN), "--out", str(out)]) == 0
    )
    return out


class _Collect(html.parser.HTMLParser):
    """Collects tagged values (spans and table cells) and the text outside them."""

    def __init__(self):
        super().__init__()
        self.stack = []  # (tag, attrs) of open elements
        self.tagged = []  # (src, row, col, fmt, text)
        self.untagged = []
        self.cur = None
        self.table_src = None
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("style", "title"):
            self.skip += 1
        if tag == "table":
            self.table_src = a.get("data-src")
        if "data-row" in a:
            src = a.get("data-src") or self.table_src
            self.cur = [src, int(a["data-row"]), a["data-col"], a["data-fmt"], ""]
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in ("style", "title"):
            self.skip -= 1
        if self.cur is not None and tag in ("span", "td"):
            self.tagged.append(tuple(self.cur))
            self.cur = None
        if tag == "table":
            self.table_src = None
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if self.skip:
            return
        if self.cur is not None:
            self.cur[4] += data
        else:
            self.untagged.append(data)


def test_report_has_the_three_stages_of_files(report_dir):
    assert (report_dir / "report.html").exists()
    tables = {p.stem for p in (report_dir / "tables").glob("*.csv")}
    assert {
        "published_vs_reproduced",
        "response_rates",
        "mmrm_contrasts",
        "consort",
        "baseline_table",
        "sensitivity",
    } <= tables
    figures = {p.name for p in (report_dir / "figures").iterdir()}
    for name in (
        "consort",
        "rates",
        "forest",
        "mmrm",
        "spaghetti",
        "waterfall",
        "missingness",
        "sensitivity",
    ):
        assert {f"{name}.png", f"{name}.svg"} <= figures


def test_published_vs_reproduced_has_the_spec_columns_and_the_six_rates(report_dir):
    t = pd.read_csv(report_dir / "tables" / "published_vs_reproduced.csv")
    assert list(t.columns) == [
        "arm",
        "visit",
        "published_percent",
        "reproduced_percent",
        "n",
        "responders",
    ]
    assert len(t) == 6 and (t["published_percent"] == t["reproduced_percent"]).all()


def test_every_number_in_the_report_comes_from_a_generated_table(report_dir):
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(text)
    tables = read_tables(report_dir / "tables")
    tables["provenance"] = pd.read_csv(
        report_dir / "provenance.csv", dtype=str, keep_default_na=False
    )
    assert len(parser.tagged) > 500
    for src, row, col, kind, shown in parser.tagged:
        expected = render(tables, src, row, col, kind)
        assert shown == expected, (src, row, col, shown, expected)
    loose = "".join(parser.untagged).replace("HC3", "HC")  # a method's name, not a number
    assert not re.search(r"\d", loose), re.findall(r".{20}\d.{20}", loose)[:5]


def test_rebuilding_gives_byte_identical_tables(report_dir, trial_file, tmp_path):
    from ipt_outcomes.cli import main

    again = tmp_path / "again"
    assert (
        main(["report", "--data", str(trial_file), "--design", str(DESIGN), "--out", str(again)])
        == 0
    )

    def digests(d):
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((d / "tables").glob("*.csv"))
        }

    assert digests(again) == digests(report_dir)


def test_report_is_self_contained(report_dir):
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"""\s(?:src|href)=["'](?!data:)""", text)
    assert text.count('src="data:image/png;base64,') == 8
    assert "http://" not in text and "@import" not in text


def test_provenance_records_versions_inputs_commit_and_build_time(report_dir):
    prov = pd.read_csv(report_dir / "provenance.csv", dtype=str).set_index("key")["value"]
    assert {"ipt-outcomes", "numpy", "pandas", "git commit", "time to build (s)"} <= set(prov.index)
    assert any(k.startswith("sha256 of data") for k in prov.index)
    assert any(k.startswith("sha256 of design") for k in prov.index)
    assert float(prov["time to build (s)"]) > 0


def test_data_derived_strings_are_escaped(tmp_path):
    from ipt_outcomes.cli import main

    data = simulate_trial(5, n_per_arm=25, include_modelled_arm=False).data
    evil = "<script>alert(1)</script>"
    data["arm"] = data["arm"].replace({"IPT": evil})
    path = tmp_path / "evil.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        write_trial_csv(data, fh)
    out = tmp_path / "out"
    assert main(["report", "--data", str(path), "--out", str(out)]) == 0
    text = (out / "report.html").read_text(encoding="utf-8")
    assert evil not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_report_renders_in_headless_chromium_with_no_console_errors(report_dir):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian chromium and chromium-driver (.ci/run does)")
        pytest.skip("Debian chromium / chromium-driver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

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
        assert len(images) == 8 and all(ok and w > 0 for ok, w, _alt in images), images
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
        shot = ROOT / "reports" / "report_screenshot.png"
        shot.parent.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()


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
    assert text.count('src="data:image/png;base64,') == 8
    assert len(pd.read_csv(out / "tables" / "published_vs_reproduced.csv")) == 0
