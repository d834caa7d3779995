"""Step 1, the working model: a logistic regression of the outcome on arm and covariates
(maximum likelihood by Newton-Raphson to machine precision), its design through the package's one
design-matrix builder, and the checks that it has a finite maximum (separation)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .checks import _is_numeric, _sorted


def _numbers(col: pd.Series) -> np.ndarray:
    """A numeric covariate's values (booleans as 0/1, numbers written as text as numbers)."""
    from ...data.covariates import as_numbers

    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=float)
    return as_numbers(col).to_numpy(dtype=float)


# Newton-Raphson: stop when the largest step (on standardised covariates) is below STEP_TOL;
# the step after that is ~STEP_TOL**2, so the coefficients are exact to machine precision.
MAX_ITER = 100
STEP_TOL = 1e-10
# R glm.fit's threshold for "fitted probabilities numerically 0 or 1 occurred"
PROB_EPS = 10 * np.finfo(float).eps
# linear-programming separation check: optimum above this = (quasi-)separation
LP_TOL = 1e-7


@dataclass(frozen=True)
class _Design:
    """Treatment-coded design of ``outcome ~ arm + covariates``, reusable for any arm.

    Built by the package's one design-matrix builder (:class:`~ipt_outcomes.models.design.
    ModelDesign`, R's coding rules) on internal column names, so that any column name works.
    Numeric covariates enter as they are (centred and scaled internally, which changes no
    prediction and no marginal quantity); text and categorical ones as factors with treatment
    coding, the first level (sorted, or a Categorical's own order) as the reference level.
    """

    arms: tuple
    covariates: tuple
    levels: dict
    centre: dict
    scale: dict
    model: object = field(default=None, repr=False, compare=False)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, arm: str, covariates: tuple) -> _Design:
        from ...models.design import ModelDesign

        levels, centre, scale = {}, {}, {}
        for cov in covariates:
            col = frame[cov]
            if _is_numeric(col):
                x = _numbers(col)
                centre[cov] = float(x.mean())
                sd = float(x.std())
                scale[cov] = sd if sd > 0 else 1.0
            elif isinstance(col.dtype, pd.CategoricalDtype):
                used = set(col.unique())
                levels[cov] = tuple(c for c in col.cat.categories if c in used)
            else:
                levels[cov] = tuple(_sorted(col.unique()))
        arms = tuple(_sorted(frame[arm].unique()))
        design = cls(arms, covariates, levels, centre, scale)
        internal = {"a0": list(arms)}
        internal.update({f"c{i}": list(levels[c]) for i, c in enumerate(covariates) if c in levels})
        rhs = " + ".join(["a0", *(f"c{i}" for i in range(len(covariates)))])
        model = ModelDesign(rhs, design._internal(frame, arm), levels=internal)
        object.__setattr__(design, "model", model)
        return design

    def _internal(self, frame: pd.DataFrame, arm: str, set_arm=None) -> pd.DataFrame:
        """The frame on the builder's internal names: arm (or everyone in ``set_arm``), and the
        covariates, numeric ones centred and scaled."""
        n = len(frame)
        out = {"a0": frame[arm].to_numpy(dtype=object) if set_arm is None else [set_arm] * n}
        for i, cov in enumerate(self.covariates):
            if cov in self.levels:
                out[f"c{i}"] = frame[cov].to_numpy(dtype=object)
            else:
                x = _numbers(frame[cov])
                out[f"c{i}"] = (x - self.centre[cov]) / self.scale[cov]
        return pd.DataFrame(out)

    def names(self) -> list[str]:
        out = ["(Intercept)"] + [f"arm[{a}]" for a in self.arms[1:]]
        for cov in self.covariates:
            if cov in self.levels:
                out += [f"{cov}[{lev}]" for lev in self.levels[cov][1:]]
            else:
                out.append(cov)
        return out

    def matrix(self, frame: pd.DataFrame, arm: str, set_arm=None) -> np.ndarray:
        """Design matrix of ``frame``; with ``set_arm`` every subject is put in that arm."""
        return self.model.build(self._internal(frame, arm, set_arm))

    def counterfactuals(self, frame: pd.DataFrame, arm: str, arms) -> list[np.ndarray]:
        """The design matrix of ``frame`` with everyone in each of ``arms``: built once, then
        only the arm columns set (arm enters the working model as a main effect)."""
        base = self.matrix(frame, arm, set_arm=self.arms[0])
        return [self.model.with_value(base, "a0", a) for a in arms]


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
