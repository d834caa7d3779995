"""The corpus of bad and awkward inputs (tests/corpus, made by make_corpus.py): every case gets
its expected exit status and one clear message, never a traceback; inputs are never modified; a
refused input leaves no output behind."""

from __future__ import annotations

import shlex

import pandas as pd
import pytest

from .conftest import ROOT, sha256

CORPUS = ROOT / "tests" / "corpus"
MANIFEST = pd.read_csv(CORPUS / "manifest.csv", keep_default_na=False, dtype=str)


def test_the_corpus_has_at_least_thirty_cases():
    assert len(MANIFEST) >= 30
    for name in MANIFEST["file"]:
        assert (CORPUS / name).exists() or name.startswith("no_such_file")


@pytest.mark.parametrize("case", MANIFEST.to_dict("records"), ids=list(MANIFEST["file"]))
def test_validate_gives_the_expected_outcome(run_cli, case, tmp_path):
    path = CORPUS / case["file"]
    before = sha256(path) if path.is_file() else None
    code, out, err = run_cli("validate", path, *shlex.split(case["args"]))
    text = out + err
    assert code == int(case["exit"]), text
    assert case["message"] in text, text
    assert "Traceback" not in text
    if before is not None:
        assert sha256(path) == before


@pytest.mark.parametrize(
    "case",
    [c for c in MANIFEST.to_dict("records") if c["exit"] == "1"],
    ids=[f for f, e in zip(MANIFEST["file"], MANIFEST["exit"], strict=True) if e == "1"],
)
def test_a_refused_input_leaves_no_output(run_cli, case, tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = run_cli(
        "response", CORPUS / case["file"], "--out", out_dir, *shlex.split(case["args"])
    )
    assert code == 1 and "Traceback" not in out + err
    assert not out_dir.exists()


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
