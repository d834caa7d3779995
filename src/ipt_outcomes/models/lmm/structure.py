"""The random-effects structure of a linear mixed model, cut into small independent blocks.

Rows that share a level of any grouping factor form a *cluster* (a subject, or a therapy group
with its patients); clusters are independent, so every quantity the fit needs is a sum over
clusters of small matrices built from the cluster's random-effects design Z_c (q_c columns).
Clusters with the same layout (the same number of levels of each term) share one template of
the relative covariance factor Lambda and are stacked into a :class:`Batch` of arrays
``(n_clusters, q, ...)``, so that one batch is handled by a few vectorised numpy operations.
No n_obs x n_obs matrix is ever formed.

Parameterisation (as lme4, Bates et al. 2015 sec. 2-3): each term t with q_t columns has a lower
triangular relative Cholesky factor L_t (random-effect covariance sigma^2 L_t L_t'); theta
stacks each L_t column by column (lower triangle: L11, L21, ..., L22, ...). The diagonal
elements are the ones with lower bound 0 in lme4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["RandomTerm", "Batch", "ThetaLayout", "build_batches", "term_design", "sum_by"]


@dataclass(frozen=True)
class RandomTerm:
    """A random-effects term: columns of Z (names) varying by levels of a grouping column.

    ``columns`` are data columns (``"1"`` for an intercept); ``group`` the grouping column;
    ``by`` an optional 0/1 column that switches the term on (partially nested designs).
    """

    group: str
    columns: tuple[str, ...] = ("1",)
    by: str | None = None
    name: str = ""

    @property
    def q(self) -> int:
        return len(self.columns)

    @property
    def n_theta(self) -> int:
        return self.q * (self.q + 1) // 2

    @property
    def label(self) -> str:
        return self.name or self.group

    @property
    def column_names(self) -> list[str]:
        return ["(Intercept)" if c == "1" else c for c in self.columns]


@dataclass(frozen=True)
class ThetaLayout:
    """Where each term's relative Cholesky factor sits in theta (lme4's order)."""

    terms: tuple[RandomTerm, ...]
    offsets: tuple[int, ...]
    #: (q, q) index of theta at each lower-triangular position of a term's factor, -1 above
    lind: tuple[np.ndarray, ...]

    @property
    def k(self) -> int:
        return sum(t.n_theta for t in self.terms)

    @property
    def diagonal(self) -> np.ndarray:
        """Indices of theta on a Cholesky diagonal (lower bound 0 in lme4)."""
        return np.array([int(li[j, j]) for li in self.lind for j in range(li.shape[0])], int)

    def faces(self, scales) -> list:
        """``[(diagonal index, scale, off-diagonal indices of its row)]`` for the optimiser."""
        out, m = [], 0
        for li in self.lind:
            for j in range(li.shape[0]):
                out.append((int(li[j, j]), float(scales[m]), [int(i) for i in li[j, :j]]))
                m += 1
        return out

    def factor(self, theta: np.ndarray, t: int) -> np.ndarray:
        """The relative Cholesky factor L_t of term ``t``."""
        li = self.lind[t]
        return np.where(li >= 0, np.asarray(theta)[np.maximum(li, 0)], 0.0)

    def names(self) -> list[str]:
        out = []
        for t, li in zip(self.terms, self.lind, strict=True):
            cols = t.column_names
            for j in range(t.q):
                for i in range(j, t.q):
                    what = cols[j] if i == j else f"{cols[i]}.{cols[j]}"
                    out.append(f"{t.label}:{what}")
                    assert li[i, j] == len(out) - 1
        return out

    def normalise(self, theta: np.ndarray) -> np.ndarray:
        """The equivalent theta with every Cholesky diagonal >= 0.

        Lambda Lambda' does not change when a column of L_t changes sign, so the deviance is
        symmetric and the fit can be searched without bounds; this maps the result into lme4's
        feasible region.
        """
        theta = np.array(theta, dtype=float)
        for li in self.lind:
            for j in range(li.shape[0]):
                if theta[li[j, j]] < 0:
                    col = li[j:, j]
                    theta[col] = -theta[col]
        return theta


def _layout(terms) -> ThetaLayout:
    offsets, linds, off = [], [], 0
    for t in terms:
        li = -np.ones((t.q, t.q), dtype=int)
        pos = off
        for j in range(t.q):
            for i in range(j, t.q):
                li[i, j] = pos
                pos += 1
        offsets.append(off)
        linds.append(li)
        off = pos
    return ThetaLayout(tuple(terms), tuple(offsets), tuple(linds))


def term_design(frame: pd.DataFrame, term: RandomTerm) -> np.ndarray:
    """The rows of Z for one term: its columns, switched off where ``by`` is 0."""
    n = len(frame)
    Z = np.column_stack(
        [np.ones(n) if c == "1" else frame[c].to_numpy(float) for c in term.columns]
    )
    if term.by is not None:
        Z = Z * frame[term.by].to_numpy(float)[:, None]
    return Z


@dataclass
class Batch:
    """Clusters with one layout of random effects, stacked.

    ``lind`` (q x q): the theta index of each element of the cluster's Lambda (-1: zero);
    ``E`` (k x q x q): dLambda / dtheta_k; ``ZtZ`` (B x q x q), ``ZtX`` (B x q x p), ``Zty``
    (B x q): the cluster cross-products; ``n`` (B,): rows per cluster; ``Gpat``: for each
    covariance element (term, i <= j) the q x q 0/1 pattern of dG / d element (Kenward-Roger).
    """

    lind: np.ndarray
    E: np.ndarray
    ZtZ: np.ndarray
    ZtX: np.ndarray
    Zty: np.ndarray
    n: np.ndarray
    Gpat: np.ndarray

    @property
    def diag_q(self) -> np.ndarray:
        return np.arange(self.ZtZ.shape[1])

    def Lambda(self, theta: np.ndarray) -> np.ndarray:
        """This layout's Lambda (q x q) at ``theta`` (-1 in ``lind`` picks the appended 0)."""
        return np.append(theta, 0.0)[self.lind]


def _template(layout: ThetaLayout, counts: tuple[int, ...]):
    """lind, dLambda/dtheta and covariance-element patterns of a cluster with ``counts`` levels
    of each term (columns: term by term, level by level, the term's columns within a level)."""
    q = sum(c * t.q for c, t in zip(counts, layout.terms, strict=True))
    k = layout.k
    lind = -np.ones((q, q), dtype=int)
    pats = []
    pos = 0
    for c, t, li in zip(counts, layout.terms, layout.lind, strict=True):
        blocks = [slice(pos + m * t.q, pos + (m + 1) * t.q) for m in range(c)]
        for b in blocks:
            lind[b, b] = li
        for j in range(t.q):
            for i in range(j, t.q):
                P = np.zeros((q, q))
                for b in blocks:
                    P[b.start + i, b.start + j] = P[b.start + j, b.start + i] = 1.0
                pats.append(P)
        pos += c * t.q
    E = np.zeros((k, q, q))
    rows, cols = np.nonzero(lind >= 0)
    E[lind[rows, cols], rows, cols] = 1.0
    return lind, E, np.array(pats).reshape(len(pats), q, q)


def sum_by(codes: np.ndarray, n_groups: int, values: np.ndarray) -> np.ndarray:
    """Sum the rows of ``values`` (n x ...) within groups given by ``codes`` (0 .. n_groups-1,
    each present)."""
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    flat = values.reshape(len(codes), -1)[order]
    return np.add.reduceat(flat, starts, axis=0).reshape((n_groups, *values.shape[1:]))


def build_batches(frame: pd.DataFrame, X: np.ndarray, y: np.ndarray, terms) -> tuple:
    """Cut the data into clusters and stack the clusters of each layout into a batch.

    Returns
    -------
    batches : list of Batch
    layout : ThetaLayout
    designs : list of (Z, active rows, level codes), one per term
    """
    terms = tuple(terms)
    layout = _layout(terms)
    Zs = [term_design(frame, t) for t in terms]
    active = [np.any(Z != 0, axis=1) for Z in Zs]
    codes = [pd.factorize(frame[t.group])[0] for t in terms]
    designs = list(zip(Zs, active, codes, strict=True))
    if len(terms) == 1:
        return _single_term_batches(layout, Zs[0], active[0], codes[0], X, y), layout, designs
    return _general_batches(layout, Zs, active, codes, X, y), layout, designs


def _single_term_batches(layout, Z, active, codes, X, y):
    rows = np.flatnonzero(active)
    if len(rows) == 0:
        return []
    c, _ = pd.factorize(codes[rows])
    G = int(c.max()) + 1
    Zr, Xr, yr = Z[rows], X[rows], y[rows]
    ZtZ = sum_by(c, G, Zr[:, :, None] * Zr[:, None, :])
    ZtX = sum_by(c, G, Zr[:, :, None] * Xr[:, None, :])
    Zty = sum_by(c, G, Zr * yr[:, None])
    n = np.bincount(c, minlength=G)
    lind, E, pats = _template(layout, (1,))
    return [Batch(lind, E, ZtZ, ZtX, Zty, n, pats)]


def _general_batches(layout, Zs, active, codes, X, y):
    n_rows = len(y)
    # clusters: rows linked by a shared level of any term (only where the term is switched on)
    parent = np.arange(n_rows)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for act, cd in zip(active, codes, strict=True):
        first: dict = {}
        for i in np.flatnonzero(act):
            lev = cd[i]
            j = first.setdefault(lev, i)
            if j != i:
                a, b = find(i), find(j)
                if a != b:
                    parent[a] = b
    roots = np.array([find(i) for i in range(n_rows)])
    any_active = np.logical_or.reduce(active)
    groups: dict[tuple, list] = {}
    order = np.argsort(roots, kind="stable")
    bounds = np.flatnonzero(np.diff(roots[order])) + 1
    for rows in np.split(order, bounds):
        if not any_active[rows].any():
            continue  # rows without random effects: only the global cross-products
        blocks, counts = [], []
        for Z, act, cd in zip(Zs, active, codes, strict=True):
            levels = pd.unique(cd[rows][act[rows]])
            counts.append(len(levels))
            for lev in levels:
                blocks.append(Z[rows] * (cd[rows] == lev)[:, None])
        Zc = np.hstack(blocks)
        groups.setdefault(tuple(counts), []).append(
            (Zc.T @ Zc, Zc.T @ X[rows], Zc.T @ y[rows], len(rows))
        )
    batches = []
    for counts, items in groups.items():
        lind, E, pats = _template(layout, counts)
        batches.append(
            Batch(
                lind,
                E,
                np.array([it[0] for it in items]),
                np.array([it[1] for it in items]),
                np.array([it[2] for it in items]),
                np.array([it[3] for it in items]),
                pats,
            )
        )
    return batches
