"""Analysis populations: who belongs to each, counted per arm.

A population is a built-in rule - ``all`` (every randomised subject in the file), ``baseline``
(with a baseline score), ``post-baseline`` (with a baseline and at least one post-baseline score:
the usual full analysis set) - or a Y/N flag column of the data (ADaM ``FASFL``, ``PPROTFL``): a
subject belongs when the flag is ``Y`` (an empty flag or ``N`` means not). A flag must be the same
on every row of a subject. Modelled arms are never randomised, so they are counted apart.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from ..data.analysis_plan import Population
from ..data.validation import Problem
from ..exceptions import DataValidationError

__all__ = ["members", "population_counts", "restrict"]

_YES = {"Y", "YES", "1", "TRUE"}
_NO = {"N", "NO", "0", "FALSE", ""}


def _flag_members(trial, pop: Population) -> set:
    col = pop.flag
    d = trial.scores
    raw = d[col]
    text = raw.astype("string").str.strip().str.upper().fillna("")
    bad = ~text.isin(_YES | _NO)
    problems = []
    for idx in d.index[bad][:20]:
        problems.append(
            Problem(
                "population_flag",
                f"population {pop.id!r}: flag {raw.loc[idx]!r} is not Y or N",
                row=f"row {int(idx) + 2}" if int(idx) >= 0 else None,
                subject=d.at[idx, "subject_id"],
                column=col,
            )
        )
    yes = text.isin(_YES)
    per_subject = yes.groupby(d["subject_id"]).agg(["min", "max"])
    mixed = per_subject.index[per_subject["min"] != per_subject["max"]]
    for s in list(mixed)[:20]:
        problems.append(
            Problem(
                "population_flag",
                f"population {pop.id!r}: flag {col} is Y on some rows of the subject and not on "
                "others; a population flag is one value per subject",
                subject=s,
                column=col,
            )
        )
    if problems:
        raise DataValidationError(problems, trial.source)
    return set(per_subject.index[per_subject["max"]])


def members(trial, pop: Population) -> set:
    """Subject ids in the population (every arm, modelled arms included)."""
    if pop.flag is not None:
        return _flag_members(trial, pop)
    d = trial.scores
    if pop.rule == "all":
        return set(d["subject_id"].unique())
    base = set(trial.baseline.index)
    if pop.rule == "baseline":
        return base
    post = trial.derived
    return set(post.loc[post["score"].notna(), "subject_id"].unique()) & base


def population_counts(trial, populations) -> pd.DataFrame:
    """``population, label, arm, n, modelled`` - the size of each population in each arm."""
    arm_of = trial.arm_of
    rows = []
    for pop in populations:
        ids = members(trial, pop)
        counts = arm_of[arm_of.index.isin(ids)].value_counts()
        for arm in trial.arms:
            rows.append(
                dict(
                    population=pop.id,
                    label=pop.display,
                    arm=arm,
                    n=int(counts.get(arm, 0)),
                    modelled=trial.design.arm(arm).modelled,
                )  # fmt: skip
            )
    return pd.DataFrame(rows, columns=["population", "label", "arm", "n", "modelled"])


def restrict(trial, ids: set):
    """The trial restricted to the subjects ``ids`` (scores and derived rows)."""
    keep = trial.scores["subject_id"].isin(ids)
    return dataclasses.replace(
        trial,
        scores=trial.scores.loc[keep].copy(),
        derived=trial.derived.loc[trial.derived["subject_id"].isin(ids)].copy(),
    )
