"""The random-effects model: pooled effect, its interval (Knapp-Hartung or z), the prediction
interval and the study weights, as R metafor's ``rma`` and ``predict``.

With ``tau^2`` estimated (:mod:`.estimators`) and ``w_i = 1 / (v_i + tau^2)``:

* pooled effect ``mu = sum(w y) / sum(w)`` with ``se = sqrt(1 / sum(w))``;
* **z** test: ``mu / se`` against the normal distribution, interval ``mu -+ z(0.975) se``;
* **Knapp-Hartung** (``knha``; Hartung & Knapp 2001, Sidik & Jonkman 2002): the standard error
  is multiplied by ``sqrt(s^2)``, ``s^2 = sum(w (y - mu)^2) / (k - 1)``, and the t distribution
  with ``k - 1`` df is used; as in metafor, ``s^2`` is not truncated at 1 (so with tau^2 = 0 the
  interval can be narrower than the z interval; with all effects equal its width is 0);
* prediction interval (Higgins, Thompson & Spiegelhalter 2009, as metafor's ``predict``):
  ``mu -+ crit * sqrt(se^2 + tau^2)`` with the same critical value (t(k - 1) for knha, z else);
* study weights ``100 w_i / sum(w)`` percent; study intervals ``y_i -+ z(0.975) se_i`` (as
  metafor's forest plot).

With one study tau^2 is 0 and the z test is used (metafor switches and warns likewise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..models.results import ModelResults
from .estimators import TAU2_METHODS, estimate_tau2
from .heterogeneity import cochran_q, h_squared, i_squared, tau2_confint

__all__ = ["TESTS", "POOLED_COLUMNS", "STUDY_COLUMNS", "RandomEffectsResults", "random_effects"]

TESTS = ("knha", "z")
#: meta_pooled.csv (SPEC)
POOLED_COLUMNS = ["by", "subgroup", "k", "estimate", "se", "ci_low", "ci_high", "pi_low",
                  "pi_high", "tau2", "i2", "q", "q_df", "q_p", "method", "test"]  # fmt: skip
#: meta_studies.csv (SPEC)
STUDY_COLUMNS = ["study", "estimate", "se", "weight", "ci_low", "ci_high"]


@dataclass
class RandomEffectsResults(ModelResults):
    """A fitted random-effects meta-analysis (see :func:`random_effects`).

    Attributes
    ----------
    k, estimate, se, statistic, df, p, ci_low, ci_high, pi_low, pi_high
        The pooled effect: its standard error (Knapp-Hartung-adjusted with ``test="knha"``),
        t or z statistic, degrees of freedom (``nan`` for z), two-sided p, confidence and
        prediction intervals.
    tau2, tau2_ci_low, tau2_ci_high, i2, i2_ci_low, i2_ci_high, h2, h2_ci_low, h2_ci_high, q, q_df, q_p
        Heterogeneity (``i2`` in percent; Q-profile intervals, empty with one study).
    s2 : float
        The Knapp-Hartung scale factor (1 for the z test).
    method, test : str
        The tau^2 estimator and the test actually used.
    studies : DataFrame
        ``study, estimate, se, weight, ci_low, ci_high`` (weight in percent).
    notes : list of str
        What a reader should know (tau^2 on the boundary, test switched, ...).
    """

    k: int
    estimate: float
    se: float
    statistic: float
    df: float
    p: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    tau2: float
    tau2_ci_low: float
    tau2_ci_high: float
    i2: float
    i2_ci_low: float
    i2_ci_high: float
    h2: float
    h2_ci_low: float
    h2_ci_high: float
    q: float
    q_df: int
    q_p: float
    s2: float
    method: str
    test: str
    studies: pd.DataFrame
    level: float = 0.95
    notes: list = field(default_factory=list)

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Random-effects meta-analysis ({self.method.upper()} tau^2, {self.test} test)"

    def describe(self) -> str:
        return (
            f"k = {self.k}, estimate {self.estimate:.4g} ({self.ci_low:.4g} to {self.ci_high:.4g})"
        )

    def pooled(self, by: str = "", subgroup: str = "") -> pd.DataFrame:
        """The one row of ``meta_pooled.csv`` (SPEC columns)."""
        row = {c: getattr(self, c) for c in POOLED_COLUMNS[2:]}
        return pd.DataFrame([{"by": by, "subgroup": subgroup, **row}], columns=POOLED_COLUMNS)

    def summary(self) -> pd.DataFrame:
        return self.pooled().drop(columns=["by", "subgroup"])

    def fit_table(self) -> pd.DataFrame:
        """Everything else about the fit: test statistic, p, the heterogeneity intervals."""
        cols = ["k", "statistic", "df", "p", "tau2", "tau2_ci_low", "tau2_ci_high", "tau",
                "i2", "i2_ci_low", "i2_ci_high", "h2", "h2_ci_low", "h2_ci_high", "s2", "method", "test"]  # fmt: skip
        row = {c: getattr(self, c) for c in cols if c != "tau"}
        row["tau"] = math.sqrt(self.tau2)
        return pd.DataFrame([row], columns=cols)


def _crit(test: str, df: float, level: float) -> float:
    from scipy.stats import norm, t

    q = 1 - (1 - level) / 2
    return float(t.ppf(q, df)) if test == "knha" else float(norm.ppf(q))


def random_effects(
    data: pd.DataFrame,
    *,
    effect: str = "effect",
    se: str = "se",
    study: str = "study",
    method: str = "reml",
    test: str = "knha",
    level: float = 0.95,
) -> RandomEffectsResults:
    """Fit the random-effects model to one row per study.

    Parameters
    ----------
    data : DataFrame
        One row per study (pool several effect sizes of a study first, see
        :func:`~ipt_outcomes.meta.aggregate_effects`).
    effect, se, study : str
        Columns of the effect size, its standard error (positive) and the study name.
    method : {"reml", "ml", "pm", "dl"}
        Estimator of tau^2 (default REML, as metafor).
    test : {"knha", "z"}
        Knapp-Hartung adjustment with t(k - 1) (default) or the normal (Wald) test.
    level : float
        Confidence level of every interval.

    Returns
    -------
    RandomEffectsResults

    Notes
    -----
    Validated against R metafor 3.8-1 ``rma(yi, sei = se, method, test)``, ``predict``,
    ``weights`` and ``confint`` on every therapy of the Metapsy depression database and on
    hand-built data (``tests/reference/meta``): estimates, SEs, intervals, tau^2, I^2, Q and
    weights agree to 1e-8 relative or better.

    Examples
    --------
    >>> d = pd.DataFrame({"study": list("ABCDE"), "effect": [0.2, 0.5, 0.1, 0.8, 0.3],
    ...                   "se": [0.1, 0.2, 0.15, 0.3, 0.12]})
    >>> fit = random_effects(d, method="dl", test="z")
    >>> round(fit.estimate, 4), round(fit.ci_low, 4), round(fit.ci_high, 4), round(fit.i2, 2)
    (0.2896, 0.1229, 0.4564, 36.28)
    >>> round(fit.pi_low, 4), round(fit.pi_high, 4)
    (0.0131, 0.5661)
    """
    from scipy.stats import norm, t

    if method not in TAU2_METHODS:
        raise ValueError(f"method must be one of {TAU2_METHODS}, got {method!r}")
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    for col in (effect, se, study):
        if col not in data.columns:
            raise ValueError(f"no column {col!r} in data")
    k = len(data)
    if k == 0:
        raise ValueError("no effect sizes to pool")
    y = data[effect].to_numpy(dtype=float)
    s = data[se].to_numpy(dtype=float)
    v = s * s
    notes = []
    est = estimate_tau2(y, v, method)
    tau2 = est.tau2
    if k > 1 and est.boundary:
        notes.append(
            f"tau^2 is 0 ({method.upper()}): the effects vary no more than their standard "
            "errors imply; the random-effects result equals the fixed-effect one"
        )
    used = test
    if k == 1 and test == "knha":
        used = "z"
        notes.append("one study: tau^2 is 0 and the z test is used (as metafor)")
    w = 1.0 / (v + tau2)
    sw = float(np.sum(w))
    mu = float(np.sum(w * y) / sw)
    se_mu = math.sqrt(1.0 / sw)
    s2 = 1.0
    if used == "knha":
        s2 = float(np.sum(w * (y - mu) ** 2) / (k - 1))
        se_mu *= math.sqrt(s2)
        if s2 < 1 and tau2 == 0:
            notes.append(
                f"Knapp-Hartung: the effects vary less than their standard errors imply "
                f"(s^2 = {s2:.3g} < 1), so the adjusted interval is narrower than the z "
                "interval (metafor does not truncate s^2; --test z is the conservative choice)"
            )
    df = float(k - 1) if used == "knha" else float("nan")
    crit = _crit(used, df, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = float(np.divide(mu, se_mu))
    if math.isnan(stat):
        p = float("nan")
    else:
        p = float(2 * t.sf(abs(stat), df)) if used == "knha" else float(2 * norm.sf(abs(stat)))
    pi_half = crit * math.sqrt(se_mu * se_mu + tau2)
    q = cochran_q(y, v)
    ci = tau2_confint(y, v, level) if k > 1 else dict.fromkeys(
        ["tau2_ci_low", "tau2_ci_high", "i2_ci_low", "i2_ci_high", "h2_ci_low", "h2_ci_high"],
        float("nan"))  # fmt: skip
    z = float(norm.ppf(1 - (1 - level) / 2))
    studies = pd.DataFrame({
        "study": data[study].astype(str).to_numpy(),
        "estimate": y,
        "se": s,
        "weight": 100.0 * w / sw,
        "ci_low": y - z * s,
        "ci_high": y + z * s,
    })  # fmt: skip
    return RandomEffectsResults(
        k=k, estimate=mu, se=se_mu, statistic=stat, df=df, p=p,
        ci_low=mu - crit * se_mu, ci_high=mu + crit * se_mu,
        pi_low=mu - pi_half, pi_high=mu + pi_half,
        tau2=tau2, tau2_ci_low=ci["tau2_ci_low"], tau2_ci_high=ci["tau2_ci_high"],
        i2=i_squared(tau2, v), i2_ci_low=ci["i2_ci_low"], i2_ci_high=ci["i2_ci_high"],
        h2=h_squared(tau2, v), h2_ci_low=ci["h2_ci_low"], h2_ci_high=ci["h2_ci_high"], q=q["q"], q_df=int(q["q_df"]), q_p=q["q_p"], s2=s2,
        method=method, test=used, studies=studies, level=level, notes=notes,
    )  # fmt: skip
