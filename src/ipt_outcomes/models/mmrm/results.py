"""Results of an MMRM fit: LS means, contrasts, F tests, the fit table (SPEC ``mmrm_*.csv``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..inference import CONTRAST_COLUMNS, t_summary
from ..results import ModelResults
from .design import MMRMDesign
from .kenward_roger import kr_f_test
from .satterthwaite import contrast_df, f_test

__all__ = ["MMRMResults"]


@dataclass(repr=False)
class MMRMResults(ModelResults):
    """A fitted MMRM: estimates, covariances and the tables of SPEC ``mmrm_*.csv``.

    Attributes
    ----------
    beta : Series
        Fixed effects (cell-means parameterisation: visit intercepts, arm x visit differences,
        baseline x visit slopes, covariates).
    vcov : DataFrame
        Model-based covariance of beta, Phi = (X' V^-1 X)^-1.
    vcov_adjusted : DataFrame or None
        Kenward-Roger adjusted covariance Phi_A (df method ``kenward-roger``).
    theta, theta_vcov : ndarray
        Covariance parameters and their covariance (inverse observed information).
    sigma : list of DataFrame
        Estimated visit covariance matrix (one per group).
    """

    beta: pd.Series
    vcov: pd.DataFrame
    vcov_adjusted: pd.DataFrame | None
    theta: np.ndarray
    theta_vcov: np.ndarray
    sigma: list
    neg2_loglik: float
    method: str
    df_method: str
    covariance: str
    covariance_requested: str
    converged: bool
    fallback_log: list
    n_subjects: int
    n_obs: int
    n_evaluations: int
    max_gradient: float
    design: MMRMDesign = field(repr=False)
    _P: np.ndarray = field(repr=False, default=None)
    groups: list = field(default_factory=list)
    alpha: float = 0.05
    _bw: tuple = field(repr=False, default=(np.nan, np.nan))

    # --- inference on one contrast -------------------------------------------------------
    def _df_1d(self, lvec: np.ndarray) -> float:
        if self.df_method == "residual":
            return float(self.n_obs - len(self.beta))
        if self.df_method == "between-within":
            return float(self._bw[1])
        return contrast_df(lvec, self.vcov.to_numpy(), self._P, self.theta_vcov)

    def estimate(self, lvec) -> dict:
        """Estimate, SE, df, t, p and CI of the linear combination ``l' beta``."""
        lvec = np.asarray(lvec, dtype=float)
        V = (self.vcov_adjusted if self.vcov_adjusted is not None else self.vcov).to_numpy()
        est = float(lvec @ self.beta.to_numpy())
        se = float(math.sqrt(lvec @ V @ lvec))
        return t_summary(est, se, self._df_1d(lvec), self.alpha)

    # --- tables ----------------------------------------------------------------------------
    def lsmeans(self) -> pd.DataFrame:
        """LS means per arm and visit (baseline and numeric covariates at their means).

        Returns
        -------
        DataFrame
            ``arm, visit, estimate, se, df, ci_low, ci_high`` (SPEC ``mmrm_lsmeans.csv``).
        """
        rows = []
        for v in self.design.visits:
            for a in self.design.arms:
                r = self.estimate(self.design.grid_row(a, v))
                rows.append(
                    dict(
                        arm=a,
                        visit=v,
                        **{k: r[k] for k in ("estimate", "se", "df", "ci_low", "ci_high")},
                    )
                )
        return pd.DataFrame(
            rows, columns=["arm", "visit", "estimate", "se", "df", "ci_low", "ci_high"]
        )

    def contrasts(self) -> pd.DataFrame:
        """Each arm minus the reference at each visit.

        Returns
        -------
        DataFrame
            ``arm, reference, visit, estimate, se, df, t, p, ci_low, ci_high`` (SPEC
            ``mmrm_contrasts.csv``).
        """
        ref = self.design.reference
        rows = []
        for v in self.design.visits:
            for a in self.design.arms:
                if a == ref:
                    continue
                lvec = self.design.grid_row(a, v) - self.design.grid_row(ref, v)
                rows.append(dict(arm=a, reference=ref, visit=v, **self.estimate(lvec)))
        return pd.DataFrame(rows, columns=CONTRAST_COLUMNS)

    def fit_table(self) -> pd.DataFrame:
        """One row: ``neg2_reml_loglik, n_subjects, n_obs, covariance, converged`` and more."""
        k = len(self.theta)
        n_par = k + (0 if self.method == "reml" else len(self.beta))
        neg2 = self.neg2_loglik
        n_aic = self.n_obs - (len(self.beta) if self.method == "reml" else 0)
        return pd.DataFrame(
            [
                dict(
                    neg2_reml_loglik=neg2 if self.method == "reml" else np.nan,
                    n_subjects=self.n_subjects,
                    n_obs=self.n_obs,
                    covariance=self.covariance,
                    converged=self.converged,
                    method=self.method,
                    df_method=self.df_method,
                    neg2_loglik=neg2,
                    aic=neg2 + 2 * n_par,
                    bic=neg2 + n_par * math.log(self.n_subjects),
                    n_theta=k,
                    n_beta=len(self.beta),
                    covariance_requested=self.covariance_requested,
                    fallback=" | ".join(self.fallback_log),
                    max_gradient=self.max_gradient,
                    evaluations=self.n_evaluations,
                    aicc_n=n_aic,
                )
            ]
        ).drop(columns=["aicc_n"])

    def anova(self) -> pd.DataFrame:
        """Type III-style F tests of the model terms.

        Returns
        -------
        DataFrame
            ``term, num_df, den_df, f, p``: ``arm within visit`` (all arm differences at all
            visits, as R's ``visit:arm`` term), ``arm`` (arm differences averaged over visits),
            ``arm:visit`` (arm differences equal across visits), ``visit`` (visit means,
            averaged over arms, equal), ``baseline:visit`` (all slopes zero).
        """
        d = self.design
        ref = d.reference
        others = [a for a in d.arms if a != ref]
        diff = {(a, v): d.grid_row(a, v) - d.grid_row(ref, v) for a in others for v in d.visits}
        tests = {}
        tests["arm within visit"] = np.array(list(diff.values()))
        tests["arm"] = np.array([np.mean([diff[(a, v)] for v in d.visits], axis=0) for a in others])
        if len(d.visits) > 1:
            tests["arm:visit"] = np.array(
                [diff[(a, v)] - diff[(a, d.visits[0])] for a in others for v in d.visits[1:]]
            )
            marg = [np.mean([d.grid_row(a, v) for a in d.arms], axis=0) for v in d.visits]
            tests["visit"] = np.array([m - marg[0] for m in marg[1:]])
        slopes = np.zeros((len(d.visits), len(self.beta)))
        for i, v in enumerate(d.visits):
            slopes[i, d.names.index(f"baseline:visit[{v:g}]")] = 1.0
        tests["baseline:visit"] = slopes
        rows = [dict(term=term, **self._f_test(L)) for term, L in tests.items() if len(L)]
        return pd.DataFrame(rows, columns=["term", "num_df", "den_df", "f", "p"])

    def f_test(self, L) -> dict:
        """F test of ``L beta = 0`` (rows of ``L`` the hypotheses): ``num_df, den_df, f, p``;
        Kenward-Roger's scaled F with the KR fit, else the Satterthwaite-type F."""
        return self._f_test(np.atleast_2d(np.asarray(L, dtype=float)))

    def _f_test(self, L: np.ndarray) -> dict:
        beta = self.beta.to_numpy()
        Phi = self.vcov.to_numpy()
        if L.shape[0] == 1:
            r = self.estimate(L[0])
            return dict(num_df=1, den_df=r["df"], f=r["t"] ** 2, p=r["p"])
        if self.df_method == "kenward-roger":
            return kr_f_test(L, beta, Phi, self.vcov_adjusted.to_numpy(), self._P, self.theta_vcov)
        return f_test(L, beta, Phi, self._df_1d)

    def summary(self) -> pd.DataFrame:
        """The fixed effects with SE (adjusted for KR), df, t, p and CI."""
        rows = []
        for i, name in enumerate(self.beta.index):
            lvec = np.zeros(len(self.beta))
            lvec[i] = 1
            rows.append(dict(term=name, **self.estimate(lvec)))
        return pd.DataFrame(rows)

    @property
    def title(self) -> str:
        return (
            f"MMRM of change from baseline ({self.method.upper()}, {self.covariance} covariance, "
            f"{self.df_method} df)"
        )

    def describe(self) -> str:
        return (
            f"{self.n_obs} observations of {self.n_subjects} subjects, -2 log-likelihood "
            f"{self.neg2_loglik:.4f}"
        )

    def print_summary(self, file=None, decimals: int = 4) -> None:
        """Print the fit, the covariance matrix, LS means and contrasts."""
        import sys

        from ...format import format_frame

        out = file or sys.stdout
        super().print_summary(out, decimals)
        if self.fallback_log:
            print("Fallback: " + " | ".join(self.fallback_log), file=out)
        for g, s in zip(self.groups or ["all"], self.sigma, strict=False):
            print(f"\nCovariance ({g}):\n{s.round(3).to_string()}", file=out)
        print(
            "\nLS means:\n" + format_frame(self.lsmeans(), decimals).to_string(index=False),
            file=out,
        )
        print(
            "\nContrasts:\n" + format_frame(self.contrasts(), decimals).to_string(index=False),
            file=out,
        )
