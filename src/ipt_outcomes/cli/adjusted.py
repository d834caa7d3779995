"""``response --adjust``: the covariate-adjusted table, with notes for what could not be estimated."""

from __future__ import annotations

__all__ = ["adjusted_table"]


def adjusted_table(trial, args):
    """``response_adjusted.csv`` and the notes to print (never a silent missing number)."""
    from ..stats.adjusted import adjusted_response

    if args.strata and args.variance != "ye":
        raise ValueError("--strata needs --variance ye (Ge's variance does not use strata)")
    table = adjusted_response(
        trial,
        args.missing,
        covariates=args.adjust,
        variance=args.variance,
        strata=args.strata or (),
        alpha=args.alpha,
    )
    notes = []
    bad = table.loc[table["estimate"].isna() & table["note"].astype(str).ne("")]
    for (arm, visit), g in bad.groupby(["arm", "visit"], sort=False):
        notes.append(
            f"adjusted effect of {trial.arm_label(arm)}, {trial.visit_label(visit)} not estimated: "
            f"{g['note'].iloc[0]} (unadjusted results are in response_comparisons.csv)"
        )
    return table, notes
