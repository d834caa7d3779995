"""Trial design files."""

from __future__ import annotations

import pytest

from ipt_outcomes.data.design import default_design, load_design
from ipt_outcomes.exceptions import DesignError

from .conftest import DESIGNS, ROOT


def test_project_design_describes_the_four_arm_trial():
    d = load_design(ROOT / "analyses" / "saloheimo2016.toml")
    assert d.arm_codes == ("IPT", "PeGT", "TAU", "IPT+MED")
    assert d.reference == "TAU"
    assert d.schedule == (0.0, 1.5, 3.0, 6.0, 12.0) and d.key_visits == (3.0, 12.0)
    assert d.visit_unit == "months"
    assert (d.instrument.minimum, d.instrument.maximum) == (0, 52)
    assert d.instrument.response_improvement == 0.5 and d.instrument.remission_max == 7
    assert [a.code for a in d.arms if a.modelled] == ["IPT+MED"]
    assert d.arm("IPT+MED").display.endswith("(modelled)")


def test_default_design_is_the_spec_defaults():
    d = default_design()
    assert d.reference == "TAU"
    assert (d.columns.subject, d.columns.arm, d.columns.visit, d.columns.outcome) == (
        "subject_id",
        "arm",
        "visit",
        "hamd17",
    )


@pytest.mark.parametrize("name", ["btheb", "claus_2020", "riesby", "antidepressant_dia"])
def test_external_designs_load(name):
    assert load_design(DESIGNS / f"{name}.toml").arms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[arms]]\ncode = 'A'\n[analysis]\nreference = 'B'\n", "reference arm 'B' is not one of"),
        ("[visits]\nschedule = [0, 3]\nkey = [6]\n", "key visits 6 are not in"),
        ("[visits]\nschedule = [1, 3]\n", "baseline visit 0 is not in"),
        ("[instrument]\nmin = 10\nmax = 5\n", "must be above min"),
        ("[[arms]]\ncode = 'A'\n[[arms]]\ncode = 'A'\n", "must be unique"),
        ("not toml = = =", "not a valid TOML"),
    ],
)
def test_inconsistent_design_is_refused(tmp_path, text, message):
    path = tmp_path / "d.toml"
    path.write_text(text)
    with pytest.raises(DesignError, match=message):
        load_design(path)


def test_missing_design_file_is_refused(tmp_path):
    with pytest.raises(DesignError, match="design file not found"):
        load_design(tmp_path / "nope.toml")
