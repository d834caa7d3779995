"""Many fits of one MMRM to reweighted subjects: the jackknife, the bootstrap, posterior draws.

A leave-one-subject-out or bootstrap sample changes only how much each subject counts, so the
per-subject pieces of the pattern sums (:mod:`.likelihood`) are kept once and each refit forms
the weighted sums ``sum_i w_i X_i (x) X_i``, ``sum_i w_i X_i (x) y_i`` and ``sum_i w_i y_i y_i'``
(a subject drawn twice by the bootstrap counts twice, as two copies of it would). Many refits
are iterated together, one vectorised likelihood evaluation for the whole batch:

* only the non-zero entries of the pattern sums are formed (:class:`_Layout`: a design whose
  columns are per visit fills ``t^2 q^2`` of a pattern's ``t^2 p^2``), applied as sparse
  operators; patterns of one size are inverted in one call;
* a jackknife batch (:class:`_DeltaBatch`) works from the sums of every subject, formed once,
  with each sample's one subject taken off; a bootstrap batch (:class:`_DenseBatch`) forms each
  sample's own sums.

``optimizer="newton"`` starts each refit from the fit to all subjects and iterates with the
full-data Hessian (a jackknife sample's optimum is O(1/n) away: a few evaluations), falling back
to full Newton steps and L-BFGS-B for a sample that does not settle; the optimum is the one a
fit from scratch to the same subjects finds. ``optimizer="lbfgsb"`` makes every fit as R mmrm
makes it (:mod:`..optim.lbfgsb`), the numbers R rbmi reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .covariance import CovarianceStructure

__all__ = ["Refitter", "Refit", "mmrm_start"]


@dataclass
class Refit:
    """One refit: covariance parameters, fixed effects, covariance matrices, -2 log-likelihood."""

    theta: np.ndarray
    beta: np.ndarray
    sigmas: list
    neg2_loglik: float
    converged: bool
    n_evaluations: int


class Refitter:
    """Refit an MMRM to the same subjects with other weights.

    Parameters
    ----------
    X : ndarray (n_obs, p)
        Model matrix of the observed rows.
    y : ndarray (n_obs,)
    subject : ndarray (n_obs,) of int
        Subject index of each row, ``0 .. n_subjects - 1``.
    visit_idx, group_idx : ndarray (n_obs,) of int
        Visit index (``0 .. T - 1``) and covariance group of each row.
    structure : CovarianceStructure
    n_groups : int
    reml : bool
    n_subjects : int, optional
        Subjects weighted (default ``subject.max() + 1``); subjects without rows may be included.

    Examples
    --------
    >>> import numpy as np
    >>> from ipt_outcomes.models.mmrm.covariance import CovarianceStructure
    >>> rng = np.random.default_rng(1)
    >>> n, T = 30, 2
    >>> subject = np.repeat(np.arange(n), T)
    >>> visit = np.tile(np.arange(T), n)
    >>> X = np.eye(T)[visit]
    >>> y = rng.normal(size=n * T) + visit
    >>> r = Refitter(X, y, subject, visit, np.zeros(n * T, int), CovarianceStructure("us", T), 1, True)
    >>> full = r.fit(np.ones(n), r.start())
    >>> loo = r.fit(np.r_[0.0, np.ones(n - 1)], full.theta)
    >>> bool(loo.converged), np.allclose(loo.beta, y.reshape(n, T)[1:].mean(axis=0))
    (True, True)
    """

    def __init__(self, X, y, subject, visit_idx, group_idx, structure: CovarianceStructure,
                 n_groups: int, reml: bool, n_subjects: int | None = None):  # fmt: skip
        X = np.asarray(X, float)
        y = np.asarray(y, float)
        subject = np.asarray(subject, int)
        visit_idx = np.asarray(visit_idx, int)
        group_idx = np.asarray(group_idx, int)
        self.p = X.shape[1]
        self.structure = structure
        self.n_groups = n_groups
        self.reml = reml
        self.n_subjects = int(subject.max()) + 1 if n_subjects is None else int(n_subjects)
        self._X, self._y = X, y
        self._subject, self._visit, self._group = subject, visit_idx, group_idx
        order = np.lexsort((visit_idx, subject))
        X, y, subject, visit_idx, group_idx = (
            X[order], y[order], subject[order], visit_idx[order], group_idx[order]
        )  # fmt: skip
        starts = np.flatnonzero(np.r_[True, subject[1:] != subject[:-1]])
        ends = np.r_[starts[1:], len(subject)]
        keys: dict[tuple, list[int]] = {}
        for s, e in zip(starts, ends, strict=True):
            keys.setdefault((int(group_idx[s]), tuple(visit_idx[s:e].tolist())), []).append(s)
        self._blocks = []
        for (g, idx), first in keys.items():
            t = len(idx)
            rows = np.asarray(first)[:, None] + np.arange(t)[None, :]
            A = X[rows].reshape(len(first), t * self.p)
            self._blocks.append((g, np.asarray(idx), subject[np.asarray(first)], A, y[rows]))
        self.n_rows = np.bincount(self._subject, minlength=self.n_subjects)
        self._layout = None

    @property
    def layout(self) -> _Layout:
        """Where the pattern sums of a batch are non-zero (formed once, at the first batch)."""
        if self._layout is None:
            self._layout = _Layout(self)
        return self._layout

    def model(self, weights):
        """The :class:`~.likelihood.Model` of the subjects weighted by ``weights``."""
        from .likelihood import Model, _Pattern

        w_all = np.asarray(weights, float)
        p = self.p
        patterns = []
        for g, idx, subj, A, ys in self._blocks:
            w = w_all[subj]
            keep = w != 0
            if not keep.any():
                continue
            if not keep.all():
                A, ys, w = A[keep], ys[keep], w[keep]
            t = len(idx)
            Aw = A * w[:, None]
            C = (Aw.T @ A).reshape(t, p, t, p).transpose(0, 2, 1, 3)
            D = (Aw.T @ ys).reshape(t, p, t).transpose(0, 2, 1)
            patterns.append(
                _Pattern(
                    group=g,
                    idx=idx,
                    m=float(w.sum()),
                    C=np.ascontiguousarray(C.reshape(t * t, p * p)),
                    D=np.ascontiguousarray(D.reshape(t * t, p)),
                    Y=(ys * w[:, None]).T @ ys,
                )
            )
        n_obs = float(w_all @ self.n_rows)
        return Model.from_patterns(patterns, n_obs, p, self.structure, self.n_groups, self.reml)

    def start(self, weights=None) -> np.ndarray:
        """Starting values from the covariance of OLS residuals (as :func:`.fit.fit_mmrm`)."""
        w = np.ones(self.n_subjects) if weights is None else np.asarray(weights, float)
        wr = w[self._subject]
        sw = np.sqrt(wr)
        beta = np.linalg.lstsq(self._X * sw[:, None], self._y * sw, rcond=None)[0]
        T = self.structure.n_visits
        R = np.full((self.n_subjects, T), np.nan)
        R[self._subject, self._visit] = self._y - self._X @ beta
        R = R[w > 0]
        emp = np.zeros((T, T))
        for a in range(T):
            for b in range(a, T):
                ok = ~np.isnan(R[:, a]) & ~np.isnan(R[:, b])
                c = float(np.cov(R[ok, a], R[ok, b])[0, 1]) if ok.sum() > 1 else 0.0
                emp[a, b] = emp[b, a] = c if np.isfinite(c) else 0.0
        d = np.diag(emp).copy()
        d[~(d > 0)] = float(np.nanvar(self._y)) or 1.0
        np.fill_diagonal(emp, d)
        return np.concatenate([self.structure.start(emp) for _ in range(self.n_groups)])

    def fit_many(self, weights, theta0=None, hessian0=None, optimizer: str = "newton") -> list[Refit]:  # fmt: skip
        """Refits for each row of ``weights`` (B x n_subjects), iterated together with
        vectorised likelihoods.

        ``optimizer="newton"``: from ``theta0`` (the fit to all subjects; ``hessian0`` its
        Hessian of -2 l), to the optimum (as :meth:`fit`, much faster for many samples).
        ``optimizer="lbfgsb"``: each fit as R mmrm makes it (L-BFGS-B from mmrm's starting
        values, stopped by R's relative-reduction rule; :mod:`ipt_outcomes.models.optim.lbfgsb`), which R packages
        built on mmrm (rbmi) report.
        """
        if optimizer == "lbfgsb":
            return _fit_many_lbfgsb(self, weights)
        if optimizer != "newton":
            raise ValueError(f"optimizer must be 'newton' or 'lbfgsb', got {optimizer!r}")
        return _fit_many(self, weights, theta0, hessian0)

    def fit(self, weights, theta0) -> Refit:
        """REML (or ML) fit to the weighted subjects from ``theta0``: Newton steps first, then
        the full optimiser from ``theta0`` and from the empirical start if they do not converge."""
        from .fit import _converged, _optimise

        model = self.model(weights)
        best = None
        for start, newton_first in ((theta0, True), (theta0, False), (None, False)):
            th0 = self.start(weights) if start is None else np.asarray(start, float)
            try:
                with np.errstate(all="ignore"):
                    theta, val, g, H, n_eval = _optimise(model, th0, newton_first=newton_first)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError):
                continue
            ok = g is not None and H is not None and _converged(val, g, H)[0]
            if ok or best is None:
                best = (theta, val, ok, n_eval)
            if ok:
                break
        if best is None:
            return Refit(np.asarray(theta0, float), np.full(self.p, np.nan), [], np.inf, False, 0)
        theta, val, ok, n_eval = best
        _, _, pieces = model.evaluate(theta, grad=False)
        if pieces is None:
            return Refit(theta, np.full(self.p, np.nan), [], np.inf, False, n_eval)
        return Refit(theta, pieces["beta"], pieces["sig"], float(val), bool(ok), int(n_eval))


# ------------------------------------------------------------------------------------------
# many refits at once: a batch of weight vectors, iterated together from one start
# ------------------------------------------------------------------------------------------


class _Layout:
    """Where the non-zero entries of the pattern sums are, for every pattern of a :class:`Refitter`.

    A subject's row at a visit is non-zero only in some columns (the imputation model's columns
    are per visit: ``z_i`` at visit ``s`` fills only the columns of visit ``s``), so of a
    pattern's ``t^2 p^2`` sums ``sum_i X_i[s, a] X_i[u, b]`` only the entries whose ``a`` is used
    at ``s`` and ``b`` at ``u`` can be non-zero. Only those are formed and kept (for a batch of
    weight vectors, one row per member), with sparse matrices that scatter them into ``X'WX`` and
    gather them into the residual cross-products. This is what makes a batch's memory and each
    evaluation's work proportional to ``t^2 q^2`` instead of ``t^2 p^2`` (``q`` the columns used
    per visit), while every number is the same sum as the dense one. Of the symmetric ``X'WX``
    and residual cross-products only one triangle is formed.

    Patterns of the same size are inverted together (one batched call per size), and a pattern
    cell's place in the covariance matrix (:attr:`to_sigma`) gathers the gradient's pieces.
    """

    #: values formed at a time when a batch's sums are built (about 32 MB)
    CHUNK = 4_000_000

    def __init__(self, refitter: Refitter):
        from scipy import sparse

        p = refitter.p
        T, G = refitter.structure.n_visits, refitter.n_groups
        self.p, self.T, self.G = p, T, G
        self.blocks = []
        C_row, C_col, D_row, D_col = [], [], [], []
        off = nC = nD = 0
        for g, idx, subj, A, ys in refitter._blocks:
            t, m = len(idx), len(subj)
            At = A.reshape(m, t, p)
            used = [np.flatnonzero((At[:, s, :] != 0).any(axis=0)) for s in range(t)]
            cl, cr, crow, ccol, dl, dy, drow, dcol = ([] for _ in range(8))
            for s in range(t):
                a = used[s]
                for u in range(t):
                    b = used[u]
                    cl.append(np.repeat(s * p + a, len(b)))
                    cr.append(np.tile(u * p + b, len(a)))
                    crow.append(np.full(len(a) * len(b), s * t + u))
                    ccol.append((a[:, None] * p + b[None, :]).ravel())
                    dl.append(s * p + a)
                    dy.append(np.full(len(a), u))
                    drow.append(np.full(len(a), s * t + u))
                    dcol.append(a)
            cat = np.concatenate
            cl, cr, crow, ccol = cat(cl), cat(cr), cat(crow), cat(ccol)
            dl, dy, drow, dcol = cat(dl), cat(dy), cat(drow), cat(dcol)
            self.blocks.append(dict(g=g, idx=idx, t=t, subj=subj, A=A, ys=ys, cl=cl, cr=cr,
                                    dl=dl, dy=dy, sl=slice(off, off + t * t),
                                    c=slice(nC, nC + len(cl)), d=slice(nD, nD + len(dl))))  # fmt: skip
            C_row.append(off + crow)
            C_col.append(ccol)
            D_row.append(off + drow)
            D_col.append(dcol)
            off, nC, nD = off + t * t, nC + len(cl), nD + len(dl)
        self.n_cells, self.nC, self.nD = off, nC, nD
        self.eye = np.eye(p)
        C_row, C_col = np.concatenate(C_row), np.concatenate(C_col)
        D_row, D_col = np.concatenate(D_row), np.concatenate(D_col)
        self.C_row, self.C_col, self.D_row, self.D_col = C_row, C_col, D_row, D_col
        # each cell's transpose (u, s), its place in its group's T x T matrix, its triangle
        tperm = np.empty(off, int)
        where = np.empty(off, int)
        upper = np.empty(off, bool)
        for blk in self.blocks:
            t, s0, idx = blk["t"], blk["sl"].start, blk["idx"]
            s_, u_ = np.divmod(np.arange(t * t), t)
            tperm[s0 : s0 + t * t] = s0 + u_ * t + s_
            where[s0 : s0 + t * t] = blk["g"] * T * T + idx[s_] * T + idx[u_]
            upper[s0 : s0 + t * t] = s_ <= u_
        self.tperm, self.cell_upper = tperm, upper
        self.cell_diag = tperm == np.arange(off)
        # the entries of one triangle: of X'WX (a <= b) and of the residual cross-products
        self.C_up = np.flatnonzero(C_col // p <= C_col % p)  # X'WX[a, b], a <= b
        self.C_cellup = np.flatnonzero(upper[C_row])  # cells (s, u), s <= u

        def ones(rows, cols, shape):
            return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)

        self.scatter_C = ones(C_col[self.C_up], np.arange(len(self.C_up)), (p * p, len(self.C_up)))
        self.scatter_D = ones(D_col, np.arange(nD), (p, nD))  # entries -> X'Wy
        self.rows_C = ones(C_row[self.C_cellup], np.arange(len(self.C_cellup)),
                           (off, len(self.C_cellup)))  # fmt: skip
        self.rows_D = ones(D_row, np.arange(nD), (off, nD))
        self.to_sigma = ones(where, np.arange(off), (G * T * T, off))  # cells -> Sigma-shaped
        # patterns of one size, inverted together
        sizes: dict[int, list[int]] = {}
        for j, blk in enumerate(self.blocks):
            sizes.setdefault(blk["t"], []).append(j)
        self.by_size = []
        for t, js in sorted(sizes.items()):
            idx = np.stack([self.blocks[j]["idx"] for j in js])  # (P, t)
            g = np.array([self.blocks[j]["g"] for j in js])
            cells = np.concatenate([np.arange(self.blocks[j]["sl"].start,
                                              self.blocks[j]["sl"].stop) for j in js])  # fmt: skip
            self.by_size.append(dict(t=t, blocks=np.asarray(js), g=g[:, None, None],
                                     rows=idx[:, :, None], cols=idx[:, None, :], cells=cells))  # fmt: skip
        # where each subject's rows are: its pattern and row there
        n = refitter.n_subjects
        self.n_rows = refitter.n_rows
        self.block_of = np.full(n, -1)
        self.row_of = np.zeros(n, int)
        for j, blk in enumerate(self.blocks):
            self.block_of[blk["subj"]] = j
            self.row_of[blk["subj"]] = np.arange(len(blk["subj"]))
        self._full = None

    @property
    def size(self) -> int:
        """Values a batch keeps per member (at most)."""
        return self.nC + self.nD + self.n_cells

    def full(self):
        """The sums of every subject with weight 1, as operators on the cells (formed once):
        ``K_C`` (p*p, cells) gives the upper triangle of ``X'WX`` from the cells of ``W``,
        ``K_D`` (p, cells) ``X'Wy``; ``L_C`` (cells, p*p) gives the upper cells of
        ``sum_i X_i M X_i'`` from ``M``, ``L_D`` (cells, p) ``sum_i X_i beta y_i'`` from beta."""
        if self._full is None:
            from scipy import sparse

            one = _DenseBatch(self, np.ones((1, len(self.block_of))), self.n_rows)
            p, cells = self.p, self.n_cells
            up, cu, D = self.C_up, self.C_cellup, one.D[:, 0]
            self._full = dict(
                K_C=sparse.csr_matrix((one.C_up[:, 0], (self.C_col[up], self.C_row[up])),
                                      (p * p, cells)),
                K_D=sparse.csr_matrix((D, (self.D_col, self.D_row)), (p, cells)),
                L_C=sparse.csr_matrix((one.C_cellup[:, 0], (self.C_row[cu], self.C_col[cu])),
                                      (cells, p * p)),
                L_D=sparse.csr_matrix((D, (self.D_row, self.D_col)), (cells, p)),
                Y=one.Y[:, 0], m=one.m[:, 0], n_obs=float(one.n_obs[0]),
            )  # fmt: skip
        return self._full


class _DenseBatch:
    """Pattern sums for a batch of weight vectors, member last: the non-zero entries of each
    pattern's ``sum_i w_i X_i (x) X_i`` (one triangle each for ``X'WX`` and for the residual
    cross-products), ``sum_i w_i X_i (x) y_i`` (D), ``sum_i w_i y_i y_i'`` (Y, (cells, B)) and
    subject counts m (patterns, B); see :class:`_Layout`."""

    def __init__(self, lay: _Layout, W: np.ndarray, n_rows: np.ndarray):
        W = np.asarray(W, float)
        B = len(W)
        self.layout = lay
        C = np.empty((lay.nC, B))
        self.D = np.empty((lay.nD, B))
        self.Y = np.empty((lay.n_cells, B))
        self.m = np.empty((len(lay.blocks), B))
        for j, blk in enumerate(lay.blocks):
            w = W[:, blk["subj"]]  # (B, m)
            A, ys = blk["A"], blk["ys"]
            self.m[j] = w.sum(axis=1)
            t = blk["t"]
            self.Y[blk["sl"]] = (ys[:, :, None] * ys[:, None, :]).reshape(len(ys), t * t).T @ w.T
            step = max(1, _Layout.CHUNK // max(len(ys), 1))
            c0 = blk["c"].start
            for k in range(0, len(blk["cl"]), step):
                V = A[:, blk["cl"][k : k + step]] * A[:, blk["cr"][k : k + step]]
                C[c0 + k : c0 + k + V.shape[1]] = V.T @ w.T
            d0 = blk["d"].start
            for k in range(0, len(blk["dl"]), step):
                V = A[:, blk["dl"][k : k + step]] * ys[:, blk["dy"][k : k + step]]
                self.D[d0 + k : d0 + k + V.shape[1]] = V.T @ w.T
        self.C_up, self.C_cellup = C[lay.C_up], C[lay.C_cellup]
        self.n_obs = W @ n_rows
        self.n_members = B

    def take(self, rows) -> _DenseBatch:
        """The batch of the members ``rows`` only."""
        out = _DenseBatch.__new__(_DenseBatch)
        out.layout = self.layout
        out.C_up, out.C_cellup = self.C_up[:, rows], self.C_cellup[:, rows]
        out.D, out.Y, out.m = self.D[:, rows], self.Y[:, rows], self.m[:, rows]
        out.n_obs = self.n_obs[rows]
        out.n_members = len(rows)
        return out

    def counts(self) -> np.ndarray:
        """Subjects per pattern, (patterns, B)."""
        return self.m

    def sums(self, Wc, ld):
        """``X'WX`` (upper triangle), ``X'Wy``, ``y'Wy`` and log det V from the cells ``Wc``
        (cells, B) of each pattern's inverse covariance and its log determinants ``ld``."""
        lay = self.layout
        XtWX = _from_upper(lay, lay.scatter_C @ (Wc[lay.C_row[lay.C_up]] * self.C_up))
        XtWy = lay.scatter_D @ (Wc[lay.D_row] * self.D)
        return XtWX, XtWy, (Wc * self.Y).sum(axis=0), (self.m * ld).sum(axis=0)

    def cross(self, beta, bbT):
        """Residual cross-products ``sum_i w_i (y_i - X_i beta)(y_i - X_i beta)' + X_i Phi X_i'``
        of every pattern, as cells (cells, B), from beta (B, p) and ``bb = beta beta' + Phi``."""
        lay = self.layout
        Cbb = lay.rows_C @ (self.C_cellup * bbT[lay.C_col[lay.C_cellup]])
        Db = lay.rows_D @ (self.D * beta.T[lay.D_col])
        return self.Y + _symmetric_cells(lay, Cbb) - Db - Db[lay.tperm]

    def correct(self, *_args):
        """No correction: every member's sums are its own."""


class _DeltaBatch:
    """A batch of weight vectors that differ from all ones in one subject each at most (a
    jackknife: one subject left out): the sums of every subject (:meth:`_Layout.full`, formed
    once) and, per member, that one subject's rows, weighted by its change of weight
    ``delta = w - 1`` (-1 for a subject left out). Each evaluation is then the full sums' sparse
    products plus one small correction per member, whatever the number of subjects."""

    def __init__(self, refitter: Refitter, W: np.ndarray, changed: np.ndarray, delta: np.ndarray):
        lay = refitter.layout
        self.layout = lay
        self.full = lay.full()
        T, p = lay.T, lay.p
        B = len(W)
        self.n_members = B
        self.block = np.where(changed >= 0, lay.block_of[np.maximum(changed, 0)], -1)
        has = self.block >= 0
        self.delta = np.where(has, delta, 0.0)
        self.n_obs = self.full["n_obs"] + delta * refitter.n_rows[np.maximum(changed, 0)] * (
            changed >= 0)  # fmt: skip
        self.A = np.zeros((B, T, p))  # the changed subject's rows, at their visits
        self.y = np.zeros((B, T))
        self.cells = np.full((B, T, T), lay.n_cells)  # its pattern's cells (else a zero cell)
        self.group = np.zeros(B, int)
        for j in np.unique(self.block[has]):
            blk = lay.blocks[j]
            mem = np.flatnonzero(self.block == j)
            r = lay.row_of[changed[mem]]
            t, idx = blk["t"], blk["idx"]
            self.A[mem[:, None], idx[None, :]] = blk["A"][r].reshape(len(mem), t, p)
            self.y[mem[:, None], idx[None, :]] = blk["ys"][r]
            self.cells[np.ix_(mem, idx, idx)] = blk["sl"].start + np.arange(t * t).reshape(t, t)
            self.group[mem] = blk["g"]
        self.cells = self.cells.reshape(B, T * T)

    def take(self, rows) -> _DeltaBatch:
        out = _DeltaBatch.__new__(_DeltaBatch)
        out.layout, out.full, out.n_members = self.layout, self.full, len(rows)
        for name in ("block", "delta", "n_obs", "A", "y", "cells", "group"):
            setattr(out, name, getattr(self, name)[rows])
        return out

    def counts(self) -> np.ndarray:
        return self.full["m"][:, None]

    def _W(self, Wc):
        """Each member's inverse covariance of its changed subject's pattern, (B, T, T) with
        zeros at the visits not in it."""
        ext = np.vstack([Wc, np.zeros((1, Wc.shape[1]))])
        B, T = self.n_members, self.layout.T
        return ext[self.cells, np.arange(B)[:, None]].reshape(B, T, T)

    def sums(self, Wc, ld):
        f = self.full
        self._Wsub = Ws = self._W(Wc)
        AtW = self.A.transpose(0, 2, 1) @ Ws  # (B, p, T)
        d = self.delta
        XtWX = _from_upper(self.layout, f["K_C"] @ Wc) + d[:, None, None] * (AtW @ self.A)
        XtWy = (f["K_D"] @ Wc).T + d[:, None] * (AtW @ self.y[..., None])[..., 0]
        yWy = f["Y"] @ Wc + d * np.einsum("bt,btu,bu->b", self.y, Ws, self.y)
        ldb = ld[np.maximum(self.block, 0), np.arange(self.n_members)]
        logdet = f["m"] @ ld + d * ldb
        return XtWX, XtWy.T, yWy, logdet

    def cross(self, beta, bbT):
        f = self.full
        Cbb = f["L_C"] @ bbT
        Db = f["L_D"] @ beta.T
        return f["Y"][:, None] + _symmetric_cells(self.layout, Cbb) - Db - Db[self.layout.tperm]

    def correct(self, Gm, beta, Phi):
        """The changed subject's part of the gradient's pattern matrices: ``delta (W - W R W)``
        with ``R = r r' + X_i Phi X_i'`` (REML; ``Phi`` None for ML), ``r = y_i - X_i beta``."""
        W = self._Wsub
        r = self.y - (self.A @ beta[..., None])[..., 0]
        R = r[:, :, None] * r[:, None, :]
        if Phi is not None:
            R = R + self.A @ Phi @ self.A.transpose(0, 2, 1)
        corr = self.delta[:, None, None] * (W - W @ R @ W)
        Gm[np.arange(self.n_members), self.group] += corr


def _from_upper(lay: _Layout, upper: np.ndarray) -> np.ndarray:
    """Symmetric (B, p, p) matrices from their upper triangles, given as (p*p, B)."""
    U = np.ascontiguousarray(upper.T).reshape(-1, lay.p, lay.p)
    return U + U.transpose(0, 2, 1) - U * lay.eye


def _symmetric_cells(lay: _Layout, upper: np.ndarray) -> np.ndarray:
    """Cells of symmetric pattern matrices from their upper cells (the lower cells zero)."""
    return upper + upper[lay.tperm] - upper * lay.cell_diag[:, None]


def _batch(refitter: Refitter, W: np.ndarray):
    """The pattern sums of a batch of weight vectors: a :class:`_DeltaBatch` when each differs
    from all ones in one subject at most (the jackknife), else a :class:`_DenseBatch`."""
    W = np.asarray(W, float)
    lay = refitter.layout
    diff = W != 1.0
    k = diff.sum(axis=1)
    if len(W) > 1 and np.all(k <= 1):
        changed = np.where(k == 1, diff.argmax(axis=1), -1)
        delta = np.where(k == 1, W[np.arange(len(W)), np.maximum(changed, 0)] - 1.0, 0.0)
        return _DeltaBatch(refitter, W, changed, delta)
    return _DenseBatch(lay, W, refitter.n_rows)


def _sigmas_batch(refitter: Refitter, theta: np.ndarray):
    """Sigma of every group for a batch of thetas, shape (B, G, T, T), and what the gradient
    needs: the Cholesky factors (B, G, T, T) for the unstructured covariance, else dSigma/dtheta
    (B, G, k, T, T)."""
    T, G = refitter.structure.n_visits, refitter.n_groups
    k = refitter.structure.n_theta
    nb = len(theta)
    sig = np.empty((nb, G, T, T))
    if refitter.structure.name == "us":
        aux = np.empty((nb, G, T, T))
        for g in range(G):
            aux[:, g] = L = _us_factor(theta[:, g * k : (g + 1) * k], T)
            sig[:, g] = L @ L.transpose(0, 2, 1)
        return sig, aux
    aux = np.empty((nb, G, k, T, T))
    for g in range(G):
        th = theta[:, g * k : (g + 1) * k]
        for b in range(nb):
            sig[b, g] = refitter.structure.sigma(th[b])
            aux[b, g] = refitter.structure.dsigma(th[b])
    return sig, aux


def _us_factor(theta: np.ndarray, T: int) -> np.ndarray:
    """The Cholesky factor of the unstructured parameterisation (R mmrm's: ``L[i, i] =
    exp(theta_i)``, ``L[i, j] = exp(theta_i) theta_k``) for a batch of thetas (B, T, T)."""
    B = len(theta)
    s = np.exp(theta[:, :T])
    M = np.zeros((B, T, T))
    d = np.arange(T)
    M[:, d, d] = 1.0
    rows, cols = np.tril_indices(T, -1)
    M[:, rows, cols] = theta[:, T:]
    return s[:, :, None] * M


def _gradient(refitter: Refitter, aux: np.ndarray, Gm: np.ndarray) -> np.ndarray:
    """``tr(dSigma_h G)`` for every parameter h of every group: (B, G k).

    For the unstructured covariance ``Sigma = L L'`` this is ``sum_ij dL_h[i, j] ((G + G') L)[i,
    j]``, which ``dL_h`` (row i of L for a log standard deviation, one entry for the others)
    makes O(T^2) per member; other structures contract ``dSigma_h`` itself."""
    nb, T = Gm.shape[0], Gm.shape[2]
    if refitter.structure.name != "us":
        return np.einsum("bghij,bgij->bgh", aux, Gm).reshape(nb, -1)
    GL = (Gm + Gm.transpose(0, 1, 3, 2)) @ aux  # (B, G, T, T)
    rows, cols = np.tril_indices(T, -1)
    diag = (aux * GL).sum(axis=3)  # (B, G, T): sum_j L[i, j] GL[i, j]
    s = np.diagonal(aux, axis1=2, axis2=3)  # L[i, i] = exp(theta_i)
    off = s[:, :, rows] * GL[:, :, rows, cols]
    return np.concatenate([diag, off], axis=2).reshape(nb, -1)


def _evaluate_batch(refitter: Refitter, batch, theta: np.ndarray, members):
    """-2 log-likelihood, its gradient, beta and Sigma for the members ``members`` at ``theta``
    (raises LinAlgError if any member's covariance or X'V^-1 X is singular)."""
    p, T, G = refitter.p, refitter.structure.n_visits, refitter.n_groups
    lay = batch.layout
    nb = len(members)
    sig, aux = _sigmas_batch(refitter, theta)
    if nb != batch.n_members:
        batch = batch.take(members)
    m = batch.counts()
    # each pattern's inverse covariance (cells, member last) and log determinant, by size
    Wc = np.empty((lay.n_cells, nb))
    ld = np.empty((len(lay.blocks), nb))
    Winv = []
    for grp in lay.by_size:
        S = sig[:, grp["g"], grp["rows"], grp["cols"]]  # (nb, P, t, t)
        c = np.linalg.cholesky(S)
        ld[grp["blocks"]] = 2.0 * np.log(np.diagonal(c, axis1=2, axis2=3)).sum(axis=2).T
        W = np.linalg.inv(S)
        Winv.append(W)
        Wc[grp["cells"]] = W.reshape(nb, -1).T
    XtWX, XtWy, yWy, logdet = batch.sums(Wc, ld)
    XtWy = np.ascontiguousarray(XtWy.T)
    cx = np.linalg.cholesky(XtWX)
    Phi = None
    if refitter.reml:  # (X'WX)^-1, which REML's gradient needs, gives beta too
        Phi = np.linalg.inv(XtWX)
        beta = (Phi @ XtWy[..., None])[..., 0]
    else:
        beta = np.linalg.solve(XtWX, XtWy[..., None])[..., 0]
    n_obs = batch.n_obs
    value = logdet + yWy - (beta * XtWy).sum(axis=1)
    if refitter.reml:
        value = value + (n_obs - p) * math.log(2 * math.pi)
        value = value + 2.0 * np.log(np.diagonal(cx, axis1=1, axis2=2)).sum(axis=1)
    else:
        value = value + n_obs * math.log(2 * math.pi)
    bb = beta[:, :, None] * beta[:, None, :]
    if Phi is not None:
        bb = bb + Phi
    S = batch.cross(beta, bb.reshape(nb, p * p).T)  # (cells, nb)
    Gc = np.empty((lay.n_cells, nb))
    for grp, W in zip(lay.by_size, Winv, strict=True):
        t, P = grp["t"], len(grp["blocks"])
        Sk = S[grp["cells"]].T.reshape(nb, P, t, t)
        mk = m[grp["blocks"]].T[:, :, None, None]  # (nb or 1, P, 1, 1)
        Gc[grp["cells"]] = (mk * W - W @ Sk @ W).reshape(nb, -1).T
    Gm = np.ascontiguousarray((lay.to_sigma @ Gc).T).reshape(nb, G, T, T)
    batch.correct(Gm, beta, Phi)
    return value, _gradient(refitter, aux, Gm), beta, sig


def _evaluate_safe(refitter, batch, theta, members):
    """:func:`_evaluate_batch`, member by member if the batch has a singular member (whose
    value is then inf)."""
    try:
        with np.errstate(all="ignore"):
            return _evaluate_batch(refitter, batch, theta, members)
    except np.linalg.LinAlgError:
        pass
    nb, k = theta.shape
    T, G = refitter.structure.n_visits, refitter.n_groups
    value = np.full(nb, np.inf)
    grad = np.zeros((nb, k))
    beta = np.full((nb, refitter.p), np.nan)
    sig = np.full((nb, G, T, T), np.nan)
    for j, i in enumerate(members):
        try:
            with np.errstate(all="ignore"):
                v, g, b, s = _evaluate_batch(refitter, batch, theta[j : j + 1], np.array([i]))
        except np.linalg.LinAlgError:
            continue
        value[j], grad[j], beta[j], sig[j] = v[0], g[0], b[0], s[0]
    return value, grad, beta, sig


# --- R mmrm's starting values ---------------------------------------------------------------


def mmrm_start(structure: CovarianceStructure, n_groups: int) -> np.ndarray:
    """R mmrm's ``std_start``: the identity covariance (0.5 for the AR(1) correlation)."""
    T = structure.n_visits
    start = np.zeros(structure.n_theta)
    if structure.name == "ar1":
        start[1] = 0.5
    elif structure.name == "ar1h":
        start[T] = 0.5
    return np.tile(start, n_groups)


def _fit_many_lbfgsb(refitter: Refitter, W) -> list[Refit]:
    """Every weight vector fitted as R mmrm fits it (see :mod:`..optim.lbfgsb`): L-BFGS-B from mmrm's
    starting values on half the -2 log-likelihood in mmrm's parameters."""
    from ..optim.lbfgsb import minimize_batch

    W = np.asarray(W, float)
    batch = _batch(refitter, W)
    start = np.tile(mmrm_start(refitter.structure, refitter.n_groups), (len(W), 1))
    current = {"ids": np.arange(len(W)), "batch": batch}

    def evaluate(members, X):
        ids = current["ids"]
        if len(members) < len(ids) // 2:  # keep the pattern sums of the running problems only
            rows = np.searchsorted(ids, members)
            current["ids"], current["batch"] = members.copy(), current["batch"].take(rows)
            ids = current["ids"]
        rows = np.searchsorted(ids, members)
        value, grad, _, _ = _evaluate_safe(refitter, current["batch"], X, rows)
        return value / 2, grad / 2

    X, _, converged = minimize_batch(evaluate, start)
    theta = X  # the structures are parameterised as R mmrm's
    value, _, beta, sig = _evaluate_safe(refitter, batch, theta, np.arange(len(W)))
    out = []
    for i in range(len(W)):
        ok = bool(converged[i]) and np.isfinite(value[i])
        out.append(Refit(theta[i], beta[i], list(sig[i]), float(value[i]), ok, 0))
    return out


def _fit_many(refitter: Refitter, W, theta0, H0=None, max_iter: int = 60, tol: float = 1e-10):
    """Fixed-point iteration theta <- theta - H0^-1 g(theta) for every weight vector at once.

    ``H0`` is the Hessian of -2 l at ``theta0`` for all subjects (a sample's Hessian differs
    from it by O(1/n) for a jackknife sample, so the iteration contracts by about that factor
    per step). A member stops when its step is below ``tol`` (and is then left alone, so its
    result does not depend on the rest of the batch); members that do not settle are refitted
    one by one with full Newton steps.
    """
    from scipy import linalg

    from .likelihood import hessian

    W = np.asarray(W, float)
    nb = len(W)
    theta0 = np.asarray(theta0, float)
    if H0 is None:
        H0 = hessian(refitter.model(np.ones(refitter.n_subjects)), theta0)
    H0inv = linalg.inv(H0)
    batch = _batch(refitter, W)
    theta = np.tile(theta0, (nb, 1))
    beta = np.full((nb, refitter.p), np.nan)
    sig = np.full((nb, refitter.n_groups, refitter.structure.n_visits,
                   refitter.structure.n_visits), np.nan)  # fmt: skip
    active = np.arange(nb)
    done = np.zeros(nb, bool)
    with np.errstate(all="ignore"):
        for _ in range(max_iter):
            if not len(active):
                break
            try:
                _, g, b, s = _evaluate_batch(refitter, batch, theta[active], active)
            except np.linalg.LinAlgError:
                break
            step = g @ H0inv
            ok = np.all(np.isfinite(step), axis=1)
            theta[active[ok]] -= step[ok]
            small = ok & (np.max(np.abs(step), axis=1) < tol)
            beta[active[small]], sig[active[small]] = b[small], s[small]
            done[active[small]] = True
            active = active[ok & ~small]
    out = []
    for i in range(nb):
        if done[i]:
            out.append(Refit(theta[i], beta[i], list(sig[i]), np.nan, True, 0))
        else:
            out.append(refitter.fit(W[i], theta0))
    return out
