"""Why adjust for baseline: the precision gain of covariate adjustment, shown by simulation.

A scenario is a logistic model of a binary outcome on arm and baseline score, fitted to a trial
(:func:`adjustment_scenario`). :func:`simulate_adjustment` draws many trials from it and
analyses each twice with the report's g-computation and Ge et al. (2011) variance
(:func:`ipt_outcomes.stats.adjusted.marginal_risks`): without covariates (the unadjusted risk
difference) and with the baseline score. :func:`summarise_adjustment` compares the two: both
estimate the same marginal risk difference without bias, but the adjusted estimate varies less
the more the baseline predicts the outcome, and its interval keeps its coverage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

__all__ = [
    "AdjustmentScenario",
    "adjustment_scenario",
    "simulate_adjustment",
    "summarise_adjustment",
    "adjustment_plot",
]


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class AdjustmentScenario:
    """Baseline ~ Normal(mean, sd); P(outcome) = expit(intercept + effect * arm + slope * baseline)."""

    endpoint: str
    n_per_arm: int
    baseline_mean: float
    baseline_sd: float
    intercept: float
    effect: float
    slope: float

    @property
    def true_risk_difference(self) -> float:
        """The marginal risk difference of the model (Gauss-Hermite quadrature over baseline)."""
        nodes, weights = np.polynomial.hermite_e.hermegauss(80)
        x = self.baseline_mean + self.baseline_sd * nodes
        w = weights / weights.sum()
        eta = self.intercept + self.slope * x
        return float(w @ (_expit(eta + self.effect) - _expit(eta)))

    @property
    def odds_ratio_per_sd(self) -> float:
        """How strongly baseline predicts the outcome: odds ratio per SD of baseline."""
        return math.exp(self.slope * self.baseline_sd)


def adjustment_scenario(trial, arm: str, visit: float, endpoint: str = "responder", *,
                        reference: str | None = None, n_per_arm: int = 100) -> AdjustmentScenario:  # fmt: skip
    """A scenario fitted to a trial: the logistic model of ``endpoint`` at ``visit`` on arm and
    baseline among the observed cases of ``arm`` and the reference, with the baseline mean and
    SD of those participants."""
    from ..stats.adjusted import marginal_risks
    from ..stats.response import binary_outcomes

    reference = reference or trial.reference
    if endpoint not in ("responder", "remitter"):
        raise ValueError(f"endpoint must be 'responder' or 'remitter', got {endpoint!r}")
    if n_per_arm < 10:
        raise ValueError(f"n_per_arm must be at least 10, got {n_per_arm}")
    out = binary_outcomes(trial, "observed", visits=[visit])
    out = out[out["arm"].isin([arm, reference])].assign(
        arm=lambda d: np.where(d["arm"] == reference, "0 reference", "1 arm")
    )
    if out["arm"].nunique() < 2:
        raise ValueError(f"no observed cases of {arm!r} and {reference!r} at visit {visit:g}")
    fit = marginal_risks(out, outcome=endpoint, arm="arm", covariates=("baseline",))
    if not fit.estimable:
        raise ValueError(f"the working model cannot be fitted: {fit.note}")
    coef = fit.coef
    return AdjustmentScenario(
        endpoint=endpoint,
        n_per_arm=int(n_per_arm),
        baseline_mean=float(out["baseline"].mean()),
        baseline_sd=float(out["baseline"].std()),
        intercept=float(coef["(Intercept)"]),
        effect=float(coef["arm[1 arm]"]),
        slope=float(coef["baseline"]),
    )


def _rd(fit) -> tuple[float, float]:
    if not fit.estimable:
        return math.nan, math.nan
    i, j = fit.arms.index("1 arm"), fit.arms.index("0 reference")
    var = fit.cov[i, i] + fit.cov[j, j] - 2 * fit.cov[i, j]
    return float(fit.risk[i] - fit.risk[j]), math.sqrt(max(var, 0.0))


def simulate_adjustment(scenario: AdjustmentScenario, sims: int = 500, seed: int = 2016,
                        alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """Draw ``sims`` trials from ``scenario`` and estimate the risk difference in each, without
    and with adjustment for baseline (g-computation, Ge variance, as in the report).

    Returns
    -------
    DataFrame
        ``sim, method, estimate, se, ci_low, ci_high, covers`` - two rows per simulated trial
        (``method`` "unadjusted" and "baseline-adjusted"); ``covers`` says whether the interval
        contains the scenario's true marginal risk difference.
    """
    from ..stats.adjusted import marginal_risks

    if sims < 1:
        raise ValueError(f"sims must be at least 1, got {sims}")
    rng = np.random.default_rng(seed)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    truth = scenario.true_risk_difference
    n = scenario.n_per_arm
    arm = np.repeat(["0 reference", "1 arm"], n)
    treated = (arm == "1 arm").astype(float)
    rows = []
    for sim in range(sims):
        x = rng.normal(scenario.baseline_mean, scenario.baseline_sd, 2 * n)
        p = _expit(scenario.intercept + scenario.effect * treated + scenario.slope * x)
        data = pd.DataFrame({"arm": arm, "baseline": x, "y": rng.random(2 * n) < p})
        for method, covariates in (("unadjusted", ()), ("baseline-adjusted", ("baseline",))):
            est, se = _rd(marginal_risks(data, outcome="y", arm="arm", covariates=covariates))
            lo, hi = est - z * se, est + z * se
            rows.append(dict(sim=sim, method=method, estimate=est, se=se, ci_low=lo, ci_high=hi,
                             covers=bool(lo <= truth <= hi)))  # fmt: skip
    return pd.DataFrame(rows)


def summarise_adjustment(results: pd.DataFrame, scenario: AdjustmentScenario) -> pd.DataFrame:
    """Bias, spread, standard error and coverage of each method, and the precision gain.

    Returns
    -------
    DataFrame
        ``method, true_rd, mean_estimate, bias, bias_mc_se, empirical_sd, mean_se, coverage,
        coverage_mc_se, variance_ratio, sims`` - ``variance_ratio`` is the method's empirical variance over the
        unadjusted one: 1 - variance_ratio is the share of participants adjustment saves for
        the same precision.
    """
    truth = scenario.true_risk_difference
    ok = results.dropna(subset=["estimate", "se"])
    base_var = ok.loc[ok["method"] == "unadjusted", "estimate"].var()
    rows = []
    for method in ("unadjusted", "baseline-adjusted"):
        r = ok[ok["method"] == method]
        cov = r["covers"].mean()
        rows.append(dict(method=method, true_rd=truth, mean_estimate=r["estimate"].mean(),
                         bias=r["estimate"].mean() - truth,
                         bias_mc_se=r["estimate"].std() / math.sqrt(len(r)) if len(r) else math.nan,
                         empirical_sd=r["estimate"].std(),
                         mean_se=r["se"].mean(), coverage=cov,
                         coverage_mc_se=math.sqrt(cov * (1 - cov) / len(r)) if len(r) else math.nan,
                         variance_ratio=r["estimate"].var() / base_var, sims=len(r)))  # fmt: skip
    return pd.DataFrame(rows)


def adjustment_plot(results: pd.DataFrame, truths: dict, title: str = ""):
    """Densities of the simulated risk differences, unadjusted and baseline-adjusted, one panel
    per scenario stacked on one shared, round-numbered axis (side by side, the panels' tick
    labels ran into each other).

    Parameters
    ----------
    results : DataFrame
        :func:`simulate_adjustment` output of every scenario, with a column ``outcome`` naming
        the scenario.
    truths : dict
        Scenario name -> its true marginal risk difference (a proportion).
    title : str

    Returns
    -------
    plotnine.ggplot
        Its data: ``estimate`` in percentage points.

    Examples
    --------
    >>> r = pd.DataFrame({"outcome": ["a"] * 4, "method": ["unadjusted", "baseline-adjusted"] * 2,
    ...                   "estimate": [0.1, 0.12, 0.2, 0.18]})
    >>> adjustment_plot(r, {"a": 0.15}).data["estimate"].round(6).tolist()
    [10.0, 12.0, 20.0, 18.0]
    """
    from plotnine import (
        aes,
        facet_wrap,
        geom_density,
        geom_vline,
        ggplot,
        labs,
        scale_color_manual,
        scale_x_continuous,
        theme,
        theme_minimal,
    )

    from ..report.figures import nice_breaks

    d = results.dropna(subset=["estimate"]).assign(estimate=lambda x: 100 * x["estimate"])
    lo, hi = float(d["estimate"].min()), float(d["estimate"].max())
    truth = pd.DataFrame({"outcome": list(truths), "truth": [100 * v for v in truths.values()]})
    n_panels = max(1, d["outcome"].nunique())
    return (
        ggplot(d, aes("estimate", color="method"))
        + geom_density(size=0.9)
        + geom_vline(aes(xintercept="truth"), data=truth, linetype="dashed", color="#333333")
        + facet_wrap("~outcome", ncol=1)
        + scale_x_continuous(breaks=nice_breaks((lo, hi), 7))
        + scale_color_manual(values={"baseline-adjusted": "#0072B2", "unadjusted": "#D55E00"})
        + labs(x="estimated risk difference (percentage points); dashed: the true value",
               y="density", color="", title=title)
        + theme_minimal(base_size=10)
        + theme(figure_size=(8, 1.2 + 1.8 * n_panels), legend_position="bottom")
    )  # fmt: skip
