"""Fitting the MMRM: starting values, L-BFGS-B then Newton on the analytic Hessian, fallback.

Estimation by REML (default) or ML; the optimiser works on the pattern-wise likelihood of
:mod:`.likelihood`; inference with Kenward-Roger (:mod:`.kenward_roger`), Satterthwaite
(:mod:`.satterthwaite`), residual or between-within degrees of freedom. Validated against R mmrm
(``tests/reference/mmrm_r``, ``tests/reference/madrs3``) and ``nlme::gls`` for the other covariance
structures (``tests/reference/mmrm``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import linalg

from ...constants import DF_METHODS
from ...exceptions import ConvergenceWarning, IptOutcomesError
from .covariance import COVARIANCE_STRUCTURES, CovarianceStructure
from .design import build_design
from .kenward_roger import kr_adjusted_vcov
from .likelihood import Model, hessian, p_matrices
from .results import MMRMResults

__all__ = [
    "COVARIANCE_STRUCTURES",
    "DF_METHODS",
    "FALLBACK_ORDER",
    "MMRMFitError",
    "fit_mmrm",
    "mmrm_data",
]


FALLBACK_ORDER = ("us", "toeph", "ar1h", "csh", "cs")


class MMRMFitError(IptOutcomesError):
    """The model cannot be fitted (singular design, no convergence with any structure)."""


def mmrm_data(trial, covariates=()) -> pd.DataFrame:
    """Rows an MMRM analyses: observed post-baseline changes of subjects with a baseline.

    Parameters
    ----------
    trial : Trial
    covariates : sequence of str
        Extra columns to carry (e.g. ``antidepressant``); rows missing any of them are dropped.

    Returns
    -------
    DataFrame
        ``subject_id, arm, visit, change, baseline`` and the covariates, one row per observed
        post-baseline score of a subject with a baseline.
    """
    d = trial.derived
    d = d[d["score"].notna()]
    reserved = {"subject_id", "arm", "visit", "time", "visit_label", "score", "change", "baseline"}
    bad = [c for c in covariates if c in reserved]
    if bad:
        raise IptOutcomesError(
            f"covariate {bad[0]!r} is already in the model (arm, visit and baseline are); "
            "name another column"
        )
    twice = sorted({c for c in covariates if list(covariates).count(c) > 1})
    if twice:
        raise IptOutcomesError(f"covariate {twice[0]!r} is named more than once")
    missing = [c for c in covariates if c not in d.columns]
    if missing:
        raise IptOutcomesError(f"covariate column(s) not in the data: {', '.join(missing)}")
    empty = [c for c in covariates if d[c].isna().all()]
    if empty:
        raise IptOutcomesError(f"covariate column {empty[0]!r} is empty for every analysed row")
    cols = ["subject_id", "arm", "visit", "change", "baseline", *covariates]
    return d[cols].dropna().reset_index(drop=True)


def _newton(model: Model, theta, val, g, pieces, n_eval: int, max_iter: int = 20):
    """Newton steps on the analytic Hessian, halving the step until -2 l does not increase."""
    for _ in range(max_iter):
        if np.max(np.abs(g)) < 1e-9:
            break
        H = hessian(model, theta, pieces)
        n_eval += 1
        try:
            step = -linalg.solve(H, g, assume_a="sym")
        except (linalg.LinAlgError, ValueError):
            break
        t = 1.0
        improved = False
        for _ls in range(30):
            cand = theta + t * step
            v2, g2, p2 = model.evaluate(cand)
            n_eval += 1
            if np.isfinite(v2) and v2 <= val + 1e-12:
                theta, val, g, pieces = cand, v2, g2, p2
                improved = True
                break
            t /= 2
        if not improved or np.max(np.abs(t * step)) < 1e-10:
            break
    return theta, val, g, pieces, n_eval


def _optimise(model: Model, theta0: np.ndarray, newton_first: bool = True):
    """Newton steps on the analytic Hessian (with step halving), and L-BFGS-B with the analytic
    gradient followed by Newton steps when those do not reach a stationary point with a positive
    definite Hessian.

    From the empirical starting covariance Newton usually converges in a handful of steps
    (quadratically near the optimum); the fallback keeps hard problems (a variance near its
    boundary, a poor start) as safe as before. ``newton_first=False`` goes to L-BFGS-B at once.
    """
    if newton_first:
        val, g, pieces = model.evaluate(theta0)
        if np.isfinite(val) and pieces is not None:
            theta, val, g, pieces, n_eval = _newton(model, theta0, val, g, pieces, 1)
            H = hessian(model, theta, pieces)
            if _converged(val, g, H)[0]:
                return theta, val, g, H, n_eval

    from scipy import optimize

    def fun(th):
        val, g, _ = model.evaluate(th)
        if not np.isfinite(val):
            return 1e300, np.zeros_like(th)
        return val, g

    res = optimize.minimize(
        fun, theta0, jac=True, method="L-BFGS-B",
        options=dict(maxiter=5000, ftol=1e-15, gtol=1e-10, maxcor=30),
    )  # fmt: skip
    theta = res.x
    val, g, pieces = model.evaluate(theta)
    if not np.isfinite(val) or pieces is None:
        return theta, val, None, None, res.nfev
    theta, val, g, pieces, n_eval = _newton(model, theta, val, g, pieces, res.nfev + 1)
    H = hessian(model, theta, pieces)
    return theta, val, g, H, n_eval


def fit_mmrm(
    data,
    *,
    reference: str | None = None,
    arms=None,
    covariance: str = "us",
    df: str = "kenward-roger",
    method: str = "reml",
    covariates=(),
    group_by_arm: bool = False,
    fallback: bool = True,
    alpha: float = 0.05,
    start=None,
) -> MMRMResults:
    """Fit an MMRM of change from baseline.

    Parameters
    ----------
    data : Trial or DataFrame
        A :class:`~ipt_outcomes.data.trial.Trial` (its observed post-baseline changes are
        analysed, see :func:`mmrm_data`), or a frame ``subject_id, arm, visit, change,
        baseline`` (and covariates), one row per observed post-baseline assessment.
    reference : str, optional
        Reference arm of the contrasts (default: the trial's; required with a DataFrame).
    arms : sequence, optional
        Arm order (default: the trial's design order; for a DataFrame, sorted).
    covariance : {"us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh"}
        Within-subject covariance structure (default unstructured).
    df : {"kenward-roger", "satterthwaite", "residual", "between-within"}
        Degrees-of-freedom method; Kenward-Roger also adjusts the covariance of beta.
    method : {"reml", "ml"}
    covariates : sequence of str
        Extra fixed effects (numeric: one slope; text: treatment-coded levels).
    group_by_arm : bool
        One covariance matrix per arm.
    fallback : bool
        If the requested structure does not converge, try the next simpler one in
        ``FALLBACK_ORDER`` (us, toeph, ar1h, csh, cs); what happened is in ``fallback_log`` and
        the fit table. With ``False`` a failure raises.
    alpha : float
    start : array_like, optional
        A T x T covariance matrix to start the optimiser from (e.g. the generating covariance
        of a simulation). Newton steps are then tried first, which is much faster near the
        optimum; the fit found is the same.

    Returns
    -------
    MMRMResults

    Raises
    ------
    MMRMFitError
        Singular design (a fixed effect not estimable, e.g. a visit with too few
        observations), or no structure converged.

    Notes
    -----
    Fixed effects: visit + arm:visit + baseline:visit (+ covariates) - the SPEC's default MMRM,
    in a cell-means parameterisation of the same model space as R's
    ``chg ~ visit + arm:visit + base:visit``. LS means hold baseline and numeric covariates at
    their means over the analysed rows and weight the levels of text covariates equally, as
    emmeans and SAS do.
    """
    covariates = list(covariates)
    if len(set(covariates)) != len(covariates):
        raise ValueError(f"covariates must not repeat a column, got {covariates!r}")
    if isinstance(data, pd.DataFrame):
        if reference is None:
            raise ValueError("reference is required when data is a DataFrame")
    else:
        from ...data.trial import Trial  # here: a frame's caller need not load the data layer

        if not isinstance(data, Trial):
            raise TypeError(f"data must be a Trial or a DataFrame, got {type(data).__name__}")
        trial = data
        trial.require_analysable()
        reference = reference or trial.reference
        arms = list(arms) if arms is not None else list(trial.arms)
        data = mmrm_data(trial, covariates)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if df not in DF_METHODS:
        raise ValueError(f"df must be one of {DF_METHODS}, got {df!r}")
    if method not in ("reml", "ml"):
        raise ValueError(f"method must be 'reml' or 'ml', got {method!r}")
    if covariance not in COVARIANCE_STRUCTURES:
        raise ValueError(f"covariance must be one of {COVARIANCE_STRUCTURES}, got {covariance!r}")
    if df == "kenward-roger" and method != "reml":
        raise ValueError("Kenward-Roger degrees of freedom need REML")
    data = data.dropna(subset=["change", "baseline", *covariates]).reset_index(drop=True)
    arms = list(arms) if arms is not None else sorted(pd.unique(data["arm"]))
    present = set(pd.unique(data["arm"]))
    arms = [a for a in arms if a in present]
    if reference not in arms:
        raise MMRMFitError(
            f"reference arm {reference!r} has no post-baseline scores of subjects with a baseline "
            f"(arms with some: {', '.join(map(str, arms)) or 'none'})"
        )
    if len(arms) < 2:
        raise MMRMFitError("the MMRM needs at least two arms with observations")
    design = build_design(data, reference, arms, covariates)
    X = design.matrix(data)
    rank = _check_estimable(X, design, data)
    y = data["change"].to_numpy(float)
    subj = pd.factorize(data["subject_id"])[0]
    vis = np.searchsorted(design.visits, data["visit"].to_numpy())
    groups = arms if group_by_arm else ["all"]
    gidx = (
        pd.Categorical(data["arm"], categories=arms).codes
        if group_by_arm
        else np.zeros(len(data), int)
    )
    T = len(design.visits)
    if start is not None and np.shape(start) != (len(design.visits),) * 2:
        raise ValueError(
            f"start must be a {len(design.visits)} x {len(design.visits)} covariance matrix"
        )

    def empirical():
        """Starting covariance: covariance of OLS residuals by visit pair."""
        beta_ols = np.linalg.lstsq(X, y, rcond=None)[0]
        resid = pd.DataFrame({"s": subj, "v": vis, "r": y - X @ beta_ols}).pivot(
            index="s", columns="v", values="r"
        )
        emp = resid.reindex(columns=range(T)).cov(min_periods=2).to_numpy()
        emp = np.where(np.isfinite(emp), emp, 0.0)
        np.fill_diagonal(emp, np.where(np.diag(emp) > 0, np.diag(emp), np.nanvar(y) or 1.0))
        return emp

    order = [covariance] + (
        [
            s
            for s in FALLBACK_ORDER
            if s != covariance
            and FALLBACK_ORDER.index(s)
            > (FALLBACK_ORDER.index(covariance) if covariance in FALLBACK_ORDER else -1)
        ]
        if fallback
        else []
    )
    log = []
    for name in order:
        structure = CovarianceStructure(name, T)
        model = Model(X, y, subj, vis, gidx, structure, len(groups), method == "reml")
        warm = start is not None and name == covariance
        base_cov = start if warm else empirical()
        theta0 = np.concatenate([structure.start(base_cov) for _ in groups])
        try:
            with np.errstate(all="ignore"):
                theta, val, g, H, n_eval = _optimise(model, theta0)
        except (linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            log.append(f"{name}: failed ({exc})")
            continue
        ok, why = _converged(val, g, H)
        if ok:
            break
        log.append(f"{name}: did not converge ({why})")
    else:
        raise MMRMFitError(
            "the MMRM did not converge with any covariance structure tried: " + "; ".join(log)
            + ". Check for visits with very few observations or a covariate that is constant."
        )  # fmt: skip
    if log:
        log.append(f"used {name}")
        warnings.warn("MMRM fallback: " + "; ".join(log), ConvergenceWarning, stacklevel=2)
    val, grad, pieces = model.evaluate(theta)
    Phi = pieces["Phi"]
    W = 2.0 * linalg.inv(H)  # covariance of theta: inverse Hessian of -l (H is of -2 l)
    P = p_matrices(model, theta, pieces)
    Vadj = kr_adjusted_vcov(model, theta, pieces, P, W) if df == "kenward-roger" else None
    if Vadj is not None and not (
        np.all(np.isfinite(Vadj)) and np.linalg.eigvalsh((Vadj + Vadj.T) / 2).min() > 0
    ):
        raise MMRMFitError(
            "the Kenward-Roger adjusted covariance is not positive definite (too few subjects per "
            "visit for the covariance parameters); use --df satterthwaite or a simpler --covariance"
        )
    names = design.names
    n_sub = int(data["subject_id"].nunique())
    bw = (n_sub, len(data) - n_sub - rank)
    visit_labels = [f"{v:g}" for v in design.visits]
    return MMRMResults(
        beta=pd.Series(pieces["beta"], index=names),
        vcov=pd.DataFrame(Phi, index=names, columns=names),
        vcov_adjusted=None if Vadj is None else pd.DataFrame(Vadj, index=names, columns=names),
        theta=theta,
        theta_vcov=W,
        sigma=[pd.DataFrame(s, index=visit_labels, columns=visit_labels) for s in pieces["sig"]],
        neg2_loglik=float(val),
        method=method,
        df_method=df,
        covariance=name,
        covariance_requested=covariance,
        converged=True,
        fallback_log=log,
        n_subjects=n_sub,
        n_obs=len(data),
        n_evaluations=int(n_eval),
        max_gradient=float(np.max(np.abs(grad))) if len(grad) else 0.0,
        design=design,
        _P=P,
        groups=groups,
        alpha=alpha,
        _bw=bw,
    )


def _converged(val, g, H) -> tuple[bool, str]:
    if not np.isfinite(val):
        return False, "the likelihood is not finite"
    if g is None or np.max(np.abs(g)) > 1e-3 * max(1.0, abs(val)) * 1e-2:
        return False, f"gradient {np.max(np.abs(g)) if g is not None else np.nan:.2g} not near zero"
    try:
        w = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:
        return False, "Hessian not computable"
    if not np.all(np.isfinite(w)) or w.min() <= 1e-10 * max(1.0, w.max()):
        return False, "Hessian not positive definite (a variance parameter at its boundary)"
    return True, ""


def _check_estimable(X, design, data) -> int:
    """The rank of X, or an error naming the fixed effects that cannot all be estimated."""
    rank = np.linalg.matrix_rank(X)
    if rank == X.shape[1]:
        return rank
    # name every column involved in a linear dependence (the null space of X'X)
    XtX = X.T @ X
    w, v = np.linalg.eigh(XtX / max(np.abs(XtX).max(), 1e-300))
    null = v[:, w < 1e-10]
    involved = np.flatnonzero(np.abs(null).max(axis=1) > 1e-6)
    bad = [design.names[i] for i in involved]
    counts = data.groupby("visit").size()
    few = [
        f"visit {v:g} has {n} observation{'s' if n != 1 else ''}"
        for v, n in counts.items()
        if n <= len(design.arms) + 1
    ]
    raise MMRMFitError(
        "singular design: these fixed effects are linearly dependent, so not all can be "
        "estimated: " + ", ".join(bad)
        + (" (" + "; ".join(few) + ")" if few else "")
        + ". Remove or merge sparse visits, or drop covariates that are constant or collinear."
    )  # fmt: skip
