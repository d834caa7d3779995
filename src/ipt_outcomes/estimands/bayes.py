"""Posterior draws of the MMRM imputation model by Gibbs sampling, and convergence diagnostics.

* :func:`gibbs_chain` - one seeded chain of data augmentation for the multivariate normal
  regression that the MMRM with unstructured covariance is (Schafer 1997, ch. 5-6; Tanner & Wong
  1987): (1) the missing changes are drawn from their conditional normal (MAR) given the current
  parameters; (2) the fixed effects from their normal full conditional (flat prior); (3) each
  covariance matrix from its inverse-Wishart full conditional under the prior rbmi's
  ``method_bayes`` uses, ``Sigma ~ IW(T + 2, Sigma_REML)`` (Stan ``inv_wishart``). The chain
  starts at the REML estimates. Its stationary distribution is the posterior that rbmi samples
  with Stan (which integrates the missing values out instead of drawing them).
* :func:`split_rhat`, :func:`effective_sample_size` - the potential scale reduction factor on
  split chains and the multi-chain effective sample size with Geyer's initial monotone sequence
  (Gelman et al. 2013, BDA3 section 11.4-11.5; the formulas of Stan and R ``posterior``
  without rank normalisation).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["gibbs_chain", "split_rhat", "effective_sample_size", "diagnostics_table"]


def _inv_wishart(df: float, scale: np.ndarray, rng) -> np.ndarray:
    """One draw of ``Sigma ~ IW(df, scale)`` (density ∝ |Sigma|^{-(df+T+1)/2} exp(-tr(scale
    Sigma^-1)/2)) by the Bartlett decomposition of ``Sigma^-1 ~ Wishart(df, scale^-1)``."""
    T = len(scale)
    C = np.linalg.cholesky(np.linalg.inv(scale))
    A = np.tril(rng.standard_normal((T, T)), -1)
    A[np.diag_indices(T)] = np.sqrt(rng.chisquare(df - np.arange(T)))
    CA = C @ A
    return np.linalg.inv(CA @ CA.T)


def gibbs_chain(model, rng: np.random.Generator, n_keep: int, burn_in: int = 200,
                thin: int = 5) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Posterior draws of the imputation model's parameters.

    Parameters
    ----------
    model : ImputationModel
        Its data, covariance groups and REML fit (the start and the prior's centre).
    rng : numpy Generator
    n_keep : int
        Draws to keep.
    burn_in, thin : int
        Iterations discarded first; iterations per kept draw.

    Returns
    -------
    beta : ndarray (n_keep, q, T)
    sigmas : ndarray (n_keep, G, T, T)
    """
    d = model.data
    keep = model.has_data
    Z = d.design()[keep]
    Y = d.y[keep].copy()
    groups = model.group[keep]
    G = model.refitter.n_groups
    n, T = Y.shape
    q = Z.shape[1]
    miss = np.isnan(Y)
    plan: dict[tuple, list[int]] = {}
    for i in np.flatnonzero(miss.any(axis=1)):
        plan.setdefault((tuple(miss[i].tolist()), int(groups[i])), []).append(i)
    steps = []
    for (pattern, g), rows in plan.items():
        rows = np.asarray(rows)
        mis, obs = np.flatnonzero(np.asarray(pattern)), np.flatnonzero(~np.asarray(pattern))
        steps.append((g, len(rows), len(mis), np.ix_(rows, mis), np.ix_(rows, obs),
                      np.ix_(mis, mis), np.ix_(obs, obs), np.ix_(obs, mis), np.ix_(mis, obs)))  # fmt: skip
    prior_df = T + 2
    prior_scale = [s.copy() for s in model.sigmas]
    members = [np.flatnonzero(groups == g) for g in range(G)]
    ZtZ = [Z[m].T @ Z[m] for m in members]
    beta = model.beta.copy()
    sig = [s.copy() for s in model.sigmas]
    if G == 1:
        U = np.linalg.inv(ZtZ[0])
        Uc = np.linalg.cholesky(U)
        UZt = U @ Z.T
    out_b = np.empty((n_keep, q, T))
    out_s = np.empty((n_keep, G, T, T))
    total = burn_in + n_keep * thin
    kept = 0
    for it in range(1, total + 1):
        # (1) the missing values given the parameters (MAR, own arm)
        mu = Z @ beta
        for g, n_rows, n_mis, rm, ro, mm, oo, om, mo in steps:
            S = sig[g]
            mean = mu[rm]
            cond = S[mm]
            if ro[1].size:
                K = np.linalg.solve(S[oo], S[om])
                mean = mean + (Y[ro] - mu[ro]) @ K
                cond = cond - S[mo] @ K
            L = np.linalg.cholesky(cond)
            Y[rm] = mean + rng.standard_normal((n_rows, n_mis)) @ L.T
        # (2) the fixed effects given the covariance and the completed data (flat prior)
        if G == 1:
            Bhat = UZt @ Y
            beta = Bhat + Uc @ rng.standard_normal((q, T)) @ np.linalg.cholesky(sig[0]).T
        else:
            P = np.zeros((q * T, q * T))
            r = np.zeros((q, T))
            for g in range(G):
                Wg = np.linalg.inv(sig[g])
                P += np.kron(ZtZ[g], Wg)
                r += Z[members[g]].T @ Y[members[g]] @ Wg
            Lp = np.linalg.cholesky(P)
            mean = np.linalg.solve(P, r.ravel())
            beta = (mean + np.linalg.solve(Lp.T, rng.standard_normal(q * T))).reshape(q, T)
        # (3) each covariance given the fixed effects and the completed data
        R = Y - Z @ beta
        for g in range(G):
            Rg = R[members[g]]
            sig[g] = _inv_wishart(prior_df + len(Rg), prior_scale[g] + Rg.T @ Rg, rng)
        if it > burn_in and (it - burn_in) % thin == 0:
            out_b[kept] = beta
            out_s[kept] = np.stack(sig)
            kept += 1
    return out_b, out_s


def _autocovariance(x: np.ndarray) -> np.ndarray:
    n = len(x)
    x = x - x.mean()
    f = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n] / n
    return ac


def split_rhat(draws: np.ndarray) -> float:
    """Split-R-hat of one scalar from ``draws (chains, n)``: each chain halved, then
    ``sqrt(((n - 1) / n W + B / n) / W)`` (BDA3 eq. 11.4)."""
    c, n = draws.shape
    half = n // 2
    if half < 2:
        return math.nan
    x = np.concatenate([draws[:, :half], draws[:, n - half :]])
    m, n = x.shape
    means = x.mean(axis=1)
    W = x.var(axis=1, ddof=1).mean()
    B = n * means.var(ddof=1)
    if W <= 0:
        return math.nan
    return float(math.sqrt(((n - 1) / n * W + B / n) / W))


def effective_sample_size(draws: np.ndarray) -> float:
    """Effective sample size of one scalar from ``draws (chains, n)`` (BDA3 eq. 11.7-11.8 with
    Geyer's initial monotone sequence, as Stan)."""
    c, n = draws.shape
    if n < 4:
        return math.nan
    acov = np.stack([_autocovariance(ch) for ch in draws])
    chain_mean = draws.mean(axis=1)
    W = (acov[:, 0] * n / (n - 1)).mean()
    var_plus = W * (n - 1) / n + (chain_mean.var(ddof=1) if c > 1 else 0.0)
    if var_plus <= 0:
        return math.nan
    rho = 1 - (W - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # Geyer: sums of adjacent pairs, positive and monotone
    t = 0
    pairs = []
    while t + 1 < n:
        s = rho[t] + rho[t + 1]
        if s <= 0:
            break
        pairs.append(s)
        t += 2
    for i in range(1, len(pairs)):
        pairs[i] = min(pairs[i], pairs[i - 1])
    tau = -1 + 2 * sum(pairs) if pairs else 1.0
    tau = max(tau, 1 / math.log10(max(c * n, 10)))
    return float(c * n / tau)


def diagnostics_table(names, traces: np.ndarray):
    """``parameter, rhat, ess, chains, draws_per_chain`` for ``traces (chains, n, parameters)``."""
    import pandas as pd

    c, n, _ = traces.shape
    rows = [
        dict(
            parameter=name,
            rhat=split_rhat(traces[:, :, j]),
            ess=effective_sample_size(traces[:, :, j]),
            chains=c,
            draws_per_chain=n,
        )  # fmt: skip
        for j, name in enumerate(names)
    ]
    return pd.DataFrame(rows, columns=["parameter", "rhat", "ess", "chains", "draws_per_chain"])
