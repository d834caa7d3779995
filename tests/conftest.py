"""Shared fixtures: tiny hand-built files, the project's synthetic trial, the external data.

External data (real trials this project did not write) are found in two places:

* ``tests/data/external/``: the data sets whose licences allow shipping them (the DIA
  antidepressant trial, Apache-2.0; Riesby, CC0; see its NOTICE). Every comparison on them runs
  in a plain clone.
* ``../shared/data/external`` (or ``$IPT_SHARED/data/external``): the GPL data sets (BtheB,
  Claus 2020), which an MIT project may not copy. Tests that read them are marked ``external``
  (``pytest -m external`` runs only those); where the folder is absent they are skipped with one
  reason, counted in the summary at the end of the run. With ``IPT_REQUIRE_EXTERNAL=1`` (CI) a
  missing data set fails the test instead.

``EXTERNAL / "riesby.csv"`` and the fixture ``external("riesby.csv")`` look in the shipped
folder first, then in the shared one.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from ipt_outcomes.cli import main
from ipt_outcomes.datasets import simulate_trial, write_trial_csv

ROOT = Path(__file__).resolve().parents[1]
DESIGNS = Path(__file__).resolve().parent / "designs"
SHARED = Path(os.environ.get("IPT_SHARED", ROOT.parent / "shared"))
SHIPPED = Path(__file__).resolve().parent / "data" / "external"
SHARED_EXTERNAL = SHARED / "data" / "external"

#: External files that may not be shipped (their licence), with the data set and licence named.
NOT_SHIPPED = {
    "btheb.csv": "BtheB (HSAUR3, GPL-2)",
    "btheb_long.csv": "BtheB (HSAUR3, GPL-2)",
    "claus_2020.csv": "Claus 2020 (clinicalsignificance, GPL >= 3)",
}
#: Words that mark a test as reading a not-shipped data set (test names, parameters, source).
NOT_SHIPPED_WORDS = ("btheb", "claus_2020")
#: Every skip because of missing external data starts with this (the summary groups by it).
EXTERNAL_SKIP = "external data not shipped"
REQUIRE_EXTERNAL = os.environ.get("IPT_REQUIRE_EXTERNAL", "") not in ("", "0")

_current: dict[str, pytest.Item | None] = {"item": None}
_read_not_shipped: dict[str, set[str]] = defaultdict(set)


def _missing_external(name: str) -> None:
    if name in NOT_SHIPPED:
        reason = (
            f"{EXTERNAL_SKIP}: {name} [{NOT_SHIPPED[name]}] is not in {SHARED_EXTERNAL} "
            "(put the project's shared folder at ../shared or set IPT_SHARED)"
        )
    else:  # a shipped data set that has gone, or a name that is in neither folder
        reason = f"external data set {name} is in neither {SHIPPED} nor {SHARED_EXTERNAL}"
    if REQUIRE_EXTERNAL:
        pytest.fail(f"IPT_REQUIRE_EXTERNAL is set and {reason}", pytrace=False)
    pytest.skip(reason)


class ExternalData:
    """``EXTERNAL / name``: the shipped copy if there is one, else the shared folder's file.

    Inside a test, asking for a not-shipped data set that is absent skips the test with the
    one reason the summary counts (fails it under ``IPT_REQUIRE_EXTERNAL=1``); outside a test
    (at import) the path is returned as it is, for the test to judge later.
    """

    shipped = SHIPPED
    shared = SHARED_EXTERNAL

    def __truediv__(self, name: str) -> Path:
        name = str(name)
        if (SHIPPED / name).exists():
            return SHIPPED / name
        path = SHARED_EXTERNAL / name
        item = _current["item"]
        if item is not None and name in NOT_SHIPPED:
            _read_not_shipped[item.nodeid].add(name)
            if not path.exists():
                _missing_external(name)
        return path

    def __fspath__(self) -> str:
        return str(SHARED_EXTERNAL)

    def __str__(self) -> str:
        return f"{SHIPPED} (then {SHARED_EXTERNAL})"

    __repr__ = __str__


EXTERNAL = ExternalData()


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
    """Path of an external data set: tests/data/external first, then ../shared/data/external.

    A data set found in neither skips the test with the reason the summary counts.
    """

    def _path(name: str) -> Path:
        path = EXTERNAL / name
        if not path.exists():
            _missing_external(name)
        return path

    return _path


# --- the `external` marker ------------------------------------------------------------------


@functools.cache
def _source(function) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


def _mentions_not_shipped(value) -> bool:
    if isinstance(value, str | Path):
        text = str(value).lower()
        return any(word in text for word in NOT_SHIPPED_WORDS)
    if isinstance(value, tuple | list):
        return any(_mentions_not_shipped(v) for v in value)
    return False


def _reads_not_shipped(item: pytest.Item) -> bool:
    """A test reads a not-shipped data set when its parameters or its source name one."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(_mentions_not_shipped(v) for v in callspec.params.values()):
        return True
    function = getattr(item, "function", None)
    return function is not None and _mentions_not_shipped(_source(function))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _reads_not_shipped(item) and item.get_closest_marker("external") is None:
            item.add_marker(pytest.mark.external)
        # the node id travels into the JUnit XML (make validation maps tests by it)
        item.user_properties.append(("nodeid", item.nodeid))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _current["item"] = item


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    _current["item"] = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    read = _read_not_shipped.get(item.nodeid)
    if report.when == "call" and read and item.get_closest_marker("external") is None:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} reads {', '.join(sorted(read))}, which is not shipped, but is not "
            "marked external: add @pytest.mark.external (or name the data set in the test)"
        )
    return report


# --- what did not run, and why --------------------------------------------------------------


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ").splitlines()[0] if reason else "no reason given"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Per reason: how many tests did not run, and in which files (one line each)."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if r.when in ("setup", "call")]
    deselected = terminalreporter.stats.get("deselected", [])
    if not skipped and not deselected:
        return
    tr = terminalreporter
    tr.section("tests that did not run, by reason")
    by_reason: dict[str, Counter] = defaultdict(Counter)
    for report in skipped:
        reason = _skip_reason(report)
        if reason.startswith(EXTERNAL_SKIP):
            reason = (
                f"{EXTERNAL_SKIP} (GPL data sets; ../shared/data/external or IPT_SHARED "
                "absent): " + reason.split("[", 1)[1].split("]", 1)[0]
            )
        by_reason[reason][report.nodeid.split("::", 1)[0]] += 1
    for reason, files in sorted(by_reason.items(), key=lambda kv: -sum(kv[1].values())):
        where = ", ".join(f"{f} ({n})" for f, n in sorted(files.items()))
        tr.write_line(f"{sum(files.values()):4d} skipped: {reason} -- {where}")
    if deselected:
        tr.write_line(f"{len(deselected):4d} deselected by -m / -k (not run by choice)")
