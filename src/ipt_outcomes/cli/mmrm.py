"""``ipt-outcomes mmrm FILE``: MMRM of change from baseline."""

from __future__ import annotations

import sys
import warnings

from ..constants import COVARIANCE_STRUCTURES, DF_METHODS
from ..exceptions import ConvergenceWarning
from ..output import OutputFolder
from .common import inputs_of, labelled, load, say
from .options import add_data_options, add_out, alpha, nonempty_name, path_text

__all__ = ["arguments", "run", "VCOV_CHOICES", "COVARIANCE_CHOICES"]

#: R mmrm's ``vcov`` (covariance of the fixed effects), in lower case.
VCOV_CHOICES = ("asymptotic", "kenward-roger", "kenward-roger-linear", "empirical",
                "empirical-bias-reduced", "empirical-jackknife")  # fmt: skip
#: The visit-indexed structures and the spatial exponential in the design's times.
COVARIANCE_CHOICES = (*COVARIANCE_STRUCTURES, "sp_exp")
_KR_VCOV = ("kenward-roger", "kenward-roger-linear")


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("file", type=path_text, metavar="FILE")
    p.add_argument("--df", choices=DF_METHODS, default="kenward-roger",
                   help="degrees of freedom (default kenward-roger)")  # fmt: skip
    p.add_argument("--vcov", choices=VCOV_CHOICES, default=None,
                   help="covariance of the fixed effects, as R mmrm's vcov (default "
                        "kenward-roger-linear with --df kenward-roger, else asymptotic)")  # fmt: skip
    p.add_argument("--covariance", choices=COVARIANCE_CHOICES, default="us",
                   help="within-subject covariance (default us; sp_exp: spatial exponential in "
                        "the design's times)")  # fmt: skip
    p.add_argument(
        "--weights",
        type=nonempty_name,
        metavar="COL",
        help="column of positive weights (R mmrm's weights)",
    )
    p.add_argument(
        "--method", choices=["reml", "ml"], default="reml", help="estimation (default reml)"
    )
    p.add_argument(
        "--covariate",
        action="append",
        type=nonempty_name,
        metavar="COL",
        help="extra fixed effect (repeatable)",
    )
    p.add_argument("--group-by-arm", action="store_true", help="one covariance matrix per arm")
    p.add_argument("--no-fallback", action="store_true",
                   help="fail instead of falling back to a simpler covariance")  # fmt: skip
    p.add_argument("--alpha", type=alpha, default=0.05, help="1 - confidence level (default 0.05)")
    add_out(p)
    add_data_options(p)


def check_vcov(df: str, vcov: str | None) -> str | None:
    """The usage error of a --df / --vcov pair R mmrm refuses, or None."""
    if vcov is None:
        return None
    if df == "kenward-roger" and vcov not in _KR_VCOV:
        return (f"--df kenward-roger needs --vcov kenward-roger or kenward-roger-linear, not {vcov} "
                "(R mmrm allows no other pair)")  # fmt: skip
    if df != "kenward-roger" and vcov in _KR_VCOV:
        return (f"--vcov {vcov} goes with --df kenward-roger only, not --df {df} "
                "(R mmrm allows no other pair)")  # fmt: skip
    return None


def run(args) -> int:

    from ..format import format_frame
    from ..models.mmrm import fit_mmrm

    problem = check_vcov(args.df, args.vcov)
    if problem:
        print(f"ipt-outcomes mmrm: error: {problem}", file=sys.stderr)
        return 2
    if args.method == "ml" and args.df == "kenward-roger":
        print("ipt-outcomes mmrm: error: --df kenward-roger needs --method reml", file=sys.stderr)
        return 2
    trial = load(args, args.file)
    if args.covariate:
        from .adjusted import check_covariates

        check_covariates(trial, args.covariate, "--covariate")
    if args.weights:
        _check_weights(trial, args.weights)
    with warnings.catch_warnings():  # a fallback is reported in mmrm_fit.csv and below
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = fit_mmrm(
            trial,
            covariance=args.covariance,
            df=args.df,
            vcov=args.vcov,
            method=args.method,
            weights=args.weights,
            covariates=args.covariate or (),
            group_by_arm=args.group_by_arm,
            fallback=not args.no_fallback,
            alpha=args.alpha,
        )
    cov = _covariance_table(res, trial)
    tables = {
        "mmrm_lsmeans": res.lsmeans(),
        "mmrm_contrasts": res.contrasts(),
        "mmrm_fit": res.fit_table(),
        "mmrm_anova": res.anova(),
        "mmrm_fixed": res.summary(),
        "mmrm_covariance": cov,
    }
    with OutputFolder(args.out, inputs_of(args, args.file)) as out:
        out.write_tables(labelled(tables, trial))
    ct = res.contrasts()
    show = ct.assign(arm=ct["arm"].map(trial.arm_label), reference=ct["reference"].map(trial.arm_label),
                     visit=ct["visit"].map(trial.visit_label))  # fmt: skip
    say(
        f"MMRM of change from baseline in {trial.instrument.name} ({res.method.upper()}, "
        f"{res.covariance} covariance, {res.df_method} df, {res.vcov_method} coefficient "
        f"covariance{', weighted by ' + args.weights if args.weights else ''}): {res.n_obs} observations, "
        f"{res.n_subjects} subjects, -2 log-likelihood {res.neg2_loglik:.3f}"
    )
    if res.fallback_log:
        say("Covariance fallback: " + " | ".join(res.fallback_log))
    left_out = [a for a in trial.arms if a not in res.design.arms]
    if left_out:
        say(
            f"note: arm{'s' if len(left_out) > 1 else ''} "
            f"{', '.join(trial.arm_label(a) for a in left_out)} "
            f"{'have' if len(left_out) > 1 else 'has'} no post-baseline score with a baseline, "
            "so the model leaves it out"
        )
    say(f"Contrasts with {trial.arm_label(trial.reference)}:")
    say(format_frame(show, 3).to_string(index=False))
    print(f"Wrote {len(tables)} tables to {args.out}", file=sys.stderr)
    return 0


def _check_weights(trial, col: str) -> None:
    """--weights names a numeric column of positive values on every analysed row."""
    import numpy as np
    import pandas as pd

    from ..exceptions import IptOutcomesError

    d = trial.derived[trial.derived["score"].notna()]
    if col not in d.columns:
        structure = ("subject_id", "arm", "visit", "time", "visit_label", "score")
        extra = [str(c) for c in trial.scores.columns if c not in structure]
        raise IptOutcomesError(
            f"--weights: column {col!r} is not in {trial.source} (other columns: "
            f"{', '.join(extra) or 'none besides the subject, arm, visit and score'})"
        )
    w = pd.to_numeric(d[col], errors="coerce")
    bad = ~(np.isfinite(w) & (w > 0))
    if bad.any():
        i = np.flatnonzero(bad.to_numpy())[0]
        row = d.iloc[i]
        raise IptOutcomesError(
            f"--weights: column {col!r} of {trial.source} must hold a positive number on every "
            f"analysed row; subject {row['subject_id']!r} at visit "
            f"{trial.visit_label(row['visit'])} has {row[col]!r}"
        )


def _covariance_table(res, trial):
    """``group, visit, visit2, covariance``: the fitted covariance between visits (for sp_exp:
    at the design's times of the visits)."""
    import numpy as np
    import pandas as pd

    sigmas = res.sigma
    if not sigmas:  # spatial: Sigma at the visits' times
        visits = list(res.design.visits)
        times = np.array([trial.time_of(v) for v in visits], float)
        D = np.abs(np.subtract.outer(times, times))
        from ..models.mmrm.covariance import SpatialExponential

        k = 2
        labels = [f"{v:g}" for v in visits]
        sigmas = [pd.DataFrame(SpatialExponential().sigma_at(res.theta[g * k:(g + 1) * k], D),
                               index=labels, columns=labels) for g in range(len(res.groups))]  # fmt: skip
    covs = []
    for g, sig in zip(res.groups, sigmas, strict=True):
        long = sig.stack().rename("covariance").reset_index()
        long.columns = ["visit", "visit2", "covariance"]
        covs.append(long.assign(group=g))
    cov = pd.concat(covs, ignore_index=True)[["group", "visit", "visit2", "covariance"]]
    cov["visit"] = cov["visit"].astype(float)
    cov["visit2"] = cov["visit2"].astype(float)
    return cov
