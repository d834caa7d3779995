"""Evidence-appraisal tools: how fragile is a 2x2 result, and can a percentage be what it says?

* :func:`fragility_index` - Walsh et al. (J Clin Epidemiol 2014;67:622-628): the fewest patients
  whose outcome would have to change from non-event to event, in the arm with fewer events, to
  turn a significant two-sided Fisher exact test (p < alpha) non-significant. For a
  non-significant result the *reverse* fragility index (Khan et al., JAMA Netw Open 2020): the
  fewest outcome changes, in the arm with fewer events, that make it significant - tried both
  ways (removing events there, or adding them) and the smaller count taken.
* :func:`grim_table` - GRIM-style granularity check (Brown & Heathers 2017) of a percentage
  reported to whole percent against candidate denominators.
* :func:`grim_mean` - the GRIM test proper: can a mean of whole-number scores, reported to a
  given number of decimals, come from n subjects?
"""

from __future__ import annotations

import pandas as pd
from scipy import stats

from .granularity import consistent_counts, round_half_up_percent

__all__ = ["fragility_index", "grim_table", "grim_mean"]


def _p(a, n1, c, n2) -> float:
    return float(stats.fisher_exact([[a, n1 - a], [c, n2 - c]]).pvalue)


def fragility_index(
    events_a: int, total_a: int, events_b: int, total_b: int, alpha: float = 0.05
) -> dict:
    """Fragility index (or reverse fragility index) of a 2x2 comparison.

    Parameters
    ----------
    events_a, total_a, events_b, total_b : int
        Events and patients of the two arms.
    alpha : float
        Significance level of the two-sided Fisher exact test.

    Returns
    -------
    dict
        ``fragility_index`` (changes needed; 0 if none can flip the result), ``p_fisher`` (the
        observed p), ``significant``, ``kind`` ("fragility" or "reverse fragility"),
        ``p_after`` (p after the changes) and ``changed_arm`` ("a" or "b").

    Examples
    --------
    >>> fragility_index(1, 100, 10, 100)["fragility_index"]
    2
    """
    for name, v in (
        ("events_a", events_a),
        ("total_a", total_a),
        ("events_b", events_b),
        ("total_b", total_b),
    ):
        if int(v) != v or v < 0:
            raise ValueError(f"{name} must be a non-negative whole number, got {v!r}")
    if events_a > total_a or events_b > total_b or total_a == 0 or total_b == 0:
        raise ValueError("events must not exceed totals, and totals must be positive")
    p0 = _p(events_a, total_a, events_b, total_b)
    significant = p0 < alpha
    fewer_a = events_a < events_b or (events_a == events_b and total_a <= total_b)
    if significant:
        # Walsh: turn non-events into events in the arm with fewer events until p >= alpha
        a, c, k = events_a, events_b, 0
        while True:
            if fewer_a and a < total_a:
                a += 1
            elif not fewer_a and c < total_b:
                c += 1
            else:
                return dict(
                    fragility_index=0,
                    p_fisher=p0,
                    significant=True,
                    kind="fragility",
                    p_after=p0,
                    changed_arm="",
                )
            k += 1
            p = _p(a, total_a, c, total_b)
            if p >= alpha:
                return dict(
                    fragility_index=k,
                    p_fisher=p0,
                    significant=True,
                    kind="fragility",
                    p_after=p,
                    changed_arm="a" if fewer_a else "b",
                )
    best = None
    for step in (-1, 1):  # reverse: remove or add events in the arm with fewer events
        a, c, k = events_a, events_b, 0
        while True:
            if fewer_a:
                a += step
                ok = 0 <= a <= total_a
            else:
                c += step
                ok = 0 <= c <= total_b
            if not ok:
                break
            k += 1
            p = _p(a, total_a, c, total_b)
            if p < alpha:
                if best is None or k < best[0]:
                    best = (k, p)
                break
    if best is None:
        return dict(
            fragility_index=0,
            p_fisher=p0,
            significant=False,
            kind="reverse fragility",
            p_after=p0,
            changed_arm="",
        )
    return dict(
        fragility_index=best[0],
        p_fisher=p0,
        significant=False,
        kind="reverse fragility",
        p_after=best[1],
        changed_arm="a" if fewer_a else "b",
    )


def grim_table(percent: float, ns, decimals: int = 0) -> pd.DataFrame:
    """Can ``percent`` (as reported, rounded half up) be a whole count out of each n?

    Returns
    -------
    DataFrame
        ``n, consistent, nearest_percent`` (the achievable percentage nearest the reported one,
        rounded to the reported precision), plus ``counts`` (the whole counts that round to it).

    Examples
    --------
    >>> grim_table(61, [27, 28]).to_dict("list")["consistent"]
    [False, True]
    """
    rows = []
    for n in ns:
        n = int(n)
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        ks = consistent_counts(percent, n, decimals)
        near = min(
            (round_half_up_percent(k, n, decimals) for k in range(n + 1)),
            key=lambda q: (abs(q - percent), q),
        )
        rows.append(
            dict(n=n, consistent=bool(ks), nearest_percent=near, counts=" ".join(map(str, ks)))
        )
    return pd.DataFrame(rows, columns=["n", "consistent", "nearest_percent", "counts"])


def grim_mean(mean: float, n: int, decimals: int = 2) -> dict:
    """GRIM test (Brown & Heathers 2017) of a mean of whole-number scores.

    A mean of ``n`` integers is a multiple of ``1/n``; it is *consistent* if some whole total
    ``S`` gives ``S / n`` that rounds (half up) to the reported mean. With ``n >= 10**decimals``
    every reported mean is possible and the test cannot detect anything.

    Returns
    -------
    dict
        ``mean, n, decimals, consistent, nearest_mean`` (the achievable mean nearest the
        reported one, at the reported precision), ``informative`` (``n < 10**decimals``).

    Examples
    --------
    >>> grim_mean(5.19, 28)["consistent"]  # 145/28 = 5.179, 146/28 = 5.214
    False
    >>> grim_mean(5.18, 28)["consistent"]
    True
    """
    from decimal import ROUND_HALF_UP, Decimal

    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    q = Decimal(1).scaleb(-decimals)

    def rounded(total: int) -> float:
        return float((Decimal(total) / Decimal(n)).quantize(q, rounding=ROUND_HALF_UP))

    centre = int(round(mean * n))
    candidates = [rounded(t) for t in range(centre - 2, centre + 3)]
    target = float(Decimal(str(mean)).quantize(q, rounding=ROUND_HALF_UP))
    near = min(candidates, key=lambda v: (abs(v - target), v))
    return dict(mean=mean, n=n, decimals=decimals, consistent=target in candidates,
                nearest_mean=near, informative=n < 10**decimals)  # fmt: skip
