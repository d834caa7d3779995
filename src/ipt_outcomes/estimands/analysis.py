"""The analysis of each completed data set, and the pooling of many of them.

* :func:`ancova` - at each visit, ordinary least squares of change on arm (all arms in one
  model) and baseline, for a batch of completed data sets at once, with subject weights (a
  jackknife sample leaves one subject out, a bootstrap sample counts a subject as often as it
  was drawn). Contrasts are each non-reference arm's coefficient; LS means are the prediction
  for every analysed subject with the arm set to each arm, averaged (rbmi's "counterfactual"
  weights: the baseline at its mean over all analysed subjects). The analysis is linear in the
  data, so a delta adjustment ``Y + delta * shift`` is kept as a second fit of ``shift``: any
  delta (a tipping-point grid) then costs nothing.
* :func:`pool_jackknife`, :func:`pool_bootstrap`, :func:`pool_rubin_many` - the pooled
  estimate, standard error, df, CI and p of each parameter (Wolbers et al. 2022; Rubin 1987 with
  the Barnard-Rubin df, as R rbmi).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "AncovaFits",
    "ancova",
    "pool_jackknife",
    "pool_bootstrap",
    "pool_rubin_many",
    "quantile_type6",
]


@dataclass
class AncovaFits:
    """ANCOVA fits of a batch of completed data sets (arrays over the batch axis ``B``).

    ``coef (B, q, T)`` rows intercept, non-reference arms, baseline; ``coef_shift`` the same
    for the delta-shift pattern; ``rss``, ``cross``, ``hh (B, T)`` the residual sums of squares
    of the data, of data x shift and of the shift; ``inv (B, q, q)`` the inverse weighted cross
    product; ``xbar (B, m)`` the means of the columns after the arm indicators (baseline, then
    any covariates: LS means hold them at their means, rbmi's counterfactual weights for a
    linear model); ``df (B,)`` the residual df.
    """

    coef: np.ndarray
    coef_shift: np.ndarray
    rss: np.ndarray
    cross: np.ndarray
    hh: np.ndarray
    inv: np.ndarray
    xbar: np.ndarray
    df: np.ndarray
    ref_index: int
    n_arms: int

    @classmethod
    def concat(cls, fits: list[AncovaFits]) -> AncovaFits:
        f0 = fits[0]
        arrays = {
            k: np.concatenate([getattr(f, k) for f in fits])
            for k in ("coef", "coef_shift", "rss", "cross", "hh", "inv", "xbar", "df")
        }
        return cls(**arrays, ref_index=f0.ref_index, n_arms=f0.n_arms)

    def __len__(self) -> int:
        return len(self.coef)

    def _lsm_vectors(self) -> np.ndarray:
        """(B, k, q): the LS-mean row of each arm (intercept, arm indicator, mean baseline and
        covariates)."""
        k, q = self.n_arms, self.coef.shape[1]
        L = np.zeros((len(self), k, q))
        L[:, :, 0] = 1.0
        others = [a for a in range(k) if a != self.ref_index]
        for j, a in enumerate(others):
            L[:, a, 1 + j] = 1.0
        m = self.xbar.shape[1]
        L[:, :, q - m :] = self.xbar[:, None, :]
        return L

    def estimates(self, delta: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Contrasts ``(B, k - 1, T)`` (non-reference arms in order) and LS means ``(B, k, T)``."""
        coef = self.coef + delta * self.coef_shift
        k = self.n_arms
        return coef[:, 1:k], self._lsm_vectors() @ coef

    def variances(self, delta: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Model-based variances of :meth:`estimates` (residual variance x inverse cross product)."""
        s2 = (self.rss + 2 * delta * self.cross + delta**2 * self.hh) / self.df[:, None]
        k = self.n_arms
        d = np.diagonal(self.inv, axis1=1, axis2=2)[:, 1:k]  # (B, k-1)
        L = self._lsm_vectors()
        lvl = np.einsum("bkq,bqr,bkr->bk", L, self.inv, L)
        return d[:, :, None] * s2[:, None, :], lvl[:, :, None] * s2[:, None, :]


def ancova(Y: np.ndarray, Z: np.ndarray, ref_index: int, n_arms: int, weights=None,
           shift=None) -> AncovaFits:  # fmt: skip
    """Least squares of ``Y[b, :, t]`` on ``Z`` for every data set ``b`` and visit ``t``.

    Parameters
    ----------
    Y : ndarray (B, n, T)
        Completed changes.
    Z : ndarray (n, q)
        Intercept, one indicator per non-reference arm, baseline, then any covariates.
    ref_index, n_arms : int
    weights : ndarray (B, n), optional
        Subject weights (frequency weights; 0 leaves a subject out).
    shift : ndarray (n, T), optional
        The cells a delta adjustment shifts (1) and the others (0).

    Returns
    -------
    AncovaFits
    """
    nb, n, T = Y.shape
    q = Z.shape[1]
    H = np.zeros((n, T)) if shift is None else np.asarray(shift, float)
    if weights is None:
        inv = np.linalg.inv(Z.T @ Z)
        M = inv @ Z.T  # (q, n)
        coef = np.einsum("qi,bit->bqt", M, Y)
        coef_h = np.broadcast_to(M @ H, (nb, q, T))
        R = Y - np.einsum("iq,bqt->bit", Z, coef)
        RH = H - Z @ coef_h[0]
        rss = (R**2).sum(axis=1)
        cross = np.einsum("bit,it->bt", R, RH)
        hh = np.broadcast_to((RH**2).sum(axis=0), (nb, T))
        inv = np.broadcast_to(inv, (nb, q, q))
        xbar = np.broadcast_to(Z[:, n_arms:].mean(axis=0), (nb, q - n_arms)).copy()
        df = np.full(nb, float(n - q))
    else:
        w = np.asarray(weights, float)
        ZtWZ = np.einsum("bi,iq,ir->bqr", w, Z, Z)
        inv = np.linalg.inv(ZtWZ)
        ZtWY = np.einsum("bi,iq,bit->bqt", w, Z, Y)
        coef = inv @ ZtWY
        coef_h = inv @ np.einsum("bi,iq,it->bqt", w, Z, H)
        R = Y - np.einsum("iq,bqt->bit", Z, coef)
        RH = H[None] - np.einsum("iq,bqt->bit", Z, coef_h)
        rss = np.einsum("bi,bit->bt", w, R**2)
        cross = np.einsum("bi,bit->bt", w, R * RH)
        hh = np.einsum("bi,bit->bt", w, RH**2)
        sw = w.sum(axis=1)
        xbar = (w @ Z[:, n_arms:]) / sw[:, None]
        df = sw - q
    return AncovaFits(
        coef=np.ascontiguousarray(coef),
        coef_shift=np.ascontiguousarray(coef_h),
        rss=np.ascontiguousarray(rss),
        cross=np.ascontiguousarray(cross),
        hh=np.ascontiguousarray(hh),
        inv=np.ascontiguousarray(inv),
        xbar=xbar,
        df=df,
        ref_index=ref_index,
        n_arms=n_arms,
    )


# ------------------------------------------------------------------------------------------
# pooling: every function takes arrays whose last axes are the parameters and returns a dict
# of arrays of the parameters' shape: estimate, se, df, ci_low, ci_high, p
# ------------------------------------------------------------------------------------------


def _normal(estimate, se, alpha):
    from scipy import special

    z = float(special.ndtri(1 - alpha / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * special.ndtr(-np.abs(estimate / se))
    return dict(estimate=estimate, se=se, df=np.full(np.shape(estimate), math.inf),
                ci_low=estimate - z * se, ci_high=estimate + z * se, p=p)  # fmt: skip


def pool_jackknife(full: np.ndarray, loo: np.ndarray, alpha: float = 0.05) -> dict:
    """Jackknife pooling as rbmi: the full-data estimate, ``SE = sqrt((n-1)/n sum (theta_i -
    theta_bar)^2)`` over the ``n`` leave-one-out estimates ``loo (n, ...)``, normal CI and p."""
    n = len(loo)
    dev = loo - loo.mean(axis=0)
    se = np.sqrt((n - 1) / n * (dev**2).sum(axis=0))
    return _normal(np.asarray(full, float), se, alpha)


def quantile_type6(x: np.ndarray, probs) -> np.ndarray:
    """R's ``quantile(type = 6)`` along the first axis: ``x_(h)`` interpolated at ``h = (n + 1) p``
    (held at the extremes)."""
    xs = np.sort(x, axis=0)
    n = len(xs)
    out = []
    for p in np.atleast_1d(probs):
        h = (n + 1) * p
        lo = int(np.clip(math.floor(h), 1, n))
        hi = int(np.clip(lo + 1, 1, n))
        frac = 0.0 if h < 1 or h >= n else h - math.floor(h)
        out.append(xs[lo - 1] + frac * (xs[hi - 1] - xs[lo - 1]))
    return np.stack(out)


def _percentile_p(est: np.ndarray) -> float:
    """rbmi's ``pval_percentile``, two-sided: twice the smaller tail level at which the type-6
    quantile function of the bootstrap estimates crosses 0."""
    x = np.sort(np.asarray(est, float))
    n = len(x)
    if np.all(x == 0):
        return 1.0
    if x.min() > 0 or x.max() < 0:
        return 0.0
    if np.any(x == 0):
        rank = np.arange(1, n + 1) / (n + 1)
        zero = rank[x == 0]
        level = (zero.min(), 1 - zero.max())
        return float(min(2 * min(level), 1.0))
    j = int(np.searchsorted(x, 0.0))  # x[j-1] < 0 < x[j]
    h = j + (0 - x[j - 1]) / (x[j] - x[j - 1])
    q = min(max(h / (n + 1), 0.0), 1.0)
    return float(min(2 * min(q, 1 - q), 1.0))


def pool_bootstrap(full: np.ndarray, boot: np.ndarray, alpha: float = 0.05,
                   interval: str = "normal") -> dict:  # fmt: skip
    """Bootstrap pooling as rbmi: the full-data estimate; ``normal``: SE = sd of the bootstrap
    estimates (n - 1), normal CI and p; ``percentile``: CI from type-6 quantiles and p from
    inverting them (SE still the sd, for reference; df empty)."""
    se = boot.std(axis=0, ddof=1)
    if interval == "normal":
        return _normal(np.asarray(full, float), se, alpha)
    lo, hi = quantile_type6(boot, [alpha / 2, 1 - alpha / 2])
    flat = boot.reshape(len(boot), -1)
    p = np.array([_percentile_p(flat[:, j]) for j in range(flat.shape[1])]).reshape(se.shape)
    return dict(estimate=np.asarray(full, float), se=se, df=np.full(se.shape, np.nan),
                ci_low=lo, ci_high=hi, p=p)  # fmt: skip


def pool_rubin_many(est: np.ndarray, var: np.ndarray, df_complete: float,
                    alpha: float = 0.05) -> dict:  # fmt: skip
    """Rubin's rules for every parameter: ``est``, ``var (M, ...)`` from M imputations, with the
    Barnard-Rubin df (``df_complete`` the complete-data df; df = df_obs when B = 0, as rbmi),
    t CI and p. The same formulas as :func:`~ipt_outcomes.estimands.mvn.pool_rubin`."""
    from scipy import special

    m = len(est)
    qbar = est.mean(axis=0)
    ubar = var.mean(axis=0)
    b = est.var(axis=0, ddof=1) if m > 1 else np.zeros_like(qbar)
    total = ubar + (1 + 1 / m) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(total > 0, (1 + 1 / m) * b / total, 0.0)
        df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
        df_old = np.where(lam > 0, (m - 1) / lam**2, np.inf)
        df = np.where(np.isfinite(df_old), df_old * df_obs / (df_old + df_obs), df_obs)
    se = np.sqrt(total)
    q = np.where(np.isfinite(df), special.stdtrit(np.where(np.isfinite(df), df, 1.0), 1 - alpha / 2),
                 special.ndtri(1 - alpha / 2))  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * special.stdtr(df, -np.abs(qbar / se))
    return dict(estimate=qbar, se=se, df=df, ci_low=qbar - q * se, ci_high=qbar + q * se, p=p,
                ubar=ubar, b=b)  # fmt: skip
