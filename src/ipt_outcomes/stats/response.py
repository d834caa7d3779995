"""Response and remission: rates, between-arm comparisons, NNT, missing-data rules, GEE.

The headline numbers of a depression trial are response rates (at least 50% improvement from
baseline on the instrument, in its direction) and remission rates (HAM-D <= 7; the design's
``remission_max``, or ``remission_min`` on a higher-is-better scale such as WHO-5). This module computes, per arm and visit, the
rate with its interval, and each arm against the reference: risk difference, risk ratio, odds
ratio, Fisher's exact test, the number needed to treat and Holm-adjusted p-values; and a
repeated-measures logistic GEE over all post-baseline visits.

Conventions
-----------
* Intervals are two-sided 95% unless ``alpha`` says otherwise.
* Comparisons are *arm minus reference* (or arm / reference), so with response a positive risk
  difference favours the arm, and the NNT is ``1 / risk difference``: positive = number needed
  to treat for one more benefit (NNTB), negative = for one more harm (NNTH) (Altman 1998).
* A quantity that a zero cell makes undefined (a ratio with a zero denominator, a log interval
  of a zero count) is left empty and the ``note`` column says why; there is no continuity
  correction.

All functions were checked against R (``prop.test``, ``binom.test``, ``fisher.test``,
``chisq.test``, ``p.adjust``, hand-coded Newcombe, Miettinen-Nurminen and NNT, and ``geepack``)
on the project's trial and on external trials: ``tests/reference/response/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..data.trial import Trial
from ..models.gee import gee_response
from .proportions import (
    CI_METHODS,
    RD_METHODS,
    _check_alpha,
    _z,
    nnt_interval,
    proportion_ci,
    risk_difference_ci,
)

__all__ = [
    "MISSING_RULES",
    "CI_METHODS",
    "RD_METHODS",
    "proportion_ci",
    "risk_difference_ci",
    "nnt_interval",
    "binary_outcomes",
    "rates",
    "compare_with_reference",
    "chi_square_by_visit",
    "gee_response",
    "ResponseResults",
    "analyse_response",
]

from ..constants import MISSING_RULES

ENDPOINTS = {"responder": "responders", "remitter": "remitters"}


def _check_endpoint(outcomes: pd.DataFrame, endpoint: str) -> None:
    """``responder``, ``remitter`` or another boolean column of ``outcomes`` (e.g. a reliable
    change category)."""
    if endpoint not in ENDPOINTS and endpoint not in outcomes.columns:
        raise ValueError(
            f"endpoint must be one of {tuple(ENDPOINTS)} or a column of outcomes, got {endpoint!r}"
        )


# ------------------------------------------------------------------------------------------
# missing-data rules
# ------------------------------------------------------------------------------------------


def binary_outcomes(trial: Trial, missing: str = "observed", visits=None) -> pd.DataFrame:
    """Response and remission per subject and post-baseline visit under a missing-data rule.

    Parameters
    ----------
    trial : Trial
    missing : {"observed", "nri", "locf"}
        ``observed``: subjects with a baseline and a score at that visit. ``nri``: every subject
        with a baseline; a missing visit counts as non-response (and non-remission). ``locf``:
        every subject with a baseline; the last score at or before that visit (in time order)
        is used, the baseline itself if there is nothing later (SPEC "Missing-data rules").
    visits : sequence of float, optional
        Post-baseline visits (default: every post-baseline visit in the data).

    Returns
    -------
    DataFrame
        ``subject_id, arm, visit, score, baseline, responder, remitter, imputed``; ``score`` is
        the score used (missing under ``nri`` for a missed visit), ``imputed`` marks rows the rule
        filled. Subject-level optional columns (``age``, ``sex``, ...) are carried along.
    """
    if missing not in MISSING_RULES:
        raise ValueError(f"missing must be one of {MISSING_RULES}, got {missing!r}")
    inst = trial.instrument
    derived = trial.derived
    all_visits = list(trial.post_visits)
    grid = (
        all_visits if visits is None else [v for v in all_visits if v in {float(x) for x in visits}]
    )
    cols = ["subject_id", "arm", "visit", "score", "baseline", "responder", "remitter", "imputed"]
    observed = derived.loc[derived["score"].notna()]
    if missing == "observed":
        obs = observed.loc[observed["visit"].isin(grid)]
        out = pd.DataFrame(
            {
                "subject_id": obs["subject_id"].to_numpy(),
                "arm": obs["arm"].to_numpy(),
                "visit": obs["visit"].to_numpy(float),
                "score": obs["score"].to_numpy(float),
                "baseline": obs["baseline"].to_numpy(float),
                "responder": obs["responder"].to_numpy(bool),
                "remitter": obs["remitter"].to_numpy(bool)
                if inst.has_remission
                else pd.array([pd.NA] * len(obs), dtype="boolean"),
                "imputed": False,
            }
        )
        return _with_subject_columns(out[cols].reset_index(drop=True), trial)
    base = trial.baseline
    subjects = base.index
    wide = observed.pivot(index="subject_id", columns="visit", values="score")
    wide = wide.reindex(index=subjects, columns=all_visits).astype(float)
    seen = wide.notna()
    if missing == "locf":
        filled = wide.ffill(axis=1).fillna({c: base for c in wide.columns})
    else:
        filled = wide
    filled, seen = filled[grid], seen[grid]
    n_s, n_v = filled.shape
    y = filled.to_numpy().reshape(-1)  # subject-major
    b = np.repeat(base.to_numpy(float), n_v)
    has = ~np.isnan(y)
    out = pd.DataFrame(
        {
            "subject_id": np.repeat(subjects.to_numpy(), n_v),
            "arm": np.repeat(trial.arm_of.reindex(subjects).to_numpy(), n_v),
            "visit": np.tile(np.asarray(grid, dtype=float), n_s),
            "score": y,
            "baseline": b,
            "responder": has & inst.is_responder(b, np.where(has, y, b)),
            "remitter": _remitted(inst, y, has),
            "imputed": ~seen.to_numpy().reshape(-1),
        }
    )
    return _with_subject_columns(out[cols], trial)


def _remitted(inst, y, has):
    """Remission of the scores used (``False`` where there is none); missing throughout when the
    instrument defines no remission (a higher-is-better scale without ``remission_min``)."""
    if not inst.has_remission:
        return pd.array([pd.NA] * len(y), dtype="boolean")
    return has & inst.is_remitter(np.where(has, y, inst.worst))


def _with_subject_columns(out: pd.DataFrame, trial: Trial) -> pd.DataFrame:
    """Attach subject-level covariates (as recorded at baseline) for adjusted analyses."""
    from ..data.trial import SUBJECT_LEVEL

    s = trial.scores
    extra = [c for c in s.columns if c in SUBJECT_LEVEL]
    if not extra:
        return out
    first = s.drop_duplicates("subject_id").set_index("subject_id")[extra]
    where = first.index.get_indexer(out["subject_id"])  # every analysed subject is in scores
    for c in extra:
        out[c] = first[c].to_numpy()[where]
    return out


# ------------------------------------------------------------------------------------------
# rates and comparisons
# ------------------------------------------------------------------------------------------


def _arms_visits(outcomes, arms, visits):
    arms = list(arms) if arms is not None else list(dict.fromkeys(outcomes["arm"]))
    visits = sorted(outcomes["visit"].unique()) if visits is None else list(visits)
    return arms, visits


def rates(
    outcomes: pd.DataFrame,
    endpoint: str = "responder",
    *,
    method: str = "wilson",
    alpha: float = 0.05,
    arms=None,
    visits=None,
) -> pd.DataFrame:
    """Rate of an endpoint per arm and visit, with its confidence interval.

    Parameters
    ----------
    outcomes : DataFrame
        From :func:`binary_outcomes` (or any frame with ``arm``, ``visit`` and the endpoint).
    endpoint : str
        ``"responder"``, ``"remitter"`` or another boolean column (its count column is then
        ``events``).
    method : {"wilson", "clopper-pearson", "agresti-coull"}
    alpha : float
    arms, visits : sequence, optional
        Order of arms and the visits to report (an arm with no observations at a visit gets a
        row with ``n = 0`` and empty rate).

    Returns
    -------
    DataFrame
        ``arm, visit, n, responders`` (or ``remitters``), ``rate, ci_low, ci_high, ci_method,
        note`` - the SPEC's ``response_rates.csv`` / ``remission_rates.csv`` columns first.
    """
    _check_endpoint(outcomes, endpoint)
    arms, visits = _arms_visits(outcomes, arms, visits)
    counts = outcomes.groupby(["arm", "visit"])[endpoint].agg(["sum", "count"])
    rows = []
    for arm in arms:
        for v in visits:
            k, n = (int(x) for x in counts.loc[(arm, v)]) if (arm, v) in counts.index else (0, 0)
            if n:
                lo, hi = proportion_ci(k, n, method, alpha)
                rows.append((arm, v, n, k, k / n, lo, hi, method, ""))
            else:
                rows.append((arm, v, 0, 0, np.nan, np.nan, np.nan, method, "no observations"))
    return pd.DataFrame(
        rows,
        columns=[
            "arm",
            "visit",
            "n",
            ENDPOINTS.get(endpoint, "events"),
            "rate",
            "ci_low",
            "ci_high",
            "ci_method",
            "note",
        ],
    )


def _holm(p: pd.Series) -> pd.Series:
    """Holm step-down adjusted p-values (as R ``p.adjust(method = "holm")``), NaN kept aside."""
    out = pd.Series(np.nan, index=p.index)
    q = p.dropna()
    m = len(q)
    if m == 0:
        return out
    order = np.argsort(q.to_numpy(), kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q.to_numpy()[order]))
    out.loc[q.index[order]] = adj
    return out


def compare_with_reference(
    outcomes: pd.DataFrame,
    reference: str,
    endpoint: str = "responder",
    *,
    rd_method: str = "newcombe",
    alpha: float = 0.05,
    arms=None,
    visits=None,
    adjust_visits=None,
    harmful_event: bool = False,
) -> pd.DataFrame:
    """Each arm against the reference at each visit.

    Parameters
    ----------
    outcomes : DataFrame
        From :func:`binary_outcomes` (or any frame with ``arm``, ``visit`` and the endpoint).
    reference : str
        The comparator arm.
    endpoint : str
        ``"responder"``, ``"remitter"`` or another boolean column.
    rd_method : {"newcombe", "miettinen-nurminen"}
        Interval of the risk difference.
    alpha : float
    arms, visits : sequence, optional
    adjust_visits : sequence, optional
        Visits whose comparisons form the Holm family (the design's key visits); default all.
    harmful_event : bool
        The endpoint is a harm (e.g. reliable deterioration): the NNT and its interval are
        worded from the benefit's side, so a higher rate in the arm is NNTH and ``nnt`` is
        ``-1 / risk difference`` (positive = benefit, as for response).

    Returns
    -------
    DataFrame
        ``arm, reference, visit, risk_difference, rd_ci_low, rd_ci_high, risk_ratio, rr_ci_low,
        rr_ci_high, odds_ratio, or_ci_low, or_ci_high, p_fisher, nnt`` (the SPEC's
        ``response_comparisons.csv``), then ``p_holm`` (Holm over the comparisons at
        ``adjust_visits``), ``nnt_ci_low, nnt_ci_high`` (inverted risk-difference limits),
        ``nnt_text`` (NNTB/NNTH wording), ``n, events, n_reference, events_reference, rd_method,
        note``.

    Notes
    -----
    Risk difference: arm - reference, Newcombe hybrid score interval by default. Risk ratio:
    log (Katz) interval, ``exp(log RR +/- z sqrt(1/a - 1/n1 + 1/c - 1/n2))``. Odds ratio: Woolf
    logit interval, ``exp(log OR +/- z sqrt(1/a + 1/b + 1/c + 1/d))``. Fisher: two-sided exact
    p, summing tables no more probable than the observed (R ``fisher.test``). No continuity
    corrections; zero cells leave the undefined quantities empty with a note.
    """
    _check_endpoint(outcomes, endpoint)
    if rd_method not in RD_METHODS:
        raise ValueError(f"rd_method must be one of {RD_METHODS}, got {rd_method!r}")
    _check_alpha(alpha)
    arms, visits = _arms_visits(outcomes, arms, visits)
    if reference not in arms:
        raise ValueError(f"reference arm {reference!r} is not among the arms {arms}")
    z = _z(alpha)
    counts = outcomes.groupby(["arm", "visit"])[endpoint].agg(["sum", "count"])

    def cell(arm, v):
        return (
            (int(counts.loc[(arm, v), "sum"]), int(counts.loc[(arm, v), "count"]))
            if (arm, v) in counts.index
            else (0, 0)
        )

    rows = []
    for v in visits:
        c, n2 = cell(reference, v)
        for arm in arms:
            if arm == reference:
                continue
            a, n1 = cell(arm, v)
            rows.append(
                _compare_cell(arm, reference, v, a, n1, c, n2, z, rd_method, alpha, harmful_event)
            )
    cols = [
        "arm", "reference", "visit", "risk_difference", "rd_ci_low", "rd_ci_high", "risk_ratio",
        "rr_ci_low", "rr_ci_high", "odds_ratio", "or_ci_low", "or_ci_high", "p_fisher", "nnt",
        "p_holm", "nnt_ci_low", "nnt_ci_high", "nnt_text", "n", "events", "n_reference",
        "events_reference", "rd_method", "note",
    ]  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    family = out["visit"].isin(list(adjust_visits) if adjust_visits is not None else visits)
    out["p_holm"] = _holm(out["p_fisher"].where(family))
    return out[cols]


def _compare_cell(arm, reference, v, a, n1, c, n2, z, rd_method, alpha, harmful=False) -> dict:
    row = dict(
        arm=arm,
        reference=reference,
        visit=v,
        n=n1,
        events=a,
        n_reference=n2,
        events_reference=c,
        rd_method=rd_method,
    )
    nan = np.nan
    for key in ("risk_difference", "rd_ci_low", "rd_ci_high", "risk_ratio", "rr_ci_low", "rr_ci_high", "odds_ratio",
                "or_ci_low", "or_ci_high", "p_fisher", "nnt", "nnt_ci_low", "nnt_ci_high"):  # fmt: skip
        row[key] = nan
    row["nnt_text"] = ""
    notes = []
    if n1 == 0 or n2 == 0:
        who = " and ".join(x for x, n in ((repr(arm), n1), (repr(reference), n2)) if n == 0)
        row["note"] = f"no observations in {who} at this visit: nothing to compare"
        return row
    b, d = n1 - a, n2 - c
    p1, p2 = a / n1, c / n2
    rd = p1 - p2
    lo, hi = risk_difference_ci(a, n1, c, n2, rd_method, alpha)
    row.update(risk_difference=rd, rd_ci_low=lo, rd_ci_high=hi)
    # risk ratio (Katz log interval)
    if c == 0:
        notes.append("risk ratio undefined: no events in the reference arm")
    else:
        row["risk_ratio"] = p1 / p2
        if a == 0:
            notes.append("risk ratio interval undefined: no events in the arm (log of 0)")
        else:
            se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n2)
            row["rr_ci_low"], row["rr_ci_high"] = (
                math.exp(math.log(p1 / p2) + s * z * se) for s in (-1, 1)
            )
    # odds ratio (Woolf logit interval)
    if b * c == 0:
        notes.append("odds ratio undefined: a zero in its denominator (b*c = 0)")
    else:
        row["odds_ratio"] = (a * d) / (b * c)
        if a * d == 0:
            notes.append("odds ratio interval undefined: a zero cell (log of 0)")
        else:
            se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
            lor = math.log(row["odds_ratio"])
            row["or_ci_low"], row["or_ci_high"] = (math.exp(lor + s * z * se) for s in (-1, 1))
    row["p_fisher"] = float(stats.fisher_exact([[a, b], [c, d]], alternative="two-sided").pvalue)
    nnt, nlo, nhi, text = nnt_interval(-rd, -hi, -lo) if harmful else nnt_interval(rd, lo, hi)
    if math.isinf(nnt):
        notes.append("NNT undefined: risk difference is 0")
    else:
        row["nnt"] = nnt
    row["nnt_ci_low"] = nlo if math.isfinite(nlo) else nan
    row["nnt_ci_high"] = nhi if math.isfinite(nhi) else nan
    row["nnt_text"] = text.replace("95% CI", f"{100 * (1 - alpha):g}% CI")
    row["note"] = "; ".join(notes)
    return row


def chi_square_by_visit(
    outcomes: pd.DataFrame, endpoint: str = "responder", *, arms=None, visits=None
) -> pd.DataFrame:
    """Pearson chi-square test of the endpoint across all arms at each visit.

    Returns
    -------
    DataFrame
        ``visit, chi2, df, p, n, n_arms, min_expected, note``. Arms without observations at
        the visit are left out; no continuity correction (R ``chisq.test(correct = FALSE)``).
    """
    arms, visits = _arms_visits(outcomes, arms, visits)
    # every (visit, arm, event) count in one pass: the 2 x arms table of each visit is a slice
    a = pd.Categorical(outcomes["arm"], categories=arms).codes.astype(np.int64)
    t = pd.Categorical(outcomes["visit"], categories=visits).codes.astype(np.int64)
    e = outcomes[endpoint].astype(bool).to_numpy()
    keep = (a >= 0) & (t >= 0)
    key = (t[keep] * len(arms) + a[keep]) * 2 + (~e[keep]).astype(np.int64)
    counts = np.bincount(key, minlength=len(visits) * len(arms) * 2)
    counts = counts.reshape(len(visits), len(arms), 2)  # columns: event, no event
    rows = []
    for k, v in enumerate(visits):
        tab = counts[k][counts[k].sum(axis=1) > 0]
        n = int(tab.sum())
        if len(tab) < 2 or (tab.sum(axis=0) == 0).any():
            why = (
                "fewer than two arms observed"
                if len(tab) < 2
                else f"every observed subject has the same {endpoint} value"
            )
            rows.append((v, np.nan, np.nan, np.nan, n, len(tab), np.nan, f"not defined: {why}"))
            continue
        res = stats.chi2_contingency(tab, correction=False)
        min_exp = float(res.expected_freq.min())
        note = (
            "some expected counts below 5: the chi-square approximation is rough"
            if min_exp < 5
            else ""
        )
        rows.append(
            (v, float(res.statistic), int(res.dof), float(res.pvalue), n, len(tab), min_exp, note)
        )
    return pd.DataFrame(
        rows, columns=["visit", "chi2", "df", "p", "n", "n_arms", "min_expected", "note"]
    )


# ------------------------------------------------------------------------------------------
# everything at once
# ------------------------------------------------------------------------------------------


@dataclass
class ResponseResults:
    """Tables of a response and remission analysis (one attribute per output table)."""

    missing: str
    reference: str
    response_rates: pd.DataFrame
    remission_rates: pd.DataFrame
    response_comparisons: pd.DataFrame
    remission_comparisons: pd.DataFrame
    chi_square: pd.DataFrame
    gee: pd.DataFrame
    gee_fit: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """Response rates with the comparison against the reference, one row per arm and visit."""
        comp = self.response_comparisons[
            [
                "arm",
                "visit",
                "risk_difference",
                "rd_ci_low",
                "rd_ci_high",
                "p_fisher",
                "p_holm",
                "nnt_text",
            ]
        ]
        return self.response_rates.merge(comp, on=["arm", "visit"], how="left")


def analyse_response(
    trial: Trial,
    missing: str = "observed",
    *,
    reference: str | None = None,
    ci_method: str = "wilson",
    rd_method: str = "newcombe",
    alpha: float = 0.05,
    gee_correlations=("exchangeable", "unstructured"),
) -> ResponseResults:
    """Response and remission analysis of a trial (what ``ipt-outcomes response`` runs).

    Parameters
    ----------
    trial : Trial
    missing : {"observed", "nri", "locf"}
    reference : str, optional
        Comparator arm (default: the design's).
    ci_method, rd_method, alpha :
        See :func:`rates` and :func:`compare_with_reference`.
    gee_correlations : sequence of str
        Working correlations of the GEE fits (empty: no GEE).

    Returns
    -------
    ResponseResults
    """
    if reference is not None and reference != trial.reference:
        trial = trial.with_reference(reference)
    trial.require_analysable()
    reference = trial.reference
    arms = list(trial.arms)
    outcomes = binary_outcomes(trial, missing)
    visits = list(trial.post_visits)
    key = list(trial.key_visits) if trial.design.key_visits else visits
    notes = []
    if not (outcomes["arm"] == reference).any():
        notes.append(
            f"the reference arm {reference!r} has no post-baseline scores under the rule "
            f"{missing!r}: there is nothing to compare with"
        )
    if not trial.design.key_visits:
        notes.append(
            "the design names no key visits: Holm adjustment is over every post-baseline visit"
        )
    kw = dict(arms=arms, visits=visits)
    comp = dict(reference=reference, rd_method=rd_method, alpha=alpha, adjust_visits=key, **kw)
    gee_tables, gee_fits = [], []
    for corr in gee_correlations:
        try:
            table, fit = gee_response(
                outcomes,
                reference,
                "responder",
                correlation=corr,
                alpha=alpha,
                arms=arms,
                report_visits=key,
            )
        except (np.linalg.LinAlgError, ValueError, OverflowError, FloatingPointError) as exc:
            table = pd.DataFrame()
            fit = dict(correlation=corr, n_subjects=outcomes["subject_id"].nunique(), n_obs=len(outcomes),
                       converged=False, scale=np.nan, working_correlation="", note=f"fit failed: {exc}")  # fmt: skip
        gee_tables.append(table)
        gee_fits.append(fit)
    inst = trial.instrument
    endpoints = list(ENDPOINTS) if inst.has_remission else ["responder"]
    if inst.has_remission:
        remission_rates = rates(outcomes, "remitter", method=ci_method, alpha=alpha, **kw)
        remission_comparisons = compare_with_reference(outcomes, endpoint="remitter", **comp)
    else:
        notes.append(
            f"remission is not defined for {inst.name} (higher is better): give remission_min "
            "in the design to have remission rates"
        )
        remission_rates = rates(outcomes.iloc[:0], "remitter", method=ci_method, alpha=alpha,
                                arms=arms, visits=[])  # fmt: skip
        remission_comparisons = compare_with_reference(
            outcomes.iloc[:0].assign(remitter=pd.Series(dtype=bool)),
            endpoint="remitter",
            **{**comp, "visits": []},
        )
    return ResponseResults(
        missing=missing,
        reference=reference,
        response_rates=rates(outcomes, "responder", method=ci_method, alpha=alpha, **kw),
        remission_rates=remission_rates,
        response_comparisons=compare_with_reference(outcomes, endpoint="responder", **comp),
        remission_comparisons=remission_comparisons,
        chi_square=pd.concat(
            [chi_square_by_visit(outcomes, e, **kw).assign(endpoint=e) for e in endpoints],
            ignore_index=True,
        ),
        gee=pd.concat([t for t in gee_tables if len(t)], ignore_index=True)
        if any(len(t) for t in gee_tables)
        else pd.DataFrame(),
        gee_fit=pd.DataFrame(gee_fits),
        notes=notes,
    )
