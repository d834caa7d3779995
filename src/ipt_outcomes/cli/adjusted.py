"""``response --adjust``: the covariate-adjusted table, with notes for what could not be estimated."""

from __future__ import annotations

import pandas as pd

from ..exceptions import IptOutcomesError

__all__ = ["adjusted_table", "check_covariates"]

#: Columns of the analysis frame that are the trial's structure, not baseline covariates.
_STRUCTURE = ("subject_id", "arm", "visit", "time", "visit_label", "score", "baseline")


def check_covariates(trial, names, flag: str) -> None:
    """Each ``--adjust`` / ``--strata`` column exists, is not the trial's structure and has a
    value for some subject: a message naming the flag and the column otherwise."""
    cols = trial.columns
    roles = {cols.subject: "the subject column", cols.arm: "the arm column",
             cols.visit: "the visit column", cols.outcome: "the outcome column"}  # fmt: skip
    if cols.baseline:
        roles[cols.baseline] = "the baseline column"
    scores = trial.scores
    extra = [c for c in scores.columns if c not in _STRUCTURE]
    twice = sorted({n for n in names or () if list(names).count(n) > 1})
    if twice:
        raise IptOutcomesError(f"{flag} {twice[0]} is given more than once; name it once")
    for name in names or ():
        if name == "baseline" and flag == "--adjust":
            continue
        if name in roles or name in _STRUCTURE:
            why = f"it is {roles[name]}" if name in roles else "it is already in the model"
            raise IptOutcomesError(
                f"{flag} {name}: {name!r} cannot be a covariate: {why}"
                + (" (use --adjust baseline for the baseline score)" if flag == "--adjust" else "")
            )
        if name not in scores.columns:
            raise IptOutcomesError(
                f"{flag} {name}: covariate {name!r} is not a column of {trial.source} (other "
                f"columns: {', '.join(extra) if extra else 'none'})"
            )
        if scores[name].isna().all() or scores[name].astype(str).str.strip().eq("").all():
            raise IptOutcomesError(
                f"{flag} {name}: column {name!r} of {trial.source} is empty for every subject"
            )
        values = scores.loc[scores["subject_id"].isin(trial.baseline.index), name]
        values = values[values.notna() & values.astype(str).str.strip().ne("")]
        levels = pd.unique(values)
        if len(levels) == 1:
            raise IptOutcomesError(
                f"{flag} {name}: column {name!r} of {trial.source} has the same value "
                f"({levels[0]}) for every subject, so it can "
                f"{'stratify' if flag == '--strata' else 'adjust'} nothing; leave it out"
            )
        if flag == "--strata":
            n_subjects = int(values.groupby(scores.loc[values.index, "subject_id"]).ngroups)
            if 2 * len(levels) > n_subjects:  # mostly one subject per stratum
                raise IptOutcomesError(
                    f"{flag} {name}: column {name!r} of {trial.source} has {len(levels)} "
                    f"different values among {n_subjects} subjects: strata are the few "
                    "categories randomisation was stratified by (e.g. site, severity group); "
                    f"adjust for a continuous variable with --adjust {name} instead"
                )


def adjusted_table(trial, args):
    """``response_adjusted.csv`` and the notes to print (never a silent missing number)."""
    from ..stats.adjusted import adjusted_response

    if args.strata and args.variance != "ye":
        raise IptOutcomesError("--strata needs --variance ye (Ge's variance does not use strata)")
    check_covariates(trial, args.adjust, "--adjust")
    check_covariates(trial, args.strata, "--strata")
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
