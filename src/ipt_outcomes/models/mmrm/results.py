"""Results of an MMRM fit: LS means, contrasts, F tests, the fit table (SPEC ``mmrm_*.csv``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..inference import CONTRAST_COLUMNS, t_summary
from ..results import ModelResults
from .kenward_roger import kr_f_test
from .satterthwaite import contrast_df, f_test

__all__ = ["LSGrid", "MMRMResults"]


@dataclass
class LSGrid:
    """The emmeans reference grid of a fit: rows for an arm at a visit.

    Numeric variables at their means over the analysed rows, factors other than the arm and the
    visit weighted equally (emmeans' and SAS's convention).
    """

    design: object  # ModelDesign
    arm: str | None
    arms: list
    reference: str | None
    by: str | None
    visits: list  # visit values as in the data
    levels: list  # their labels in the design

    @property
    def names(self) -> list:
        return self.design.names

    def grid_row(self, arm=None, visit=None) -> np.ndarray:
        """The reference-grid row of ``arm`` at ``visit`` (a visit value as in the data)."""
        cache = self.__dict__.setdefault("_rows", {})
        if not cache:  # the whole grid of arms x visits in one pass
            by = {}
            if self.arm is not None:
                by[self.arm] = list(self.arms)
            if self.by is not None:
                by[self.by] = list(self.levels)
            cache.update(self.design.grid(by))
        key = []
        if self.arm is not None:
            key.append(arm)
        if self.by is not None:
            key.append(self.levels[self.visits.index(visit)])
        key = tuple(key)
        if key not in cache:
            at = dict(zip([k for k in (self.arm, self.by) if k is not None], key, strict=True))
            cache[key] = self.design.grid_row(at)
        return cache[key]


@dataclass(repr=False)
class MMRMResults(ModelResults):
    """A fitted MMRM: estimates, covariances and the tables of SPEC ``mmrm_*.csv``.

    Attributes
    ----------
    beta : Series
        Fixed effects, named as the model matrix's columns (R's treatment coding).
    vcov : DataFrame
        Model-based (asymptotic) covariance of beta, Phi = (X' V^-1 X)^-1.
    vcov_adjusted : DataFrame or None
        The covariance inference uses when it is not Phi: Kenward-Roger's Phi_A or the
        empirical (sandwich) one, as ``vcov_method`` says.
    theta, theta_vcov : ndarray
        Covariance parameters (R mmrm's parameterisation) and their covariance (inverse
        observed information).
    sigma : list of DataFrame
        Estimated visit covariance matrix (one per group; empty for a spatial structure).
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
    design: LSGrid = field(repr=False)
    _P: np.ndarray = field(repr=False, default=None)
    groups: list = field(default_factory=list)
    alpha: float = 0.05
    vcov_method: str = "asymptotic"
    formula: str = ""
    _empirical: object = field(repr=False, default=None)
    _bw: dict = field(repr=False, default=None)
    _model_design: object = field(repr=False, default=None)
    _frame: pd.DataFrame = field(repr=False, default=None)
    _state: tuple = field(repr=False, default=None)

    def with_inference(self, df: str | None = None, vcov: str | None = None) -> MMRMResults:
        """The same fit with another df method and covariance of the fixed effects (no refit).

        Parameters are those of :func:`~ipt_outcomes.models.mmrm.mmrm`; ``vcov`` defaults as
        there (kenward-roger-linear with Kenward-Roger df, else asymptotic).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from ipt_outcomes.models.mmrm import mmrm
        >>> rng = np.random.default_rng(4)
        >>> d = pd.DataFrame({"subject": np.repeat(np.arange(40), 2), "visit": np.tile([1, 2], 40),
        ...                   "arm": np.repeat(["A", "B"] * 20, 2)})
        >>> d["y"] = rng.normal(size=80)
        >>> fit = mmrm("y ~ arm * visit + us(visit | subject)", d, df="satterthwaite")
        >>> robust = fit.with_inference("satterthwaite", "empirical-bias-reduced")
        >>> robust.vcov_method, bool(np.allclose(robust.beta, fit.beta))
        ('empirical-bias-reduced', True)
        """
        import dataclasses

        from .fit import coefficient_vcov, resolve_vcov

        df = self.df_method if df is None else df
        vcov = resolve_vcov(df, vcov)
        if df == "kenward-roger" and self.method != "reml":
            raise ValueError("Kenward-Roger degrees of freedom need REML")
        model, pieces = self._state
        Vadj, emp = coefficient_vcov(model, self.theta, pieces, self._P, self.theta_vcov, vcov)
        names = list(self.beta.index)
        return dataclasses.replace(
            self,
            df_method=df,
            vcov_method=vcov,
            vcov_adjusted=None if Vadj is None else pd.DataFrame(Vadj, index=names, columns=names),
            _empirical=emp,
        )

    # --- inference on one contrast -------------------------------------------------------
    @property
    def _V(self) -> np.ndarray:
        return (self.vcov_adjusted if self.vcov_adjusted is not None else self.vcov).to_numpy()

    def _df_1d(self, lvec: np.ndarray) -> float:
        if self.df_method == "residual":
            return float(self.n_obs - len(self.beta))
        if self.df_method == "between-within":
            return self._df_bw(lvec != 0)
        if self.df_method == "satterthwaite" and self._empirical is not None:
            return self._empirical.df(lvec)
        return contrast_df(lvec, self.vcov.to_numpy(), self._P, self.theta_vcov)

    def _df_bw(self, involved: np.ndarray) -> float:
        bw = self._bw
        dfs = [bw["between"] if k == "between" else bw["within"]
               for k, used in zip(bw["kinds"], involved, strict=True) if used]  # fmt: skip
        return float(min(dfs))

    def estimate(self, lvec) -> dict:
        """Estimate, SE, df, t, p and CI of the linear combination ``l' beta``."""
        lvec = np.asarray(lvec, dtype=float)
        est = float(lvec @ self.beta.to_numpy())
        se = float(math.sqrt(lvec @ self._V @ lvec))
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
        for v in self.design.visits or [None]:
            for a in self.design.arms or [None]:
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
        for v in self.design.visits or [None]:
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
                    vcov=self.vcov_method,
                    neg2_loglik=neg2,
                    aic=neg2 + 2 * n_par,
                    bic=neg2 + n_par * math.log(self.n_subjects),
                    n_theta=k,
                    n_beta=len(self.beta),
                    covariance_requested=self.covariance_requested,
                    fallback=" | ".join(self.fallback_log),
                    max_gradient=self.max_gradient,
                    evaluations=self.n_evaluations,
                    formula=self.formula,
                    aicc_n=n_aic,
                )
            ]
        ).drop(columns=["aicc_n"])

    def anova(self) -> pd.DataFrame:
        """Type III F tests of the formula's terms, as R mmrm's ``car::Anova(fit, type = "III")``.

        Each term's hypothesis is its columns under sum-to-zero contrasts for every factor,
        carried to the fitted coefficients; the F statistic and its denominator df follow the
        fit's df method and covariance (Kenward-Roger's scaled F, Satterthwaite's combined
        rows, or the residual / between-within df).

        Returns
        -------
        DataFrame
            ``term, num_df, den_df, f, p``.
        """
        L_all = self._model_design.type3_contrasts(self._frame)
        rows = []
        for term, L in L_all.items():
            L = L[np.any(L != 0, axis=1)]
            if not len(L):
                continue
            rows.append(dict(term=term, **self.f_test(L)))
        return pd.DataFrame(rows, columns=["term", "num_df", "den_df", "f", "p"])

    def f_test(self, L) -> dict:
        """F test of ``L beta = 0``: ``num_df, den_df, f, p``, by the fit's df method."""
        from ...distributions import f_sf

        L = np.atleast_2d(np.asarray(L, dtype=float))
        beta = self.beta.to_numpy()
        Phi = self.vcov.to_numpy()
        if self.df_method == "kenward-roger":
            return kr_f_test(L, beta, Phi, self._V, self._P, self.theta_vcov)
        if self.df_method == "satterthwaite":
            if L.shape[0] == 1:
                r = self.estimate(L[0])
                return dict(num_df=1, den_df=r["df"], f=r["t"] ** 2, p=r["p"])
            return f_test(L, beta, self._V, self._df_1d)
        df = (float(self.n_obs - len(self.beta)) if self.df_method == "residual"
              else self._df_bw(np.any(L != 0, axis=0)))  # fmt: skip
        Lb = L @ beta
        F = float(Lb @ np.linalg.solve(L @ self._V @ L.T, Lb)) / L.shape[0]
        return dict(num_df=L.shape[0], den_df=df, f=F, p=float(f_sf(F, L.shape[0], df)))

    _f_test = f_test

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
            f"MMRM ({self.method.upper()}, {self.covariance} covariance, {self.df_method} df, "
            f"{self.vcov_method} coefficient covariance)"
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
