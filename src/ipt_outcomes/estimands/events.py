"""Intercurrent events (ICH E9(R1)): who has one, from which visit, and how it is handled.

* :func:`read_events` - an events file (SPEC: ``subject_id, visit, strategy``; the first visit
  affected and its strategy), checked row by row against the trial: every problem is reported at
  once with its row (header = row 1), subject and column.
* :func:`intercurrent_events` - one row per analysed subject: its event visit and strategy, from
  the events file where it has a row, else from its dropout (the visit after its last observed
  score, handled by the default strategy); a subject whose scores run to the last visit has no
  event (a missing visit followed by an observed one is imputed under MAR).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import MI_STRATEGIES
from ..data.cells import clean_text
from ..exceptions import DataValidationError, IptOutcomesError

__all__ = ["EVENT_COLUMNS", "read_events", "intercurrent_events"]

#: Columns of an events file.
EVENT_COLUMNS = ("subject_id", "visit", "strategy")


def _problem(message, row=None, subject=None, column=None, position=float("inf")):
    from ..data.validation import Problem

    return Problem("events", message, row=row, subject=subject, column=column, position=position)


def read_events(path, trial, strategy: str | None = None) -> pd.DataFrame:
    """Read and check an intercurrent-events file.

    Parameters
    ----------
    path : str or Path
        CSV with columns ``subject_id, visit, strategy`` (other columns are ignored): one row
        per subject with an event, ``visit`` the first visit affected (as the trial's visits are
        written, e.g. a visit code), ``strategy`` one of MAR, JR, CR, CIR, LMCF (any case).
    trial : Trial
    strategy : str, optional
        The strategy of every event when the file has no ``strategy`` column (an analysis plan
        names the strategy of each intercurrent event, and its events file lists who and when).

    Returns
    -------
    DataFrame
        ``subject_id, visit, strategy`` (visit a float, strategy upper case), in file order.

    Raises
    ------
    DataValidationError
        Listing every bad row: a missing column, an empty cell, a subject not in the trial (or
        without a baseline), a subject with two rows, a visit that is not a post-baseline visit
        of the trial, an unknown strategy.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise IptOutcomesError(f"events file {path} does not exist")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise IptOutcomesError(f"{source}: cannot be read as CSV ({exc})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    if strategy is not None and "strategy" not in raw.columns:
        raw["strategy"] = strategy
    missing = [c for c in EVENT_COLUMNS if c not in raw.columns]
    if missing:
        raise DataValidationError(
            [
                _problem(
                    f"column {c!r} is missing; an events file has columns "
                    f"{', '.join(EVENT_COLUMNS)} (found: {', '.join(raw.columns) or 'none'})",
                    row="header (row 1)",
                    column=c,
                )
                for c in missing
            ],  # fmt: skip
            source,
        )
    subjects = {str(s) for s in trial.baseline.index}
    everyone = {str(s) for s in trial.scores["subject_id"].unique()}
    post = list(trial.post_visits)
    design = trial.design
    problems, rows, seen = [], [], {}
    for pos, r in enumerate(raw.itertuples(index=False)):
        row = f"row {pos + 2}"
        subj, visit_text, strat = (str(getattr(r, c)).strip() for c in EVENT_COLUMNS)
        subj = clean_text(subj)[0].strip()  # one spelling, as the score file's (issue 30)
        here = dict(row=row, subject=subj or None, position=pos)
        bad = False
        if not subj:
            problems.append(_problem("subject_id is empty", column="subject_id", **here))
            bad = True
        elif subj not in everyone:
            problems.append(_problem("subject is not in the score file", column="subject_id", **here))  # fmt: skip
            bad = True
        elif subj not in subjects:
            problems.append(_problem("subject has no baseline score, so is not analysed",
                                     column="subject_id", **here))  # fmt: skip
            bad = True
        elif subj in seen:
            problems.append(_problem(f"subject already has an event in {seen[subj]}; give one "
                                     "row per subject (the first visit affected)",
                                     column="subject_id", **here))  # fmt: skip
            bad = True
        else:
            seen[subj] = row
        try:
            if not visit_text:
                raise ValueError("visit is empty")
            if design.visit_codes:  # written as the score file writes visits ("WEEK 4")
                visit = float(design.visit_value(visit_text))
            else:
                visit = float(visit_text)
                if not np.isfinite(visit):
                    raise ValueError(f"visit {visit_text!r} is not a number")
        except ValueError as exc:
            message = str(exc) if design.visit_codes or not visit_text else (
                f"visit {visit_text!r} is not a number")  # fmt: skip
            problems.append(_problem(message, column="visit", **here))
            bad = True
            visit = np.nan
        else:
            if visit not in post:
                problems.append(_problem(
                    f"visit {design.visit_text(visit)} is not a post-baseline visit of the "
                    f"trial ({', '.join(design.visit_text(v) for v in post)})",
                    column="visit", **here))  # fmt: skip
                bad = True
        code = strat.upper()
        if code not in MI_STRATEGIES:
            problems.append(_problem(
                (f"strategy {strat!r} is not one of {', '.join(MI_STRATEGIES)}" if strat
                 else "strategy is empty"), column="strategy", **here))  # fmt: skip
            bad = True
        if not bad:
            rows.append((subj, visit, code))
    if problems:
        raise DataValidationError(problems, source)
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS))


def intercurrent_events(trial, strategy: str = "MAR", events: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """Every analysed subject's intercurrent event, if any, and its strategy.

    Parameters
    ----------
    trial : Trial
    strategy : {"MAR", "JR", "CR", "CIR", "LMCF"}
        How a dropout without a row in ``events`` is handled.
    events : DataFrame, optional
        From :func:`read_events`.

    Returns
    -------
    DataFrame
        One row per subject with a baseline (sorted by arm in design order, then subject):
        ``subject_id, arm, visit`` (the first visit affected; NaN if none), ``strategy`` (the
        strategy of the event; ``MAR`` for a subject without one) and ``source`` (``events``,
        ``dropout`` or ``none``).

    Notes
    -----
    The dropout rule (as the rbmi reference files were made): a subject whose last observed
    post-baseline score is before the last visit has an event at the visit after it; a subject
    with no post-baseline score has it at the first post-baseline visit. A missing visit
    followed by an observed one is not an event: it is imputed under MAR.

    Examples
    --------
    >>> import pandas as pd
    >>> from ipt_outcomes.data.trial import trial_from_frame
    >>> d = pd.DataFrame({"subject_id": ["a"] * 3 + ["b"] * 3, "arm": ["TAU"] * 3 + ["CBT"] * 3,
    ...                   "visit": [0, 4, 8] * 2, "hamd17": [20, 15, None, 22, None, 12]})
    >>> intercurrent_events(trial_from_frame(d), "JR")[["subject_id", "visit", "strategy"]]
      subject_id  visit strategy
    0          b    NaN      MAR
    1          a    8.0       JR
    """
    strategy = str(strategy).upper()
    if strategy not in MI_STRATEGIES:
        raise ValueError(f"strategy must be one of {MI_STRATEGIES}, got {strategy!r}")
    post = list(trial.post_visits)
    d = trial.derived
    d = d[d["score"].notna()]
    last = d.groupby("subject_id")["visit"].max()
    subjects = trial.baseline.index
    arm = trial.arm_of.reindex(subjects)
    out = pd.DataFrame({"subject_id": subjects.astype(str), "arm": arm.to_numpy()})
    last_idx = np.array(
        [post.index(v) if v == v else -1 for v in last.reindex(subjects).to_numpy()], int
    )
    dropout = last_idx < len(post) - 1
    visit = np.where(dropout, [post[i + 1] if i + 1 < len(post) else np.nan for i in last_idx],
                     np.nan)  # fmt: skip
    out["visit"] = visit.astype(float)
    out["strategy"] = np.where(dropout, strategy, "MAR")
    out["source"] = np.where(dropout, "dropout", "none")
    if events is not None and len(events):
        ev = events.set_index(events["subject_id"].astype(str))
        has = out["subject_id"].isin(ev.index)
        idx = out.loc[has, "subject_id"]
        out.loc[has, "visit"] = ev.loc[idx, "visit"].astype(float).to_numpy()
        out.loc[has, "strategy"] = ev.loc[idx, "strategy"].to_numpy()
        out.loc[has, "source"] = "events"
    order = {a: i for i, a in enumerate(trial.arms)}
    out["_o"] = out["arm"].map(order)
    out = out.sort_values(["_o", "subject_id"], kind="stable").drop(columns="_o")
    return out.reset_index(drop=True)
