"""The corpus of bad and awkward inputs (tests/corpus, made by make_corpus.py).

Each case of manifest.csv runs one command on one file (or on arguments alone) and expects an
exit status and a fragment of the message: never a traceback or an "internal error", the input
never modified, and a command that fails leaves nothing behind (no output folder, no staging
folder, nothing beside them). In ``args``, ``{out}`` is a fresh output folder, ``{a_file}`` an
existing file in the way of an output, ``{corpus}`` the corpus folder.
"""

from __future__ import annotations

import shlex
import sys

import pandas as pd
import pytest

from .conftest import ROOT, sha256

CORPUS = ROOT / "tests" / "corpus"
MANIFEST = pd.read_csv(CORPUS / "manifest.csv", keep_default_na=False, dtype=str)
CASES = MANIFEST.to_dict("records")
A_FILE_TEXT = "a file in the way\n"


def test_the_corpus_has_its_cases():
    assert len(MANIFEST) >= 80
    assert MANIFEST["case"].is_unique
    assert set(MANIFEST["exit"]) <= {"0", "1", "2"}
    for name in MANIFEST["file"]:
        assert not name or (CORPUS / name).exists() or name.startswith("no_such_file"), name


def _arguments(case, tmp_path) -> list[str]:
    out, a_file = tmp_path / "out", tmp_path / "a_file.txt"
    text = case["args"].format(out=out, a_file=a_file, corpus=CORPUS)
    args = shlex.split(text)
    return [case["command"], *([str(CORPUS / case["file"])] if case["file"] else []), *args]


@pytest.mark.parametrize("case", CASES, ids=list(MANIFEST["case"]))
def test_case_gives_the_expected_outcome(run_cli, case, tmp_path):
    if "/proc/" in case["args"] and not sys.platform.startswith("linux"):
        pytest.skip("needs Linux's /proc, where nothing can be created")
    a_file = tmp_path / "a_file.txt"
    a_file.write_text(A_FILE_TEXT)
    path = CORPUS / case["file"] if case["file"] else None
    before = sha256(path) if path is not None and path.is_file() else None
    corpus_before = sorted(p.name for p in CORPUS.iterdir())
    code, out, err = run_cli(*_arguments(case, tmp_path))
    text = out + err
    assert code == int(case["exit"]), text
    assert case["message"] in text, text
    assert "Traceback" not in text and "internal error" not in text, text
    if before is not None:
        assert sha256(path) == before
    assert a_file.read_text() == A_FILE_TEXT
    assert sorted(p.name for p in CORPUS.iterdir()) == corpus_before  # nothing written beside
    if code != 0:  # nothing left behind: no output folder, no staging folder
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file.txt"], text


VALIDATE_REFUSED = [c for c in CASES if c["command"] == "validate" and c["exit"] == "1"]


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
