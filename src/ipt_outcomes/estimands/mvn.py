"""Missing-data sensitivity: multiple imputation under MAR and a delta-adjusted tipping point.

* :func:`impute_mvn` - multiple imputation of the HAM-D scores of every scheduled visit under a
  multivariate normal model, separately in each arm (so each arm has its own means and
  covariance), by data augmentation (Schafer 1997, ch. 5; the algorithm of R ``norm`` and SAS
  PROC MI's MCMC): I-step draws the missing scores from their conditional normal given the
  observed ones, P-step draws ``Sigma ~ W^-1(n - 1, S)`` and ``mu ~ N(ybar, Sigma / n)`` under
  the Jeffreys prior. Every imputation is its own chain, started at the EM (maximum-likelihood)
  estimates of the arm and seeded from
  ``SeedSequence(seed).spawn``, so imputation ``j`` does not depend on how many are asked for.
* :func:`pool_rubin` - Rubin's rules with the Barnard-Rubin (1999) small-sample degrees of
  freedom, as R ``mice::pool``.
* :func:`mi_contrast` - ANCOVA of change at one visit on arm and baseline in every completed
  data set, pooled.
* :func:`tipping_point` - the same with ``delta`` added to the *imputed* scores of the
  experimental arm at that visit (positive: a worse outcome than MAR predicts, i.e. MNAR), over
  a grid of deltas; the tipping point is the delta nearest to 0 at which the conclusion changes.

Validated against R ``mice`` (method ``norm``, per arm, ``pool``): ``tests/reference/mi``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..data.trial import Trial
from ..exceptions import IptOutcomesError
from ..models.inference import t_summary

__all__ = ["wide_scores", "impute_mvn", "pool_rubin", "mi_contrast", "tipping_point"]


def wide_scores(trial: Trial) -> pd.DataFrame:
    """One row per subject with a baseline: ``subject_id, arm`` and one column per visit.

    Parameters
    ----------
    trial : Trial

    Returns
    -------
    DataFrame
        Visit columns are floats in time order, the baseline visit first; NaN where a score is
        missing. Rows sorted by arm (design order) and subject.
    """
    d = trial.scores
    visits = [float(v) for v in trial.visits]
    wide = d.pivot(index="subject_id", columns="visit", values="score").reindex(columns=visits)
    wide = wide.loc[wide[float(trial.baseline_visit)].notna()].astype(float)
    out = wide.reset_index()
    out.columns = ["subject_id", *visits]
    arm = trial.arm_of.reindex(out["subject_id"]).to_numpy()
    out.insert(1, "arm", pd.Categorical(arm, categories=list(trial.arms)))
    return out.sort_values(["arm", "subject_id"]).reset_index(drop=True)


# ------------------------------------------------------------------------------------------
# data augmentation for a multivariate normal with missing values
# ------------------------------------------------------------------------------------------


def _start(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = np.nanmean(Y, axis=0)
    S = pd.DataFrame(Y).cov(min_periods=2).to_numpy()
    S = np.where(np.isfinite(S), S, 0.0)
    d = np.diag(S).copy()
    d[~(d > 0)] = np.nanvar(Y) or 1.0
    np.fill_diagonal(S, d)
    w, v = np.linalg.eigh(S)
    return mu, (v * np.clip(w, 1e-3 * w.max(), None)) @ v.T


class _Block:
    """One arm's wide scores with its missing-data patterns, indices computed once."""

    def __init__(self, Y: np.ndarray):
        self.Y = Y
        miss = np.isnan(Y)
        keys: dict[tuple, list[int]] = {}
        for i, row in enumerate(miss):
            if row.any():
                keys.setdefault(tuple(row.tolist()), []).append(i)
        self.patterns = []
        for key, rows in keys.items():
            m = np.asarray(key)
            mi, oi = np.flatnonzero(m), np.flatnonzero(~m)
            rows = np.asarray(rows)
            self.patterns.append(
                (
                    rows,
                    mi,
                    oi,
                    np.ix_(mi, mi),
                    np.ix_(mi, oi),
                    np.ix_(rows, mi),
                    Y[np.ix_(rows, oi)],
                )
            )

    def em(self, max_iter: int = 1000, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
        """Maximum-likelihood mean and covariance by EM (Little & Rubin 2019, 11.2.1): the
        starting point of every data-augmentation chain, so that short chains suffice."""
        mu, sigma = _start(self.Y)
        n = len(self.Y)
        for _ in range(max_iter):
            K = np.linalg.inv(sigma)
            Z = self.Y.copy()
            extra = np.zeros_like(sigma)
            for rows, mi, oi, mm, mo, rm, yo in self.patterns:
                cov = np.linalg.inv(K[mm])
                Z[rm] = mu[mi][None, :] - (yo - mu[oi][None, :]) @ (cov @ K[mo]).T
                extra[mm] += len(rows) * cov
            new_mu = Z.mean(axis=0)
            R = Z - new_mu
            new_sigma = (R.T @ R + extra) / n
            done = max(np.abs(new_mu - mu).max(), np.abs(new_sigma - sigma).max()) < tol
            mu, sigma = new_mu, new_sigma
            if done:
                break
        return mu, sigma

    def i_step(self, mu, K, rng) -> np.ndarray:
        """Draw the missing scores given the observed ones; K is the precision matrix."""
        Z = self.Y.copy()
        for rows, mi, oi, mm, mo, rm, yo in self.patterns:
            cov = np.linalg.inv(K[mm])  # conditional covariance of y_m given y_o
            mean = mu[mi][None, :] - (yo - mu[oi][None, :]) @ (cov @ K[mo]).T
            L = np.linalg.cholesky(cov)
            Z[rm] = mean + rng.standard_normal((len(rows), len(mi))) @ L.T
        return Z


def _p_step(Z: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Draw (mu, Sigma^-1) from their posterior under the Jeffreys prior, given complete Z.

    ``Sigma^-1 ~ Wishart(n - 1, S^-1)`` by the Bartlett decomposition, then
    ``mu ~ N(ybar, Sigma / n)``.
    """
    n, p = Z.shape
    ybar = Z.mean(axis=0)
    R = Z - ybar
    L = np.linalg.cholesky(np.linalg.inv(R.T @ R))
    A = np.tril(rng.standard_normal((p, p)), -1)
    A[np.diag_indices(p)] = np.sqrt(rng.chisquare(n - 1 - np.arange(p)))
    LA = L @ A
    K = LA @ LA.T
    # mu = ybar + Sigma^(1/2) z / sqrt(n), with Sigma^(1/2) = (LA)^-T
    mu = ybar + np.linalg.solve(LA.T, rng.standard_normal(p)) / math.sqrt(n)
    return mu, K


def _impute_block(
    Y: np.ndarray, iterations: int, rng: np.random.Generator, start=None
) -> np.ndarray:
    """One imputation of ``Y``: a data-augmentation chain of ``iterations`` steps from
    ``start`` (mean, covariance; default the EM estimates), then a final I-step."""
    block = _Block(Y)
    if not block.patterns:
        return Y.copy()
    mu, sigma = start if start is not None else block.em()
    K = np.linalg.inv(sigma)
    for _ in range(iterations):
        mu, K = _p_step(block.i_step(mu, K, rng), rng)
    return block.i_step(mu, K, rng)


def _imputation_task(task) -> list[np.ndarray]:
    blocks, starts, iterations, seed_seq = task
    rng = np.random.default_rng(seed_seq)
    return [_impute_block(Y, iterations, rng, st) for Y, st in zip(blocks, starts, strict=True)]


def impute_mvn(
    wide: pd.DataFrame,
    m: int = 50,
    seed: int = 2016,
    iterations: int = 100,
    *,
    workers: int | None = 1,
    scheduler: str | None = None,
    progress: bool = False,
) -> list[pd.DataFrame]:
    """Multiple imputation of every visit column under a multivariate normal model per arm.

    Parameters
    ----------
    wide : DataFrame
        From :func:`wide_scores`.
    m : int
        Number of imputations (at least 2; 50 or more is advised for stable p-values).
    seed : int
    iterations : int
        Data-augmentation iterations per chain before its imputation is taken.
    workers, scheduler, progress
        As :func:`ipt_outcomes.runtime.run_chunks`.

    Returns
    -------
    list of DataFrame
        ``m`` completed copies of ``wide``; ``wide[visit].isna()`` marks the imputed values.

    Notes
    -----
    Missing at random given the arm and the scores observed at other visits. Imputed values
    are continuous and are not rounded or truncated to the 0-52 range (rounding biases the
    estimates; Rubin 1987, Horton et al. 2003).
    """
    from ..runtime import run_chunks

    if int(m) != m or m < 2:
        raise ValueError(f"m must be a whole number of at least 2, got {m!r}")
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations must be a whole number of at least 1, got {iterations!r}")
    visits = [c for c in wide.columns if isinstance(c, float)]
    arms = [a for a in wide["arm"].cat.categories if (wide["arm"] == a).any()]
    blocks, index = [], []
    for a in arms:
        sub = wide[wide["arm"] == a]
        Y = sub[visits].to_numpy(float)
        if len(sub) <= len(visits):
            raise IptOutcomesError(
                f"arm {a!r} has {len(sub)} subjects with a baseline for {len(visits)} visits: "
                "too few to estimate its covariance for imputation"
            )
        all_missing = [f"{v:g}" for v, col in zip(visits, Y.T, strict=True) if np.isnan(col).all()]
        if all_missing:
            raise IptOutcomesError(
                f"arm {a!r} has no observed score at visit(s) {', '.join(all_missing)}"
            )
        blocks.append(Y)
        index.append(sub.index)
    seeds = np.random.SeedSequence(int(seed)).spawn(int(m))
    starts = [_Block(Y).em() if np.isnan(Y).any() else None for Y in blocks]
    tasks = [(blocks, starts, int(iterations), s) for s in seeds]
    results = run_chunks(_imputation_task, tasks, workers=workers, scheduler=scheduler,
                         progress=progress, desc="imputations")  # fmt: skip
    out = []
    for filled in results:
        comp = wide.copy()
        for idx, Z in zip(index, filled, strict=True):
            comp.loc[idx, visits] = Z
        out.append(comp)
    return out


# ------------------------------------------------------------------------------------------
# Rubin's rules
# ------------------------------------------------------------------------------------------


def pool_rubin(estimates: Sequence[float], variances: Sequence[float], df_complete: float = math.inf,
               alpha: float = 0.05) -> dict:  # fmt: skip
    """Pool one scalar estimate over imputations (Rubin's rules, Barnard-Rubin df).

    Parameters
    ----------
    estimates, variances : sequence of float
        Estimate and squared standard error from each completed data set.
    df_complete : float
        Degrees of freedom of the complete-data analysis (residual df); ``inf`` gives Rubin's
        (1987) large-sample df.
    alpha : float

    Returns
    -------
    dict
        ``estimate, se, df, t, p, ci_low, ci_high, m, ubar, b, total_variance, riv, lambda, fmi,
        df_complete``.

    Notes
    -----
    ``T = Ubar + (1 + 1/m) B``; ``lambda = (1 + 1/m) B / T``; ``riv = lambda / (1 - lambda)``;
    ``df_old = (m - 1) / lambda^2``; ``df_obs = (df_com + 1) / (df_com + 3) df_com (1 - lambda)``;
    ``df = df_old df_obs / (df_old + df_obs)``; ``fmi = (riv + 2 / (df + 3)) / (1 + riv)``
    (as ``mice::pool``; Barnard & Rubin 1999, van Buuren 2018 section 2.3). Checked against
    ``mice::pool.scalar`` (``tests/reference/mi``).

    Examples
    --------
    >>> r = pool_rubin([1.0, 1.2, 0.9], [0.04, 0.05, 0.045], df_complete=50)
    >>> round(r["estimate"], 4), round(r["se"], 4)
    (1.0333, 0.2759)
    """
    q = np.asarray(estimates, float)
    u = np.asarray(variances, float)
    m = len(q)
    if m < 2 or len(u) != m:
        raise ValueError("need an estimate and a variance from at least 2 imputations")
    if np.any(u < 0) or not np.all(np.isfinite(np.r_[q, u])):
        raise ValueError("estimates and variances must be finite, variances non-negative")
    qbar, ubar = float(q.mean()), float(u.mean())
    b = float(q.var(ddof=1))
    total = ubar + (1 + 1 / m) * b
    lam = (1 + 1 / m) * b / total if total > 0 else 0.0
    riv = lam / (1 - lam) if lam < 1 else math.inf
    df_old = (m - 1) / lam**2 if lam > 0 else math.inf
    if math.isfinite(df_complete):
        df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
        df = df_old * df_obs / (df_old + df_obs) if math.isfinite(df_old) else df_obs
    else:
        df = df_old
    fmi = (riv + 2 / (df + 3)) / (1 + riv) if math.isfinite(df) else lam
    res = t_summary(qbar, math.sqrt(total), df, alpha)
    return dict(**res, m=m, ubar=ubar, b=b, total_variance=total, riv=riv, **{"lambda": lam},
                fmi=fmi, df_complete=df_complete)  # fmt: skip


# ------------------------------------------------------------------------------------------
# the analysis in each completed data set, pooled; the tipping point
# ------------------------------------------------------------------------------------------


def _ancova_design(arms, baseline, arm, reference) -> np.ndarray:
    """``change ~ arm + baseline`` by the package's one design-matrix builder; the design of the
    same subjects is the same in every completed data set, so it is built once per data."""
    key = (arm, reference, arms.tobytes() if arms.dtype != object else tuple(arms),
           baseline.tobytes())  # fmt: skip
    if key not in _DESIGNS:
        from ..models.design import ModelDesign

        frame = pd.DataFrame({"arm": arms, "baseline": baseline})
        _DESIGNS.clear()  # one data set at a time: memory stays bounded
        _DESIGNS[key] = ModelDesign("arm + baseline", frame, levels={"arm": [reference, arm]},
                                    drop_unused=False).matrix  # fmt: skip
    return _DESIGNS[key]


_DESIGNS: dict = {}


def _ancova(comp: pd.DataFrame, arm: str, reference: str, visit: float) -> tuple[float, float, int]:
    """OLS of change at ``visit`` on arm (arm vs reference) and baseline: estimate, var, df."""
    d = comp[comp["arm"].isin([arm, reference])]
    base = d.columns[2]  # the baseline visit (wide_scores puts it first)
    y = (d[visit] - d[base]).to_numpy(float)
    X = _ancova_design(d["arm"].to_numpy(dtype=object), d[base].to_numpy(float), arm, reference)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    dfr = len(y) - X.shape[1]
    s2 = float(((y - X @ beta) ** 2).sum()) / dfr
    cov = s2 * np.linalg.inv(X.T @ X)
    return float(beta[1]), float(cov[1, 1]), dfr


def _check_contrast(wide, arm, reference, visit):
    if visit not in wide.columns:
        raise IptOutcomesError(f"visit {visit:g} is not in the data")
    for a in (arm, reference):
        if not (wide["arm"] == a).any():
            raise IptOutcomesError(f"arm {a!r} is not in the data")


def mi_contrast(imputed: list[pd.DataFrame], arm: str, reference: str, visit: float,
                alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """Pooled ANCOVA contrast (arm - reference) in change from baseline at ``visit``.

    Returns
    -------
    DataFrame
        One row: ``arm, reference, visit, estimate, se, df, t, p, ci_low, ci_high, m, ubar, b,
        total_variance, riv, lambda, fmi, df_complete``.
    """
    _check_contrast(imputed[0], arm, reference, visit)
    fits = [_ancova(c, arm, reference, visit) for c in imputed]
    pooled = pool_rubin([f[0] for f in fits], [f[1] for f in fits], fits[0][2], alpha)
    return pd.DataFrame([dict(arm=arm, reference=reference, visit=visit, **pooled)])


def tipping_point(
    wide: pd.DataFrame,
    imputed: list[pd.DataFrame],
    arm: str,
    reference: str,
    visit: float,
    deltas: Sequence[float],
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Delta-adjusted MI over a grid: ``delta`` points added to the imputed scores of ``arm``.

    Returns
    -------
    DataFrame
        ``delta, estimate, se, df, t, p, ci_low, ci_high, fmi, significant, tipping_point``;
        ``tipping_point`` is True on the delta nearest to 0, on each side of it, at which the
        conclusion at ``alpha`` differs from the MAR analysis (delta 0): a positive delta makes
        the imputed scores of ``arm`` worse (higher HAM-D), a negative one better.

    Notes
    -----
    The same imputations are shifted for every delta, so the curve is smooth in delta. The
    analysis and pooling are those of :func:`mi_contrast`.
    """
    _check_contrast(wide, arm, reference, visit)
    deltas = sorted(float(x) for x in deltas)
    if not deltas:
        raise ValueError("give at least one delta")
    hole = (wide["arm"] == arm).to_numpy() & wide[visit].isna().to_numpy()
    rows = []
    for delta in deltas:
        shifted = []
        for c in imputed:
            s = c.copy()
            s.loc[hole, visit] = s.loc[hole, visit] + delta
            shifted.append(s)
        r = mi_contrast(shifted, arm, reference, visit, alpha).iloc[0]
        rows.append(
            dict(
                delta=delta,
                **{k: r[k] for k in ("estimate", "se", "df", "t", "p", "ci_low", "ci_high", "fmi")},
            )
        )
    table = pd.DataFrame(rows)
    table["significant"] = table["p"] < alpha
    start = table["delta"].abs().idxmin()  # the MAR analysis (delta 0) or the nearest delta
    flips = table["significant"] != table.loc[start, "significant"]
    table["tipping_point"] = False
    up = flips & (table.index > start)
    down = flips & (table.index < start)
    if up.any():
        table.loc[up.idxmax(), "tipping_point"] = True
    if down.any():
        table.loc[down[::-1].idxmax(), "tipping_point"] = True
    return table
