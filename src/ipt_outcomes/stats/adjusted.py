"""Covariate-adjusted marginal response effects: g-computation under a logistic working model.

The FDA's 2023 guidance "Adjusting for Covariates in Randomized Clinical Trials for Drugs and
Biological Products" recommends adjusting a binary endpoint for prognostic baseline covariates
(in depression trials above all the baseline score) and reporting an unconditional, population
average (marginal) treatment effect with a robust variance. This module does that:

1. fit a logistic working model of the outcome on arm and the covariates (maximum likelihood,
   Newton-Raphson to convergence);
2. predict every analysed subject's risk under each arm in turn and average: the marginal risk
   of each arm (g-computation, standardisation);
3. contrast each arm with the reference (risk difference, risk ratio, odds ratio) with a
   delta-method standard error from the covariance of the marginal risks, by Ge et al. (2011)
   (sandwich or model-based) or Ye et al. (2023) (optionally stratification-aware).

It reproduces R beeca 0.2.0 ``get_marginal_effect`` (openpharma; Ge and Ye, with and without
strata, two and three arms) and the SAS ``%Margins`` macro and the SAS macro of Ge et al.
(model-based variance): ``tests/reference/adjusted/`` and ``tests/test_adjusted_reference.py``.

Only numpy and pandas are imported at module level; scipy is imported where it is needed, so
that the command line starts quickly.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

__all__ = [
    "adjusted_response",
    "VARIANCES",
    "CONTRASTS",
    "MarginalRisks",
    "marginal_risks",
    "marginal_effects",
    "marginal_effects_by_visit",
]

VARIANCES = ("ge", "ye", "model")
CONTRASTS = ("risk_difference", "risk_ratio", "odds_ratio")
COLUMNS = [
    "arm",
    "reference",
    "contrast",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "p",
    "variance",
    "n",
]
EXTRA_COLUMNS = [
    "risk",
    "risk_reference",
    "n_arm",
    "n_reference",
    "events_arm",
    "events_reference",
    "covariates",
    "strata",
    "note",
]

# Newton-Raphson: stop when the largest step (on standardised covariates) is below STEP_TOL;
# the step after that is ~STEP_TOL**2, so the coefficients are exact to machine precision.
MAX_ITER = 100
STEP_TOL = 1e-10
# R glm.fit's threshold for "fitted probabilities numerically 0 or 1 occurred"
PROB_EPS = 10 * np.finfo(float).eps
# linear-programming separation check: optimum above this = (quasi-)separation
LP_TOL = 1e-7


# ------------------------------------------------------------------------------------------
# argument checks
# ------------------------------------------------------------------------------------------


def _names(value, argument: str) -> tuple:
    """A column-name argument as a tuple (a single string is one name)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    try:
        names = tuple(value)
    except TypeError:
        raise ValueError(f"{argument} must be a column name or a sequence of names") from None
    if len(set(names)) != len(names):
        raise ValueError(f"{argument} names a column more than once: {list(names)}")
    return names


def _check_columns(data: pd.DataFrame, names: Iterable, argument: str) -> None:
    missing = [c for c in names if c not in data.columns]
    if missing:
        raise ValueError(
            f"{argument}: column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))} not in the data "
            f"(columns: {', '.join(map(str, data.columns))})"
        )


def _check_alpha(alpha) -> None:
    if not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _check_variance(variance, strata: tuple) -> None:
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {', '.join(VARIANCES)}; got {variance!r}")
    if strata and variance != "ye":
        raise ValueError(
            f"strata are used only by variance='ye' (Ye et al. 2023); variance={variance!r} "
            "ignores them, so strata must be empty"
        )


def _sorted(values) -> list:
    values = list(values)
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _match_arm(value, present: Sequence, argument: str):
    """The arm label in the data equal to ``value`` (or, failing that, to ``str(value)``)."""
    for a in present:
        if a == value:
            return a
    by_text = [a for a in present if str(a) == str(value)]
    if len(by_text) == 1:
        return by_text[0]
    raise ValueError(
        f"{argument}: arm {value!r} is not in the data (arms: {', '.join(map(str, present))})"
    )


def _outcome_values(col: pd.Series, outcome: str) -> np.ndarray:
    """0/1 floats from a 0/1 or boolean column (no missing values left)."""
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=float)
    try:
        y = col.to_numpy(dtype=float)  # numbers, or True/False held as objects
    except (TypeError, ValueError):
        y = None
    if y is not None and np.all((y == 0) | (y == 1)):
        return y
    bad = _sorted(pd.unique(col[~col.isin([0, 1, True, False])]))[:5]
    raise ValueError(f"outcome: column {outcome!r} must be 0/1 or boolean; found {bad}")


def _is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)


# ------------------------------------------------------------------------------------------
# the working model
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Design:
    """Treatment-coded design of ``outcome ~ arm + covariates``, reusable for any arm.

    Numeric covariates enter as they are (centred and scaled internally, which changes no
    prediction and no marginal quantity); text and categorical ones as factors with treatment
    coding, the first level (sorted, or a Categorical's own order) as the reference level.
    """

    arms: tuple
    covariates: tuple
    levels: dict
    centre: dict
    scale: dict

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, arm: str, covariates: tuple) -> _Design:
        levels, centre, scale = {}, {}, {}
        for cov in covariates:
            col = frame[cov]
            if _is_numeric(col):
                x = col.to_numpy(dtype=float)
                centre[cov] = float(x.mean())
                sd = float(x.std())
                scale[cov] = sd if sd > 0 else 1.0
            elif isinstance(col.dtype, pd.CategoricalDtype):
                used = set(col.unique())
                levels[cov] = tuple(c for c in col.cat.categories if c in used)
            else:
                levels[cov] = tuple(_sorted(col.unique()))
        arms = tuple(_sorted(frame[arm].unique()))
        return cls(arms, covariates, levels, centre, scale)

    def names(self) -> list[str]:
        out = ["(Intercept)"] + [f"arm[{a}]" for a in self.arms[1:]]
        for cov in self.covariates:
            if cov in self.levels:
                out += [f"{cov}[{lev}]" for lev in self.levels[cov][1:]]
            else:
                out.append(cov)
        return out

    def arm_columns(self, arm_values) -> np.ndarray:
        a = np.asarray(arm_values, dtype=object)
        return (
            np.column_stack([a == lev for lev in self.arms[1:]])
            .astype(float)
            .reshape(len(a), len(self.arms) - 1)
        )

    def matrix(self, frame: pd.DataFrame, arm: str, set_arm=None) -> np.ndarray:
        """Design matrix of ``frame``; with ``set_arm`` every subject is put in that arm."""
        n = len(frame)
        arms = frame[arm].to_numpy(dtype=object) if set_arm is None else [set_arm] * n
        cols = [np.ones((n, 1)), self.arm_columns(arms)]
        for cov in self.covariates:
            if cov in self.levels:
                x = frame[cov].to_numpy(dtype=object)
                cols.append(
                    np.column_stack([x == lev for lev in self.levels[cov][1:]])
                    .astype(float)
                    .reshape(n, len(self.levels[cov]) - 1)
                )
            else:
                x = frame[cov].to_numpy(dtype=float)
                cols.append(((x - self.centre[cov]) / self.scale[cov])[:, None])
        return np.hstack(cols)


def _expit(eta: np.ndarray) -> np.ndarray:
    out = np.empty_like(eta)
    pos = eta >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-eta[pos]))
    e = np.exp(eta[~pos])
    out[~pos] = e / (1.0 + e)
    return out


@dataclass
class _Fit:
    beta: np.ndarray
    mu: np.ndarray
    converged: bool
    iterations: int
    note: str = ""


def _fit_logistic(X: np.ndarray, y: np.ndarray) -> _Fit:
    """Logistic regression by Newton-Raphson with step halving, to machine precision."""
    beta = np.zeros(X.shape[1])

    def deviance(b):
        eta = X @ b
        return -2.0 * float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    dev = deviance(beta)
    for it in range(1, MAX_ITER + 1):
        eta = X @ beta
        mu = _expit(eta)
        w = mu * _expit(-eta)
        info = (X * w[:, None]).T @ X
        try:
            step = np.linalg.solve(info, X.T @ (y - mu))
        except np.linalg.LinAlgError:
            return _Fit(beta, mu, False, it, "information matrix singular during the fit")
        if not np.all(np.isfinite(step)):
            return _Fit(beta, mu, False, it, "information matrix singular during the fit")
        new, new_dev = beta + step, deviance(beta + step)
        halvings = 0
        while new_dev > dev + 1e-12 * (abs(dev) + 1) and halvings < 30:
            step = step / 2
            new, new_dev = beta + step, deviance(beta + step)
            halvings += 1
        beta, dev = new, new_dev
        if np.max(np.abs(step)) < STEP_TOL:
            return _Fit(beta, _expit(X @ beta), True, it)
    return _Fit(beta, _expit(X @ beta), False, MAX_ITER, f"not converged in {MAX_ITER} iterations")


def _separated(X: np.ndarray, y: np.ndarray) -> bool:
    """Whether the data are completely or quasi-completely separated (Konis 2007).

    Separation exists iff some b != 0 has s_i x_i'b >= 0 for every subject (s = 2y - 1), with
    at least one strict inequality; the linear programme maximises sum_i s_i x_i'b over such b
    in the box [-1, 1]^p, whose optimum is 0 exactly when there is no separation.
    """
    from scipy.optimize import linprog

    A = X * (2 * y - 1)[:, None]
    res = linprog(
        -A.sum(axis=0),
        A_ub=-A,
        b_ub=np.zeros(len(y)),
        bounds=[(-1, 1)] * X.shape[1],
        method="highs",
    )
    return bool(res.status == 0 and -res.fun > LP_TOL * max(1.0, len(y) ** 0.5))


# ------------------------------------------------------------------------------------------
# marginal risks and their covariance
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarginalRisks:
    """Counterfactual marginal risks of every arm with their covariance (g-computation).

    Attributes
    ----------
    arms : tuple
        Arms of the working model (sorted), the order of ``risk`` and ``cov``.
    risk : numpy.ndarray
        Marginal risk of each arm: the mean over all analysed subjects of the predicted risk
        with the subject put in that arm. NaN when ``note`` says the model is not estimable.
    cov : numpy.ndarray
        Covariance matrix of ``risk`` (arms x arms) under ``variance``.
    variance : str
        ``"ge"``, ``"ye"`` or ``"model"``.
    strata : tuple
        Strata columns used by Ye's stratified variance (empty otherwise).
    n : int
        Subjects in the model (complete cases of outcome, arm, covariates and strata).
    n_arm, events : dict
        Subjects and events per arm.
    n_excluded : int
        Rows dropped for a missing outcome, arm, covariate or stratum.
    converged : bool
        Whether the logistic fit converged (False also when it was not attempted).
    iterations : int
        Newton-Raphson iterations.
    coef : pandas.Series
        Coefficients of the working model on the original covariate scale (NaN if not fitted).
    note : str
        Empty when the risks are estimable; otherwise what happened (separation, no
        convergence, ...), and then ``risk`` and ``cov`` are NaN.
    arm_notes : dict
        Arms whose own risk is not estimable (no events, or every subject with the event: the
        arm separates the outcome), with why; their ``risk`` and ``cov`` entries are NaN while
        the other arms' are estimated.
    model_note : str
        How the working model was fitted when some arms separate (which arms it leaves out).
    """

    arms: tuple
    risk: np.ndarray
    cov: np.ndarray
    variance: str
    strata: tuple
    n: int
    n_arm: dict
    events: dict
    n_excluded: int
    converged: bool
    iterations: int
    coef: pd.Series = field(repr=False)
    note: str = ""
    arm_notes: dict = field(default_factory=dict)
    model_note: str = ""

    @property
    def estimable(self) -> bool:
        return not self.note

    def summary(self) -> pd.DataFrame:
        """One row per arm: ``arm, risk, se, n, events``."""
        return pd.DataFrame(
            {
                "arm": list(self.arms),
                "risk": self.risk,
                "se": np.sqrt(np.diag(self.cov)),
                "n": [self.n_arm[a] for a in self.arms],
                "events": [self.events[a] for a in self.arms],
            }
        )

    def cov_frame(self) -> pd.DataFrame:
        """``cov`` labelled by arm (rows and columns)."""
        labels = pd.Index(list(self.arms), name="arm")
        return pd.DataFrame(self.cov, index=labels, columns=labels.rename("arm2"))


def _complete_cases(data, cols):
    keep = data[list(cols)].notna().all(axis=1)
    return data.loc[keep, list(cols)].reset_index(drop=True), int((~keep).sum())


def _ge_cov(X, y, mu, preds, Xk, model_based: bool) -> np.ndarray:
    """Ge et al. (2011): Cov(p) = D Sigma D' with D_k = mean_i p_ik (1 - p_ik) x_i(k)."""
    w = mu * (1 - mu)
    bread = np.linalg.inv((X * w[:, None]).T @ X)
    if model_based:
        sigma = bread
    else:
        meat = (X * ((y - mu) ** 2)[:, None]).T @ X
        sigma = bread @ meat @ bread
    D = np.vstack(
        [((p * (1 - p))[:, None] * Xa).mean(axis=0) for p, Xa in zip(preds, Xk, strict=True)]
    )
    return D @ sigma @ D.T


def _ye_cov(y, mu, preds, arm_idx, strata_codes) -> np.ndarray:
    """Ye et al. (2023) as beeca 0.2.0 / RobinCar compute it (sample var/cov, denominator m-1)."""
    n, K = len(y), len(preds)
    P = np.column_stack(preds)  # n x K predictions under each arm
    pi = np.array([np.mean(arm_idx == k) for k in range(K)])

    def cov(a, b):
        return float(np.cov(a, b, ddof=1)[0, 1]) if len(a) > 1 else math.nan

    V = np.empty((K, K))
    cov_all = np.cov(P, rowvar=False, ddof=1).reshape(K, K)
    for k in range(K):
        ik = arm_idx == k
        yk = y[ik]
        c_kk = cov(yk, P[ik, k])
        var_y = float(np.var(yk, ddof=1)) if len(yk) > 1 else math.nan
        V[k, k] = ((var_y - 2 * c_kk + cov_all[k, k]) / pi[k] + 2 * c_kk - cov_all[k, k]) / n
        for j in range(k + 1, K):
            ij = arm_idx == j
            v = (cov(yk, P[ik, j]) + cov(y[ij], P[ij, k]) - cov_all[k, j]) / n
            V[k, j] = V[j, k] = v
    if strata_codes is None:
        return V
    # Bannick et al. formula 18 (stratified permuted blocks): subtract the strata part
    omega = np.diag(pi) - np.outer(pi, pi)
    resid = y - mu
    adj = np.zeros((K, K))
    for z in np.unique(strata_codes):
        iz = strata_codes == z
        rbar = np.array([resid[iz & (arm_idx == k)].mean() for k in range(K)])
        R = np.diag(rbar / pi)
        adj += (iz.sum() / n) * R @ omega @ R
    return (n * V - adj) / n


def _risks_not_estimable(arms, variance, strata, n, n_arm, events, n_excl, design, note, it=0):
    K = len(arms)
    coef = pd.Series(np.nan, index=design.names() if design is not None else [], dtype=float)
    return MarginalRisks(
        arms=arms,
        risk=np.full(K, np.nan),
        cov=np.full((K, K), np.nan),
        variance=variance,
        strata=strata,
        n=n,
        n_arm=n_arm,
        events=events,
        n_excluded=n_excl,
        converged=False,
        iterations=it,
        coef=coef,
        note=note,
    )


def marginal_risks(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    covariates: Sequence[str] = (),
    variance: str = "ge",
    strata: Sequence[str] = (),
) -> MarginalRisks:
    """Marginal (counterfactual) risk of every arm and its covariance, by g-computation.

    The reference-free half of :func:`marginal_effects`: fits the logistic working model and
    returns the per-arm marginal risks with the covariance of Ge et al. (2011) or Ye et al.
    (2023). Arguments are as for :func:`marginal_effects`.

    Returns
    -------
    MarginalRisks
        ``summary()`` gives ``arm, risk, se, n, events``; ``cov_frame()`` the covariance.
        When the model is not estimable (separation, no convergence, a rank-deficient design,
        an empty arm x stratum cell) ``note`` says why and the numbers are NaN.

    Notes
    -----
    See :func:`marginal_effects` for the formulas. Validated against R beeca 0.2.0
    ``counterfactual.means`` and ``robust_varcov`` (``tests/reference/adjusted/risks*.csv``).
    """
    covariates = _names(covariates, "covariates")
    strata = _names(strata, "strata")
    _check_variance(variance, strata)
    return _marginal_risks(data, outcome, arm, covariates, variance, strata)


def _marginal_risks(data, outcome, arm, covariates, variance, strata) -> MarginalRisks:
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    _check_columns(data, [outcome], "outcome")
    _check_columns(data, [arm], "arm")
    _check_columns(data, covariates, "covariates")
    _check_columns(data, strata, "strata")
    for name, argument in ((outcome, "outcome"), (arm, "arm")):
        if name in covariates:
            raise ValueError(f"covariates: {name!r} is the {argument} column, not a covariate")
    if outcome == arm:
        raise ValueError(f"outcome: {outcome!r} is also the arm column")

    cols = list(dict.fromkeys([outcome, arm, *covariates, *strata]))
    frame, n_excl = _complete_cases(data, cols)
    y = _outcome_values(frame[outcome], outcome)
    n = len(y)
    design = _Design.from_frame(frame, arm, covariates) if n else None
    arms = design.arms if design is not None else ()
    arm_values = frame[arm].to_numpy(dtype=object)
    n_arm = {a: int(np.sum(arm_values == a)) for a in arms}
    events = {a: int(y[arm_values == a].sum()) for a in arms}

    def fail(note, it=0):
        return _risks_not_estimable(
            arms, variance, strata, n, n_arm, events, n_excl, design, note, it
        )

    if n == 0:
        return fail("no subjects with a complete outcome, arm and covariates")
    if len(arms) < 2:
        return fail(f"only one arm ({arms[0]}) among the analysed subjects")
    none = [str(a) for a in arms if events[a] == 0]
    every = [str(a) for a in arms if events[a] == n_arm[a]]
    problems = []
    if none:
        problems.append(f"no events in arm {', '.join(none)}")
    if every:
        problems.append(f"every subject has the event in arm {', '.join(every)}")
    # An arm without events (or with nothing but events) separates the outcome: its intercept
    # has no finite maximum, and at the supremum its subjects' likelihood is 1 whatever the
    # other coefficients are. The other coefficients' estimates (and their sandwich) are then
    # those of the model fitted without that arm, which is what glm approaches as it stops on
    # a large coefficient; the other arms' marginal risks are still averaged over everyone.
    separated = {a for a in arms if events[a] in (0, n_arm[a])}
    kept = [a for a in arms if a not in separated]
    if len(kept) < 2:
        return fail(f"separation: {'; '.join(problems)}; the adjusted effects are not estimable")
    arm_notes = {
        a: f"separation: {'no events' if events[a] == 0 else 'every subject has the event'} in "
        f"arm {a}; its adjusted effects are not estimable"
        for a in separated
    }
    all_frame, all_y, all_arms = frame, y, arm_values
    if separated:
        in_fit = np.isin(arm_values, np.array(kept, dtype=object))
        frame, y = all_frame.loc[in_fit].reset_index(drop=True), y[in_fit]
        design = _Design.from_frame(frame, arm, covariates)
        unseen = [
            cov
            for cov, levels in design.levels.items()
            if not set(all_frame[cov].unique()) <= set(levels)
        ]
        if unseen:
            return fail(
                f"separation: {'; '.join(problems)}, and a level of {', '.join(unseen)} occurs "
                "only in that arm; the adjusted effects are not estimable"
            )

    X = design.matrix(frame, arm)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        return fail(
            "the working model's design is not of full rank (a covariate is constant or "
            "collinear with arm or other covariates); the adjusted effects are not estimable"
        )
    if _separated(X, y):
        return fail(
            "quasi-complete separation: arm and covariates predict the outcome perfectly for "
            "some subjects, so the logistic fit has no finite maximum; the adjusted effects "
            "are not estimable"
        )
    fit = _fit_logistic(X, y)
    if not fit.converged:
        return fail(f"the logistic working model did not converge ({fit.note})", fit.iterations)
    if np.any(fit.mu < PROB_EPS) or np.any(fit.mu > 1 - PROB_EPS):
        return fail(
            "separation: fitted probabilities numerically 0 or 1; the adjusted effects are "
            "not estimable",
            fit.iterations,
        )

    # predictions for everyone analysed (separating arms' subjects too) under each kept arm
    Xk = [design.matrix(all_frame, arm, set_arm=a) for a in kept]
    preds = [_expit(Xa @ fit.beta) for Xa in Xk]
    risk_kept = np.array([p.mean() for p in preds])
    position = {a: k for k, a in enumerate(kept)}
    arm_idx = np.array([position.get(a, -1) for a in all_arms])
    note = ""
    if variance in ("ge", "model"):
        cov_kept = _ge_cov(X, y, fit.mu, preds, Xk, model_based=variance == "model")
    else:
        codes = None
        # fitted means of everyone: a separating arm's at its limit, its own outcome
        mu_all = all_y.astype(float).copy()
        mu_all[arm_idx >= 0] = fit.mu
        if strata:
            codes = all_frame.groupby(list(strata), sort=True, observed=True).ngroup().to_numpy()
            empty = [
                z
                for z in np.unique(codes)
                if any(np.sum((codes == z) & (arm_idx == k)) == 0 for k in range(len(kept)))
            ]
            if empty:
                return fail(
                    f"a stratum of {'+'.join(strata)} has no subjects in some arm; Ye's "
                    "stratified variance is not defined",
                    fit.iterations,
                )
        cov_kept = _ye_cov(all_y, mu_all, preds, arm_idx, codes)
    if not (np.all(np.isfinite(cov_kept)) and np.all(np.diag(cov_kept) >= 0)):
        return fail("the variance of the marginal risks is not estimable", fit.iterations)
    coef = pd.Series(_original_scale(fit.beta, design), index=design.names())
    idx = [arms.index(a) for a in kept]
    risk = np.full(len(arms), np.nan)
    risk[idx] = risk_kept
    cov = np.full((len(arms), len(arms)), np.nan)
    cov[np.ix_(idx, idx)] = (cov_kept + cov_kept.T) / 2
    model_note = (
        f"working model fitted without arm {', '.join(map(str, sorted(separated, key=str)))} "
        f"({'; '.join(problems)}: separation); risks averaged over all {n} subjects"
        if separated
        else ""
    )
    return MarginalRisks(
        arms=arms,
        risk=risk,
        cov=cov,
        variance=variance,
        strata=strata,
        n=n,
        n_arm=n_arm,
        events=events,
        n_excluded=n_excl,
        converged=True,
        iterations=fit.iterations,
        coef=coef,
        note=note,
        arm_notes=arm_notes,
        model_note=model_note,
    )


def _original_scale(beta: np.ndarray, design: _Design) -> np.ndarray:
    """Coefficients on the covariates' own scale (undo the internal centring and scaling)."""
    b = beta.copy()
    i = len(design.arms)  # intercept + arm columns
    for cov in design.covariates:
        if cov in design.levels:
            i += len(design.levels[cov]) - 1
        else:
            b[i] = beta[i] / design.scale[cov]
            b[0] -= b[i] * design.centre[cov]
            i += 1
    return b


# ------------------------------------------------------------------------------------------
# contrasts
# ------------------------------------------------------------------------------------------


def _p_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


def _contrast_rows(mr: MarginalRisks, a, r, alpha: float) -> list[dict]:
    """RD, RR and OR of arm ``a`` vs ``r`` with delta-method SEs on their own scale."""
    i, j = mr.arms.index(a), mr.arms.index(r)
    pa, pr = mr.risk[i], mr.risk[j]
    vaa, vrr, var_ = mr.cov[i, i], mr.cov[j, j], mr.cov[i, j]
    z = NormalDist().inv_cdf(1 - alpha / 2)
    rows = []
    # risk difference: gradient (1, -1)
    rd = pa - pr
    se = math.sqrt(max(vaa + vrr - 2 * var_, 0.0))
    rows.append(("risk_difference", rd, se, rd - z * se, rd + z * se, _p_two_sided(rd / se)))
    # ratios: log scale gradients (1/pa, -1/pr) and (1/(pa(1-pa)), -1/(pr(1-pr)))
    for name, est, ga, gr in (
        ("risk_ratio", pa / pr, 1 / pa, 1 / pr),
        ("odds_ratio", (pa / (1 - pa)) / (pr / (1 - pr)), 1 / (pa * (1 - pa)), 1 / (pr * (1 - pr))),
    ):
        se_log = math.sqrt(max(ga * ga * vaa + gr * gr * vrr - 2 * ga * gr * var_, 0.0))
        log_est = math.log(est)
        rows.append(
            (
                name,
                est,
                est * se_log,
                math.exp(log_est - z * se_log),
                math.exp(log_est + z * se_log),
                _p_two_sided(log_est / se_log),
            )
        )
    return [
        dict(zip(("contrast", "estimate", "se", "ci_low", "ci_high", "p"), row, strict=True))
        for row in rows
    ]


def _effect_rows(mr, reference, arms, alpha, variance, covariates, strata, note_extra=""):
    out = []
    for a in arms:
        base = {
            "arm": a,
            "reference": reference,
            "variance": variance,
            "n": mr.n,
            "n_arm": mr.n_arm.get(a, 0),
            "n_reference": mr.n_arm.get(reference, 0),
            "events_arm": mr.events.get(a, 0),
            "events_reference": mr.events.get(reference, 0),
            "covariates": "+".join(map(str, covariates)),
            "strata": "+".join(map(str, strata)),
        }
        missing = [str(x) for x in (reference, a) if x not in mr.arms]
        if missing:
            note = f"no analysed subjects in arm {', '.join(missing)}"
        else:
            note = mr.note or "; ".join(
                mr.arm_notes[x] for x in (reference, a) if x in mr.arm_notes
            )
        if note:
            rows = [{"contrast": c} for c in CONTRASTS]
            risk = risk_ref = math.nan
        else:
            rows = _contrast_rows(mr, a, reference, alpha)
            risk = float(mr.risk[mr.arms.index(a)])
            risk_ref = float(mr.risk[mr.arms.index(reference)])
            note = "; ".join(x for x in (mr.model_note, note_extra) if x)
        for row in rows:
            out.append({**base, **row, "risk": risk, "risk_reference": risk_ref, "note": note})
    frame = pd.DataFrame(out, columns=COLUMNS + EXTRA_COLUMNS)
    for c in ("estimate", "se", "ci_low", "ci_high", "p", "risk", "risk_reference"):
        frame[c] = frame[c].astype(float)
    return frame


def _excluded_note(n_excl: int) -> str:
    if not n_excl:
        return ""
    return (
        f"{n_excl} row{'s' if n_excl != 1 else ''} with a missing outcome, arm, covariate or "
        "stratum excluded"
    )


def marginal_effects(
    data: pd.DataFrame,
    *,
    outcome: str,
    arm: str,
    covariates: Sequence[str] = (),
    reference,
    arms: Sequence | None = None,
    variance: str = "ge",
    strata: Sequence[str] = (),
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Covariate-adjusted marginal risk difference, risk ratio and odds ratio (g-computation).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per analysed subject. Rows with a missing outcome, arm, covariate or stratum
        are excluded (complete cases, as R ``glm``); ``note`` then says how many.
    outcome : str
        Binary outcome column, 0/1 or boolean (e.g. ``responder``).
    arm : str
        Randomised arm column.
    covariates : sequence of str
        Adjustment covariates. Numeric columns enter as they are; text and categorical columns
        as factors with treatment coding (first level, sorted, as reference level; for a
        pandas Categorical its own category order), as R does with factors.
    reference : arm label
        Comparator arm; must occur in ``data``.
    arms : sequence, optional
        Non-reference arms to report, in this order (default: the other arms, sorted). Every
        arm in ``data`` is in the working model whether reported or not; a reference listed
        here is skipped.
    variance : {"ge", "ye", "model"}
        ``"ge"``: Ge et al. (2011) with the HC0 sandwich covariance of the coefficients;
        ``"ye"``: Ye et al. (2023), stratification-aware when ``strata`` is given;
        ``"model"``: Ge with the model-based covariance (as SAS ``%Margins`` and the SAS macro
        of Ge et al.).
    strata : sequence of str
        Randomisation strata for ``variance="ye"`` (joint cells of the columns). They need not
        be covariates of the working model. Refused with the other variances.
    alpha : float
        Two-sided level of the intervals (default 0.05 for 95%).

    Returns
    -------
    pandas.DataFrame
        One row per reported arm x contrast (arms in ``arms`` order; contrasts
        ``risk_difference``, ``risk_ratio``, ``odds_ratio``), columns:

        - ``arm``, ``reference``: the arms compared (labels as in ``data``);
        - ``contrast``: the effect measure;
        - ``estimate``: arm minus reference (difference) or arm / reference (ratios);
        - ``se``: delta-method standard error on the contrast's own scale;
        - ``ci_low``, ``ci_high``: ``1 - alpha`` interval (ratios via the log scale);
        - ``p``: two-sided p-value of no effect (ratios on the log scale);
        - ``variance``: ``ge``, ``ye`` or ``model``;
        - ``n``: subjects in the working model (all arms);
        - ``risk``, ``risk_reference``: marginal risks of the arm and the reference;
        - ``n_arm``, ``n_reference``, ``events_arm``, ``events_reference``: counts;
        - ``covariates``, ``strata``: the model's covariates and strata, joined by ``+``;
        - ``note``: empty, or why the numbers are missing, or which rows were excluded.

        When the working model is not estimable (complete or quasi-complete separation, no
        convergence, a rank-deficient design, an empty arm x stratum cell with Ye's stratified
        variance) the numbers are empty (NaN) and ``note`` says what happened; nothing is
        raised. An arm with no events (or nothing but events) separates the outcome by itself:
        its comparisons are empty with a note, and the other arms' are estimated from the
        working model fitted without it (its subjects' likelihood is 1 at the supremum, so these
        are the estimates glm approaches), with predictions averaged over every analysed
        subject; their ``note`` says so.

    Raises
    ------
    ValueError
        For a bad argument, naming it: an unknown column, a reference or arm not in the data,
        ``alpha`` outside (0, 1), an unknown ``variance``, ``strata`` with a variance other
        than ``ye``, or an outcome that is not 0/1.

    Notes
    -----
    Working model: logit P(y_i = 1) = x_i'beta, with x_i the intercept, arm indicators and the
    covariates, fitted by maximum likelihood (Newton-Raphson until the largest step is below
    1e-10, i.e. to machine precision). Let p_ik = expit(x_i(k)'beta) be subject i's predicted
    risk with the arm set to k (covariates as observed). Over all n analysed subjects the
    marginal risk of arm k is

    .. math:: \\hat p_k = \\frac1n \\sum_i \\hat p_{ik},

    and the contrasts of arm a against reference r are RD = p_a - p_r, RR = p_a / p_r and
    OR = [p_a / (1 - p_a)] / [p_r / (1 - p_r)].

    *Ge et al. (2011)*: Cov(p) = D Sigma D', with rows d_k = (1/n) sum_i p_ik (1 - p_ik)
    x_i(k)' and Sigma the HC0 sandwich (X'WX)^-1 [sum_i (y_i - mu_i)^2 x_i x_i'] (X'WX)^-1,
    W = diag(mu_i (1 - mu_i)) (``ge``), or Sigma = (X'WX)^-1 (``model``). No small-sample
    correction.

    *Ye et al. (2023)*, with pi_k = n_k / n and R's sample (co)variances (divisor m - 1), over
    the subjects of arm k (index k) or all subjects (all):
    V_kk = [(var_k(y) - 2 cov_k(y, p_.k) + var_all(p_.k)) / pi_k + 2 cov_k(y, p_.k)
    - var_all(p_.k)] / n and V_kl = [cov_k(y, p_.l) + cov_l(y, p_.k) - cov_all(p_.k, p_.l)] / n.
    With strata (joint cells z of the strata columns, n_z subjects; Bannick et al. formula 18
    for stratified permuted blocks): V - (1/n) sum_z (n_z / n) R_z Omega R_z, with
    Omega = diag(pi) - pi pi' and R_z = diag(rbar_kz / pi_k), rbar_kz the mean residual
    y_i - mu_i over arm k in cell z.

    Standard errors by the delta method on each contrast's own scale:
    se(RD) = sqrt(V_aa + V_rr - 2 V_ar); se(log RR) and se(log OR) from the gradients
    (1/p_a, -1/p_r) and (1/(p_a(1-p_a)), -1/(p_r(1-p_r))), and se(RR) = RR se(log RR),
    se(OR) = OR se(log OR). Intervals: RD +- z se; RR and OR as exp(log est +- z se / est).
    p-values: 2 Phi(-|RD / se|), 2 Phi(-|log est / (se / est)|). z = Phi^-1(1 - alpha/2).

    Separation is checked before fitting: an arm with no or only events, then the linear
    programme of Konis (2007) for complete or quasi-complete separation; after fitting,
    non-convergence and fitted probabilities within 10 machine epsilons of 0 or 1.

    Validated (``tests/test_adjusted_reference.py``) against R beeca 0.2.0
    ``get_marginal_effect`` (Ge HC0 and model-based, Ye, Ye with strata; two and three arms;
    relative 1e-6) on beeca's ``trial01``, a simulated three-arm trial and per-visit response
    derived from four score files, and against SAS ``%Margins`` and the SAS macro of Ge et al.
    (2011) shipped with beeca (model-based variance).

    References
    ----------
    Ge M, Durham LK, Meyer RD, Xie W, Thomas N (2011). Covariate-adjusted difference in
    proportions from clinical trials using logistic regression and weighted risk differences.
    Drug Inf J 45:481-493.
    Ye T, Bannick M, Yi Y, Shao J (2023). Robust variance estimation for covariate-adjusted
    unconditional treatment effect in randomized clinical trials with binary outcomes.
    Stat Theory Relat Fields 7:159-163.
    Bannick MS, Shao J, Liu J, Du Y, Yi Y, Ye T (2023). A general form of covariate adjustment
    in randomized clinical trials. arXiv:2306.10213.
    US FDA (2023). Adjusting for Covariates in Randomized Clinical Trials for Drugs and
    Biological Products. Guidance for industry.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"arm": np.repeat(["Drug", "Placebo"], 100),
    ...                   "baseline": rng.normal(22, 4, 200).round()})
    >>> lp = -0.3 + 0.8 * (d["arm"] == "Drug") - 0.1 * (d["baseline"] - 22)
    >>> d["responder"] = rng.random(200) < 1 / (1 + np.exp(-lp))
    >>> res = marginal_effects(d, outcome="responder", arm="arm", covariates=["baseline"],
    ...                        reference="Placebo")
    >>> res[["arm", "contrast", "n"]].values.tolist()
    [['Drug', 'risk_difference', 200], ['Drug', 'risk_ratio', 200], ['Drug', 'odds_ratio', 200]]
    """
    covariates = _names(covariates, "covariates")
    strata = _names(strata, "strata")
    _check_alpha(alpha)
    _check_variance(variance, strata)
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    _check_columns(data, [arm], "arm")
    present = _sorted(data[arm].dropna().unique())
    reference = _match_arm(reference, present, "reference")
    arms = _report_arms(arms, present, reference)
    mr = _marginal_risks(data, outcome, arm, covariates, variance, strata)
    return _effect_rows(
        mr, reference, arms, alpha, variance, covariates, strata, _excluded_note(mr.n_excluded)
    )


def _report_arms(arms, present, reference) -> list:
    if arms is None:
        return [a for a in present if a != reference]
    if isinstance(arms, str):
        arms = [arms]
    matched = [_match_arm(a, present, "arms") for a in arms]
    if len(set(matched)) != len(matched):
        raise ValueError(f"arms names an arm more than once: {list(arms)}")
    return [a for a in matched if a != reference]


def marginal_effects_by_visit(
    outcomes: pd.DataFrame,
    *,
    covariates: Sequence[str],
    reference,
    arms: Sequence | None = None,
    variance: str = "ge",
    strata: Sequence[str] = (),
    alpha: float = 0.05,
    outcome: str = "responder",
) -> pd.DataFrame:
    """:func:`marginal_effects` at every visit of a long per-visit outcome frame.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        Columns ``subject_id``, ``arm``, ``visit``, ``outcome`` and the covariate and strata
        columns; one row per analysed subject and visit (the missing-data rule has already
        decided who is analysed at each visit).
    covariates, reference, arms, variance, strata, alpha :
        As for :func:`marginal_effects`; the default ``arms`` are all non-reference arms of
        ``outcomes``, sorted, so that every visit reports the same arms.
    outcome : str
        Binary outcome column (default ``responder``).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`marginal_effects` with ``visit`` inserted after ``reference``:
        ``arm, reference, visit, contrast, estimate, se, ci_low, ci_high, p, variance, n, ...``;
        visits sorted, then arms in ``arms`` order, then contrasts. An arm with no analysed
        subjects at a visit gets empty numbers and a note.

    Raises
    ------
    ValueError
        As :func:`marginal_effects`, and for a missing ``subject_id``/``arm``/``visit`` column
        or a subject with more than one row at a visit (naming ``outcomes``).

    Notes
    -----
    Each visit has its own working model (``outcome ~ arm + covariates`` on that visit's
    rows); see :func:`marginal_effects` for the formulas and validation.
    """
    covariates = _names(covariates, "covariates")
    strata = _names(strata, "strata")
    _check_alpha(alpha)
    _check_variance(variance, strata)
    if not isinstance(outcomes, pd.DataFrame):
        raise ValueError(f"outcomes must be a pandas DataFrame, got {type(outcomes).__name__}")
    need = [c for c in ("subject_id", "arm", "visit") if c not in outcomes.columns]
    if need:
        raise ValueError(f"outcomes: column{'s' if len(need) > 1 else ''} {need} missing")
    _check_columns(outcomes, [outcome], "outcome")
    _check_columns(outcomes, covariates, "covariates")
    _check_columns(outcomes, strata, "strata")
    dup = outcomes.duplicated(["subject_id", "visit"])
    if dup.any():
        first = outcomes.loc[dup].iloc[0]
        raise ValueError(
            f"outcomes: subject {first['subject_id']!r} has more than one row at visit "
            f"{first['visit']!r}; give one row per subject and visit"
        )
    present = _sorted(outcomes["arm"].dropna().unique())
    reference = _match_arm(reference, present, "reference")
    report = _report_arms(arms, present, reference)
    frames = []
    for visit in _sorted(outcomes["visit"].dropna().unique()):
        rows = outcomes[outcomes["visit"] == visit]
        mr = _marginal_risks(rows, outcome, "arm", covariates, variance, strata)
        res = _effect_rows(
            mr,
            reference,
            report,
            alpha,
            variance,
            covariates,
            strata,
            _excluded_note(mr.n_excluded),
        )
        res.insert(2, "visit", visit)
        frames.append(res)
    if not frames:
        cols = [*COLUMNS[:2], "visit", *COLUMNS[2:], *EXTRA_COLUMNS]
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)


def adjusted_response(
    trial,
    missing: str = "observed",
    *,
    covariates: Sequence[str] = ("baseline",),
    variance: str = "ge",
    strata: Sequence[str] = (),
    alpha: float = 0.05,
    endpoint: str = "responder",
) -> pd.DataFrame:
    """Covariate-adjusted marginal effects of every arm against the reference at every visit.

    The missing-data rule decides who is analysed at each visit, as for the unadjusted tables
    (:func:`ipt_outcomes.stats.response.binary_outcomes`); covariates are measured at baseline:
    ``baseline`` is the baseline score, any other name a column of the score file (its value on
    the subject's baseline row, else the first non-missing value).

    Parameters
    ----------
    trial : Trial
    missing : {"observed", "nri", "locf"}
    covariates : sequence of str
        ``baseline`` and/or column names; text columns enter as factors.
    variance : {"ge", "ye", "model"}
    strata : sequence of str
        Randomisation strata (columns) for ``ye``.
    alpha : float
    endpoint : {"responder", "remitter"}

    Returns
    -------
    DataFrame
        SPEC ``response_adjusted.csv``: ``arm, reference, visit, contrast, estimate, se, ci_low,
        ci_high, p, variance, n`` and the extras of :func:`marginal_effects_by_visit`.
    """
    from ..stats.response import binary_outcomes

    covariates = _names(covariates, "covariates")
    strata = _names(strata, "strata")
    trial.require_analysable()
    out = binary_outcomes(trial, missing)
    scores = trial.scores
    base_rows = scores.loc[scores["visit"] == trial.baseline_visit].drop_duplicates("subject_id")
    for col in dict.fromkeys([*covariates, *strata]):
        if col == "baseline":
            continue
        if col not in scores.columns:
            raise ValueError(
                f"covariate {col!r} is not a column of the data (columns: "
                f"{', '.join(c for c in scores.columns if c not in ('time', 'visit_label'))})"
            )
        if col in ("subject_id", "arm", "visit", "time", "visit_label", "score"):
            raise ValueError(
                f"{col!r} cannot be a covariate (use 'baseline' for the baseline score)"
            )
        first = (
            scores.dropna(subset=[col]).drop_duplicates("subject_id").set_index("subject_id")[col]
        )
        at_base = base_rows.dropna(subset=[col]).set_index("subject_id")[col]
        value = first.copy()
        value.loc[at_base.index] = at_base
        out[col] = out["subject_id"].map(value).to_numpy()
    return marginal_effects_by_visit(
        out,
        covariates=covariates,
        reference=trial.reference,
        arms=[a for a in trial.arms if a != trial.reference],
        variance=variance,
        strata=strata,
        alpha=alpha,
        outcome=endpoint,
    )
