"""Shared fixtures: tiny hand-built files, the project's synthetic trial, the external data."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ipt_outcomes.cli import main
from ipt_outcomes.datasets import simulate_trial, write_trial_csv

ROOT = Path(__file__).resolve().parents[1]
DESIGNS = Path(__file__).resolve().parent / "designs"
SHARED = Path(os.environ.get("IPT_SHARED", ROOT.parent / "shared"))
EXTERNAL = SHARED / "data" / "external"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def write_csv(tmp_path):
    """Write text to a CSV file in tmp_path; returns its path."""

    def _write(text: str, name: str = "scores.csv", encoding: str = "utf-8", newline: str = "\n"):
        path = tmp_path / name
        path.write_bytes(text.replace("\n", newline).encode(encoding))
        return path

    return _write


@pytest.fixture
def run_cli(capsys):
    """Run ``ipt-outcomes ARGS`` in-process; returns (exit code, stdout, stderr)."""

    def _run(*args):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture(scope="session")
def project_trial():
    """The project's synthetic trial with the default seed (what `make data` writes)."""
    return simulate_trial()


@pytest.fixture(scope="session")
def project_trial_csv(project_trial, tmp_path_factory):
    path = tmp_path_factory.mktemp("trial") / "trial.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        write_trial_csv(project_trial.data, fh)
    return path


@pytest.fixture
def external():
    """Path of an external data set in ../shared/data/external (skipped if the folder is absent)."""

    def _path(name: str) -> Path:
        path = EXTERNAL / name
        if not path.exists():
            pytest.skip(f"external data not available at {path}")
        return path

    return _path
