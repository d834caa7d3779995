"""Response and remission: rates, between-arm comparisons, NNT, missing-data rules, GEE.

The headline numbers of a depression trial are response rates (at least 50% HAM-D improvement
from baseline) and remission rates (HAM-D <= 7). This module computes, per arm and visit, the
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
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..data.derive import derive_outcomes
from ..data.validation import ValidatedScores
from ..exceptions import ConvergenceWarning, IptOutcomesError

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

MISSING_RULES = ("observed", "nri", "locf")
CI_METHODS = ("wilson", "clopper-pearson", "agresti-coull")
RD_METHODS = ("newcombe", "miettinen-nurminen")
ENDPOINTS = {"responder": "responders", "remitter": "remitters"}


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


# ------------------------------------------------------------------------------------------
# intervals
# ------------------------------------------------------------------------------------------


def proportion_ci(k, n, method: str = "wilson", alpha: float = 0.05):
    """Confidence interval of a binomial proportion ``k / n``.

    Parameters
    ----------
    k, n : int or array-like
        Events and trials (``n >= 1``, ``0 <= k <= n``).
    method : {"wilson", "clopper-pearson", "agresti-coull"}
        Wilson score interval (default; R ``prop.test(correct = FALSE)``), exact Clopper-Pearson
        (R ``binom.test``) or Agresti-Coull (Wilson centre with a Wald width, clipped to [0, 1]).
    alpha : float
        1 - confidence level.

    Returns
    -------
    (low, high) : tuple of float or arrays

    Examples
    --------
    >>> [round(x, 4) for x in proportion_ci(16, 38)]
    [0.2785, 0.5781]
    >>> [round(x, 4) for x in proportion_ci(0, 10, "clopper-pearson")]
    [0.0, 0.3085]
    """
    _check_alpha(alpha)
    if method not in CI_METHODS:
        raise ValueError(f"method must be one of {CI_METHODS}, got {method!r}")
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise ValueError("need n >= 1 and 0 <= k <= n")
    z = _z(alpha)
    p = k / n
    if method == "wilson":
        centre = (k + z**2 / 2) / (n + z**2)
        half = z * np.sqrt(n) / (n + z**2) * np.sqrt(p * (1 - p) + z**2 / (4 * n))
        low, high = centre - half, centre + half
        low = np.where(k == 0, 0.0, low)
        high = np.where(k == n, 1.0, high)
    elif method == "clopper-pearson":
        with np.errstate(invalid="ignore"):
            low = np.where(k == 0, 0.0, stats.beta.ppf(alpha / 2, k, n - k + 1))
            high = np.where(k == n, 1.0, stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    else:
        nt = n + z**2
        pt = (k + z**2 / 2) / nt
        half = z * np.sqrt(pt * (1 - pt) / nt)
        low, high = np.clip(pt - half, 0, 1), np.clip(pt + half, 0, 1)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def _mn_restricted(p1, p2, n1, n2, delta):
    """Restricted MLEs (p1~, p2~) with p1~ - p2~ = delta (Miettinen & Nurminen 1985, closed form)."""
    theta = n2 / n1
    a = 1 + theta
    b = -(1 + theta + p1 + theta * p2 + delta * (theta + 2))
    c = delta**2 + delta * (2 * p1 + theta + 1) + p1 + theta * p2
    d = -p1 * delta * (1 + delta)
    v = b**3 / (27 * a**3) - b * c / (6 * a**2) + d / (2 * a)
    s = b**2 / (9 * a**2) - c / (3 * a)
    u = math.copysign(math.sqrt(max(s, 0.0)), v) if v != 0 else math.sqrt(max(s, 0.0))
    if u == 0:
        q1 = -b / (3 * a)
    else:
        w = (math.pi + math.acos(max(-1.0, min(1.0, v / u**3)))) / 3
        q1 = 2 * u * math.cos(w) - b / (3 * a)
    q1 = min(max(q1, 0.0), 1.0)
    q2 = min(max(q1 - delta, 0.0), 1.0)
    return q1, q2


def risk_difference_ci(k1, n1, k2, n2, method: str = "newcombe", alpha: float = 0.05):
    """Interval of the risk difference ``k1/n1 - k2/n2``.

    Parameters
    ----------
    k1, n1, k2, n2 : int
        Events and totals of the arm (1) and the reference (2).
    method : {"newcombe", "miettinen-nurminen"}
        Newcombe's hybrid score interval (1998, method 10: Wilson limits of each proportion
        combined) or the Miettinen-Nurminen (1985) score interval with its ``N / (N - 1)``
        variance correction, found by root-finding on the score statistic.
    alpha : float

    Returns
    -------
    (low, high) : tuple of float

    Examples
    --------
    >>> [round(x, 4) for x in risk_difference_ci(56, 70, 48, 80)]  # Newcombe 1998, example (a)
    [0.0524, 0.3339]
    """
    if method not in RD_METHODS:
        raise ValueError(f"method must be one of {RD_METHODS}, got {method!r}")
    if min(n1, n2) < 1:
        raise ValueError("both groups need at least one subject")
    p1, p2 = k1 / n1, k2 / n2
    d = p1 - p2
    if method == "newcombe":
        l1, u1 = proportion_ci(k1, n1, "wilson", alpha)
        l2, u2 = proportion_ci(k2, n2, "wilson", alpha)
        return (
            d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
            d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
        )
    crit = stats.chi2.ppf(1 - alpha, 1)
    big_n = n1 + n2

    def score(delta):
        if abs(d - delta) <= 1e-15:
            return -crit
        q1, q2 = _mn_restricted(p1, p2, n1, n2, delta)
        var = (q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2) * big_n / (big_n - 1)
        return math.inf if var <= 0 else (d - delta) ** 2 / var - crit

    eps = 1e-10
    low = -1.0 if score(-1 + eps) <= 0 else optimize.brentq(score, -1 + eps, d, xtol=1e-13)
    high = 1.0 if score(1 - eps) <= 0 else optimize.brentq(score, d, 1 - eps, xtol=1e-13)
    return low, high


def nnt_interval(rd: float, low: float, high: float) -> tuple[float, float, float, str]:
    """Number needed to treat and its interval from the risk difference and its limits.

    Returns ``(nnt, nnt_ci_low, nnt_ci_high, text)`` where ``nnt = 1 / rd`` (positive = NNTB),
    the limits are ``1 / high`` and ``1 / low`` (inverted risk-difference limits), and ``text``
    words it as Altman (1998) does: when the risk-difference interval includes 0 the NNT
    interval runs from NNTH ``1/|low|`` through infinity to NNTB ``1/high``.

    Examples
    --------
    >>> nnt_interval(0.2, 0.05, 0.35)[3]
    'NNTB 5.0 (95% CI NNTB 2.9 to NNTB 20.0)'
    >>> nnt_interval(0.1, -0.1, 0.3)[3]
    'NNTB 10.0 (95% CI NNTH 10.0 to infinity to NNTB 3.3)'
    """

    def inv(x):
        return math.inf if x == 0 else 1.0 / x

    def word(x):
        if math.isinf(x):
            return "infinity"
        return f"NNTB {x:.1f}" if x > 0 else f"NNTH {abs(x):.1f}"

    nnt = inv(rd)
    lo_nnt, hi_nnt = inv(high), inv(low)
    if low > 0 or high < 0:  # interval excludes no effect: both limits on one side
        a, b = sorted([lo_nnt, hi_nnt], key=abs)
        text = f"{word(nnt)} (95% CI {word(a)} to {word(b)})"
    else:
        harm = word(inv(low)) if low < 0 else "infinity"
        benefit = word(inv(high)) if high > 0 else "infinity"
        text = f"{word(nnt)} (95% CI {harm} to infinity to {benefit})"
    if math.isinf(nnt):
        text = "not defined: risk difference 0 " + text[text.index("(") :]
    return nnt, lo_nnt, hi_nnt, text


# ------------------------------------------------------------------------------------------
# missing-data rules
# ------------------------------------------------------------------------------------------


def binary_outcomes(
    scores: ValidatedScores, missing: str = "observed", visits=None
) -> pd.DataFrame:
    """Response and remission per subject and post-baseline visit under a missing-data rule.

    Parameters
    ----------
    scores : ValidatedScores
    missing : {"observed", "nri", "locf"}
        ``observed``: subjects with a baseline and a score at that visit. ``nri``: every subject
        with a baseline; a missing visit counts as non-response (and non-remission). ``locf``:
        every subject with a baseline; the last score at or before that visit is used, the
        baseline itself if there is nothing later (SPEC "Missing-data rules").
    visits : sequence of float, optional
        Post-baseline visits (default: every post-baseline visit in the data).

    Returns
    -------
    DataFrame
        ``subject_id, arm, visit, score, responder, remitter, imputed``; ``score`` is the score
        used (missing under ``nri`` for a missed visit), ``imputed`` marks rows the rule filled.
    """
    if missing not in MISSING_RULES:
        raise ValueError(f"missing must be one of {MISSING_RULES}, got {missing!r}")
    inst = scores.design.instrument
    derived = derive_outcomes(scores)
    data = scores.data
    if scores.baseline_in_column:
        base = (
            data.dropna(subset=["baseline"]).groupby("subject_id", sort=False)["baseline"].first()
        )
        post_rows = data
    else:
        bv = scores.design.baseline_visit
        b = data[(data["visit"] == bv) & data["hamd17"].notna()]
        base = b.groupby("subject_id", sort=False)["hamd17"].first()
        post_rows = data[data["visit"] != bv]
    grid_visits = (
        sorted(post_rows["visit"].unique()) if visits is None else sorted(float(v) for v in visits)
    )
    arm_of = data.groupby("subject_id", sort=False)["arm"].first()
    cols = ["subject_id", "arm", "visit", "score", "responder", "remitter", "imputed"]
    if missing == "observed":
        obs = derived[derived["hamd17"].notna() & derived["visit"].isin(grid_visits)]
        out = pd.DataFrame(
            {
                "subject_id": obs["subject_id"].to_numpy(),
                "arm": obs["arm"].to_numpy(),
                "visit": obs["visit"].to_numpy(),
                "score": obs["hamd17"].to_numpy(),
                "responder": obs["responder"].astype(bool).to_numpy(),
                "remitter": obs["remitter"].astype(bool).to_numpy(),
                "imputed": False,
            }
        )
        return out[cols].reset_index(drop=True)
    subjects = list(base.index)
    observed = derived[derived["hamd17"].notna()]
    wide = observed.pivot(index="subject_id", columns="visit", values="hamd17")
    all_visits = sorted(set(grid_visits) | set(wide.columns))
    wide = wide.reindex(index=subjects, columns=all_visits).astype(float)
    seen = wide.notna()
    if missing == "locf":
        filled = wide.ffill(axis=1)
        filled = filled.apply(lambda col: col.fillna(base.reindex(filled.index)))
    else:
        filled = wide
    filled = filled[grid_visits]
    seen = seen[grid_visits]
    long = filled.stack(future_stack=True).rename("score").reset_index()
    long["imputed"] = ~seen.stack(future_stack=True).to_numpy()
    long["arm"] = long["subject_id"].map(arm_of)
    b = long["subject_id"].map(base).astype(float)
    y = long["score"].astype(float)
    from ..data.derive import is_responder

    long["responder"] = np.where(
        y.notna(), is_responder(b, y.fillna(0), inst.response_improvement), False
    )
    long["remitter"] = np.where(y.notna(), y <= inst.remission_max, False)
    long["responder"] = long["responder"].astype(bool)
    long["remitter"] = long["remitter"].astype(bool)
    return long[cols]


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
        From :func:`binary_outcomes`.
    endpoint : {"responder", "remitter"}
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
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {tuple(ENDPOINTS)}, got {endpoint!r}")
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
            ENDPOINTS[endpoint],
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
) -> pd.DataFrame:
    """Each arm against the reference at each visit.

    Parameters
    ----------
    outcomes : DataFrame
        From :func:`binary_outcomes`.
    reference : str
        The comparator arm.
    endpoint : {"responder", "remitter"}
    rd_method : {"newcombe", "miettinen-nurminen"}
        Interval of the risk difference.
    alpha : float
    arms, visits : sequence, optional
    adjust_visits : sequence, optional
        Visits whose comparisons form the Holm family (the design's key visits); default all.

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
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {tuple(ENDPOINTS)}, got {endpoint!r}")
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
            rows.append(_compare_cell(arm, reference, v, a, n1, c, n2, z, rd_method, alpha))
    out = pd.DataFrame(rows)
    family = out["visit"].isin(list(adjust_visits) if adjust_visits is not None else visits)
    out["p_holm"] = _holm(out["p_fisher"].where(family))
    cols = [
        "arm", "reference", "visit", "risk_difference", "rd_ci_low", "rd_ci_high", "risk_ratio",
        "rr_ci_low", "rr_ci_high", "odds_ratio", "or_ci_low", "or_ci_high", "p_fisher", "nnt",
        "p_holm", "nnt_ci_low", "nnt_ci_high", "nnt_text", "n", "events", "n_reference",
        "events_reference", "rd_method", "note",
    ]  # fmt: skip
    return out[cols]


def _compare_cell(arm, reference, v, a, n1, c, n2, z, rd_method, alpha) -> dict:
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
    nnt, nlo, nhi, text = nnt_interval(rd, lo, hi)
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
    rows = []
    for v in visits:
        sub = outcomes[(outcomes["visit"] == v) & outcomes["arm"].isin(arms)]
        tab = pd.crosstab(sub["arm"], sub[endpoint].astype(bool)).reindex(
            columns=[True, False], fill_value=0
        )
        tab = tab[tab.sum(axis=1) > 0]
        n = int(tab.to_numpy().sum())
        if len(tab) < 2 or (tab.sum(axis=0) == 0).any():
            why = (
                "fewer than two arms observed"
                if len(tab) < 2
                else f"every observed subject has the same {endpoint} value"
            )
            rows.append((v, np.nan, np.nan, np.nan, n, len(tab), np.nan, f"not defined: {why}"))
            continue
        res = stats.chi2_contingency(tab.to_numpy(), correction=False)
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
# repeated-measures logistic GEE
# ------------------------------------------------------------------------------------------


def _moment_unstructured():
    """statsmodels' Unstructured with the Liang-Zeger moment estimator that geepack uses.

    alpha_jk = sum_i r_ij r_ik / (phi n_jk), phi = sum r^2 / N, r the Pearson residuals and
    n_jk the number of subjects seen at both visits (statsmodels instead normalises by each
    visit's own residual variance and subtracts degrees of freedom).
    """
    import statsmodels.api as sm

    class MomentUnstructured(sm.cov_struct.Unstructured):
        def update(self, params):
            model = self.model
            q = model.time.max() + 1
            cross = np.zeros((q, q))
            count = np.zeros((q, q))
            ssr, nobs = 0.0, 0
            for i in range(model.num_group):
                expval, _ = model.cached_means[i]
                r = (model.endog_li[i] - expval) / np.sqrt(model.family.variance(expval))
                ix = model.time_li[i][:, 0]
                cross[np.ix_(ix, ix)] += np.outer(r, r)
                count[np.ix_(ix, ix)] += 1
                ssr += float(r @ r)
                nobs += len(r)
            phi = ssr / (nobs - model.ddof_scale)
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = np.where(count > 0, cross / (phi * count), 0.0)
            np.fill_diagonal(corr, 1.0)
            self.dep_params = corr

    return MomentUnstructured()


def _gee_design(outcomes: pd.DataFrame, reference: str, arms, visits):
    """Treatment-coded design for endpoint ~ arm * visit (columns named, no formula parsing)."""
    arm = pd.Categorical(outcomes["arm"], categories=arms)
    visit = pd.Categorical(outcomes["visit"], categories=visits)
    others = [a for a in arms if a != reference]
    cols = {"(Intercept)": np.ones(len(outcomes))}
    for a in others:
        cols[f"arm[{a}]"] = (arm == a).astype(float)
    for v in visits[1:]:
        cols[f"visit[{v:g}]"] = (visit == v).astype(float)
    for a in others:
        for v in visits[1:]:
            cols[f"arm[{a}]:visit[{v:g}]"] = ((arm == a) & (visit == v)).astype(float)
    return pd.DataFrame(cols, index=outcomes.index), others


def gee_response(
    outcomes: pd.DataFrame,
    reference: str,
    endpoint: str = "responder",
    *,
    correlation: str = "exchangeable",
    alpha: float = 0.05,
    arms=None,
    report_visits=None,
    maxiter: int = 100,
) -> tuple[pd.DataFrame, dict]:
    """Logistic GEE of the endpoint on arm x visit over all post-baseline visits.

    Parameters
    ----------
    outcomes : DataFrame
        From :func:`binary_outcomes` (one row per subject and visit).
    reference : str
        Reference arm (odds ratios are arm vs reference).
    endpoint : {"responder", "remitter"}
    correlation : {"exchangeable", "unstructured", "independence"}
        Working correlation within subject.
    alpha : float
    arms : sequence, optional
        Arm order.
    report_visits : sequence, optional
        Visits at which to report odds ratios (default: every visit).
    maxiter : int

    Returns
    -------
    table : DataFrame
        ``correlation, arm, reference, visit, odds_ratio, ci_low, ci_high, log_or, se, z, p,
        note`` - odds ratio of the endpoint, arm vs reference, at each reported visit, with
        robust (sandwich) standard errors and Wald intervals.
    fit : dict
        ``correlation, n_subjects, n_obs, converged, working_correlation`` (the estimated
        working correlation: one value, or the upper triangle by visit pair).

    Notes
    -----
    Model: logit P(endpoint) = arm + visit + arm:visit (treatment coding, first visit and
    reference arm as baselines), fitted by statsmodels GEE (Liang & Zeger 1986) with
    the moment estimates of the working correlation that geepack uses (scale and correlation
    without degrees-of-freedom corrections) and robust (sandwich) covariance. The odds ratio at visit
    v is exp(b_arm + b_arm:v). Validated against R ``geepack::geeglm``.
    """
    import statsmodels.api as sm

    if correlation not in ("exchangeable", "unstructured", "independence"):
        raise ValueError(
            f"correlation must be exchangeable, unstructured or independence, got {correlation!r}"
        )
    arms, visits = _arms_visits(outcomes, arms, None)
    data = outcomes.sort_values(["subject_id", "visit"], kind="stable").reset_index(drop=True)
    arms = [a for a in arms if a in set(data["arm"])]
    if reference not in arms:
        raise ValueError(f"reference arm {reference!r} has no observations")
    X, others = _gee_design(data, reference, arms, visits)
    y = data[endpoint].astype(float).to_numpy()
    time = pd.Categorical(data["visit"], categories=visits).codes
    cov = {
        "exchangeable": sm.cov_struct.Exchangeable,
        "unstructured": _moment_unstructured,
        "independence": sm.cov_struct.Independence,
    }[correlation]()
    groups = pd.factorize(data["subject_id"])[0]
    model = sm.GEE(y, X, groups=groups, time=time, family=sm.families.Binomial(), cov_struct=cov)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # ddof_scale=0: scale and correlation by plain moments, as geepack (and Liang & Zeger)
        res = model.fit(maxiter=maxiter, ctol=1e-10, cov_type="robust", ddof_scale=0)
    converged = bool(getattr(res, "converged", True)) and not any(
        "not converge" in str(w.message).lower() or "iteration limit" in str(w.message).lower()
        for w in caught
    )
    params = pd.Series(res.params, index=X.columns)
    vcov = pd.DataFrame(res.cov_robust, index=X.columns, columns=X.columns)
    z = _z(alpha)
    rows = []
    report = visits if report_visits is None else [v for v in visits if v in set(report_visits)]
    cells = data.groupby(["arm", "visit"])[endpoint].agg(["sum", "count"])
    degenerate = {idx for idx, r in cells.iterrows() if r["sum"] in (0, r["count"])}
    for a in others:
        for v in report:
            L = pd.Series(0.0, index=X.columns)
            L[f"arm[{a}]"] = 1.0
            if v != visits[0]:
                L[f"arm[{a}]:visit[{v:g}]"] = 1.0
            est = float(L @ params)
            se = float(math.sqrt(max(float(L @ vcov @ L), 0.0)))
            cand = ((a, v), (reference, v), (a, visits[0]), (reference, visits[0]))
            involved = [c for c in dict.fromkeys(cand) if c in degenerate]
            row = dict(
                correlation=correlation,
                arm=a,
                reference=reference,
                visit=v,
                log_or=est,
                se=se,
                note="",
            )
            if involved or not np.isfinite(est) or not np.isfinite(se) or se == 0 or abs(est) > 30:
                cells_txt = ", ".join(f"{arm!r} at visit {vv:g}" for arm, vv in involved)
                row.update(log_or=np.nan, se=np.nan)
                row["note"] = (
                    f"not estimable: separation (all or no events in {cells_txt or 'a cell'}; "
                    f"the model's first visit, {visits[0]:g}, enters every contrast)"
                )
                for k in ("odds_ratio", "ci_low", "ci_high", "z", "p"):
                    row[k] = np.nan
            else:
                row.update(
                    odds_ratio=math.exp(est), ci_low=math.exp(est - z * se), ci_high=math.exp(est + z * se),
                    z=est / se, p=float(2 * stats.norm.sf(abs(est / se))),
                )  # fmt: skip
            rows.append(row)
    dep = res.model.cov_struct.dep_params
    if correlation == "exchangeable":
        working = f"{float(dep):.6g}"
    elif correlation == "unstructured":
        m = np.asarray(dep)
        working = ";".join(
            f"{m[i, j]:.6g}" for i in range(m.shape[0]) for j in range(i + 1, m.shape[1])
        )
    else:
        working = ""
    if not converged:
        warnings.warn(
            f"GEE ({correlation}) did not converge in {maxiter} iterations",
            ConvergenceWarning,
            stacklevel=2,
        )
    fit = dict(
        correlation=correlation, n_subjects=int(data["subject_id"].nunique()), n_obs=len(data),
        converged=converged, working_correlation=working,
    )  # fmt: skip
    table = pd.DataFrame(
        rows,
        columns=[
            "correlation",
            "arm",
            "reference",
            "visit",
            "odds_ratio",
            "ci_low",
            "ci_high",
            "log_or",
            "se",
            "z",
            "p",
            "note",
        ],
    )
    return table, fit


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
    scores: ValidatedScores,
    missing: str = "observed",
    *,
    reference: str | None = None,
    ci_method: str = "wilson",
    rd_method: str = "newcombe",
    alpha: float = 0.05,
    gee_correlations=("exchangeable", "unstructured"),
) -> ResponseResults:
    """Response and remission analysis of a validated trial (what ``ipt-outcomes response`` runs).

    Parameters
    ----------
    scores : ValidatedScores
    missing : {"observed", "nri", "locf"}
    reference : str, optional
        Comparator arm (default: the design's).
    ci_method, rd_method, alpha :
        See :func:`rates` and :func:`compare_with_reference`.
    gee_correlations : sequence of str
        Working correlations of the GEE fits.

    Returns
    -------
    ResponseResults
    """
    design = scores.design
    reference = reference or design.reference
    arms = design.arm_order(scores.data["arm"].unique())
    if reference not in arms:
        raise IptOutcomesError(
            f"reference arm {reference!r} is not in the data (arms: {', '.join(arms)})"
        )
    outcomes = binary_outcomes(scores, missing)
    visits = sorted(outcomes["visit"].unique())
    if not visits:
        raise IptOutcomesError(
            "no post-baseline scores of subjects with a baseline: nothing to analyse"
        )
    key = [v for v in design.key_visits if v in visits] or visits
    notes = []
    if not design.key_visits:
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
    return ResponseResults(
        missing=missing,
        reference=reference,
        response_rates=rates(outcomes, "responder", method=ci_method, alpha=alpha, **kw),
        remission_rates=rates(outcomes, "remitter", method=ci_method, alpha=alpha, **kw),
        response_comparisons=compare_with_reference(outcomes, endpoint="responder", **comp),
        remission_comparisons=compare_with_reference(outcomes, endpoint="remitter", **comp),
        chi_square=pd.concat(
            [chi_square_by_visit(outcomes, e, **kw).assign(endpoint=e) for e in ENDPOINTS],
            ignore_index=True,
        ),
        gee=pd.concat([t for t in gee_tables if len(t)], ignore_index=True)
        if any(len(t) for t in gee_tables)
        else pd.DataFrame(),
        gee_fit=pd.DataFrame(gee_fits),
        notes=notes,
    )
