"""Multiplicity: adjusted p-values over the plan's confirmatory family.

The family's hypotheses are, in order, each family endpoint (in ``family`` order), within it each
compared arm (in the design's ``[[arms]]`` order), within that each of the endpoint's visits (in
time order). Every method returns adjusted p-values: a hypothesis is rejected at level alpha when
its adjusted p is at most alpha.

* ``none``: the raw p.
* ``bonferroni``: min(1, m p).
* ``holm``: Holm's (1979) step-down procedure.
* ``hochberg``: Hochberg's (1988) step-up procedure.
* ``hierarchical``: the fixed sequence; the adjusted p is the running maximum of the raw p, so
  testing stops at the first hypothesis not rejected.
* ``graphical``: the sequentially rejective graphical procedure of Bretz, Maurer, Brannath and
  Posch (2009) with initial ``weights`` and a ``transitions`` matrix, one row and column per
  hypothesis; adjusted p-values by their Algorithm 2 (the smallest alpha at which each
  hypothesis would be rejected). Holm, Bonferroni and the fixed sequence are special graphs.

A hypothesis whose p is missing (not estimable) counts in the family as p = 1: it is never
rejected and has no adjusted p.
"""

from __future__ import annotations

import numpy as np

__all__ = ["adjust", "graphical_adjusted", "METHODS"]

METHODS = ("none", "bonferroni", "holm", "hochberg", "hierarchical", "graphical")


def graphical_adjusted(p, weights, transitions) -> np.ndarray:
    """Adjusted p-values of the graphical procedure (Bretz et al. 2009, Algorithm 2).

    Parameters
    ----------
    p : array_like, shape (m,)
    weights : array_like, shape (m,)
        Initial weights, at least 0, adding up to at most 1.
    transitions : array_like, shape (m, m)
        Transition weights: row i says how the weight of hypothesis i is passed on when it is
        rejected; rows add up to at most 1, zero diagonal.

    Returns
    -------
    ndarray
        Adjusted p-values (capped at 1).

    Examples
    --------
    Holm's procedure is the graph with equal weights and full transitions:

    >>> graphical_adjusted([0.01, 0.04, 0.03], [1/3] * 3,
    ...                    [[0, .5, .5], [.5, 0, .5], [.5, .5, 0]]).round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, float)
    w = np.asarray(weights, float).copy()
    g = np.asarray(transitions, float).copy()
    m = len(p)
    left = list(range(m))
    adj = np.ones(m)
    running = 0.0
    while left:
        ratio = np.array([p[j] / w[j] if w[j] > 0 else np.inf for j in left])
        k = int(np.argmin(ratio))
        j = left[k]
        running = max(running, min(float(ratio[k]), 1.0))
        adj[j] = running
        left.pop(k)
        if not left:
            break
        # the graph after rejecting j (Bretz et al. 2009, Algorithm 1, step 2)
        w_new = w.copy()
        g_new = np.zeros_like(g)
        for a in left:
            w_new[a] = w[a] + w[j] * g[j, a]
            for b in left:
                if a == b:
                    continue
                denom = 1 - g[a, j] * g[j, a]
                g_new[a, b] = (g[a, b] + g[a, j] * g[j, b]) / denom if denom > 0 else 0.0
        w_new[j] = 0.0
        w, g = w_new, g_new
    return adj


def adjust(p, method: str, *, weights=None, transitions=None) -> np.ndarray:
    """Adjusted p-values of the family ``p`` (in family order) by ``method``.

    Examples
    --------
    >>> adjust([0.01, 0.04, 0.03], "hierarchical").tolist()
    [0.01, 0.04, 0.04]
    >>> adjust([0.01, 0.04, 0.03], "holm").round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    p = np.asarray(p, float)
    out = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if method == "none":
        return p.copy()
    if method == "hierarchical":
        running = 0.0
        for i, x in enumerate(p):
            running = max(running, x if np.isfinite(x) else 1.0)
            out[i] = running if np.isfinite(x) else np.nan
        return out
    if method == "graphical":
        if weights is None or transitions is None or len(weights) != len(p):
            raise ValueError("the graphical method needs one weight and transition row per p")
        out[:] = graphical_adjusted(np.where(ok, p, 1.0), weights, transitions)
        out[~ok] = np.nan
        return out
    q = np.where(ok, p, 1.0)  # a missing p counts in the family and is never rejected
    m = len(q)
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    s = q[order]
    adj = np.empty(m)
    if method == "bonferroni":
        adj = np.minimum(1.0, m * q)
    elif method == "holm":
        adj[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * s))
    else:  # hochberg
        adj[order] = np.minimum(1.0, np.minimum.accumulate(((m - np.arange(m)) * s)[::-1])[::-1])
    out[:] = adj
    out[~ok] = np.nan
    return out
