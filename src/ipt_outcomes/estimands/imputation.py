"""Reference-based imputation: the data, the imputation model and the strategies.

* :func:`mi_data` - the trial as a subjects x visits array of changes from baseline, with each
  subject's intercurrent event (:mod:`.events`); values at and after an event are set missing
  (SPEC: "data from that visit on are set missing and imputed under it").
* :class:`ImputationModel` - the MMRM of change on visit, arm x visit and baseline x visit
  (unstructured covariance by default, shared by the arms or one per arm), fitted by REML to the
  observed changes, and refitted to reweighted subjects (jackknife, bootstrap) from that fit.
* :meth:`ImputationModel.means` - each subject's mean vector under its strategy (Carpenter, Roger
  & Kenward 2013, as R rbmi): MAR its own arm; JR its own arm before the event and the reference
  arm from it; CR the reference arm throughout; CIR its own arm before the event, then its last
  pre-event mean plus the reference arm's increments from that visit; LMCF its last pre-event
  mean carried forward. With one covariance per arm, JR and CIR use the Carpenter-Roger-Kenward
  joint covariance (rbmi's ``compute_sigma``), CR the reference arm's, MAR and LMCF the own arm's.
* :meth:`ImputationModel.impute` - missing values from their conditional normal given the
  subject's observed values (all of them, also those after an intermittent gap): its mean
  (conditional mean imputation) or a draw from it.

Everything is vectorised over a batch of parameter sets (one per jackknife or bootstrap sample
or posterior draw): means are ``(B, n, T)`` arrays.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import IptOutcomesError

__all__ = ["MIData", "mi_data", "ImputationModel", "OPTIMIZERS"]

#: How the imputation model is fitted: ``rbmi`` as R mmrm fits it (L-BFGS-B from the identity,
#: stopped by R's relative-reduction rule, about 1e-5 short of the optimum: the numbers rbmi
#: reports); ``exact`` to the REML optimum (Newton steps on the analytic Hessian).
OPTIMIZERS = ("rbmi", "exact")


@dataclass
class MIData:
    """The analysed subjects of a trial as arrays (one row per subject with a baseline).

    Attributes
    ----------
    subjects : ndarray of str (n,)
    arms : tuple of str
        Arms present, in the design's order; ``reference`` is one of them.
    arm : ndarray of int (n,)
        Index of each subject's arm in ``arms``.
    visits : ndarray (T,)
        Post-baseline visits in time order.
    baseline : ndarray (n,)
    y : ndarray (n, T)
        Change from baseline; NaN where missing or at or after the subject's event.
    ice : ndarray of int (n,)
        Visit index of the event (the first visit affected); ``T`` for none.
    strategy : ndarray of str (n,)
        Strategy of the event (``MAR`` for a subject without one).
    n_set_missing : int
        Observed values at or after an event, set missing.
    """

    subjects: np.ndarray
    arms: tuple
    reference: str
    arm: np.ndarray
    visits: np.ndarray
    baseline: np.ndarray
    y: np.ndarray
    ice: np.ndarray
    strategy: np.ndarray
    n_set_missing: int = 0
    events: pd.DataFrame = field(default=None, repr=False)
    covariates: pd.DataFrame = field(default=None, repr=False)  # (n rows) baseline covariates

    @property
    def q_visit(self) -> int:
        """Columns of :meth:`design` with a coefficient per visit in the imputation model:
        intercept, the non-reference arms, baseline (the columns after them, the covariates,
        have one coefficient over all visits: main effects, as the endpoint's MMRM has)."""
        return 1 + len(self.others) + 1

    @property
    def n(self) -> int:
        return len(self.subjects)

    @property
    def T(self) -> int:
        return len(self.visits)

    @property
    def ref_index(self) -> int:
        return self.arms.index(self.reference)

    @property
    def others(self) -> list[int]:
        """Indices of the non-reference arms, in design order."""
        return [i for i in range(len(self.arms)) if i != self.ref_index]

    @property
    def missing(self) -> np.ndarray:
        return np.isnan(self.y)

    @property
    def post_ice(self) -> np.ndarray:
        return np.arange(self.T)[None, :] >= self.ice[:, None]

    def design(self, as_reference: bool = False) -> np.ndarray:
        """``(n, q)`` covariates of the imputation and analysis models: intercept, one indicator
        per non-reference arm (zero with ``as_reference``: everyone put in the reference arm),
        baseline, then the covariates (numeric: a slope; text: treatment-coded levels). Built
        once by the package's one design-matrix builder (``arm + baseline + covariates``)."""
        key = "_design_ref" if as_reference else "_design_own"
        if key not in self.__dict__:
            from ..models.design import ModelDesign

            frame = pd.DataFrame({"arm": np.asarray(self.arm), "baseline": self.baseline})
            names = []
            if self.covariates is not None and len(self.covariates.columns):
                for c in self.covariates.columns:
                    name = f"cov{len(names)}"
                    frame[name] = self.covariates[c].to_numpy()
                    names.append(name)
            model = ModelDesign(" + ".join(["arm", "baseline", *names]), frame,
                                levels={"arm": [self.ref_index, *self.others]},
                                drop_unused=False)  # fmt: skip
            if as_reference:
                frame = frame.assign(arm=self.ref_index)
            self.__dict__[key] = model.build(frame) if as_reference else model.matrix
        return self.__dict__[key].copy()

    def shift_mask(self) -> np.ndarray:
        """Cells a delta adjustment shifts: missing, at or after the event, non-reference arm."""
        return self.missing & self.post_ice & (self.arm != self.ref_index)[:, None]


def mi_data(trial, strategy: str = "MAR", events: pd.DataFrame | None = None,
            covariates: pd.DataFrame | None = None) -> MIData:  # fmt: skip
    """Arrays of the trial's analysed subjects with their intercurrent events.

    Parameters
    ----------
    trial : Trial
    strategy : {"MAR", "JR", "CR", "CIR", "LMCF"}
        Strategy of a dropout without a row in ``events``.
    events : DataFrame, optional
        From :func:`~ipt_outcomes.estimands.events.read_events`.
    covariates : DataFrame, optional
        Baseline covariates indexed by subject id (one row per subject, one column each): main
        effects of the imputation model and covariates of the analysis model.

    Returns
    -------
    MIData
    """
    from .events import intercurrent_events

    ice_table = intercurrent_events(trial, strategy, events)
    visits = np.asarray(trial.post_visits, float)
    T = len(visits)
    subjects = ice_table["subject_id"].to_numpy(str)
    d = trial.derived
    d = d[d["score"].notna()]
    wide = (
        d.assign(subject_id=d["subject_id"].astype(str))
        .pivot_table(index="subject_id", columns="visit", values="change", aggfunc="first")
        .reindex(index=subjects, columns=visits)
    )
    y = wide.to_numpy(float)
    base = trial.baseline
    base.index = base.index.astype(str)
    baseline = base.reindex(subjects).to_numpy(float)
    arms = tuple(a for a in trial.arms if (ice_table["arm"] == a).any())
    arm = np.array([arms.index(a) for a in ice_table["arm"]], int)
    ice = np.array(
        [T if v != v else int(np.searchsorted(visits, v)) for v in ice_table["visit"]], int
    )
    after = np.arange(T)[None, :] >= ice[:, None]
    n_set = int((after & ~np.isnan(y)).sum())
    y = np.where(after, np.nan, y)
    return MIData(
        subjects=subjects,
        arms=arms,
        reference=trial.reference,
        arm=arm,
        visits=visits,
        baseline=baseline,
        y=y,
        ice=ice,
        strategy=ice_table["strategy"].to_numpy(str),
        n_set_missing=n_set,
        events=ice_table,
        covariates=_covariate_rows(covariates, subjects),
    )


def _covariate_rows(covariates, subjects):
    """The covariates in the order of ``subjects`` (a subject without values is refused)."""
    if covariates is None or not len(covariates.columns):
        return None
    c = covariates.copy()
    c.index = c.index.astype(str)
    c = c.reindex(subjects)
    missing = c.isna().any(axis=1)
    if missing.any():
        who = ", ".join(map(str, c.index[missing][:5]))
        raise IptOutcomesError(
            f"covariate(s) {', '.join(c.columns)} missing for {int(missing.sum())} analysed "
            f"subject(s) (e.g. {who}); multiple imputation needs each subject's baseline values"
        )
    return c.reset_index(drop=True)


def _compute_sigma(own: np.ndarray, ref: np.ndarray, n_pre: int) -> np.ndarray:
    """Carpenter-Roger-Kenward covariance for JR and CIR with different arm covariances (rbmi's
    ``compute_sigma``): the own arm's before the event, conditioned through the reference arm's
    after it. Batched over the leading axis."""
    T = own.shape[-1]
    if n_pre >= T:
        return own
    if n_pre == 0:
        return ref
    a, b = slice(0, n_pre), slice(n_pre, T)
    T11 = own[..., a, a]
    R11inv = np.linalg.inv(ref[..., a, a])
    R21 = ref[..., b, a]
    s21 = R21 @ R11inv @ T11
    s22 = ref[..., b, b] - R21 @ R11inv @ (ref[..., a, a] - T11) @ R11inv @ ref[..., a, b]
    out = np.empty_like(own)
    out[..., a, a] = T11
    out[..., b, a] = s21
    out[..., a, b] = np.swapaxes(s21, -1, -2)
    out[..., b, b] = s22
    return out


class ImputationModel:
    """The MMRM imputation model of an :class:`MIData`, fitted to all subjects.

    Parameters
    ----------
    data : MIData
    covariance : str
        Covariance structure (``us`` default; see :mod:`ipt_outcomes.models.mmrm.covariance`).
    group_by_arm : bool
        One covariance matrix per arm (rbmi ``same_cov = FALSE``).
    method : {"reml", "ml"}

    Attributes
    ----------
    beta : ndarray (q, T)
        Fixed effects as rows intercept, non-reference arms, baseline; columns visits.
    sigmas : ndarray (G, T, T)
        Covariance matrix of each group (one, or one per arm).
    theta : ndarray
        Covariance parameters (the refits start here).

    Notes
    -----
    The model ``change ~ visit + arm:visit + baseline:visit`` with its covariance, fitted to the
    observed changes before any event (as rbmi's ``CHANGE ~ BASVAL*VISIT + THERAPY*VISIT``).
    Subjects with no such value add nothing to the fit; they are still imputed and analysed.
    """

    def __init__(self, data: MIData, covariance: str = "us", group_by_arm: bool = False,
                 method: str = "reml", optimizer: str = "rbmi"):  # fmt: skip
        from ..models.mmrm.covariance import CovarianceStructure
        from ..models.mmrm.refit import Refitter

        self.data = data
        self.covariance = covariance
        self.group_by_arm = bool(group_by_arm)
        self.method = method
        T, Z = data.T, data.design()
        q = data.q_visit  # per-visit coefficients: intercept, arms, baseline
        self.q = q
        self.c = Z.shape[1] - q  # main-effect covariates: one coefficient over all visits
        obs = ~np.isnan(data.y)
        self._check(obs)
        subj, vis = np.nonzero(obs)
        X = np.zeros((len(subj), q * T + self.c))
        X[np.arange(len(subj))[:, None], np.arange(q)[None, :] * T + vis[:, None]] = Z[subj, :q]
        X[:, q * T :] = Z[subj, q:]
        n_groups = len(data.arms) if self.group_by_arm else 1
        groups = data.arm if self.group_by_arm else np.zeros(data.n, int)
        self.group = groups
        structure = CovarianceStructure(covariance, T)
        self._check_size(structure.n_theta * n_groups, T)
        self.refitter = Refitter(X, data.y[subj, vis], subj, vis, groups[subj],
                                 structure, n_groups,
                                 method == "reml", n_subjects=data.n)  # fmt: skip
        self.has_data = obs.any(axis=1)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        self.optimizer = optimizer
        full = None
        if optimizer == "rbmi":
            full = self.refitter.fit_many(np.ones((1, data.n)), optimizer="lbfgsb")[0]
        if full is None or not full.converged:  # as R mmrm then tries other optimizers
            full = self.refitter.fit(np.ones(data.n), self.refitter.start())
        if not full.converged:
            raise IptOutcomesError(
                f"the imputation model (MMRM, {covariance} covariance"
                f"{', one per arm' if self.group_by_arm else ''}) did not converge on the observed "
                "data; try a simpler --covariance (e.g. toeph or cs) or a shared covariance"
            )
        self.theta = full.theta
        self.neg2_loglik = full.neg2_loglik
        self._hessian0 = None
        self.beta, self.sigmas = self.params([full])
        self.beta, self.sigmas = self.beta[0], self.sigmas[0]
        self._plan = self._imputation_plan()

    @property
    def hessian0(self) -> np.ndarray:
        """Hessian of -2 l at the fit to all subjects (the start of exact refits)."""
        if self._hessian0 is None:
            from ..models.mmrm.likelihood import hessian

            self._hessian0 = hessian(self.refitter.model(np.ones(self.data.n)), self.theta)
        return self._hessian0

    # --- checks -----------------------------------------------------------------------------
    def _check_size(self, k: int, T: int) -> None:
        """Refuse a covariance too large to fit (and to refit once per resample) in bounded
        time: the MMRM's own limit (issue 30: 40 visits of an unstructured covariance)."""
        from ..models.mmrm.fit import MAX_US_PARAMETERS

        if k > MAX_US_PARAMETERS:
            raise IptOutcomesError(
                f"the imputation model is too large for these data: {T} visits need {k} "
                f"covariance parameters with --covariance {self.covariance}"
                f"{' and one covariance per arm' if self.group_by_arm else ''}, more than the "
                f"{MAX_US_PARAMETERS} an imputation model is fitted with; use a structured "
                "--covariance (e.g. toeph, ar1h or csh)"
            )

    def _check(self, obs):
        d = self.data
        empty = []
        for a in range(len(d.arms)):
            rows = d.arm == a
            for t in range(d.T):
                if not obs[rows, t].any():
                    empty.append(f"{d.arms[a]} at visit {d.visits[t]:g}")
        if empty:
            raise IptOutcomesError(
                "the imputation model cannot be estimated: no observed change (before an "
                f"intercurrent event) for {', '.join(empty[:10])}"
                + (f", ... and {len(empty) - 10:,} more" if len(empty) > 10 else "")
            )
        per_visit = obs.sum(axis=0)
        few = [f"{v:g}" for v, m in zip(d.visits, per_visit, strict=True) if m <= len(d.arms)]
        if few:
            more = f", ... and {len(few) - 10:,} more" if len(few) > 10 else ""
            raise IptOutcomesError(
                f"too few observed changes at visit(s) {', '.join(few[:10])}{more} to estimate "
                "the arm means "
                "and baseline slope of the imputation model"
            )
        bad = [d.subjects[i] for i in range(d.n) if d.strategy[i] == "LMCF" and d.ice[i] == 0]
        if bad:
            raise IptOutcomesError(
                "LMCF needs an observed visit before the intercurrent event; subject(s) "
                f"{', '.join(map(str, bad[:10]))}{' ...' if len(bad) > 10 else ''} have their event "
                "at the first post-baseline visit (give them another strategy with --events)"
            )

    # --- parameters ---------------------------------------------------------------------------
    def params(self, refits) -> tuple[np.ndarray, np.ndarray]:
        """``beta (B, q + c, T)`` and ``sigmas (B, G, T, T)`` of a list of refits: the rows of
        the design's columns at each visit (a main-effect covariate's coefficient repeated over
        the visits, so that ``design() @ beta`` is every subject's mean)."""
        T, q = self.data.T, self.q
        beta = np.stack([
            np.vstack([r.beta[: q * T].reshape(q, T),
                       np.repeat(r.beta[q * T:][:, None], T, axis=1)])
            for r in refits
        ])  # fmt: skip
        sig = np.stack([np.stack(r.sigmas) for r in refits])
        return beta, sig

    def refit(self, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Refit to each row of ``weights`` (B x n): ``beta, sigmas, converged``."""
        weights = np.asarray(weights, float)
        if self.optimizer == "rbmi":
            refits = self.refitter.fit_many(weights, optimizer="lbfgsb")
            again = [i for i, r in enumerate(refits) if not r.converged]
            if again:  # R mmrm would try other optimizers; take the optimum
                for i, r in zip(again, self.refitter.fit_many(weights[again], self.theta,
                                                               self.hessian0), strict=True):  # fmt: skip
                    refits[i] = r
        else:
            refits = self.refitter.fit_many(weights, self.theta, self.hessian0)
        ok = np.array([r.converged and np.all(np.isfinite(r.beta)) for r in refits])
        for i in np.flatnonzero(~ok):  # placeholders; the caller decides what to do
            refits[i].beta = np.zeros(self.q * self.data.T + self.c)
            refits[i].sigmas = [np.eye(self.data.T)] * self.refitter.n_groups
        beta, sig = self.params(refits)
        return beta, sig, ok

    # --- the imputation distribution -----------------------------------------------------------
    def means(self, beta: np.ndarray) -> np.ndarray:
        """Each subject's mean vector under its strategy: ``(B, n, T)`` from ``beta (B, q, T)``."""
        d = self.data
        own = d.design() @ beta
        ref = d.design(as_reference=True) @ beta
        mu = own.copy()
        t = np.arange(d.T)
        pre = t[None, :] < d.ice[:, None]
        last = np.clip(d.ice - 1, 0, d.T - 1)
        rows = np.arange(d.n)
        for name in ("JR", "CR", "CIR", "LMCF"):
            sel = np.flatnonzero(d.strategy == name)
            if not len(sel):
                continue
            p = pre[sel][None]
            o, r = own[:, sel], ref[:, sel]
            if name == "JR":
                mu[:, sel] = np.where(p, o, r)
            elif name == "CR":
                mu[:, sel] = r
            elif name == "CIR":
                lo = own[:, rows[sel], last[sel]][..., None]
                lr = ref[:, rows[sel], last[sel]][..., None]
                cir = np.where(p, o, lo + r - lr)
                mu[:, sel] = np.where((d.ice[sel] == 0)[None, :, None], r, cir)
            else:  # LMCF
                lo = own[:, rows[sel], last[sel]][..., None]
                mu[:, sel] = np.where(p, o, lo)
        return mu

    def _sigma_key(self, i: int):
        d = self.data
        if not self.group_by_arm:
            return ("shared",)
        s, e, a, r = d.strategy[i], int(d.ice[i]), int(d.arm[i]), d.ref_index
        if s in ("MAR", "LMCF") or e >= d.T:
            return ("arm", a)
        if s == "CR" or e == 0 or a == r:
            return ("arm", r)
        return ("crk", a, e)

    def _sigma_of(self, key, sigmas: np.ndarray) -> np.ndarray:
        """(B, T, T) covariance for a key of :meth:`_sigma_key` from ``sigmas (B, G, T, T)``."""
        if key[0] == "shared":
            return sigmas[:, 0]
        if key[0] == "arm":
            return sigmas[:, key[1]]
        return _compute_sigma(sigmas[:, key[1]], sigmas[:, self.data.ref_index], key[2])

    def _imputation_plan(self):
        """Subjects with missing values grouped by (missing visits, covariance)."""
        d = self.data
        miss = d.missing
        groups: dict[tuple, list[int]] = {}
        for i in np.flatnonzero(miss.any(axis=1)):
            groups.setdefault((tuple(miss[i].tolist()), self._sigma_key(i)), []).append(i)
        plan = []
        for (pattern, key), members in groups.items():
            m = np.asarray(pattern)
            plan.append((np.asarray(members), np.flatnonzero(m), np.flatnonzero(~m), key))
        return plan

    def as_mar(self) -> ImputationModel:
        """The same fitted model with every subject imputed under MAR."""
        mar = copy.copy(self)
        mar.data = dataclasses.replace(self.data, strategy=np.full(self.data.n, "MAR"))
        mar._plan = mar._imputation_plan()
        return mar

    def conditional_variances(self, sigmas) -> np.ndarray:
        """``(B, n, T)`` variance of each missing value given the subject's observed ones (0
        where observed)."""
        d = self.data
        out = np.zeros((len(sigmas), d.n, d.T))
        for members, mis, obs, key in self._plan:
            S = self._sigma_of(key, sigmas)
            cond = S[:, mis][:, :, mis]
            if len(obs):
                Smo = S[:, mis][:, :, obs]
                cond = cond - Smo @ np.linalg.solve(S[:, obs][:, :, obs], np.swapaxes(Smo, 1, 2))
            v = np.diagonal(cond, axis1=1, axis2=2)  # (B, m)
            out[:, members[:, None], mis[None, :]] = v[:, None, :]
        return out

    @property
    def n_missing(self) -> int:
        return int(self.data.missing.sum())

    def impute(self, beta, sigmas, rngs=None) -> np.ndarray:
        """Completed changes ``(B, n, T)``: the conditional mean of each missing value given the
        subject's observed ones, or (with ``rngs``, one generator per parameter set) a draw from
        that conditional normal. Observed values are kept."""
        d = self.data
        mu = self.means(beta)
        nb = len(beta)
        out = np.broadcast_to(d.y, (nb, d.n, d.T)).copy()
        noise = None
        if rngs is not None:
            noise = [rng.standard_normal(self.n_missing) for rng in rngs]
            pos = 0
        for members, mis, obs, key in self._plan:
            S = self._sigma_of(key, sigmas)
            mean = mu[:, members][:, :, mis]
            cond = S[:, mis][:, :, mis]
            if len(obs):
                Soo = S[:, obs][:, :, obs]
                Smo = S[:, mis][:, :, obs]
                K = np.linalg.solve(Soo, np.swapaxes(Smo, 1, 2))  # (B, o, m) = Soo^-1 Som
                resid = d.y[members][:, obs][None] - mu[:, members][:, :, obs]
                mean = mean + resid @ K
                if noise is not None:
                    cond = cond - Smo @ K
            if noise is not None:
                L = np.linalg.cholesky(cond)
                size = len(members) * len(mis)
                z = np.stack([nz[pos : pos + size] for nz in noise]).reshape(
                    nb, len(members), len(mis)
                )
                pos += size
                mean = mean + z @ np.swapaxes(L, 1, 2)
            out[:, members[:, None], mis[None, :]] = mean
        return out
