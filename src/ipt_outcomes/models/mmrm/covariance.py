"""Within-subject covariance structures of the MMRM (R mmrm / SAS names) and their derivatives.

Every structure is parameterised as R mmrm parameterises it (so that the Kenward-Roger
adjustment, whose second-derivative term depends on the parameterisation, is R's):

* ``us``: Sigma = L L', ``L[i, i] = exp(theta_i)``, ``L[i, j] = exp(theta_i) theta_k`` below the
  diagonal (row by row);
* ``cs`` / ``csh``, ``ar1`` / ``ar1h``, ``toep`` / ``toeph``, ``ad`` / ``adh``: one standard
  deviation ``exp(theta_0)`` (or one per visit), correlations ``theta / sqrt(1 + theta^2)``
  (compound symmetry: ``invlogit(theta) (1 + a) - a``, ``a = 1 / (T - 1)``);
* ``sp_exp``: spatial exponential in the subjects' coordinates (times),
  ``Sigma_ij = exp(theta_0) rho^d_ij`` with ``rho = invlogit(theta_1)`` and ``d_ij`` the
  Euclidean distance.

The derivatives a fit needs are given without ever forming the ``(k, k, T, T)`` array of second
derivatives (which for an unstructured matrix over 40 visits would take 8 GB): first
derivatives as ``(k, T, T)``, second derivatives only contracted with a matrix
(:meth:`d2_contract`: ``tr(G d2Sigma_hj)`` for all h, j) or weighted by one
(:meth:`d2_weighted`: ``sum_hj W_hj d2Sigma_hj``), so memory grows as ``k T^2`` at most.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "COVARIANCE_STRUCTURES",
    "MMRM_COVARIANCES",
    "CovarianceStructure",
    "SpatialExponential",
    "make_structure",
]

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


@functools.lru_cache(maxsize=64)
def _us_rows(T: int) -> np.ndarray:
    """Row of L that each unstructured parameter moves: the diagonal ones, then the lower ones."""
    return np.concatenate([np.arange(T), _tril(T)[0]])


def _us_factor_batch(th, T: int) -> np.ndarray:
    """:func:`_us_factor` over leading batch dimensions."""
    if th.ndim == 1:
        return _us_factor(th, T)
    s = np.exp(th[..., :T])
    L = np.zeros((*th.shape[:-1], T, T), dtype=np.result_type(th, float))
    d = np.arange(T)
    L[..., d, d] = 1.0
    rows, cols = _tril(T)
    L[..., rows, cols] = th[..., T:]
    return s[..., :, None] * L


def _us_factor(th, T: int) -> np.ndarray:
    """R mmrm's lower Cholesky factor: ``L = diag(exp(theta_1..T)) (I + lower theta)``."""
    s = np.exp(th[:T])
    L = np.zeros((T, T), dtype=np.result_type(th, float))
    d = np.arange(T)
    L[d, d] = 1.0
    rows, cols = _tril(T)
    L[rows, cols] = th[T:]
    return s[:, None] * L


@dataclass(frozen=True)
class CovarianceStructure:
    """A within-subject covariance structure over ``T`` visits (indexed, not by time).

    Names follow R mmrm / SAS: ``us`` unstructured; ``cs`` / ``csh`` (heterogeneous) compound
    symmetry; ``ar1`` / ``ar1h`` first-order autoregressive; ``toep`` / ``toeph`` Toeplitz;
    ``ad`` / ``adh`` first-order ante-dependence. Correlations are by visit index (as SAS AR(1)
    and TOEP), not by time elapsed (see :class:`SpatialExponential` for that).

    Examples
    --------
    >>> import numpy as np
    >>> s = CovarianceStructure("ar1", 3)
    >>> np.round(s.sigma(np.array([0.0, 1.0])), 4)
    array([[1.    , 0.7071, 0.5   ],
           [0.7071, 1.    , 0.7071],
           [0.5   , 0.7071, 1.    ]])
    """

    name: str
    n_visits: int
    spatial = False

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
        """Sigma(theta) as a T x T array; complex input gives complex output (complex step).

        ``theta`` may carry leading batch dimensions (``(..., k)`` gives ``(..., T, T)``).
        """
        T = self.n_visits
        th = np.asarray(theta)
        name = self.name
        if name == "us":
            L = _us_factor_batch(th, T)
            return L @ np.swapaxes(L, -1, -2)
        batch = th.shape[:-1]
        hetero = name in ("csh", "ar1h", "toeph", "adh")
        sd = np.exp(th[..., :T]) if hetero else np.repeat(np.exp(th[..., :1]), T, axis=-1)
        rest = th[..., T:] if hetero else th[..., 1:]
        idx = np.arange(T)
        lag = np.abs(idx[:, None] - idx[None, :])
        if name in ("cs", "csh"):
            a = 1.0 / (T - 1) if T > 1 else 0.0
            r = (1 / (1 + np.exp(-rest[..., 0]))) * (1 + a) - a
            corr = np.where(lag == 0, 1.0, r[..., None, None])
        elif name in ("ar1", "ar1h"):
            r = _rho(rest[..., 0])
            corr = r[..., None, None] ** lag
        elif name in ("toep", "toeph"):
            rs = np.concatenate([np.ones((*batch, 1), dtype=th.dtype), _rho(rest)], axis=-1)
            corr = rs[..., lag]
        elif name in ("ad", "adh"):
            rs = _rho(rest)
            # corr[i, j] = prod rs[j:i] for i > j: cumulative products, with no division by rs
            corr = np.zeros((*batch, T, T), dtype=np.result_type(th, float))
            for j in range(T):
                corr[..., j, j] = 1.0
                if j < T - 1:
                    corr[..., j + 1 :, j] = np.cumprod(rs[..., j:], axis=-1)
            corr = corr + np.swapaxes(np.tril(corr, -1), -1, -2)
        else:  # pragma: no cover - checked in fit_mmrm
            raise ValueError(name)
        return corr * sd[..., :, None] * sd[..., None, :]

    # --- first derivatives -----------------------------------------------------------------
    def _us_pieces(self, th):
        """L, the rows r_h that parameter h moves and the vectors u_h with dL_h = e_r u_h'."""
        T = self.n_visits
        L = _us_factor(th, T)
        k = len(th)
        U = np.zeros((k, T))
        U[:T] = L  # d L / d theta_i (diagonal parameter i) = row i of L
        rows, cols = _tril(T)
        U[np.arange(T, k), cols] = np.exp(th[rows])
        return L, _us_rows(T), U

    def dsigma(self, theta) -> np.ndarray:
        """Derivatives dSigma/dtheta_h, shape (n_theta, T, T).

        Analytic for ``us`` (``dL_h L' + L dL_h'`` with ``dL_h`` a single row); by complex step
        (exact to rounding) for the others.
        """
        th = np.asarray(theta, dtype=float)
        T = self.n_visits
        if self.name == "us":
            L, r, U = self._us_pieces(th)
            a = U @ L.T  # (k, T): L u_h
            out = np.zeros((len(th), T, T))
            h = np.arange(len(th))
            out[h, r, :] += a
            out[h, :, r] += a
            return out
        z = th.astype(complex) + 1j * _EPS_CS * np.eye(len(th))  # one batch: every direction
        return np.imag(self.sigma(z)) / _EPS_CS

    # --- second derivatives, contracted ------------------------------------------------------
    def d2_contract(self, theta, G) -> np.ndarray:
        """``tr(G d2Sigma/dtheta_h dtheta_j)`` for every h, j: shape (n_theta, n_theta).

        ``G`` symmetric T x T. Analytic for ``us``; otherwise central differences of the exact
        first derivatives (one parameter at a time, so memory stays ``k T^2``).
        """
        th = np.asarray(theta, dtype=float)
        G = np.asarray(G, dtype=float)
        if self.name == "us":
            T = self.n_visits
            L, r, U = self._us_pieces(th)
            out = 2.0 * G[r[:, None], r[None, :]] * (U @ U.T)  # 2 tr(G dL_h dL_j')
            # 2 tr(G d2L_hj L') = 2 <G L, d2L_hj>: d2L is row i of L for (diag i, diag i) and
            # exp(theta_i) e_i e_c' for (diag i, lower (i, c))
            GL = G @ L
            d = np.arange(T)
            out[d, d] += 2.0 * np.einsum("ij,ij->i", GL, L)
            rows, cols = _tril(T)
            k_low = np.arange(T, len(th))
            extra = 2.0 * GL[rows, cols] * np.exp(th[rows])
            out[rows, k_low] += extra
            out[k_low, rows] += extra
            return out

        from ..optim.derivatives import central_jacobian

        def g(t):
            return np.tensordot(self.dsigma(t), G, axes=([1, 2], [0, 1]))

        return central_jacobian(g, th, symmetric=True)

    def d2_weighted(self, theta, Wt) -> np.ndarray:
        """``sum_hj Wt_hj d2Sigma/dtheta_h dtheta_j`` (T x T) for a symmetric k x k ``Wt``."""
        th = np.asarray(theta, dtype=float)
        Wt = np.asarray(Wt, dtype=float)
        T = self.n_visits
        if self.name == "us":
            L, r, U = self._us_pieces(th)
            R1 = np.zeros((len(th), T))
            R1[np.arange(len(th)), r] = 1.0
            M = R1.T @ (Wt * (U @ U.T)) @ R1  # sum_hj Wt_hj dL_h dL_j'
            N = np.zeros((T, T))  # sum_hj Wt_hj d2L_hj
            d = np.arange(T)
            N[d] += np.diag(Wt)[:T, None] * L
            rows, cols = _tril(T)
            k_low = np.arange(T, len(th))
            N[rows, cols] += 2.0 * Wt[rows, k_low] * np.exp(th[rows])
            out = N @ L.T + M
            return out + out.T
        from ..optim.derivatives import central_jacobian

        # sum_h Wt_hj dSigma_h differentiated in theta_j, then summed over j
        d2 = central_jacobian(lambda t: self.dsigma(t), th)  # (k, T, T, k): d2 Sigma_h. / dtheta_j
        out = np.einsum("hj,habj->ab", Wt, d2)
        return (out + out.T) / 2

    def d2sigma(self, theta) -> np.ndarray:
        """All second derivatives, shape (n_theta, n_theta, T, T) (small structures and tests
        only: the fit itself uses :meth:`d2_contract` and :meth:`d2_weighted`)."""
        th = np.asarray(theta, dtype=float)
        k, T = len(th), self.n_visits
        out = np.empty((k, k, T, T))
        for a in range(T):
            for b in range(T):
                G = np.zeros((T, T))
                G[a, b] = 1.0
                out[:, :, a, b] = self.d2_contract(th, (G + G.T) / 2 if a != b else G)
        return out

    # --- starting values -----------------------------------------------------------------------
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
            C = np.linalg.cholesky(cov)
            s = np.diag(C)
            return np.concatenate([np.log(s), (C / s[:, None])[_tril(T)]])
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


@dataclass(frozen=True)
class SpatialExponential:
    """Spatial exponential covariance in subjects' coordinates (R mmrm ``sp_exp``).

    ``Sigma_ij = exp(theta_0) * rho^d_ij``, ``rho = invlogit(theta_1)``, ``d_ij`` the Euclidean
    distance between the coordinates (times) of two observations of a subject. The covariance
    of a subject depends on its own coordinates, so the methods take a distance matrix.

    Examples
    --------
    >>> import numpy as np
    >>> s = SpatialExponential()
    >>> D = np.abs(np.subtract.outer([0.0, 1.0, 3.0], [0.0, 1.0, 3.0]))
    >>> s.sigma_at(np.array([np.log(4.0), 0.0]), D).round(4).tolist()
    [[4.0, 2.0, 0.5], [2.0, 4.0, 1.0], [0.5, 1.0, 4.0]]
    """

    name: str = "sp_exp"
    n_theta = 2
    spatial = True

    @staticmethod
    def _parts(theta, D):
        v = math.exp(theta[0])
        rho = 1.0 / (1.0 + math.exp(-theta[1]))
        S = v * np.exp(D * math.log(rho)) if rho > 0 else v * (D == 0)
        return S, rho

    def sigma_at(self, theta, D) -> np.ndarray:
        return self._parts(theta, D)[0]

    def dsigma_at(self, theta, D) -> np.ndarray:
        """(2, t, t): dSigma/dtheta_0 = Sigma; dSigma/dtheta_1 = Sigma * D * (1 - rho)."""
        S, rho = self._parts(theta, D)
        return np.stack([S, S * D * (1.0 - rho)])

    def d2sigma_at(self, theta, D) -> np.ndarray:
        """(2, 2, t, t) second derivatives."""
        S, rho = self._parts(theta, D)
        s01 = S * D * (1.0 - rho)
        s11 = S * (D * D * (1.0 - rho) ** 2 - D * rho * (1.0 - rho))
        return np.stack([np.stack([S, s01]), np.stack([s01, s11])])

    def start(self, variance: float, distance: float) -> np.ndarray:
        """Start at the residual variance and a correlation of 0.5 at a typical distance."""
        variance = variance if np.isfinite(variance) and variance > 0 else 1.0
        distance = distance if np.isfinite(distance) and distance > 0 else 1.0
        rho = 0.5 ** (1.0 / distance)
        rho = min(max(rho, 1e-6), 1 - 1e-6)
        return np.array([math.log(variance), math.log(rho / (1 - rho))])


def make_structure(name: str, n_visits: int):
    """The structure called ``name`` over ``n_visits`` visits."""
    if name == "sp_exp":
        return SpatialExponential()
    if name not in COVARIANCE_STRUCTURES:
        raise ValueError(f"covariance must be one of {MMRM_COVARIANCES}, got {name!r}")
    return CovarianceStructure(name, n_visits)


from ...constants import COVARIANCE_STRUCTURES  # noqa: E402

#: Every structure the MMRM fits (the visit-indexed ones and the spatial exponential).
MMRM_COVARIANCES = (*COVARIANCE_STRUCTURES, "sp_exp")
