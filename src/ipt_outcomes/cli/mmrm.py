"""``ipt-outcomes mmrm FILE``: MMRM of change from baseline."""

from __future__ import annotations

import sys
import warnings

from ..constants import COVARIANCE_STRUCTURES, DF_METHODS
from ..exceptions import ConvergenceWarning
from ..output import OutputFolder
from .common import inputs_of, labelled, load, say
from .options import add_data_options, add_out, alpha, nonempty_name, path_text

__all__ = ["arguments", "run"]


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("file", type=path_text, metavar="FILE")
    p.add_argument("--df", choices=DF_METHODS, default="kenward-roger",
                   help="degrees of freedom (default kenward-roger)")  # fmt: skip
    p.add_argument("--covariance", choices=COVARIANCE_STRUCTURES, default="us",
                   help="within-subject covariance (default us)")  # fmt: skip
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


def run(args) -> int:
    import pandas as pd

    from ..format import format_frame
    from ..models.mmrm import fit_mmrm

    trial = load(args, args.file)
    if args.covariate:
        from .adjusted import check_covariates

        check_covariates(trial, args.covariate, "--covariate")
    with warnings.catch_warnings():  # a fallback is reported in mmrm_fit.csv and below
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = fit_mmrm(
            trial,
            covariance=args.covariance,
            df=args.df,
            method=args.method,
            covariates=args.covariate or (),
            group_by_arm=args.group_by_arm,
            fallback=not args.no_fallback,
            alpha=args.alpha,
        )
    covs = []
    for g, sig in zip(res.groups, res.sigma, strict=True):
        long = sig.stack().rename("covariance").reset_index()
        long.columns = ["visit", "visit2", "covariance"]
        covs.append(long.assign(group=g))
    cov = pd.concat(covs, ignore_index=True)[["group", "visit", "visit2", "covariance"]]
    cov["visit"] = cov["visit"].astype(float)
    cov["visit2"] = cov["visit2"].astype(float)
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
        f"{res.covariance} covariance, {res.df_method} df): {res.n_obs} observations, "
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
