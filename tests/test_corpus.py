"""The corpus of bad and awkward inputs (tests/corpus, made by make_corpus.py).

Each case of manifest.csv runs one command on one file (or on arguments alone) and expects an
exit status and a fragment of the message: never a traceback or an "internal error", the input
never modified, and a command that fails leaves nothing behind (no output folder, no staging
folder, nothing beside them). In ``args``, ``{out}`` is a fresh output folder, ``{a_file}`` an
existing file in the way of an output, ``{corpus}`` the corpus folder; made for the cases that
name them (issue 30): ``{a_fifo}`` a named pipe, ``{a_link}`` a symbolic link to a folder,
``{a_file_link}`` a symbolic link to ``{a_file}``. The corpus also holds links (``link_*.csv``)
that lead nowhere.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path

import pandas as pd
import pytest

from .conftest import ROOT, sha256

CORPUS = ROOT / "tests" / "corpus"
MANIFEST = pd.read_csv(CORPUS / "manifest.csv", keep_default_na=False, dtype=str)
CASES = MANIFEST.to_dict("records")
A_FILE_TEXT = "a file in the way\n"


def test_the_corpus_has_its_cases():
    assert len(MANIFEST) >= 160
    assert MANIFEST["case"].is_unique
    assert set(MANIFEST["exit"]) <= {"0", "1", "2"}
    for name in MANIFEST["file"]:
        assert not name or os.path.lexists(CORPUS / name) or name.startswith("no_such_file"), name


#: Things in the way of an output or an input, made only for the cases that name them.
PLACES = {
    "a_fifo": lambda p: os.mkfifo(p),
    "a_link": lambda p: (p.parent / "a_folder").mkdir() or p.symlink_to(p.parent / "a_folder"),
    "a_file_link": lambda p: p.symlink_to(p.parent / "a_file.txt"),
}


def _places(case, tmp_path) -> dict:
    """The placeholders of ``case``'s arguments, made in tmp_path (named pipes and links only
    where the system has them)."""
    made = {}
    for name, make in PLACES.items():
        if "{" + name + "}" in case["args"]:
            if os.name != "posix":
                pytest.skip("needs POSIX named pipes and links")
            make(tmp_path / name)
            made[name] = tmp_path / name
    return made


def _arguments(case, tmp_path, places) -> list[str]:
    out, a_file = tmp_path / "out", tmp_path / "a_file.txt"
    text = case["args"].format(out=out, a_file=a_file, corpus=CORPUS, **places)
    args = shlex.split(text)
    return [case["command"], *([str(CORPUS / case["file"])] if case["file"] else []), *args]


def _state(path) -> tuple:
    """What an input or a thing in the way is: its kind, and its bytes if a regular file."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISREG(st.st_mode):
        return ("file", sha256(path))
    return ("other", stat.S_IFMT(st.st_mode))


@pytest.mark.parametrize("case", CASES, ids=list(MANIFEST["case"]))
def test_case_gives_the_expected_outcome(run_cli, case, tmp_path):
    if "/proc/" in case["args"] and not sys.platform.startswith("linux"):
        pytest.skip("needs Linux's /proc, where nothing can be created")
    if "/dev/null" in case["args"] and not os.path.exists("/dev/null"):
        pytest.skip("needs /dev/null")
    a_file = tmp_path / "a_file.txt"
    a_file.write_text(A_FILE_TEXT)
    places = _places(case, tmp_path)
    path = CORPUS / case["file"] if case["file"] else None
    watched = [p for p in [path, *places.values()] if p is not None and os.path.lexists(p)]
    watched += [Path("/dev/null")] if "/dev/null" in case["args"] else []
    before = {p: _state(p) for p in watched}
    corpus_before = sorted(p.name for p in CORPUS.iterdir())
    made_before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run_cli(*_arguments(case, tmp_path, places))
    text = out + err
    assert code == int(case["exit"]), text
    assert case["message"] in text, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert {p: _state(p) for p in watched} == before  # inputs and things in the way untouched
    assert a_file.read_text() == A_FILE_TEXT
    assert sorted(p.name for p in CORPUS.iterdir()) == corpus_before  # nothing written beside
    if code != 0:  # nothing left behind: no output folder, no staging folder
        assert sorted(p.name for p in tmp_path.iterdir()) == made_before, text
    if places.get("a_link") is not None:
        assert list((tmp_path / "a_folder").iterdir()) == []  # nothing written through a link


VALIDATE_REFUSED = [
    c for c in CASES if c["command"] == "validate" and c["exit"] == "1" and c["file"]
]


@pytest.mark.parametrize("case", VALIDATE_REFUSED, ids=[c["case"] for c in VALIDATE_REFUSED])
def test_a_refused_input_leaves_no_output(run_cli, case, tmp_path):
    out_dir = tmp_path / "out"
    args = shlex.split(case["args"].format(out=out_dir, a_file="", corpus=CORPUS))
    code, out, err = run_cli("response", CORPUS / case["file"], "--out", out_dir, *args)
    assert code == 1 and "Traceback" not in out + err and "internal error" not in out + err
    assert list(tmp_path.iterdir()) == []


def test_spreadsheet_formulas_in_labels_are_neutralised_in_outputs(run_cli, tmp_path):
    code, out, err = run_cli(
        "response",
        CORPUS / "spreadsheet_formula_labels.csv",
        "--reference",
        "TAU",
        "--out",
        tmp_path,
    )
    assert code == 0, err
    for csv in tmp_path.glob("*.csv"):
        for line in csv.read_text(encoding="utf-8").splitlines():
            for cell in line.split(","):
                assert not cell.startswith(("=", "@", "+")), (csv.name, cell)
    rates = pd.read_csv(tmp_path / "response_rates.csv")
    assert rates["arm"].tolist()[0].startswith("'=HYPERLINK")


def test_negative_numbers_are_not_mistaken_for_formulas(run_cli, tmp_path):
    code, out, err = run_cli(
        "response", CORPUS / "missing_baseline.csv", "--reference", "TAU", "--out", tmp_path
    )
    assert code == 0, err
    comp = pd.read_csv(tmp_path / "response_comparisons.csv")
    assert pd.api.types.is_float_dtype(comp["risk_difference"])
