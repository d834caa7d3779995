"""Fitting the MMRM: the data a formula names, starting values, Newton on the analytic Hessian
(L-BFGS-B when Newton stalls), the fallback over covariance structures, then inference.

Estimation by REML (default) or ML on the pattern-wise likelihood of :mod:`.likelihood`;
covariance of the fixed effects asymptotic, Kenward-Roger (:mod:`.kenward_roger`, both forms) or
empirical (:mod:`.empirical`); degrees of freedom Kenward-Roger, Satterthwaite (:mod:`.
satterthwaite`), residual or between-within, in the combinations R mmrm allows. Validated against
R mmrm 0.3.18 (``tests/reference/mmrm_vcov``, ``tests/reference/mmrm_r``,
``tests/reference/madrs3``) and ``nlme::gls`` (``tests/reference/mmrm``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import linalg

from ...constants import DF_METHODS
from ...exceptions import ConvergenceWarning
from .covariance import MMRM_COVARIANCES, make_structure
from .data import MMRMFitError, _prepare, _Prepared, _visit_label, default_formula, mmrm_data
from .empirical import EMPIRICAL, empirical_vcov
from .kenward_roger import kr_adjusted_vcov
from .likelihood import Model, hessian
from .optimise import _converged, _empirical_start, _optimise, _spatial_start
from .results import MMRMResults

__all__ = [
    "COVARIANCE_STRUCTURES",
    "DF_METHODS",
    "FALLBACK_ORDER",
    "MAX_US_PARAMETERS",
    "MMRMFitError",
    "VCOV_METHODS",
    "default_formula",
    "fit_mmrm",
    "mmrm",
    "mmrm_data",
    "resolve_vcov",
]

COVARIANCE_STRUCTURES = MMRM_COVARIANCES
FALLBACK_ORDER = ("us", "toeph", "ar1h", "csh", "cs")
#: R mmrm's ``vcov`` choices (lower case).
VCOV_METHODS = ("asymptotic", "kenward-roger", "kenward-roger-linear", *EMPIRICAL)
#: The largest unstructured covariance fitted (parameters over all groups): 27 visits. Beyond it
#: the fit's time and memory grow as the sixth power of the visits, so the fallback takes a
#: structured covariance instead (or the fit is refused with ``fallback=False``).
MAX_US_PARAMETERS = 400


def resolve_vcov(df: str, vcov: str | None) -> str:
    """The covariance of the fixed effects for a df method, checked as R mmrm checks it.

    Default: ``kenward-roger-linear`` with Kenward-Roger df (SAS ``DDFM=KR``), else
    ``asymptotic``. Kenward-Roger df go with a Kenward-Roger covariance and only with it.

    Examples
    --------
    >>> resolve_vcov("satterthwaite", None), resolve_vcov("kenward-roger", None)
    ('asymptotic', 'kenward-roger-linear')
    """
    if df not in DF_METHODS:
        raise ValueError(f"df must be one of {DF_METHODS}, got {df!r}")
    if vcov is None:
        return "kenward-roger-linear" if df == "kenward-roger" else "asymptotic"
    if vcov not in VCOV_METHODS:
        raise ValueError(f"vcov must be one of {VCOV_METHODS}, got {vcov!r}")
    kr_v = vcov in ("kenward-roger", "kenward-roger-linear")
    if df == "kenward-roger" and not kr_v:
        raise ValueError(
            f"Kenward-Roger degrees of freedom need a Kenward-Roger covariance "
            f"(kenward-roger or kenward-roger-linear), not {vcov!r} (as R mmrm)"
        )
    if kr_v and df != "kenward-roger":
        raise ValueError(
            f"the {vcov} covariance goes with Kenward-Roger degrees of freedom only, "
            f"not {df!r} (as R mmrm)"
        )
    return vcov


# --------------------------------------------------------------------------------------------
# optimisation
# --------------------------------------------------------------------------------------------


def _first(items: list[str], sep: str, n: int = 10) -> str:
    """The first ``n`` items joined, then how many more (a message stays a few lines)."""
    more = len(items) - n
    return sep.join(items[:n]) + (f"{sep}... and {more:,} more" if more > 0 else "")


def _check_estimable(X, names, frame, visit_col, n_arms) -> int:
    """The rank of X, or an error naming the fixed effects that cannot all be estimated."""
    rank = np.linalg.matrix_rank(X)
    if rank == X.shape[1]:
        return rank
    XtX = X.T @ X
    w, v = np.linalg.eigh(XtX / max(np.abs(XtX).max(), 1e-300))
    null = v[:, w < 1e-10]
    involved = np.flatnonzero(np.abs(null).max(axis=1) > 1e-6)
    bad = [names[i] for i in involved]
    few = []
    if visit_col is not None:
        counts = frame.groupby(visit_col, observed=True).size()
        few = [f"visit {v} has {n} observation{'s' if n != 1 else ''}"
               for v, n in counts.items() if n <= n_arms + 1]  # fmt: skip
    raise MMRMFitError(
        "singular design: these fixed effects are linearly dependent, so not all can be "
        "estimated: " + _first(bad, ", ")
        + (" (" + _first(few, "; ") + ")" if few else "")
        + ". Remove or merge sparse visits, or drop covariates that are constant or collinear."
    )  # fmt: skip


def _us_too_big(prep: _Prepared, T: int, rank: int) -> str | None:
    """Why an unstructured covariance over T visits is too large for these data, or None."""
    k = T * (T + 1) // 2
    n_groups = len(prep.groups)
    k_all = k * n_groups
    n_obs = len(prep.y)
    n_sub = pd.Series(prep.subject).groupby(prep.group_idx).nunique()
    where = "" if n_groups == 1 else " per covariance group"
    if k_all > MAX_US_PARAMETERS:
        return (
            f"{T} visits need {k_all} covariance parameters{where and ' in all'}, more than the "
            f"{MAX_US_PARAMETERS} an unstructured covariance is fitted with "
            f"({int(n_sub.sum())} subjects, {n_obs} observations)"
        )
    if n_sub.min() <= T:
        return (
            f"{T} visits need {k} covariance parameters{where}, but a group has only "
            f"{int(n_sub.min())} subjects (the unstructured covariance needs more subjects "
            "than visits)"
        )
    if k_all >= n_obs - rank:
        return (
            f"{T} visits need {k_all} covariance parameters, as many as the {n_obs} "
            f"observations leave after {rank} fixed effects"
        )
    return None


def _fit_core(prep: _Prepared, *, covariance, df, vcov, method, fallback, alpha, start):
    X, y = prep.design.matrix, prep.y
    names = prep.design.names
    rank = _check_estimable(X, names, prep.frame, prep.by, max(len(prep.arms), 1))
    T = len(prep.visits)
    n_groups = len(prep.groups)
    if start is not None and (prep.coords is not None or np.shape(start) != (T, T)):
        raise ValueError(f"start must be a {T} x {T} covariance matrix")
    if covariance == "sp_exp" or prep.coords is not None:
        order = [covariance]
    else:
        order = [covariance] + (
            [s for s in FALLBACK_ORDER if s != covariance
             and FALLBACK_ORDER.index(s) > (FALLBACK_ORDER.index(covariance)
                                            if covariance in FALLBACK_ORDER else -1)]
            if fallback else []
        )  # fmt: skip
    log = []
    theta = model = H = val = None
    n_eval = 0
    for name in order:
        if name == "us":
            why = _us_too_big(prep, T, rank)
            if why is not None:
                log.append(f"us: not fitted ({why})")
                continue
        structure = make_structure(name, T)
        model = Model(X, y, prep.subject, prep.visit_idx, prep.group_idx, structure, n_groups,
                      method == "reml", coords=prep.coords, weights=prep.weights)  # fmt: skip
        if structure.spatial:
            theta0 = np.concatenate([_spatial_start(prep, X, y, structure)] * n_groups)
        else:
            warm = start is not None and name == covariance
            base = start if warm else _empirical_start(X, y, prep.subject, prep.visit_idx, T)
            theta0 = np.concatenate([structure.start(base) for _ in range(n_groups)])
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
        if len(order) == 1 and log and log[0].startswith("us: not fitted"):
            raise MMRMFitError(
                "the unstructured covariance is too large for these data: "
                + log[0][len("us: not fitted (") : -1]
                + "; use a structured --covariance (e.g. toeph, ar1h, csh) or allow the fallback"
            )
        raise MMRMFitError(
            "the MMRM did not converge with any covariance structure tried: " + "; ".join(log)
            + ". Check for visits with very few observations or a covariate that is constant."
        )  # fmt: skip
    if log:
        log.append(f"used {name}")
        warnings.warn("MMRM fallback: " + "; ".join(log), ConvergenceWarning, stacklevel=3)
    val, grad, pieces = model.evaluate(theta)
    Phi = pieces["Phi"]
    cached = getattr(model, "p_cache", None)
    if cached is not None and cached[1] is not None and np.array_equal(cached[0], theta):
        P = cached[1]
    else:
        got = {}
        H = hessian(model, theta, pieces, out_p=got)
        P = got["P"]
    W = 2.0 * linalg.inv(H)  # covariance of theta: inverse Hessian of -l (H is of -2 l)
    Vadj, emp = coefficient_vcov(model, theta, pieces, P, W, vcov)
    n_sub = int(len(np.unique(prep.subject)))
    sigma = []
    if not structure.spatial:
        labels = [_visit_label(v) for v in prep.visits]
        sigma = [pd.DataFrame(s, index=labels, columns=labels) for s in pieces["sig"]]
    return MMRMResults(
        beta=pd.Series(pieces["beta"], index=names),
        vcov=pd.DataFrame(Phi, index=names, columns=names),
        vcov_adjusted=None if Vadj is None else pd.DataFrame(Vadj, index=names, columns=names),
        theta=theta,
        theta_vcov=W,
        sigma=sigma,
        neg2_loglik=float(val),
        method=method,
        df_method=df,
        covariance=name,
        covariance_requested=covariance,
        converged=True,
        fallback_log=log,
        n_subjects=n_sub,
        n_obs=len(y),
        n_evaluations=int(n_eval),
        max_gradient=float(np.max(np.abs(grad))) if len(grad) else 0.0,
        design=_grid_of(prep),
        _P=P,
        groups=prep.groups,
        alpha=alpha,
        vcov_method=vcov,
        formula=str(prep.formula),
        _empirical=emp,
        _bw=_between_within(X, prep.subject, names),
        _model_design=prep.design,
        _frame=prep.frame,
        _state=(model, pieces),
    )


def coefficient_vcov(model, theta, pieces, P, W, vcov: str):
    """The covariance of beta inference uses when it is not Phi (Kenward-Roger or empirical),
    and the empirical pieces its degrees of freedom need."""
    if vcov in ("kenward-roger", "kenward-roger-linear"):
        Vadj = kr_adjusted_vcov(model, theta, pieces, P, W, linear=vcov == "kenward-roger-linear")
        if not (np.all(np.isfinite(Vadj)) and np.linalg.eigvalsh((Vadj + Vadj.T) / 2).min() > 0):
            raise MMRMFitError(
                "the Kenward-Roger adjusted covariance is not positive definite (too few subjects "
                "per visit for the covariance parameters); use --df satterthwaite or a simpler "
                "--covariance"
            )
        return Vadj, None
    if vcov in EMPIRICAL:
        emp = empirical_vcov(model, pieces, vcov)
        return emp.vcov, emp
    return None, None


def _between_within(X, subject, names) -> dict:
    """R mmrm's between-within df: per coefficient 'intercept', 'between' (constant within every
    subject) or 'within', and the two residual dfs."""
    n_sub = int(subject.max()) + 1 if len(subject) else 0
    kinds = []
    for j, name in enumerate(names):
        if name == "Intercept":
            kinds.append("intercept")
            continue
        pairs = pd.DataFrame({"x": X[:, j], "s": subject}).drop_duplicates()
        kinds.append("within" if len(pairs) > n_sub else "between")
    n_between = kinds.count("between")
    n_within = kinds.count("within")
    n_int = kinds.count("intercept")
    return dict(kinds=kinds, between=n_sub - n_between - n_int,
                within=len(subject) - n_sub - n_within)  # fmt: skip


def _grid_of(prep: _Prepared):
    from .results import LSGrid

    return LSGrid(design=prep.design, arm=prep.arm, arms=list(prep.arms), reference=prep.reference,
                  by=prep.by, visits=list(prep.by_values), levels=list(prep.by_levels))  # fmt: skip


# --------------------------------------------------------------------------------------------
# the public functions
# --------------------------------------------------------------------------------------------


def _check_options(df, vcov, method, alpha, covariance):
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if method not in ("reml", "ml"):
        raise ValueError(f"method must be 'reml' or 'ml', got {method!r}")
    vcov = resolve_vcov(df, vcov)
    if df == "kenward-roger" and method != "reml":
        raise ValueError("Kenward-Roger degrees of freedom need REML")
    if covariance is not None and covariance not in MMRM_COVARIANCES:
        raise ValueError(f"covariance must be one of {MMRM_COVARIANCES}, got {covariance!r}")
    return vcov


def mmrm(
    formula: str,
    data,
    *,
    reference: str | None = None,
    arm: str | None = "arm",
    visit: str | None = None,
    df: str = "kenward-roger",
    vcov: str | None = None,
    method: str = "reml",
    weights=None,
    fallback: bool = False,
    alpha: float = 0.05,
    start=None,
) -> MMRMResults:
    """Fit an MMRM given as an R mmrm formula.

    Parameters
    ----------
    formula : str
        ``response ~ fixed effects + structure(visit | subject)``, as R mmrm:
        ``"change ~ arm * visit + baseline * visit + SEX + us(visit | subject)"``. Structures
        ``us, cs, csh, ar1, ar1h, toep, toeph, ad, adh`` over a visit factor (numbers become
        levels in numeric order) and ``sp_exp(time | subject)`` in numeric coordinates;
        ``us(visit | arm / subject)`` fits one covariance matrix per arm. A column named in
        another case than in the data (``SEX`` for ``sex``) is matched when unique.
    data : Trial or DataFrame
        A :class:`~ipt_outcomes.data.trial.Trial` (its observed post-baseline rows of subjects
        with a baseline: ``subject_id`` (also as ``subject``), ``arm``, ``visit``, ``time``,
        ``change``, ``baseline``, ``score`` and the other columns) or any long frame.
    reference : str, optional
        Reference arm of the contrasts (default: the trial's, else the first arm).
    arm : str or None
        The treatment factor of the LS means and contrasts (default ``arm``).
    visit : str, optional
        The factor the LS means are given by (default: the covariance term's visit).
    df : {"kenward-roger", "satterthwaite", "residual", "between-within"}
    vcov : {"asymptotic", "kenward-roger", "kenward-roger-linear", "empirical",
            "empirical-bias-reduced", "empirical-jackknife"}, optional
        Covariance of the fixed effects (R mmrm's ``vcov``). Default kenward-roger-linear with
        Kenward-Roger df, else asymptotic. Kenward-Roger df go with a Kenward-Roger covariance
        only, as in R.
    method : {"reml", "ml"}
    weights : str or array_like, optional
        A column (or one value per row) of positive weights: subject i's covariance is
        ``W_i^-1/2 Sigma W_i^-1/2`` (R mmrm's ``weights``).
    fallback : bool
        Try simpler structures if this one does not converge (default False: R fails).
    alpha : float
    start : array_like, optional
        A T x T covariance to start from.

    Returns
    -------
    MMRMResults

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(2)
    >>> n = 60
    >>> d = pd.DataFrame({"subject": np.repeat(np.arange(n), 3),
    ...                   "arm": np.repeat(rng.permutation(["A", "B"] * (n // 2)), 3),
    ...                   "visit": np.tile([1, 2, 3], n)})
    >>> d["y"] = rng.normal(size=len(d)) + (d["arm"] == "B") * d["visit"] * 0.5
    >>> fit = mmrm("y ~ arm * visit + ar1(visit | subject)", d, df="satterthwaite")
    >>> fit.contrasts()[["arm", "reference", "visit"]].to_dict("list")
    {'arm': ['B', 'B', 'B'], 'reference': ['A', 'A', 'A'], 'visit': [1, 2, 3]}
    """
    vcov = _check_options(df, vcov, method, alpha, None)
    frame, arms = data, None
    if not isinstance(data, pd.DataFrame):
        from ...data.trial import Trial

        if not isinstance(data, Trial):
            raise TypeError(f"data must be a Trial or a DataFrame, got {type(data).__name__}")
        data.require_analysable()
        reference = reference or data.reference
        arms = list(data.arms)
        frame = data.derived[data.derived["score"].notna()].reset_index(drop=True)
        from ...data.covariates import numeric_or_as_is

        structure = {"subject_id", "arm", "visit", "visit_label", "therapy_group"}
        for c in frame.columns:  # a column of numbers read as text (AGE) is a number, as in R
            if c not in structure:
                frame[c] = numeric_or_as_is(frame[c])
        if "subject" not in frame.columns:
            frame = frame.assign(subject=frame["subject_id"])
    prep = _prepare(formula, frame, reference=reference, arm=arm, arms=arms, visit=visit,
                    weights=weights)  # fmt: skip
    if prep.arm is not None and len(prep.arms) < 2 and arm == "arm":
        raise MMRMFitError("the MMRM needs at least two arms with observations")
    return _fit_core(prep, covariance=prep.formula.covariance.structure, df=df, vcov=vcov,
                     method=method, fallback=fallback, alpha=alpha, start=start)  # fmt: skip


def fit_mmrm(
    data,
    *,
    reference: str | None = None,
    arms=None,
    covariance: str = "us",
    df: str = "kenward-roger",
    vcov: str | None = None,
    method: str = "reml",
    covariates=(),
    group_by_arm: bool = False,
    weights=None,
    fallback: bool = True,
    alpha: float = 0.05,
    start=None,
) -> MMRMResults:
    """Fit the SPEC's default MMRM of change from baseline.

    Parameters
    ----------
    data : Trial or DataFrame
        A :class:`~ipt_outcomes.data.trial.Trial` (its observed post-baseline changes are
        analysed, see :func:`mmrm_data`), or a frame ``subject_id, arm, visit, change,
        baseline`` (and covariates; ``time`` for ``sp_exp``), one row per observed
        post-baseline assessment.
    reference : str, optional
        Reference arm of the contrasts (default: the trial's; required with a DataFrame).
    arms : sequence, optional
        Arm order (default: the trial's design order; for a DataFrame, sorted).
    covariance : {"us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh", "sp_exp"}
        Within-subject covariance structure (default unstructured); ``sp_exp`` is the spatial
        exponential in the visits' times (the design's ``times``).
    df : {"kenward-roger", "satterthwaite", "residual", "between-within"}
    vcov : str, optional
        Covariance of the fixed effects, as in :func:`mmrm`.
    method : {"reml", "ml"}
    covariates : sequence of str
        Extra fixed effects (numeric: one slope; text: treatment-coded levels).
    group_by_arm : bool
        One covariance matrix per arm.
    weights : str or array_like, optional
        A column of positive weights (see :func:`mmrm`).
    fallback : bool
        If the requested structure does not converge (or an unstructured one is too large for
        the data), try the next simpler one in ``FALLBACK_ORDER`` (us, toeph, ar1h, csh, cs);
        what happened is in ``fallback_log`` and the fit table. With ``False`` a failure raises.
    alpha : float
    start : array_like, optional
        A T x T covariance matrix to start the optimiser from.

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
    The formula ``change ~ visit + arm:visit + baseline:visit + covariates +
    us(visit | subject_id)`` (:func:`default_formula`), fitted by :func:`mmrm`. LS means hold
    baseline and numeric covariates at their means over the analysed rows and weight the levels
    of text covariates equally, as emmeans and SAS do.
    """
    covariates = list(covariates)
    if len(set(covariates)) != len(covariates):
        raise ValueError(f"covariates must not repeat a column, got {covariates!r}")
    vcov = _check_options(df, vcov, method, alpha, covariance)
    if isinstance(data, pd.DataFrame):
        if reference is None:
            raise ValueError("reference is required when data is a DataFrame")
        frame = data
    else:
        from ...data.trial import Trial  # here: a frame's caller need not load the data layer

        if not isinstance(data, Trial):
            raise TypeError(f"data must be a Trial or a DataFrame, got {type(data).__name__}")
        trial = data
        trial.require_analysable()
        reference = reference or trial.reference
        arms = list(arms) if arms is not None else list(trial.arms)
        extra = [weights] if isinstance(weights, str) and weights not in covariates else []
        frame = mmrm_data(trial, [*covariates, *extra])
    if covariance == "sp_exp" and "time" not in frame.columns:
        frame = frame.assign(time=frame["visit"].astype(float))
    frame = frame.dropna(subset=["change", "baseline", *covariates]).reset_index(drop=True)
    present = set(pd.unique(frame["arm"]))
    arm_order = [
        a for a in (arms if arms is not None else sorted(present, key=str)) if a in present
    ]
    if reference not in arm_order:
        raise MMRMFitError(
            f"reference arm {reference!r} has no post-baseline scores of subjects with a baseline "
            f"(arms with some: {', '.join(map(str, arm_order)) or 'none'})"
        )
    if len(arm_order) < 2:
        raise MMRMFitError("the MMRM needs at least two arms with observations")
    formula = default_formula(covariates, covariance, group_by_arm)
    prep = _prepare(formula, frame, reference=reference, arm="arm", arms=arm_order, visit="visit",
                    weights=weights)  # fmt: skip
    return _fit_core(prep, covariance=covariance, df=df, vcov=vcov, method=method,
                     fallback=fallback, alpha=alpha, start=start)  # fmt: skip
