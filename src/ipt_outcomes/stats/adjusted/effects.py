"""The public verbs of the covariate-adjusted analysis: the working model (step 1), the
counterfactual predictions (step 2), their averages (step 3), their variance (step 4) and the
contrasts (step 5), each from its own module, put together for one outcome, per visit, or for a
trial."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .averaging import MarginalRisks, average_predictions
from .checks import (
    _check_alpha,
    _check_columns,
    _check_variance,
    _match_arm,
    _names,
    _outcome_values,
    _sorted,
)
from .contrasts import COLUMNS, EXTRA_COLUMNS, _effect_rows, _excluded_note
from .predictions import predict_counterfactuals
from .variance import _ge_cov, _ye_cov
from .working_model import PROB_EPS, _Design, _fit_logistic, _original_scale, _separated


def _complete_cases(data, cols):
    from ...data.covariates import present

    keep = pd.concat([present(data[c]) for c in cols], axis=1).all(axis=1)
    return data.loc[keep, list(cols)].reset_index(drop=True), int((~keep).sum())


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
    Xk, preds = predict_counterfactuals(design, fit.beta, all_frame, arm, kept)
    risk_kept = average_predictions(preds)
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
    from ..response import binary_outcomes

    covariates = _names(covariates, "covariates")
    strata = _names(strata, "strata")
    trial.require_analysable()
    out = binary_outcomes(trial, missing)
    scores = trial.scores
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
        out[col] = out["subject_id"].map(trial.baseline_values([col])[col]).to_numpy()
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
