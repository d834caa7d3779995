"""Step 5, contrasts: risk difference, risk ratio and odds ratio of each arm against the
reference, with delta-method standard errors on their own scale, intervals and p-values."""

from __future__ import annotations

import math
from statistics import NormalDist

import pandas as pd

from .averaging import MarginalRisks

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
