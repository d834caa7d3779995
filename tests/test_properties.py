"""Property-based tests: any valid trial table gives finite, in-range results or a clear refusal.

Hypothesis draws small trials (two or three arms with awkward labels, four visits, random missing
scores, baselines of at least 1). pandera's own strategies cannot draw frames that satisfy the
contract's cross-row checks (one arm per subject, a baseline per subject), so the trials are built
row by row and checked against the same pandera schema by ``validate_scores``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipt_outcomes.data.trial import load_trial
from ipt_outcomes.exceptions import ConvergenceWarning, IptOutcomesError
from ipt_outcomes.stats.response import analyse_response

LABELS = ["IPT + MED", "Hoito ä", "<b>x</b>", "=SUM(A1)", "CBT"]
VISITS = (0, 1, 2, 3)
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
MODEL_SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def trials(draw):
    arms = ["TAU", *draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=2, unique=True))]
    rows = []
    sid = 0
    for arm in arms:
        for _ in range(draw(st.integers(min_value=2, max_value=6))):
            sid += 1
            rows.append((f"S{sid}", arm, 0, draw(st.integers(min_value=1, max_value=52))))
            for v in VISITS[1:]:
                score = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=52)))
                rows.append((f"S{sid}", arm, v, score))
    return pd.DataFrame(rows, columns=["subject_id", "arm", "visit", "hamd17"])


def load(frame, tmp_path_factory):
    path = tmp_path_factory.mktemp("prop") / "trial.csv"
    frame.to_csv(path, index=False)
    return load_trial(path)


def finite_or_explained(table: pd.DataFrame, numeric) -> None:
    for c in numeric:
        x = pd.to_numeric(table[c], errors="coerce")
        assert not np.isinf(x).any(), c
        if "note" in table:
            assert (x.notna() | (table["note"].fillna("") != "")).all(), c


@SETTINGS
@given(trials())
def test_valid_tables_validate(tmp_path_factory, frame):
    scores = load(frame, tmp_path_factory)
    assert scores.n_file_rows == len(frame) and len(scores.scores) == len(frame)


@SETTINGS
@given(trials())
def test_response_results_are_finite_and_in_range(tmp_path_factory, frame):
    scores = load(frame, tmp_path_factory)
    for rule in ("observed", "nri", "locf"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                res = analyse_response(scores, rule, reference="TAU")
        except IptOutcomesError as exc:  # e.g. no post-baseline score at all
            assert "nothing to analyse" in str(exc)
            continue
        for t in (res.response_rates, res.remission_rates):
            ok = t[t["n"] > 0]
            assert ((ok["rate"] >= 0) & (ok["rate"] <= 1)).all()
            assert (
                (ok["ci_low"] <= ok["rate"] + 1e-12) & (ok["rate"] <= ok["ci_high"] + 1e-12)
            ).all()
            assert t.loc[t["n"] == 0, "note"].eq("no observations").all()
        c = res.response_comparisons
        finite_or_explained(c, ["risk_difference", "rd_ci_low", "rd_ci_high", "p_fisher"])
        assert ((c["p_fisher"].dropna() >= 0) & (c["p_fisher"].dropna() <= 1 + 1e-12)).all()
        assert (c["rd_ci_low"].dropna() <= c["rd_ci_high"].dropna() + 1e-12).all()
        for col in ("risk_ratio", "odds_ratio", "nnt"):
            assert not np.isinf(c[col].astype(float)).any()


@MODEL_SETTINGS
@given(trials())
def test_mmrm_gives_finite_results_or_a_clear_refusal(tmp_path_factory, frame):
    from ipt_outcomes.models.mmrm import fit_mmrm, mmrm_data

    scores = load(frame, tmp_path_factory)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = fit_mmrm(mmrm_data(scores), reference="TAU", df="kenward-roger")
    except IptOutcomesError as exc:
        assert str(exc)
        return
    for t in (fit.lsmeans(), fit.contrasts()):
        for c in ("estimate", "se", "df", "ci_low", "ci_high"):
            assert np.isfinite(t[c]).all(), (c, t)
        assert (t["se"] > 0).all() and (t["df"] > 0).all()
    assert math.isfinite(fit.neg2_loglik)


@MODEL_SETTINGS
@given(trials())
def test_lmm_gives_finite_results_or_a_clear_refusal(tmp_path_factory, frame):
    from ipt_outcomes.models.lmm import growth_model, lmm_fit_table

    scores = load(frame, tmp_path_factory)
    try:
        res = growth_model(scores, reference="TAU")
    except IptOutcomesError as exc:
        assert str(exc)
        return
    fe = res.fixed_effects()
    assert np.isfinite(fe[["estimate", "se"]].to_numpy()).all()
    fit = lmm_fit_table(res, False).iloc[0]
    assert math.isfinite(fit["loglik"]) and fit["var_residual"] > 0
    assert (fe["df"] > 0).all()
