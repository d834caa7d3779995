"""Teaching kit: worksheet rendering (one object, two versions), the RoB 2 file and algorithm,
and the six worksheets built end to end on the project's trial."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest

from ipt_outcomes.exceptions import DesignError
from ipt_outcomes.stats.power import sample_size
from ipt_outcomes.teaching import (
    Task,
    Worksheet,
    load_rob2,
    render_worksheet,
    rob2_overall,
    rob2_traffic_light,
)

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


@pytest.fixture(scope="module")
def built(tmp_path_factory, project_trial_csv):
    out = tmp_path_factory.mktemp("teaching")
    res = subprocess.run(
        [sys.executable, str(ROOT / "analyses" / "teaching" / "build.py"), "--data", str(project_trial_csv),
         "--design", str(ROOT / "analyses" / "saloheimo2016.toml"), "--out", str(out), "--sims", "40",
         "--imputations", "6", "--workers", "1"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return out


def test_make_teaching_builds_six_worksheets_in_two_versions(built):
    keys = sorted(built.glob("*_key.html"))
    students = sorted(built.glob("*_student.html"))
    assert len(keys) == len(students) == 6
    for k, s in zip(keys, students, strict=True):
        key, student = k.read_text(encoding="utf-8"), s.read_text(encoding="utf-8")
        assert key.count('class="task"') == student.count('class="task"') >= 3
        assert 'class="answer"' in key and 'class="answer"' not in student
        assert "<script" not in key and "http" not in key.replace("https://", "")  # self-contained
    index = (built / "index.html").read_text(encoding="utf-8")
    assert index.count("_key.html") == 6


def test_worksheet_4_key_shows_the_computed_sample_size(built):
    key = (built / "04_sample_size_key.html").read_text(encoding="utf-8")
    n = sample_size(0.42, 0.61, 0.80, "chisq")["n_per_arm"]
    assert f"{n} per arm for the chi-square test" in key


def test_worksheet_6_draws_the_rob2_file(built):
    key = (built / "06_risk_of_bias_key.html").read_text(encoding="utf-8")
    table = load_rob2(ROB2)
    assert f"Overall: {table['judgement'].iloc[-1]}" in key
    assert key.count("data:image/png;base64,") == 1
