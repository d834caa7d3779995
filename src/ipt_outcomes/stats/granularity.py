"""Granularity (GRIM-style) checks: can a reported percentage be a whole count out of n?

Brown & Heathers (2017) showed that a mean or percentage reported from n integer observations can
take only some values. For a percentage reported to whole percent, ``P%`` is consistent with a
denominator ``n`` when some whole ``k`` in ``0..n`` has ``round(100 k / n) = P``. Rounding is
half up (``59.5`` -> ``60``), the convention of journals and of spreadsheet ``ROUND``; an exact
half is never lost to binary floating point because the comparison is done in integers.
"""

from __future__ import annotations

__all__ = ["round_half_up_percent", "consistent_counts", "nearest_consistent_n"]


def round_half_up_percent(k: int, n: int, decimals: int = 0) -> float:
    """``100 k / n`` rounded half up to ``decimals`` places, computed exactly in integers.

    Examples
    --------
    >>> round_half_up_percent(17, 28), round_half_up_percent(16, 27), round_half_up_percent(1, 8)
    (61.0, 59.0, 13.0)
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k must be in 0..n, got k={k}, n={n}")
    scale = 10**decimals
    # floor(100*scale*k/n + 1/2) = floor((200*scale*k + n) / (2n))
    return ((200 * scale * k + n) // (2 * n)) / scale


def consistent_counts(percent: float, n: int, decimals: int = 0) -> list[int]:
    """Whole counts ``k`` out of ``n`` that round to ``percent``.

    Examples
    --------
    >>> consistent_counts(61, 27), consistent_counts(61, 28), consistent_counts(42, 38)
    ([], [17], [16])
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    target = round(percent, decimals)
    centre = int(target * n // 100)
    lo, hi = max(0, centre - 2), min(n, centre + 2 + n // 100 + 1)
    return [k for k in range(lo, hi + 1) if round_half_up_percent(k, n, decimals) == target]


def nearest_consistent_n(percent: float, n_target: int, n_max: int, decimals: int = 0) -> int:
    """The denominator nearest ``n_target`` (at most ``n_max``) for which ``percent`` is possible.

    Ties go to the larger denominator (fewer subjects assumed lost).

    Examples
    --------
    >>> nearest_consistent_n(61, 27, 42), nearest_consistent_n(42, 34, 46)
    (28, 33)
    """
    best = None
    for n in range(1, n_max + 1):
        if consistent_counts(percent, n, decimals):
            key = (abs(n - n_target), -n)
            if best is None or key < best[0]:
                best = (key, n)
    if best is None:
        raise ValueError(f"no denominator up to {n_max} gives {percent}%")
    return best[1]
