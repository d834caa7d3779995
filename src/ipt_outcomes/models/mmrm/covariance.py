"""Within-subject covariance structures of the MMRM (SAS / R mmrm names) and their derivatives."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["COVARIANCE_STRUCTURES", "CovarianceStructure"]

_EPS_CS = 1e-30


def _rho(x):
    """Correlation in (-1, 1) from an unconstrained parameter (complex-step safe)."""
    return x / np.sqrt(1 + x * x)


def _rho_inv(r):
    r = float(r)
    r = 0.3 if not math.isfinite(r) else min(max(r, -0.95), 0.95)
    return r / math.sqrt(1 - r * r)


@functools.lru_cache(maxsize=64)
def _tril(T: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tril_indices(T, -1)


def _chol_factor(th, T: int) -> np.ndarray:
    """Lower Cholesky factor of the unstructured Sigma: log diagonal, then the lower triangle."""
    L = np.zeros((T, T), dtype=th.dtype)
    d = np.arange(T)
    L[d, d] = np.exp(th[:T])
    L[_tril(T)] = th[T:]
    return L


def _us_dl(L: np.ndarray, k: int) -> np.ndarray:
    """dL/dtheta_h for the unstructured parameterisation, shape (k, T, T)."""
    T = L.shape[0]
    dL = np.zeros((k, T, T))
    d = np.arange(T)
    dL[d, d, d] = L[d, d]
    rows, cols = _tril(T)
    dL[np.arange(T, k), rows, cols] = 1.0
    return dL


@dataclass(frozen=True)
class CovarianceStructure:
    """A within-subject covariance structure over ``T`` visits.

    Names follow SAS / R mmrm: ``us`` unstructured; ``cs`` / ``csh`` (heterogeneous) compound
    symmetry; ``ar1`` / ``ar1h`` first-order autoregressive; ``toep`` / ``toeph`` Toeplitz;
    ``ad`` / ``adh`` first-order ante-dependence. Correlations are by visit index (as SAS AR(1)
    and TOEP), not by time elapsed.
    """

    name: str
    n_visits: int

    @property
    def n_theta(self) -> int:
        T = self.n_visits
        return {
            "us": T * (T + 1) // 2,
            "cs": 2,
            "csh": T + 1,
            "ar1": 2,
            "ar1h": T + 1,
            "toep": T,
            "toeph": 2 * T - 1,
            "ad": T,
            "adh": 2 * T - 1,
        }[self.name]

    def sigma(self, theta):
        """Sigma(theta) as a T x T array; complex input gives complex output (complex step)."""
        T = self.n_visits
        th = np.asarray(theta)
        dt = th.dtype
        name = self.name
        if name == "us":
            L = _chol_factor(th, T)
            return L @ L.T
        hetero = name in ("csh", "ar1h", "toeph", "adh")
        sd = np.exp(th[:T]) if hetero else np.exp(th[0]) * np.ones(T, dtype=dt)
        rest = th[T:] if hetero else th[1:]
        idx = np.arange(T)
        lag = np.abs(idx[:, None] - idx[None, :])
        if name in ("cs", "csh"):
            a = 1.0 / (T - 1) if T > 1 else 0.0
            r = (1 / (1 + np.exp(-rest[0]))) * (1 + a) - a
            corr = np.where(lag == 0, 1.0 + 0 * r, r)
        elif name in ("ar1", "ar1h"):
            r = _rho(rest[0])
            corr = np.ones((T, T), dtype=dt)
            for k in range(1, T):
                corr = np.where(lag == k, r**k, corr)
        elif name in ("toep", "toeph"):
            rs = _rho(rest)
            corr = np.ones((T, T), dtype=dt)
            for k in range(1, T):
                corr = np.where(lag == k, rs[k - 1], corr)
        elif name in ("ad", "adh"):
            rs = _rho(rest)
            corr = np.ones((T, T), dtype=dt)
            for i in range(T):
                for j in range(i + 1, T):
                    val = np.prod(rs[i:j])
                    corr[i, j] = corr[j, i] = val
        else:  # pragma: no cover - checked in fit_mmrm
            raise ValueError(name)
        return corr * sd[:, None] * sd[None, :]

    def dsigma(self, theta) -> np.ndarray:
        """Derivatives dSigma/dtheta_h, shape (n_theta, T, T).

        Analytic for ``us`` (dL_h L' + L dL_h'); by complex step (exact) for the others.
        """
        th = np.asarray(theta, dtype=float)
        if self.name == "us":
            T = self.n_visits
            L = _chol_factor(th, T)
            dL = _us_dl(L, len(th))
            out = dL @ L.T
            return out + out.transpose(0, 2, 1)
        out = np.empty((len(th), self.n_visits, self.n_visits))
        for h in range(len(th)):
            z = th.astype(complex)
            z[h] += 1j * _EPS_CS
            out[h] = np.imag(self.sigma(z)) / _EPS_CS
        return out

    def d2sigma(self, theta) -> np.ndarray:
        """Second derivatives, shape (n_theta, n_theta, T, T).

        Analytic for ``us`` (Sigma = L L', L with log diagonal); for the other structures,
        central differences of the exact (complex-step) first derivatives.
        """
        th = np.asarray(theta, dtype=float)
        k, T = len(th), self.n_visits
        if self.name == "us":
            L = _chol_factor(th, T)
            dL = _us_dl(L, k)
            out = np.einsum("hab,jcb->hjac", dL, dL)  # dL_h dL_j'
            out = out + out.transpose(1, 0, 3, 2)  # + dL_j dL_h'
            for h in range(T):  # d2L_hh = dL_h on the log-diagonal
                extra = dL[h] @ L.T
                out[h, h] += extra + extra.T
            return out
        out = np.empty((k, k, T, T))
        for j in range(k):
            e = np.zeros(k)
            e[j] = 1e-5 * max(1.0, abs(th[j]))
            out[:, j] = (self.dsigma(th + e) - self.dsigma(th - e)) / (2 * e[j])
        return (out + out.transpose(1, 0, 2, 3)) / 2

    def start(self, cov: np.ndarray) -> np.ndarray:
        """Starting values from an empirical covariance matrix."""
        T = self.n_visits
        cov = np.asarray(cov, dtype=float)
        sd = np.sqrt(np.clip(np.diag(cov), 1e-8, None))
        corr = cov / np.outer(sd, sd)
        off = corr[np.triu_indices(T, 1)] if T > 1 else np.array([0.0])
        with np.errstate(all="ignore"):
            rbar = float(np.nanmean(off)) if np.isfinite(off).any() else 0.3
        rbar = float(np.clip(rbar if np.isfinite(rbar) else 0.3, -0.5, 0.9))
        name = self.name
        if name == "us":
            w, v = np.linalg.eigh(cov)
            cov = (v * np.clip(w, 1e-6 * max(w.max(), 1e-8), None)) @ v.T
            L = np.linalg.cholesky(cov)
            return np.concatenate([np.log(np.diag(L)), L[np.tril_indices(T, -1)]])
        hetero = name in ("csh", "ar1h", "toeph", "adh")
        lead = np.log(sd) if hetero else np.array([np.log(np.sqrt(np.mean(sd**2)))])
        if name in ("cs", "csh"):
            a = 1.0 / (T - 1) if T > 1 else 0.0
            q = min(max((rbar + a) / (1 + a), 0.05), 0.95)
            return np.concatenate([lead, [math.log(q / (1 - q))]])
        if name in ("ar1", "ar1h"):
            lag1 = (
                np.nanmean(np.diag(corr, 1))
                if T > 1 and np.isfinite(np.diag(corr, 1)).any()
                else rbar
            )
            return np.concatenate([lead, [_rho_inv(lag1)]])
        if name in ("toep", "toeph"):
            return np.concatenate(
                [lead, [_rho_inv(np.nanmean(np.diag(corr, k))) for k in range(1, T)]]
            )
        return np.concatenate([lead, [_rho_inv(corr[k, k + 1]) for k in range(T - 1)]])


from ...constants import COVARIANCE_STRUCTURES  # noqa: E402
