"""The calibration targets of the synthetic trial and the plan they resolve into.

Every target is one row of ``saloheimo2016_targets.csv`` (shipped beside this module) with its
kind (``published``, ``secondary``, ``literature``, ``assumption``) and source. :func:`plan_trial`
resolves them for a trial size and visit schedule: published response percentages take precedence
over the secondary transcription's observed n (where a percentage is impossible with that n, the
nearest denominator that makes it possible is used, and the conflict is reported); means, SDs and
retention are interpolated between the calibration anchors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

from ..exceptions import CalibrationError
from ..stats.granularity import consistent_counts, nearest_consistent_n

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_VISITS",
    "ARMS",
    "PUBLISHED_ARMS",
    "MODELLED_ARM",
    "GROUP_ARM",
    "REFERENCE_ARM",
    "OUTPUT_COLUMNS",
    "ArmPlan",
    "Plan",
    "Targets",
    "load_targets",
    "plan_trial",
]

DEFAULT_SEED = 2016
DEFAULT_VISITS = (0.0, 1.5, 3.0, 6.0, 12.0)
ARMS = ("IPT", "PeGT", "TAU", "IPT+MED")
PUBLISHED_ARMS = ("IPT", "PeGT", "TAU")
MODELLED_ARM = "IPT+MED"
GROUP_ARM = "PeGT"
REFERENCE_ARM = "TAU"
OUTPUT_COLUMNS = (
    "subject_id",
    "arm",
    "visit",
    "hamd17",
    "therapy_group",
    "antidepressant",
    "age",
    "sex",
    "cgi_s",
    "sofas",
)


def load_targets() -> pd.DataFrame:
    """The calibration targets shipped with the package, one row per target with its source.

    Returns
    -------
    DataFrame
        ``quantity, arm, visit, value, kind, source``; ``kind`` is ``published`` (the
        abstract), ``secondary`` (transcribed by meta-analysis data sets), ``literature`` (for
        the modelled arm and scale links) or ``assumption``.
    """
    with (
        resources.files("ipt_outcomes")
        .joinpath("datasets/saloheimo2016_targets.csv")
        .open("r", encoding="utf-8") as fh
    ):
        targets = pd.read_csv(fh, dtype={"arm": str, "value": str, "kind": str, "source": str})
    targets["visit"] = pd.to_numeric(targets["visit"])
    return targets


class Targets:
    """Look-ups into the targets table, with 'all' rows as per-arm defaults."""

    def __init__(self, table: pd.DataFrame):
        self.table = table
        self._records = table.to_dict("records")  # looked up hundreds of times per trial

    def row(self, quantity: str, arm: str | None = None, visit: float | None = None):
        t = [r for r in self._records if r["quantity"] == quantity]
        if visit is not None:
            t = [r for r in t if math.isclose(float(r["visit"]), visit, rel_tol=1e-5, abs_tol=1e-8)]
        if arm is not None:
            t = [r for r in t if r["arm"] == arm] or [r for r in t if r["arm"] == "all"]
        return t[0] if t else None

    def value(self, quantity, arm=None, visit=None, default=None) -> float | None:
        r = self.row(quantity, arm, visit)
        if r is None:
            return default
        return float(r["value"])

    def source(self, quantity, arm=None, visit=None) -> tuple[str, str]:
        r = self.row(quantity, arm, visit)
        return ("", "") if r is None else (str(r["kind"]), str(r["source"]))

    def visits(self, quantity: str, arm: str) -> list[float]:
        t = self.table[
            (self.table["quantity"] == quantity) & (self.table["arm"].isin([arm, "all"]))
        ]
        return sorted(set(t["visit"].dropna().astype(float)))


@dataclass
class ArmPlan:
    arm: str
    n: int
    baseline_mean: float
    baseline_sd: float
    age_mean: float
    age_sd: float
    male_n: int
    antidepressant_n: int
    means: dict[float, float]
    sds: dict[float, float]
    in_study: dict[float, int]
    observed: dict[float, int]
    responders: dict[float, int]
    response_target: dict[float, float]
    exact_moments: bool


@dataclass
class Plan:
    arms: list[ArmPlan]
    visits: tuple[float, ...]
    key_visits: tuple[float, ...]
    calibrate_published: bool
    notes: list[str] = field(default_factory=list)
    params: dict[str, float] = field(default_factory=dict)


def _interp(points: dict[float, float], visit: float) -> float:
    xs = sorted(points)
    return float(np.interp(visit, xs, [points[x] for x in xs]))


def plan_trial(targets: pd.DataFrame, n_per_arm, visits, include_modelled_arm: bool) -> Plan:
    T = Targets(targets)
    arms = list(PUBLISHED_ARMS) + ([MODELLED_ARM] if include_modelled_arm else [])
    visits = tuple(float(v) for v in (visits if visits is not None else DEFAULT_VISITS))
    if (
        not visits
        or visits[0] != 0.0
        or any(b <= a for a, b in zip(visits, visits[1:], strict=False))
    ):
        raise CalibrationError("visits must start at 0 (baseline) and increase strictly")
    calibrate_published = n_per_arm is None and visits == DEFAULT_VISITS and include_modelled_arm
    post = visits[1:]
    key = tuple(v for v in post if T.row("response_percent", "IPT", v) is not None)
    notes: list[str] = []
    params = {
        "icc": T.value("icc_therapy_group", GROUP_ARM),
        "rho": T.value("subject_correlation", "all"),
        "ar1": T.value("residual_ar1", "all"),
        "dropout": T.value("dropout_log_odds_per_sd", "all"),
        "rr": T.value("response_rr_vs_ipt", MODELLED_ARM),
        "smd": T.value("smd_vs_ipt", MODELLED_ARM),
        "group_min": T.value("therapy_group_size_min", GROUP_ARM),
        "group_max": T.value("therapy_group_size_max", GROUP_ARM),
        "sofas_a": T.value("sofas_intercept", "all"),
        "sofas_b": T.value("sofas_slope", "all"),
    }
    params["cgi_cuts"] = [float(x) for x in T.row("cgi_s_hamd_cuts", "all")["value"].split(",")]

    plans = []
    for arm in arms:
        n_pub = int(T.value("randomised_n", arm))
        if n_per_arm is None:
            n = n_pub
        elif isinstance(n_per_arm, dict):
            n = int(n_per_arm.get(arm, n_pub))
        else:
            n = int(n_per_arm)
        if n < 2:
            raise CalibrationError(f"n per arm must be at least 2, got {n} for {arm}")
        scale = n / n_pub
        src = "IPT" if arm == MODELLED_ARM else arm
        # --- means and SDs of HAM-D by visit (anchor points interpolated to the schedule)
        anchor_means = {0.0: T.value("baseline_hamd_mean", arm, 0.0)}
        for v in T.visits("hamd_mean", src):
            anchor_means[v] = T.value("hamd_mean", src, v)
        anchor_sds = {v: T.value("hamd_sd", src, v) for v in T.visits("hamd_sd", src)}
        means = {v: _interp(anchor_means, v) for v in post}
        sds = {v: _interp(anchor_sds, v) for v in post}
        if arm == MODELLED_ARM:  # combined treatment is g = smd better than IPT alone
            means = {v: means[v] - params["smd"] * sds[v] for v in post}
        # --- retention: patients still in the study by visit (monotone), intermittent misses
        anchor_in = {0.0: float(n_pub)}
        anchor_missed = {}
        for v in T.visits("observed_n", arm):
            anchor_missed[v] = T.value("missed_visit_n", arm, v, default=0.0)
            anchor_in[v] = T.value("observed_n", arm, v) + anchor_missed[v]
        in_study, prev = {}, n
        for v in post:
            prev = min(prev, int(round(_interp(anchor_in, v) * scale)))
            in_study[v] = prev
        missed = {v: int(round(anchor_missed.get(v, 0.0) * scale)) for v in post}
        missed = {v: (0 if v in key else min(m, in_study[v])) for v, m in missed.items()}
        observed = {v: in_study[v] - missed[v] for v in post}
        # --- response targets at key visits
        response_target, responders = {}, {}
        for v in key:
            if arm == MODELLED_ARM:
                pct = T.value("response_percent", "IPT", v) * params["rr"]
            else:
                pct = T.value("response_percent", arm, v)
            response_target[v] = pct
            n_obs = observed[v]
            if calibrate_published and arm in PUBLISHED_ARMS:
                ks = consistent_counts(pct, n_obs)
                if not ks:
                    chosen = nearest_consistent_n(pct, n_obs, n)
                    lo_k = math.floor(pct * n_obs / 100)
                    options = ", ".join(
                        f"{k}/{n_obs} = {100 * k / n_obs:.1f}%"
                        for k in (lo_k, lo_k + 1)
                        if 0 <= k <= n_obs
                    )
                    kind, _ = T.source("observed_n", arm, v)
                    notes.append(
                        f"{arm} at {v:g} months: the published {pct:g}% is impossible with the "
                        f"{kind} n = {n_obs} ({options}); chose n = {chosen} "
                        f"({consistent_counts(pct, chosen)[0]}/{chosen} = "
                        f"{100 * consistent_counts(pct, chosen)[0] / chosen:.1f}%), the nearest "
                        "denominator that makes the abstract's percentage possible."
                    )
                    observed[v] = n_obs = chosen
                    ks = consistent_counts(pct, chosen)
                responders[v] = min(
                    ks, key=lambda k, n_obs=n_obs, pct=pct: abs(100 * k / n_obs - pct)
                )
            else:
                responders[v] = int(round(pct * n_obs / 100))
        for v in key:  # a granularity choice may have moved a key visit's n
            in_study[v] = observed[v]
        seq = [n] + [in_study[v] for v in post]
        if any(b > a for a, b in zip(seq, seq[1:], strict=False)):
            raise CalibrationError(
                f"{arm}: patients in the study must not increase over visits, got {seq}; "
                "check observed_n in the targets"
            )
        male_pct = T.value("male_percent", arm)
        male_n = int(round(male_pct * n / 100))
        if calibrate_published:
            ks = consistent_counts(male_pct, n)
            male_n = min(ks, key=lambda k: abs(k - male_pct * n / 100)) if ks else male_n
        plans.append(
            ArmPlan(
                arm=arm,
                n=n,
                baseline_mean=T.value("baseline_hamd_mean", arm, 0.0),
                baseline_sd=T.value("baseline_hamd_sd", arm, 0.0),
                age_mean=T.value("age_mean", arm),
                age_sd=T.value("age_sd", arm),
                male_n=male_n,
                antidepressant_n=int(round(T.value("antidepressant_percent", arm) * n / 100)),
                means=means,
                sds=sds,
                in_study=in_study,
                observed=observed,
                responders=responders,
                response_target=response_target,
                exact_moments=n <= 5_000,
            )
        )
    if calibrate_published:
        notes.append(
            "The abstract's percentages are taken as primary and the transcribed n as secondary "
            "(two public meta-analysis data sets copied them from the full text): where they "
            "conflict, the abstract wins. The 3-month means are then met among the chosen "
            "observed patients."
        )
        notes.append(
            f"{MODELLED_ARM} is modelled, not observed: IPT's response rates x RR "
            f"{params['rr']:g} (Cuijpers et al. 2020) and IPT's means less g = {params['smd']:g} "
            "SD (Cuijpers et al. 2016)."
        )
    return Plan(plans, visits, key, calibrate_published, notes, params)
