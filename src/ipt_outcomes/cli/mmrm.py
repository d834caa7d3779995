"""``ipt-outcomes mmrm FILE``: MMRM of change from baseline."""

from __future__ import annotations

import sys
import warnings

from ..exceptions import ConvergenceWarning
from ..output import OutputFolder
from .common import inputs_of, labelled, load, say

__all__ = ["run"]


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
