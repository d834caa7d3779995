"""Reference-based multiple imputation for estimands with intercurrent events, as R rbmi.

:func:`reference_based_mi` runs the whole analysis: the imputation model (:mod:`.imputation`),
the completed data sets of the chosen method, the ANCOVA of each (:mod:`.analysis`) and the
pooling; it returns :class:`MIResults`, whose :meth:`~MIResults.contrasts` and
:meth:`~MIResults.lsmeans` are SPEC ``mi_contrasts.csv`` and ``mi_lsmeans.csv`` and whose
:meth:`~MIResults.tipping_point` is the delta-adjusted grid.

Methods (Wolbers et al. 2022, *Pharm Stat* 21:1246; Gower-Page et al. 2022, *JOSS* 7:4251):

* ``condmean`` - conditional mean imputation: the full data imputed by their conditional mean
  under the REML fit; standard errors by the jackknife (each subject left out in turn: the
  model refitted, the other subjects re-imputed and re-analysed; ``SE = sqrt((n-1)/n sum
  (theta_i - theta_bar)^2)``, normal CI) or the bootstrap (subjects resampled within arm, each
  sample refitted, re-imputed and re-analysed; SE the sd of the estimates, normal CI, or
  type-6 percentile CI); the point estimate is always the full-data one.
* ``approxbayes`` - M bootstrap samples (within arm), each with its own REML fit; each fit
  imputes the original data by a draw from the conditional normal; Rubin's rules with the
  Barnard-Rubin df (complete-data df = the ANCOVA residual df).
* ``bayes`` - M posterior draws of the imputation model (:mod:`.bayes`, seeded Gibbs chains
  with split-R-hat and effective sample size), each imputing the original data by a draw;
  Rubin's rules.

Beyond rbmi: any number of arms (every arm against the reference in one ANCOVA with all arms),
a single post-baseline visit, and the information-anchored variance for ``condmean``
(``variance="information-anchored"``; Cro, Carpenter & Kenward 2019): the share of information
lost to missing data is held at the MAR analysis's,
``V_IA = V_MAR,obs x V_S,full / V_MAR,full``, where ``V_MAR,obs`` is the resampling variance of
the MAR estimate and ``V_full`` the expected complete-data (ANCOVA) variance of data imputed by
draws from the fitted imputation distribution under the strategy (S) and under MAR, i.e. the
ANCOVA variance of the conditional-mean data with each subject's conditional variance added to
the residual sum of squares (weighted by ``1 - h_ii``).

Every random sample has its own ``SeedSequence(seed).spawn`` stream and samples are processed in
fixed chunks (:func:`ipt_outcomes.runtime.run_chunks`: here, on forked processes or on a Dask
cluster), so the numbers depend on the seed only, never on the number of worker processes.
Analyses of the same data under several strategies share their imputation model and its
conditional-mean refits through an :class:`ImputationCache`. Validated against R rbmi 1.5.2
(``tests/reference/rbmi``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..constants import MI_METHODS, MI_RESAMPLING, MI_STRATEGIES
from ..exceptions import IptOutcomesError
from ..models.results import ModelResults
from ..runtime import one_blas_thread
from .analysis import AncovaFits, ancova, pool_bootstrap, pool_jackknife, pool_rubin_many

__all__ = ["reference_based_mi", "MIResults", "MI_VARIANCES", "ImputationCache"]

#: Variance of the conditional-mean estimate.
MI_VARIANCES = ("resampling", "information-anchored")


def _chunk_size(model) -> int:
    """Samples per chunk of work: fixed by the problem's size (never by the number of workers,
    so the numbers do not depend on it), at most 256, and small enough that a chunk's pattern
    sums take about 200 MB at most."""
    cells = model.refitter.layout.size
    return int(max(16, min(256, 2.5e7 // max(cells, 1))))


#: Default number of samples (bootstrap samples, approximate-Bayes draws, posterior draws).
DEFAULT_SAMPLES = 500


# ------------------------------------------------------------------------------------------
# imputation models and refits shared by strategies
# ------------------------------------------------------------------------------------------


class ImputationCache:
    """Imputation models and their resampled refits, shared by the analyses of the same data.

    Analyses under different strategies (JR, CIR, the MAR of a tipping point) of the same data -
    the same observed changes before the same events, the same covariates, the same model
    settings - fit the same imputation model and, for conditional mean imputation, the same
    jackknife or bootstrap refits: only the imputation under each strategy and its analysis
    differ. Give one cache to each :func:`reference_based_mi` of such analyses (the analysis plan
    does) and the model and the refits are computed once; the numbers are those of separate
    runs, to the last bit. Approximate-Bayes and Bayesian draws are not shared (their imputations
    draw from the same random streams as their samples).

    Examples
    --------
    >>> import pandas as pd
    >>> from ipt_outcomes.data.trial import trial_from_frame
    >>> scores = pd.DataFrame({
    ...     "subject_id": [s for s in "abcdefgh" for _ in range(3)],
    ...     "arm": ["TAU"] * 12 + ["CBT"] * 12,
    ...     "visit": [0, 4, 8] * 8,
    ...     "hamd17": [20, 17, 15, 22, 20, None, 18, 15, 14, 25, 21, 20,
    ...                21, 14, 10, 19, 12, None, 24, 16, 11, 23, 15, 12]})
    >>> trial = trial_from_frame(scores, reference="TAU")
    >>> cache = ImputationCache()
    >>> jr = reference_based_mi(trial, "JR", cache=cache)
    >>> cir = reference_based_mi(trial, "CIR", cache=cache)
    >>> cache.models_fitted, cache.refits_computed
    (1, 1)
    >>> bool((cir.contrasts()["estimate"] == reference_based_mi(trial, "CIR").contrasts()["estimate"]).all())
    True
    """

    def __init__(self):
        self._models: dict = {}
        self._refits: dict = {}
        self.models_fitted = 0
        self.refits_computed = 0

    #: fields of :class:`~.imputation.MIData` that only say how to impute, not what is fitted
    NOT_FITTED = ("strategy", "events")

    @staticmethod
    def key(data, **settings) -> str:
        """What determines the fitted model: every field of the data but the strategies (the
        observed changes, events, arms, subjects, baseline, visits and any other), the model's
        design matrix, and the model settings (every argument of the imputation model)."""
        import hashlib

        h = hashlib.sha256()
        values = [(f.name, getattr(data, f.name)) for f in dataclasses.fields(data)
                  if f.name not in ImputationCache.NOT_FITTED]  # fmt: skip
        for name, v in [*values, ("design", data.design())]:
            h.update(name.encode())
            if isinstance(v, np.ndarray) and v.dtype != object and v.dtype.kind != "U":
                v = np.ascontiguousarray(v)
                h.update(str((v.dtype, v.shape)).encode() + v.tobytes())
            elif isinstance(v, np.ndarray):
                h.update("\x1f".join(map(str, v.ravel())).encode())
            else:
                h.update(repr(v).encode())
        h.update(repr(sorted(settings.items())).encode())
        return h.hexdigest()

    def model(self, key, data, fit):
        """The model of ``key`` (``fit()`` when there is none yet) for ``data``'s strategies."""
        if key not in self._models:
            self._models[key] = fit()
            self.models_fitted += 1
            return self._models[key]
        return _for_strategies(self._models[key], data)

    def refits(self, key):
        return self._refits.get(key)

    def store_refits(self, key, params) -> None:
        self._refits[key] = params
        self.refits_computed += 1


def _for_strategies(model, data):
    """The fitted ``model`` imputing ``data``'s subjects under their strategies (the same
    observed data; as :meth:`ImputationModel.as_mar` does for MAR)."""
    if data is model.data:
        return model
    out = copy.copy(model)
    out.data = data
    out._check(~np.isnan(data.y))  # e.g. LMCF needs a visit before the event
    out._plan = out._imputation_plan()
    return out


# ------------------------------------------------------------------------------------------
# chunks of work (module level: they run in worker processes)
# ------------------------------------------------------------------------------------------


@dataclass
class _Job:
    """What every chunk needs: the fitted model(s) and the analysis settings."""

    model: object  # ImputationModel under the strategy
    mar: object | None  # the same model under MAR (information-anchored variance), or None
    shift: np.ndarray
    method: str
    resampling: str


def _stratified_weights(arm: np.ndarray, n_arms: int, rng) -> np.ndarray:
    w = np.zeros(len(arm))
    for a in range(n_arms):
        rows = np.flatnonzero(arm == a)
        np.add.at(w, rows[rng.integers(0, len(rows), len(rows))], 1.0)
    return w


def _analyse(job: _Job, model, Y, weights, with_variance: bool) -> AncovaFits:
    d = model.data
    return ancova(Y, d.design(), d.ref_index, len(d.arms), weights, job.shift)


def _jackknife_chunk(task):
    """Leave-one-out samples ``members``: refitted (or the refits given), imputed, analysed.
    Returns the analyses and the refits (which other strategies on the same data share)."""
    job, members, params = task
    model = job.model
    n = model.data.n
    with one_blas_thread():
        W = np.ones((len(members), n))
        W[np.arange(len(members)), members] = 0.0
        if params is None:
            beta, sig, ok = model.refit(W)
            if not ok.all():
                bad = model.data.subjects[np.asarray(members)[~ok]]
                raise IptOutcomesError(
                    "the imputation model did not converge with subject(s) "
                    f"{', '.join(map(str, bad))} left out (jackknife)"
                )
        else:
            beta, sig = params
        fits = _analyse(job, model, model.impute(beta, sig), W, False)
        mar = (
            None if job.mar is None else _analyse(job, job.mar, job.mar.impute(beta, sig), W, False)
        )
    return fits, mar, 0, (beta, sig)


def _bootstrap_chunk(task):
    """Bootstrap samples (condmean) or approximate-Bayes draws, each from its own seed."""
    job, seeds, params = task
    model = job.model
    d = model.data
    if params is not None:  # condmean: the refits (and their samples) of another strategy
        beta, sig, W, failures = params
        with one_blas_thread():
            fits = _analyse(job, model, model.impute(beta, sig), W, False)
            mar = None
            if job.mar is not None:
                mar = _analyse(job, job.mar, job.mar.impute(beta, sig), W, False)
        return fits, mar, failures, params
    rngs = [np.random.default_rng(s) for s in seeds]
    obs = ~np.isnan(d.y)
    failures = 0
    with one_blas_thread():

        def draw(rng):
            for _ in range(1000):
                w = _stratified_weights(d.arm, len(d.arms), rng)
                # every arm must keep an observed change at every visit
                cells = np.stack([(w[:, None] * obs)[d.arm == a].sum(axis=0)
                                  for a in range(len(d.arms))])  # fmt: skip
                if np.all(cells > 0):
                    return w
            raise IptOutcomesError("no bootstrap sample keeps every arm observed at every visit")

        W = np.stack([draw(r) for r in rngs])
        beta, sig, ok = model.refit(W)
        for i in np.flatnonzero(~ok):  # a sample whose fit fails is replaced by a new one
            for _ in range(100):
                failures += 1
                W[i] = draw(rngs[i])
                b, s, k = model.refit(W[i : i + 1])
                if k[0]:
                    beta[i], sig[i] = b[0], s[0]
                    break
            else:
                raise IptOutcomesError(
                    "the imputation model failed on 100 bootstrap samples in a row"
                )
        if job.method == "condmean":
            fits = _analyse(job, model, model.impute(beta, sig), W, False)
            mar = None
            if job.mar is not None:
                mar = _analyse(job, job.mar, job.mar.impute(beta, sig), W, False)
        else:  # approxbayes: the original data, imputed by a draw under each sample's fit
            fits = _analyse(job, model, model.impute(beta, sig, rngs), None, True)
            mar = None
    return fits, mar, failures, (beta, sig, W, failures) if job.method == "condmean" else None


def _bayes_chain(task):
    from .bayes import gibbs_chain

    job, seed, n_keep, burn_in, thin = task
    model = job.model
    rng = np.random.default_rng(seed)
    with one_blas_thread():
        beta, sig = gibbs_chain(model, rng, n_keep, burn_in, thin)
        imp_rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed.entropy,
                    spawn_key=(*seed.spawn_key, 1)).spawn(n_keep)]  # fmt: skip
        fits = _analyse(job, model, model.impute(beta, sig, imp_rngs), None, True)
    G = sig.shape[1]
    T = sig.shape[-1]
    trace = np.concatenate(
        [beta.reshape(n_keep, -1),
         np.log(sig[:, :, np.arange(T), np.arange(T)]).reshape(n_keep, G * T)], axis=1)  # fmt: skip
    return fits, trace, 0


def _run(func, tasks, workers, progress, desc, scheduler=None):
    """Run the chunks (fixed, so the numbers do not depend on where they run) on the package's
    runner: in this process when ``workers`` is 1, or when it is None (automatic) and the chunks
    are quick (the first one is timed); else on ``workers`` processes forked from this one
    (automatic: one per core), or on a Dask cluster."""
    from ..runtime import run_chunks

    return run_chunks(func, tasks, workers=workers, scheduler=scheduler, progress=progress,
                      desc=desc, quick=3.0, fork=True)  # fmt: skip


# ------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------


@dataclass(repr=False)
class MIResults(ModelResults):
    """Reference-based multiple imputation: pooled contrasts and LS means, the tipping point.

    Attributes
    ----------
    data : MIData
        The analysed subjects, their changes (NaN where imputed) and events.
    model : ImputationModel
        The imputation model fitted to all subjects.
    method, resampling, strategy, variance : str
    delta : float
        Points added to the imputed post-event changes of the non-reference arms.
    n_samples : int
        Jackknife samples (n), bootstrap samples or imputations (M).
    diagnostics : DataFrame or None
        ``method="bayes"``: split-R-hat and effective sample size of every model parameter.
    """

    data: object
    model: object
    method: str
    resampling: str | None
    strategy: str
    variance: str
    delta: float
    alpha: float
    n_samples: int
    seed: int | None
    interval: str
    full: AncovaFits | None = field(repr=False, default=None)
    samples: AncovaFits | None = field(repr=False, default=None)
    mar_full: AncovaFits | None = field(repr=False, default=None)
    mar_samples: AncovaFits | None = field(repr=False, default=None)
    n_failures: int = 0
    diagnostics: pd.DataFrame | None = None
    shift: np.ndarray | None = field(repr=False, default=None)
    seconds: float = math.nan

    @property
    def title(self) -> str:
        how = {"condmean": f"conditional mean imputation, {self.resampling}",
               "approxbayes": "approximate Bayesian MI", "bayes": "Bayesian MI (Gibbs)"}  # fmt: skip
        return f"Reference-based MI ({self.strategy}; {how[self.method]})"

    @property
    def method_label(self) -> str:
        return f"condmean_{self.resampling}" if self.method == "condmean" else self.method

    def describe(self) -> str:
        return (
            f"{self.data.n} subjects, {self.model.n_missing} values imputed, delta {self.delta:g}"
        )

    # --- pooling ------------------------------------------------------------------------------
    def _pooled(self, delta: float) -> tuple[dict, dict]:
        """Pooled contrasts (k-1, T) and LS means (k, T) at ``delta``."""
        if self.method == "condmean":
            full_c, full_l = (x[0] for x in self.full.estimates(delta))
            smp_c, smp_l = self.samples.estimates(delta)
            if self.resampling == "jackknife":
                pc = pool_jackknife(full_c, smp_c, self.alpha)
                pl = pool_jackknife(full_l, smp_l, self.alpha)
            else:
                pc = pool_bootstrap(full_c, smp_c, self.alpha, self.interval)
                pl = pool_bootstrap(full_l, smp_l, self.alpha, self.interval)
            if self.variance == "information-anchored":
                pc, pl = self._anchor(pc, pl, delta)
            return pc, pl
        est_c, est_l = self.samples.estimates(delta)
        var_c, var_l = self.samples.variances(delta)
        dfc = float(self.samples.df[0])
        return (pool_rubin_many(est_c, var_c, dfc, self.alpha),
                pool_rubin_many(est_l, var_l, dfc, self.alpha))  # fmt: skip

    def _anchor(self, pc, pl, delta):
        from .analysis import _normal

        mar_c, mar_l = (x[0] for x in self.mar_full.estimates(0.0))
        smp_c, smp_l = self.mar_samples.estimates(0.0)
        pool = pool_jackknife if self.resampling == "jackknife" else pool_bootstrap
        se_mar_c = pool(mar_c, smp_c, self.alpha)["se"]
        se_mar_l = pool(mar_l, smp_l, self.alpha)["se"]
        u_s = self._full_variance(self.model, self.full, delta)
        u_m = self._full_variance(self._mar_model, self.mar_full, 0.0)
        se_c = se_mar_c * np.sqrt(u_s[0] / u_m[0])
        se_l = se_mar_l * np.sqrt(u_s[1] / u_m[1])
        return _normal(pc["estimate"], se_c, self.alpha), _normal(pl["estimate"], se_l, self.alpha)

    def _full_variance(self, model, fits: AncovaFits, delta: float):
        """Expected complete-data ANCOVA variances of data imputed by draws from the fitted
        imputation distribution: conditional-mean RSS plus sum (1 - h_ii) Var(y_it | observed)."""
        d = model.data
        Z = d.design()
        h = np.einsum("iq,qr,ir->i", Z, fits.inv[0], Z)
        cvar = model.conditional_variances(model.sigmas[None])[0]  # (n, T)
        extra = ((1 - h)[:, None] * cvar).sum(axis=0)
        f = dataclasses.replace(fits, rss=fits.rss + extra[None])
        var_c, var_l = f.variances(delta)
        return var_c[0], var_l[0]

    # --- tables -------------------------------------------------------------------------------
    def _tables(self, delta: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        d = self.data
        pc, pl = self._pooled(delta)
        cols = ("estimate", "se", "df", "ci_low", "ci_high", "p")
        con, lsm = [], []
        for t, v in enumerate(d.visits):
            for j, a in enumerate(d.others):
                con.append(dict(arm=d.arms[a], reference=d.reference, visit=float(v),
                                **{c: float(pc[c][j, t]) for c in cols}))  # fmt: skip
            for a in range(len(d.arms)):
                lsm.append(dict(arm=d.arms[a], visit=float(v),
                                **{c: float(pl[c][a, t]) for c in cols if c != "p"}))  # fmt: skip
        extra = dict(strategy=self.strategy, method=self.method_label, delta=float(delta))
        con = pd.DataFrame(con).assign(**extra)
        lsm = pd.DataFrame(lsm).assign(**extra)
        return con, lsm

    def contrasts(self, delta: float | None = None) -> pd.DataFrame:
        """Each non-reference arm minus the reference at each visit (SPEC ``mi_contrasts.csv``).

        Returns
        -------
        DataFrame
            ``arm, reference, visit, estimate, se, df, ci_low, ci_high, p, strategy, method,
            delta``: ANCOVA of change on arm and baseline, pooled. ``df`` is ``inf`` for the
            normal intervals of ``condmean``, the Barnard-Rubin df for Rubin's rules, empty for
            percentile bootstrap intervals.
        """
        return self._tables(self.delta if delta is None else delta)[0]

    def lsmeans(self, delta: float | None = None) -> pd.DataFrame:
        """LS mean of change per arm and visit (SPEC ``mi_lsmeans.csv``).

        Returns
        -------
        DataFrame
            ``arm, visit, estimate, se, df, ci_low, ci_high, p, strategy, method, delta``: the
            ANCOVA prediction with the arm set to each arm, averaged over all analysed subjects.
        """
        return self._tables(self.delta if delta is None else delta)[1]

    def summary(self) -> pd.DataFrame:
        return self.contrasts()

    def fit_table(self) -> pd.DataFrame:
        """One row: ``method, strategy, variance, n_subjects, n_imputed, n_events,
        n_set_missing, n_samples, n_failures, seed, delta, covariance, optimizer, neg2_loglik``
        (-2 log-likelihood of the imputation model fitted to all subjects; no timing, so that
        the same seed writes the same bytes)."""
        ev = self.data.events
        return pd.DataFrame([dict(
            method=self.method_label, strategy=self.strategy, variance=self.variance,
            n_subjects=self.data.n, n_imputed=self.model.n_missing,
            n_events=int(ev["visit"].notna().sum()), n_set_missing=self.data.n_set_missing,
            n_samples=self.n_samples, n_failures=self.n_failures, seed=self.seed,
            delta=self.delta, covariance=self.model.covariance
            + (" per arm" if self.model.group_by_arm else ""), optimizer=self.model.optimizer,
            neg2_loglik=self.model.neg2_loglik)])  # fmt: skip

    def imputed(self) -> pd.DataFrame:
        """The conditional-mean (``condmean``) completed data: ``subject_id, arm, visit, change,
        observed`` (one row per subject and visit)."""
        if self.method != "condmean":
            raise ValueError("the completed data are kept for condmean only")
        d = self.data
        coef_y = self.model.impute(self.model.beta[None], self.model.sigmas[None])[0]
        coef_y = coef_y + self.delta * self.shift
        return pd.DataFrame({
            "subject_id": np.repeat(d.subjects, d.T),
            "arm": np.repeat(np.asarray(d.arms, object)[d.arm], d.T),
            "visit": np.tile(d.visits, d.n), "change": coef_y.ravel(),
            "observed": (~d.missing).ravel()})  # fmt: skip

    # --- the tipping point --------------------------------------------------------------------
    def tipping_point(self, deltas, visit: float | None = None, arms=None) -> pd.DataFrame:
        """The contrasts at one visit over a grid of deltas (the same imputations, shifted).

        Parameters
        ----------
        deltas : sequence of float
            Points added to the imputed post-event changes of the non-reference arms.
        visit : float, optional
            Default the last visit.
        arms : sequence of str, optional
            Default every non-reference arm.

        Returns
        -------
        DataFrame
            ``arm, reference, visit, delta, estimate, se, df, ci_low, ci_high, p, significant,
            tipping_point, strategy, method``; ``tipping_point`` marks, on each side of the
            delta nearest 0, the first delta at which the conclusion at ``alpha`` changes.
        """
        visit = float(self.data.visits[-1] if visit is None else visit)
        rows = []
        for delta in sorted(float(x) for x in deltas):
            c = self.contrasts(delta)
            rows.append(c[c["visit"] == visit])
        table = pd.concat(rows, ignore_index=True)
        if arms is not None:
            table = table[table["arm"].isin(list(arms))]
        table = table.sort_values(["arm", "delta"], kind="stable").reset_index(drop=True)
        table["significant"] = table["p"] < self.alpha
        table["tipping_point"] = False
        for _, g in table.groupby("arm", sort=False):
            start = g["delta"].abs().idxmin()
            flips = g["significant"] != g.loc[start, "significant"]
            up = flips & (g.index > start)
            down = flips & (g.index < start)
            if up.any():
                table.loc[up.idxmax(), "tipping_point"] = True
            if down.any():
                table.loc[down[::-1].idxmax(), "tipping_point"] = True
        cols = ["arm", "reference", "visit", "delta", "estimate", "se", "df", "ci_low", "ci_high",
                "p", "significant", "tipping_point", "strategy", "method"]  # fmt: skip
        return table[cols]

    def tipping_point_exact(self, lower: float, upper: float, visit: float | None = None) -> pd.DataFrame:  # fmt: skip
        """The deltas in ``[lower, upper]`` at which p crosses ``alpha``, found by root finding.

        Returns
        -------
        DataFrame
            ``arm, reference, visit, delta, estimate, se, ci_low, ci_high, p, direction``
            (``direction``: the sign of the delta side, ``worse`` for positive deltas, which
            make the imputed changes of the non-reference arm larger).
        """
        from scipy import optimize

        visit = float(self.data.visits[-1] if visit is None else visit)
        t = int(np.searchsorted(self.data.visits, visit))
        grid = np.linspace(lower, upper, 201)
        rows = []
        for j, a in enumerate(self.data.others):

            def gap(delta, j=j):
                return float(self._pooled(delta)[0]["p"][j, t]) - self.alpha

            values = [gap(x) for x in grid]
            for x0, x1, v0, v1 in zip(grid, grid[1:], values, values[1:], strict=False):
                if v0 == 0 or np.sign(v0) != np.sign(v1):
                    root = x0 if v0 == 0 else optimize.brentq(gap, x0, x1, xtol=1e-12)
                    pc = self._pooled(root)[0]
                    rows.append(dict(
                        arm=self.data.arms[a], reference=self.data.reference, visit=visit,
                        delta=root, **{c: float(pc[c][j, t]) for c in
                                       ("estimate", "se", "ci_low", "ci_high", "p")},
                        direction="worse" if root > 0 else "better"))  # fmt: skip
        cols = ["arm", "reference", "visit", "delta", "estimate", "se", "ci_low", "ci_high", "p",
                "direction"]  # fmt: skip
        return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------------------------------
# the entry point
# ------------------------------------------------------------------------------------------


def _strategy_label(data, strategy: str) -> str:
    used = set(data.strategy[data.ice < data.T])
    if not used:
        return strategy
    return "/".join(s for s in MI_STRATEGIES if s in used)


def _baseline_values(trial, columns) -> pd.DataFrame | None:
    """One row per subject: each column's value on the baseline row, else its first non-missing
    value (covariates are measured at baseline)."""
    if not columns:
        return None
    d = trial.scores
    missing = [c for c in columns if c not in d.columns]
    if missing:
        raise IptOutcomesError(f"covariate column(s) not in the data: {', '.join(missing)}")
    from ..data.covariates import present

    out = trial.baseline_values(columns)
    analysed = out.index.isin(trial.baseline.index)
    for c in columns:
        gone = out.index[analysed & ~present(out[c]).to_numpy()]
        if len(gone):
            raise IptOutcomesError(
                f"covariate {c!r} is missing for {len(gone)} subject(s) with a baseline (e.g. "
                f"{', '.join(map(str, gone[:5]))}); the imputation model needs every analysed "
                "subject's covariates"
            )
        if out[c].nunique() < 2:
            raise IptOutcomesError(f"covariate {c!r} takes one value only: it cannot be estimated")
    return out


def reference_based_mi(
    trial,
    strategy: str = "MAR",
    *,
    events: pd.DataFrame | None = None,
    method: str = "condmean",
    resampling: str = "jackknife",
    delta: float = 0.0,
    n_samples: int | None = None,
    seed: int = 2016,
    covariance: str = "us",
    group_by_arm: bool = False,
    estimation: str = "reml",
    optimizer: str = "rbmi",
    variance: str = "resampling",
    interval: str = "normal",
    chains: int = 4,
    burn_in: int = 100,
    thin: int = 2,
    alpha: float = 0.05,
    workers: int | None = 1,
    progress: bool = False,
    covariates=(),
    cache: ImputationCache | None = None,
    scheduler: str | None = None,
) -> MIResults:
    """Reference-based multiple imputation and pooled ANCOVA (rbmi's draws, impute, analyse, pool).

    Parameters
    ----------
    trial : Trial
    strategy : {"MAR", "JR", "CR", "CIR", "LMCF"}
        Strategy of a dropout (a subject whose scores stop before the last visit) without a row
        in ``events``.
    events : DataFrame, optional
        Intercurrent events ``subject_id, visit, strategy`` (:func:`.events.read_events`);
        values from the event visit on are set missing and imputed under its strategy.
    method : {"condmean", "approxbayes", "bayes"}
    resampling : {"jackknife", "bootstrap"}
        Standard errors of ``condmean``.
    delta : float or DataFrame
        Points added, after imputation, to every imputed change at or after the event of the
        non-reference arms (a constant per visit, not cumulative). A table ``subject_id, visit,
        delta`` instead adds its own value to each listed cell (observed or imputed), as rbmi's
        ``analyse(delta = )``; the tables then report ``delta`` 1 (the multiple of the table
        applied, which :meth:`MIResults.tipping_point` varies).
    n_samples : int, optional
        Bootstrap samples (``condmean`` with the bootstrap) or imputations (``approxbayes``,
        ``bayes``); default 500. The jackknife uses every subject.
    seed : int
    covariance : str
        Covariance structure of the imputation model (default unstructured).
    group_by_arm : bool
        One covariance matrix per arm.
    estimation : {"reml", "ml"}
        Estimation of the imputation model (rbmi's default REML).
    covariates : sequence of str
        Baseline covariates (columns of the score file; their value on the subject's baseline
        row) in the imputation model, as main effects beside ``baseline * visit + arm * visit``
        (rbmi ``covariates = c("base*visit", "arm*visit", "SEX")``), and in the analysis model
        (``change ~ arm + baseline + covariates`` at each visit); text columns as factors.
        Not with ``method = "bayes"``.
    optimizer : {"rbmi", "exact"}
        ``rbmi``: every fit as R mmrm (under rbmi) makes it, L-BFGS-B from the identity
        covariance stopped by R's relative-reduction rule, which stops about 1e-5 short of the
        optimum; this gives rbmi's numbers. ``exact``: the REML optimum (Newton steps on the
        analytic Hessian, refits started from the fit to all subjects). The two differ by
        about 1e-5 in the estimates.
    variance : {"resampling", "information-anchored"}
        ``condmean`` only: the jackknife/bootstrap variance, or the information-anchored one.
    interval : {"normal", "percentile"}
        ``condmean`` with the bootstrap: normal interval (SE = sd) or type-6 percentiles.
    chains, burn_in, thin : int
        ``bayes``: Gibbs chains (each ``ceil(n_samples / chains)`` draws), iterations discarded
        first and iterations per kept draw.
    alpha : float
    workers : int or None
        Worker processes (``None``: one per core when the work is long enough to gain).
    progress : bool
        A progress bar on stderr.
    scheduler : str, optional
        Address of a Dask distributed scheduler: the samples' chunks run on its workers
        (:func:`ipt_outcomes.runtime.run_chunks`; the same numbers as here).
    cache : ImputationCache, optional
        Imputation models and conditional-mean refits shared with other calls on the same data
        (other strategies, other deltas): fitted once, the same numbers.

    Returns
    -------
    MIResults

    Notes
    -----
    Imputation model: MMRM of change on visit, arm x visit and baseline x visit, REML, fitted to
    the observed values before any event. Analysis: at each visit, OLS of change on arm and
    baseline over all analysed subjects. Matches R rbmi 1.5.2 (conditional mean + jackknife to
    1e-5 for all five strategies; ``tests/reference/rbmi``).

    Examples
    --------
    Eight subjects, two of whom drop out after week 4 (jump to reference from week 8):

    >>> import pandas as pd
    >>> from ipt_outcomes.data.trial import trial_from_frame
    >>> scores = pd.DataFrame({
    ...     "subject_id": [s for s in "abcdefgh" for _ in range(3)],
    ...     "arm": ["TAU"] * 12 + ["CBT"] * 12,
    ...     "visit": [0, 4, 8] * 8,
    ...     "hamd17": [20, 17, 15, 22, 20, None, 18, 15, 14, 25, 21, 20,
    ...                21, 14, 10, 19, 12, None, 24, 16, 11, 23, 15, 12]})
    >>> res = reference_based_mi(trial_from_frame(scores, reference="TAU"), "JR")
    >>> res.contrasts()[["arm", "visit", "estimate", "se", "p"]].round(3)
       arm  visit  estimate     se      p
    0  CBT    4.0    -4.422  0.530  0.000
    1  CBT    8.0    -4.751  3.286  0.148
    """
    from .imputation import ImputationModel, mi_data

    started = time.perf_counter()
    strategy = str(strategy).upper()
    if strategy not in MI_STRATEGIES:
        raise ValueError(f"strategy must be one of {MI_STRATEGIES}, got {strategy!r}")
    if method not in MI_METHODS:
        raise ValueError(f"method must be one of {MI_METHODS}, got {method!r}")
    if resampling not in MI_RESAMPLING:
        raise ValueError(f"resampling must be one of {MI_RESAMPLING}, got {resampling!r}")
    if variance not in MI_VARIANCES:
        raise ValueError(f"variance must be one of {MI_VARIANCES}, got {variance!r}")
    if variance == "information-anchored" and method != "condmean":
        raise ValueError("the information-anchored variance is for method 'condmean'")
    if method == "bayes" and covariance != "us":
        raise ValueError(
            "method 'bayes' samples an unstructured covariance (inverse-Wishart); use "
            "covariance 'us' or method 'approxbayes' for other structures"
        )
    if interval not in ("normal", "percentile"):
        raise ValueError(f"interval must be 'normal' or 'percentile', got {interval!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not isinstance(delta, pd.DataFrame) and not math.isfinite(delta):
        raise ValueError(f"delta must be a finite number or a table, got {delta!r}")
    if n_samples is None:
        n_samples = DEFAULT_SAMPLES
    if int(n_samples) != n_samples or n_samples < 2:
        raise ValueError(f"n_samples must be a whole number of at least 2, got {n_samples!r}")
    for name, v, lo in (("chains", chains, 1), ("burn_in", burn_in, 0), ("thin", thin, 1)):
        if int(v) != v or v < lo:
            raise ValueError(f"{name} must be a whole number of at least {lo}, got {v!r}")
    trial.require_analysable()
    covariates = [c for c in covariates if c != "baseline"]
    if covariates and method == "bayes":
        raise IptOutcomesError(
            "covariates besides baseline are offered with condmean and approxbayes (the Gibbs "
            "sampler's model has visit-specific coefficients only)"
        )
    data = mi_data(trial, strategy, events, covariates=_baseline_values(trial, covariates))
    if len(data.arms) < 2:
        raise IptOutcomesError("reference-based imputation needs at least two arms with subjects")

    def fit():
        with one_blas_thread():
            return ImputationModel(data, covariance, group_by_arm, estimation, optimizer)

    key = None
    if cache is None:
        model = fit()
    else:
        # every argument of the imputation model goes into the key
        key = ImputationCache.key(data, covariance=covariance, group_by_arm=bool(group_by_arm),
                                  estimation=estimation, optimizer=optimizer)  # fmt: skip
        model = cache.model(key, data, fit)
    mar = model.as_mar() if variance == "information-anchored" else None
    if isinstance(delta, pd.DataFrame):
        shift, delta = _delta_table(data, delta), 1.0
    else:
        shift = data.shift_mask().astype(float)
    job = _Job(model, mar, shift, method, resampling)
    res = MIResults(
        data=data, model=model, method=method,
        resampling=resampling if method == "condmean" else None,
        strategy=_strategy_label(data, strategy), variance=variance, delta=float(delta),
        alpha=alpha, n_samples=int(n_samples), seed=seed, interval=interval,
    )  # fmt: skip
    res._mar_model = mar
    res.shift = shift
    seeds = np.random.SeedSequence(int(seed)).spawn(int(n_samples))
    chunk = _chunk_size(model)
    if method == "condmean":
        with one_blas_thread():
            Y0 = model.impute(model.beta[None], model.sigmas[None])
            res.full = ancova(Y0, data.design(), data.ref_index, len(data.arms), None, shift)
            if mar is not None:
                Ym = mar.impute(model.beta[None], model.sigmas[None])
                res.mar_full = ancova(
                    Ym, data.design(), data.ref_index, len(data.arms), None, shift
                )
        rkey = None
        if key is not None:  # the jackknife's samples do not depend on the seed
            rkey = (key, resampling) + ((int(n_samples), int(seed)) if resampling == "bootstrap"
                                        else ())  # fmt: skip
        shared = None if rkey is None else cache.refits(rkey)
        if resampling == "jackknife":
            members = np.arange(data.n)
            parts = np.array_split(members, -(-data.n // chunk))
            tasks = [(job, part, None if shared is None else shared[i])
                     for i, part in enumerate(parts)]  # fmt: skip
            out = _run(_jackknife_chunk, tasks, workers, progress, "jackknife", scheduler)
            res.n_samples = data.n
        else:
            starts = range(0, len(seeds), chunk)
            tasks = [(job, seeds[i : i + chunk], None if shared is None else shared[j])
                     for j, i in enumerate(starts)]  # fmt: skip
            out = _run(_bootstrap_chunk, tasks, workers, progress, "bootstrap", scheduler)
        if rkey is not None and shared is None:
            cache.store_refits(rkey, [o[3] for o in out])
    elif method == "approxbayes":
        tasks = [(job, seeds[i : i + chunk], None) for i in range(0, len(seeds), chunk)]
        out = _run(_bootstrap_chunk, tasks, workers, progress, "approximate Bayes", scheduler)
    else:
        chain_seeds = np.random.SeedSequence(int(seed)).spawn(int(chains))
        per = [n_samples // chains + (c < n_samples % chains) for c in range(chains)]
        tasks = [(job, chain_seeds[c], per[c], burn_in, thin) for c in range(chains) if per[c]]
        out = _run(_bayes_chain, tasks, workers, progress, "Gibbs chains", scheduler)
        n_min = min(o[1].shape[0] for o in out)
        traces = np.stack([o[1][:n_min] for o in out])
        from .bayes import diagnostics_table

        names = _parameter_names(data, model)
        res.diagnostics = diagnostics_table(names, traces)
        out = [(o[0], None, 0, None) for o in out]
    res.samples = AncovaFits.concat([o[0] for o in out])
    if mar is not None:
        res.mar_samples = AncovaFits.concat([o[1] for o in out])
    res.n_failures = int(sum(o[2] for o in out))
    res.seconds = time.perf_counter() - started
    return res


def _delta_table(data, table: pd.DataFrame) -> np.ndarray:
    """The (n, T) shifts of a table ``subject_id, visit, delta``."""
    missing = [c for c in ("subject_id", "visit", "delta") if c not in table.columns]
    if missing:
        raise ValueError(
            f"a delta table needs columns subject_id, visit, delta (missing: {missing})"
        )
    row = {s: i for i, s in enumerate(data.subjects)}
    out = np.zeros((data.n, data.T))
    for s, v, dv in zip(table["subject_id"].astype(str), table["visit"].astype(float),
                        table["delta"].astype(float), strict=True):  # fmt: skip
        if s not in row:
            raise IptOutcomesError(f"delta table: subject {s} is not analysed")
        t = np.flatnonzero(data.visits == v)
        if not len(t):
            raise IptOutcomesError(f"delta table: visit {v:g} is not a post-baseline visit")
        out[row[s], t[0]] += dv
    return out


def _parameter_names(data, model) -> list[str]:
    comps = ["intercept", *[f"arm[{data.arms[a]}]" for a in data.others], "baseline"]
    names = [f"{c}:visit[{v:g}]" for c in comps for v in data.visits]
    groups = [data.arms[g] for g in range(len(data.arms))] if model.group_by_arm else ["all"]
    names += [f"log_var[{g}]:visit[{v:g}]" for g in groups for v in data.visits]
    return names
