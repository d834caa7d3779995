"""Reliable and clinically significant change against R clinicalsignificance.

Reference: tests/reference/reliable_change/ (README.md there): make_claus_reference.R runs the
package's Jacobson-Truax method on claus_2020 (../shared/data/external; GPL, read from the shared
folder, never copied) for HAM-D, BDI-II (lower is better) and WHO-5 (higher is better), each
post-baseline measurement and cut-offs a, b and c, with rates (prop.test Wilson intervals) and
PA - TAU comparisons (Newcombe, fisher.test). The simulated two-instrument analysis-data trial of
tests/reference/adam2 is checked the same way, through the command line, in
test_instruments_reference.py. Tolerance 1e-10 on every number (the same closed-form
arithmetic; 1e-9 for Fisher p and Newcombe limits); categories and flags exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.stats.reliable_change import reliable_change

from .conftest import DESIGNS, EXTERNAL, ROOT

REF = ROOT / "tests" / "reference" / "reliable_change"
TOL = dict(rtol=1e-10, atol=1e-12)
NAMES = {"hamd": "HAM-D", "bdi": "BDI-II", "who": "WHO-5"}


@pytest.fixture(scope="module")
def claus(request):
    path = EXTERNAL / "claus_2020.csv"
    if not path.exists():
        pytest.skip(f"external data not available at {path}")
    return {
        key: load_trial(path, DESIGNS / "claus_2020_instruments.toml", instrument=name)
        for key, name in NAMES.items()
    }


def _ref(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / name)


@pytest.mark.parametrize("cutoff", ["a", "b", "c"])
@pytest.mark.parametrize("instrument", list(NAMES))
def test_subjects_and_criteria_match_clinicalsignificance(claus, instrument, cutoff):
    trial = claus[instrument]
    res = reliable_change(trial, cutoff)
    r = _ref("claus_subjects.csv")
    r = r[(r["instrument"] == instrument) & (r["cutoff_type"] == cutoff)]
    py = res.subjects.assign(id=res.subjects["subject_id"].astype(int))
    both = py.merge(r, on=["id", "visit"], how="outer", indicator=True, suffixes=("", "_r"))
    assert (both["_merge"] == "both").all(), "the same subjects at each visit"
    raw = pd.read_csv(EXTERNAL / "claus_2020.csv")  # the scores, from the shared file
    pre = raw[raw["time"] == 1].set_index("id")[instrument]
    post = raw.set_index(["id", "time"])[instrument]
    np.testing.assert_array_equal(both["baseline"], pre.loc[both["id"]].to_numpy())
    np.testing.assert_array_equal(
        both["score"], post.loc[list(zip(both["id"], both["visit"].astype(int), strict=True))]
    )
    np.testing.assert_allclose(both["change"], both["score"] - both["baseline"], **TOL)
    d = trial.instrument.direction  # the SPEC's rci is d * R's (positive = improvement)
    np.testing.assert_allclose(both["rci"], d * both["rci_r"], **TOL)
    assert (both["clinical_before"] == both["clinical_pre"]).all()
    assert (both["functional_after"] == both["functional_post"]).all()
    assert (both["category"] == both["category_r"]).all()
    assert (both["arm"] == both["arm_r"]).all()
    c = _ref("claus_criteria.csv")
    c = c[(c["instrument"] == instrument) & (c["cutoff_type"] == cutoff)].sort_values("visit")
    got = res.criteria.sort_values("visit")
    assert got["n"].tolist() == c["n"].tolist()
    for col in ("m_clinical", "sd_clinical", "s_diff", "cutoff"):
        np.testing.assert_allclose(got[col], c[col], **TOL, err_msg=col)


@pytest.mark.parametrize("cutoff", ["a", "c"])
@pytest.mark.parametrize("instrument", list(NAMES))
def test_rates_and_comparisons_match_r(claus, instrument, cutoff):
    res = reliable_change(claus[instrument], cutoff)
    r = _ref("claus_rates.csv")
    r = r[(r["instrument"] == instrument) & (r["cutoff_type"] == cutoff)]
    got = res.rates.merge(r, on=["arm", "visit", "category"], suffixes=("", "_r"))
    assert len(got) == len(r) == len(res.rates)
    assert (got["n"] == got["n_r"]).all() and (got["count"] == got["count_r"]).all()
    for col in ("rate", "ci_low", "ci_high"):
        np.testing.assert_allclose(got[col], got[f"{col}_r"], **TOL, err_msg=col)
    k = _ref("claus_comparisons.csv")
    k = k[(k["instrument"] == instrument) & (k["cutoff_type"] == cutoff)]
    got = res.comparisons.merge(k, on=["arm", "visit", "outcome"], suffixes=("", "_r"))
    assert len(got) == len(k) == len(res.comparisons)
    for col in ("n", "events", "n_reference", "events_reference"):
        assert (got[col] == got[f"{col}_r"]).all(), col
    for col in ("risk_difference", "rd_ci_low", "rd_ci_high", "p_fisher"):
        np.testing.assert_allclose(got[col], got[f"{col}_r"], rtol=1e-9, atol=1e-12, err_msg=col)


def test_the_reference_exercises_every_category_and_both_directions():
    r = _ref("claus_subjects.csv")
    assert set(r["category"]) == {"recovered", "improved", "unchanged", "deteriorated", "harmed"}
    who = r[r["instrument"] == "who"]
    assert (who["rci"] > 0).any() and who["category"].isin(["recovered", "improved"]).any()
