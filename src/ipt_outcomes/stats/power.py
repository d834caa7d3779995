"""Power and sample size: exact enumeration and simulation, on local processes or Dask.

Two analyses a trial is powered for:

* **the response comparison** - a 2x2 table of responders in two arms, tested with Pearson's
  chi-square (no continuity correction, as R ``chisq.test(correct = FALSE)`` and
  :func:`ipt_outcomes.response`) or Fisher's exact test (two-sided, R's rule: tables with a
  probability at most ``1 + 1e-7`` times the observed one). Power is computed *exactly* by
  enumerating every outcome of both arms (:func:`exact_power`) and *by simulation*
  (:func:`simulate_power`), which is what the teaching worksheets compare;
* **the MMRM contrast at a key visit** (:func:`simulate_mmrm_power`) - trials drawn from an
  :class:`MMRMScenario` (mean change per arm and visit, unstructured covariance, baseline slope,
  monotone dropout), each analysed by :func:`ipt_outcomes.mmrm.fit_mmrm` exactly as a real trial
  is (unstructured covariance, Kenward-Roger by default).

Simulations are cut into chunks of a fixed size; chunk ``c`` of sample size ``n`` draws from
``SeedSequence(seed, spawn_key=(stream, n, c))``. The numbers therefore depend on the seed only -
not on the number of workers, on the order in which chunks finish, nor on which other sample
sizes are in the grid. Chunks run in the calling process (``workers=1``), on local processes
(default: one per core) or on a Dask distributed cluster (``scheduler="tcp://host:port"``), by the
package's one runner (:func:`ipt_outcomes.runtime.run_chunks`, re-exported here with
:func:`~ipt_outcomes.runtime.process_pool`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from ..exceptions import ConvergenceWarning, IptOutcomesError
from ..runtime import process_pool, run_chunks

__all__ = [
    "TESTS",
    "pvalue_table",
    "exact_power",
    "simulate_power",
    "sample_size",
    "MMRMScenario",
    "mmrm_scenario",
    "simulate_mmrm_power",
    "mmrm_sample_size",
    "run_chunks",
    "process_pool",
]

TESTS = ("chisq", "fisher")
BINARY_CHUNK = 5000  # simulated trials per chunk (part of the seed layout: do not change lightly)
MMRM_CHUNK = 25
_STREAM = {"binary": 1, "mmrm": 2}
_FISHER_REL = 1 + 1e-7  # R fisher.test: relErr


def _check_rate(name: str, p: float) -> None:
    if not (0.0 <= p <= 1.0) or not math.isfinite(p):
        raise ValueError(f"{name} must be a proportion between 0 and 1, got {p!r}")


def _check_common(n_per_arm, sims: int | None, alpha: float) -> list[int]:
    ns = [int(n) for n in np.atleast_1d(n_per_arm)]
    if not ns or any(n < 1 or n != m for n, m in zip(ns, np.atleast_1d(n_per_arm), strict=True)):
        raise ValueError(f"n_per_arm must be whole numbers of at least 1, got {n_per_arm!r}")
    if sims is not None and (int(sims) != sims or sims < 1):
        raise ValueError(f"sims must be a whole number of at least 1, got {sims!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    return ns


# ------------------------------------------------------------------------------------------
# the 2x2 response comparison: p-values of every outcome
# ------------------------------------------------------------------------------------------


def pvalue_table(n_ref: int, n_arm: int, test: str = "chisq") -> np.ndarray:
    """Two-sided p-value of every possible 2x2 outcome.

    Parameters
    ----------
    n_ref, n_arm : int
        Patients in the reference arm and the other arm.
    test : {"chisq", "fisher"}

    Returns
    -------
    ndarray, shape (n_ref + 1, n_arm + 1)
        ``[x, y]`` is the p-value with ``x`` responders of ``n_ref`` and ``y`` of ``n_arm``.
        Tables with no responders or no non-responders at all leave the chi-square undefined;
        their p-value is 1 (never significant).

    Notes
    -----
    Chi-square: ``N (x (n_arm - y) - y (n_ref - x))^2 / (n_ref n_arm t (N - t))`` on 1 df, with
    ``t = x + y``. Fisher: conditional on ``t``, the sum of the hypergeometric probabilities not
    larger than the observed one (times ``1 + 1e-7``, as R). Checked against
    ``scipy.stats.fisher_exact`` and ``chi2_contingency(correction=False)`` table by table.

    Examples
    --------
    1 of 10 against 8 of 10 responders (R ``fisher.test``: 0.005477,
    ``tests/reference/power/sample_size.txt``):

    >>> round(float(pvalue_table(10, 10, "fisher")[1, 8]), 6)
    0.005477
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    if n_ref < 1 or n_arm < 1:
        raise ValueError("both arms need at least one patient")
    return _pvalue_table(int(n_ref), int(n_arm), test).copy()


@functools.lru_cache(maxsize=8)  # tables grow as n^2: keep a few
def _pvalue_table(n_ref: int, n_arm: int, test: str) -> np.ndarray:
    N = n_ref + n_arm
    x = np.arange(n_ref + 1)[:, None]
    y = np.arange(n_arm + 1)[None, :]
    t = x + y
    if test == "chisq":
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = N * (x * (n_arm - y) - y * (n_ref - x)) ** 2 / (n_ref * n_arm * t * (N - t))
        p = stats.chi2.sf(stat, 1)
        return np.where((t == 0) | (t == N), 1.0, p)
    # hypergeometric probability of every table given its total t: C(n1,x) C(n2,y) / C(N,t)
    lc = special.gammaln
    logp = (lc(n_ref + 1) - lc(x + 1) - lc(n_ref - x + 1) + lc(n_arm + 1) - lc(y + 1) - lc(n_arm - y + 1)
            - (lc(N + 1) - lc(t + 1) - lc(N - t + 1)))  # fmt: skip
    prob = np.exp(logp)
    out = np.ones((n_ref + 1, n_arm + 1))
    for tot in range(N + 1):
        lo, hi = max(0, tot - n_arm), min(n_ref, tot)
        xs = np.arange(lo, hi + 1)
        d = prob[xs, tot - xs]
        srt = np.sort(d)
        cum = np.cumsum(srt)
        k = np.searchsorted(srt, d * _FISHER_REL, side="right")
        out[xs, tot - xs] = np.minimum(1.0, cum[k - 1])
    return out


def exact_power(
    p_ref: float, p_arm: float, n_per_arm: int, test: str = "chisq", alpha: float = 0.05
) -> float:
    """Exact power of the 2x2 comparison, enumerating every outcome of both arms.

    Parameters
    ----------
    p_ref, p_arm : float
        True response probabilities in the reference arm and the other arm.
    n_per_arm : int
    test : {"chisq", "fisher"}
    alpha : float
        Two-sided significance level; a p-value below ``alpha`` rejects.

    Returns
    -------
    float
        ``sum_x sum_y Bin(x; n, p_ref) Bin(y; n, p_arm) [p(x, y) < alpha]``.

    Notes
    -----
    Checked against an independent R enumeration with ``fisher.test`` and
    ``chisq.test(correct = FALSE)`` (``tests/reference/power``).

    Examples
    --------
    >>> round(exact_power(0.42, 0.61, 100, "chisq"), 4)
    0.7865
    """
    _check_rate("p_ref", p_ref)
    _check_rate("p_arm", p_arm)
    (n,) = _check_common([n_per_arm], None, alpha)
    reject = _pvalue_table(n, n, test) < alpha
    k = np.arange(n + 1)
    return float(stats.binom.pmf(k, n, p_ref) @ reject @ stats.binom.pmf(k, n, p_arm))


def _binary_chunk(task) -> tuple[int, int]:
    """Rejections among ``size`` simulated 2x2 trials (one chunk; runs on any worker)."""
    p_ref, p_arm, n, test, alpha, seed, chunk, size = task
    rng = np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(_STREAM["binary"], n, chunk))
    )
    x = rng.binomial(n, p_ref, size)
    y = rng.binomial(n, p_arm, size)
    reject = _pvalue_table(n, n, test)[x, y] < alpha
    return int(reject.sum()), size


def _chunks(sims: int, size: int) -> list[tuple[int, int]]:
    full, rest = divmod(sims, size)
    return [(c, size) for c in range(full)] + ([(full, rest)] if rest else [])


def _power_rows(ns, counts) -> pd.DataFrame:
    rows = []
    for n in ns:
        r, m = counts[n]
        pw = r / m
        se = math.sqrt(pw * (1 - pw) / m)
        rows.append(dict(n_per_arm=n, power=pw, mc_se=se, ci_low=max(0.0, pw - 1.96 * se),
                         ci_high=min(1.0, pw + 1.96 * se), sims=m, rejections=r))  # fmt: skip
    return pd.DataFrame(rows)


def simulate_power(
    p_ref: float,
    p_arm: float,
    n_per_arm: Sequence[int],
    test: str = "chisq",
    sims: int = 10_000,
    seed: int = 2016,
    alpha: float = 0.05,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Power of the 2x2 response comparison by simulation, with its exact value beside it.

    Parameters
    ----------
    p_ref, p_arm : float
        True response probabilities (reference arm, other arm).
    n_per_arm : sequence of int
        Grid of patients per arm.
    test : {"chisq", "fisher"}
    sims : int
        Simulated trials per sample size.
    seed : int
    alpha : float
    workers : int, optional
        Local processes (default: one per core; 1 runs in this process).
    scheduler : str, optional
        Address of a Dask distributed scheduler; the chunks then run on its workers.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    DataFrame
        ``n_per_arm, power, mc_se, ci_low, ci_high, sims, rejections, exact_power`` - power is
        the share of simulated trials with p < alpha, ``mc_se = sqrt(power (1 - power) / sims)``
        its Monte-Carlo standard error and ``ci_low``/``ci_high`` power +- 1.96 mc_se.

    Examples
    --------
    >>> simulate_power(0.42, 0.61, [50], sims=2000, seed=1, workers=1)[["n_per_arm", "sims"]]
       n_per_arm  sims
    0         50  2000
    """
    _check_rate("p_ref", p_ref)
    _check_rate("p_arm", p_arm)
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    ns = _check_common(n_per_arm, sims, alpha)
    tasks, keys = [], []
    for n in ns:
        for chunk, size in _chunks(int(sims), BINARY_CHUNK):
            tasks.append((p_ref, p_arm, n, test, alpha, int(seed), chunk, size))
            keys.append(n)
    results = run_chunks(_binary_chunk, tasks, workers=workers, scheduler=scheduler,
                         progress=progress, desc=f"power ({test})")  # fmt: skip
    counts = {n: [0, 0] for n in ns}
    for n, (r, m) in zip(keys, results, strict=True):
        counts[n][0] += r
        counts[n][1] += m
    table = _power_rows(ns, counts)
    table["exact_power"] = [exact_power(p_ref, p_arm, n, test, alpha) for n in ns]
    return table


def sample_size(
    p_ref: float,
    p_arm: float,
    target: float = 0.80,
    test: str = "chisq",
    alpha: float = 0.05,
    n_max: int = 5000,
) -> dict:
    """Smallest n per arm whose exact power reaches ``target``.

    Exact power of a discrete test is not monotone in n (the "saw-tooth"), so two answers are
    given: the smallest n reaching the target, and the smallest n from which every larger n up
    to ``n_max`` (or 50% beyond the first answer, whichever is smaller) also reaches it.

    Returns
    -------
    dict
        ``n_per_arm``, ``power`` (exact, at that n), ``n_stable``, ``n_normal`` (the usual
        normal-approximation formula, unpooled under the alternative, as a cross-check).

    Examples
    --------
    >>> sample_size(0.42, 0.61, 0.80)["n_per_arm"]
    109
    """
    _check_rate("p_ref", p_ref)
    _check_rate("p_arm", p_arm)
    if p_ref == p_arm:
        raise ValueError("p_ref and p_arm are equal: no sample size gives power above alpha")
    if not 0 < target < 1:
        raise ValueError(f"target must be between 0 and 1, got {target!r}")
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(target)
    pbar = (p_ref + p_arm) / 2
    n_normal = math.ceil(
        (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p_ref * (1 - p_ref) + p_arm * (1 - p_arm))) ** 2
        / (p_ref - p_arm) ** 2
    )  # fmt: skip

    def pw(n):
        return exact_power(p_ref, p_arm, n, test, alpha)

    lo = max(2, n_normal // 2)
    while lo > 2 and pw(lo) >= target:
        lo //= 2
    first = None
    for n in range(lo, n_max + 1):
        if pw(n) >= target:
            first = n
            break
    if first is None:
        raise IptOutcomesError(f"power {target:.0%} is not reached with up to {n_max} per arm")
    top = min(n_max, math.ceil(first * 1.5))
    stable = first
    for n in range(first, top + 1):
        if pw(n) < target:
            stable = n + 1
    return dict(n_per_arm=first, power=pw(first), n_stable=stable, n_normal=n_normal)


# ------------------------------------------------------------------------------------------
# the MMRM contrast at a key visit
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MMRMScenario:
    """How simulated trials for MMRM power are generated (two arms).

    Attributes
    ----------
    visits : tuple of float
        Post-baseline visits.
    mean_change : dict
        Arm -> mean change from baseline per visit, at the mean baseline.
    sigma : ndarray
        Covariance of the change scores across visits, given baseline.
    baseline_mean, baseline_sd : float
        Baseline HAM-D is drawn from a normal distribution with these moments.
    baseline_slope : ndarray
        Per-visit slope of change on baseline.
    retention : ndarray
        Probability of still being assessed at each visit (non-increasing; dropout is
        monotone and completely at random).
    arm, reference : str
    key_visit : float
    """

    visits: tuple
    mean_change: dict
    sigma: np.ndarray
    baseline_mean: float
    baseline_sd: float
    baseline_slope: np.ndarray
    retention: np.ndarray
    arm: str
    reference: str
    key_visit: float

    def __post_init__(self):
        T = len(self.visits)
        if self.key_visit not in self.visits:
            raise ValueError(f"key_visit {self.key_visit:g} is not one of the visits")
        if np.shape(self.sigma) != (T, T) or np.linalg.eigvalsh(self.sigma).min() <= 0:
            raise ValueError("sigma must be a positive definite visits x visits matrix")
        r = np.asarray(self.retention, float)
        if r.shape != (T,) or np.any(r <= 0) or np.any(r > 1) or np.any(np.diff(r) > 1e-12):
            raise ValueError(
                "retention must be non-increasing probabilities in (0, 1], one per visit"
            )
        for a in (self.arm, self.reference):
            if np.shape(self.mean_change.get(a)) != (T,):
                raise ValueError(f"mean_change needs {T} values for arm {a!r}")

    @property
    def effect(self) -> float:
        """True difference in mean change (arm - reference) at the key visit."""
        k = self.visits.index(self.key_visit)
        return float(self.mean_change[self.arm][k] - self.mean_change[self.reference][k])

    def draw(self, n_per_arm: int, rng: np.random.Generator) -> pd.DataFrame:
        """One simulated trial in the MMRM's long format (``mmrm_data``)."""
        T = len(self.visits)
        L = np.linalg.cholesky(self.sigma)
        parts = []
        for g, a in enumerate((self.reference, self.arm)):
            base = rng.normal(self.baseline_mean, self.baseline_sd, n_per_arm)
            e = rng.standard_normal((n_per_arm, T)) @ L.T
            change = (
                self.mean_change[a][None, :]
                + np.outer(base - self.baseline_mean, self.baseline_slope)
                + e
            )
            seen = rng.random(n_per_arm)[:, None] < np.asarray(self.retention)[None, :]
            i, j = np.nonzero(seen)
            parts.append(
                (g, g * n_per_arm + i, np.asarray(self.visits, float)[j], change[i, j], base[i])
            )
        arms = np.array([self.reference, self.arm], dtype=object)
        return pd.DataFrame(
            {
                "subject_id": np.concatenate([q[1] for q in parts]),
                "arm": arms[np.concatenate([np.full(len(q[1]), q[0]) for q in parts])],
                "visit": np.concatenate([q[2] for q in parts]),
                "change": np.concatenate([q[3] for q in parts]),
                "baseline": np.concatenate([q[4] for q in parts]),
            }
        )


def mmrm_scenario(
    trial, arm: str, reference: str | None = None, key_visit: float | None = None, effect=None
) -> MMRMScenario:
    """An :class:`MMRMScenario` estimated from a trial: the default MMRM fitted to its data.

    Mean change per arm and visit are the two arms' LS means, the covariance the fitted
    unstructured one, baseline moments and slopes from the data and the fit, retention the share
    of subjects with a score at that visit or later. ``effect`` (optional) replaces the
    difference at every visit in proportion, so that the key-visit difference equals it.
    """
    from ..models.mmrm import fit_mmrm, mmrm_data

    reference = reference or trial.reference
    key_visit = float(key_visit) if key_visit is not None else float(trial.key_visits[-1])
    data = mmrm_data(trial)
    data = data[data["arm"].isin([arm, reference])]
    if data["arm"].nunique() < 2:
        raise IptOutcomesError(
            f"the data need both arms {arm!r} and {reference!r} for the MMRM scenario"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = fit_mmrm(data, reference=reference, arms=[reference, arm], df="satterthwaite")
    visits = tuple(float(v) for v in res.design.visits)
    if key_visit not in visits:
        raise IptOutcomesError(f"key visit {key_visit:g} is not a post-baseline visit of the data")
    ls = res.lsmeans()
    mean = {
        a: ls[ls["arm"] == a].sort_values("visit")["estimate"].to_numpy() for a in (reference, arm)
    }
    if effect is not None:
        k = visits.index(key_visit)
        diff = mean[arm] - mean[reference]
        scale = effect / diff[k] if diff[k] != 0 else 0.0
        mean[arm] = mean[reference] + (diff * scale if diff[k] != 0 else effect)
    slope = np.array([res.beta[f"baseline:visit[{v:g}]"] for v in visits])
    base = data.drop_duplicates("subject_id")["baseline"]
    last = data.groupby("subject_id")["visit"].max()
    retention = np.array([(last >= v).mean() for v in visits])
    return MMRMScenario(visits=visits, mean_change=mean, sigma=res.sigma[0].to_numpy(),
                        baseline_mean=float(base.mean()), baseline_sd=float(base.std()),
                        baseline_slope=slope, retention=retention, arm=arm,
                        reference=reference, key_visit=float(key_visit))  # fmt: skip


def _mmrm_chunk(task) -> tuple[int, int, int]:
    """Rejections, failed fits and trials in one chunk of simulated MMRM trials."""
    from ..models.mmrm import fit_mmrm

    scenario, n, df, alpha, seed, chunk, size = task
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAM["mmrm"], n, chunk)))
    reject = failed = 0
    for _ in range(size):
        data = scenario.draw(n, rng)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                res = fit_mmrm(data, reference=scenario.reference, arms=[scenario.reference, scenario.arm],
                               df=df, start=scenario.sigma, fallback=False, alpha=alpha)  # fmt: skip
            grid = res.design.grid_row
            p = res.estimate(
                grid(scenario.arm, scenario.key_visit)
                - grid(scenario.reference, scenario.key_visit)
            )["p"]
        except (IptOutcomesError, np.linalg.LinAlgError, ValueError):
            failed += 1
            continue
        reject += bool(p < alpha)
    return reject, failed, size


def simulate_mmrm_power(
    scenario: MMRMScenario,
    n_per_arm: Sequence[int],
    sims: int = 1000,
    seed: int = 2016,
    df: str = "kenward-roger",
    alpha: float = 0.05,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    executor=None,
) -> pd.DataFrame:
    """Power of the MMRM contrast (arm - reference) at the key visit, by simulation.

    Each simulated trial is analysed with :func:`ipt_outcomes.mmrm.fit_mmrm` (unstructured
    covariance, REML, ``df`` degrees of freedom), started from the generating covariance. A fit
    that fails counts as not significant and is reported in ``failed``.

    Returns
    -------
    DataFrame
        ``n_per_arm, power, mc_se, ci_low, ci_high, sims, rejections, failed, effect``.
    """
    ns = _check_common(n_per_arm, sims, alpha)
    if min(ns) < 3:
        raise ValueError("the MMRM needs at least 3 subjects per arm")
    tasks, keys = [], []
    for n in ns:
        for chunk, size in _chunks(int(sims), MMRM_CHUNK):
            tasks.append((scenario, n, df, alpha, int(seed), chunk, size))
            keys.append(n)
    results = run_chunks(_mmrm_chunk, tasks, workers=workers, scheduler=scheduler,
                         progress=progress, desc="power (MMRM)", executor=executor)  # fmt: skip
    counts = {n: [0, 0] for n in ns}
    failed = dict.fromkeys(ns, 0)
    for n, (r, f, m) in zip(keys, results, strict=True):
        counts[n][0] += r
        counts[n][1] += m
        failed[n] += f
    table = _power_rows(ns, counts)
    table["failed"] = [failed[n] for n in ns]
    table["effect"] = scenario.effect
    return table


def mmrm_sample_size(
    scenario: MMRMScenario,
    target: float = 0.80,
    sims: int = 1000,
    seed: int = 2016,
    df: str = "kenward-roger",
    alpha: float = 0.05,
    n_max: int = 2000,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> dict:
    """Smallest n per arm whose *simulated* MMRM power reaches ``target``, by bisection.

    The search starts from the normal-approximation n for the key-visit difference (with the
    key-visit variance and retention), brackets the answer by steps of 25% up (or halving down),
    then bisects; every probe is :func:`simulate_mmrm_power` with ``sims`` trials on one shared
    pool of processes, so the answer carries Monte-Carlo error (with 1000 trials the power at
    each probe has an SE of about 0.013).

    Returns
    -------
    dict
        ``n_per_arm, power, mc_se`` (at that n), ``n_normal`` (the starting value), ``probes``
        (a DataFrame of every n tried with its power and mc_se).
    """
    if not 0 < target < 1:
        raise ValueError(f"target must be between 0 and 1, got {target!r}")
    if scenario.effect == 0:
        raise ValueError("the scenario has no difference at the key visit: power stays at alpha")
    k = scenario.visits.index(scenario.key_visit)
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(target)
    var = scenario.sigma[k, k] / scenario.retention[k]
    n_normal = max(3, math.ceil(2 * (za + zb) ** 2 * var / scenario.effect**2))
    seen: dict[int, pd.Series] = {}
    with contextlib.ExitStack() as stack:
        executor = None
        if scheduler is None and (workers or os.cpu_count() or 1) > 1:
            executor = stack.enter_context(process_pool(workers))  # one pool for every probe

        def power_at(n: int) -> float:
            if n not in seen:
                seen[n] = simulate_mmrm_power(
                    scenario, [n], sims=sims, seed=seed, df=df, alpha=alpha, workers=workers,
                    scheduler=scheduler, progress=progress, executor=executor,
                ).iloc[0]  # fmt: skip
            return float(seen[n]["power"])

        n = _bisect_n(power_at, n_normal, target, n_max)
    probes = pd.DataFrame(
        [
            {"n_per_arm": m, "power": r["power"], "mc_se": r["mc_se"]}
            for m, r in sorted(seen.items())
        ]
    )
    return dict(n_per_arm=n, power=float(seen[n]["power"]), mc_se=float(seen[n]["mc_se"]),
                n_normal=n_normal, probes=probes)  # fmt: skip


def _bisect_n(power_at, start: int, target: float, n_max: int) -> int:
    """Smallest n with ``power_at(n) >= target`` (power taken as increasing in n): bracket
    from ``start`` by steps of 25% up or halving down, then bisect."""
    lo = hi = start
    while power_at(hi) < target:
        lo, hi = hi, min(math.ceil(1.25 * hi), n_max)
        if hi == lo:
            raise IptOutcomesError(f"power {target:.0%} is not reached with up to {n_max} per arm")
    if lo == hi:  # the start already reaches the target: look below it
        lo = max(3, hi // 2)
        while lo > 3 and power_at(lo) >= target:
            hi, lo = lo, max(3, lo // 2)
        if power_at(lo) >= target:
            return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi
