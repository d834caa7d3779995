"""What every command that reads a score file does: load the trial once, write outputs whole."""

from __future__ import annotations

import sys
from pathlib import Path

from ..exceptions import IptOutcomesError

__all__ = ["load", "inputs_of", "labelled", "say", "arm_and_visit"]


def load(args, path, *, analysable: bool = True):
    """The :class:`~ipt_outcomes.data.trial.Trial` of ``path`` under the command's options."""
    from ..data.trial import load_trial

    design = getattr(args, "design", None)
    if args.reference and design:
        from ..data.design import load_design

        design = load_design(design)
        if design.arms and args.reference not in design.arm_codes:
            raise IptOutcomesError(
                f"--reference {args.reference!r} is not one of the design's arms "
                f"{list(design.arm_codes)}"
            )
    trial = load_trial(
        path,
        design,
        subject=args.subject_col,
        arm=args.arm_col,
        visit=args.visit_col,
        outcome=args.outcome_col,
        baseline=args.baseline_col,
        baseline_visit=args.baseline_visit,
        reference=args.reference if design else None,
        sheet=args.sheet,
        encoding=args.encoding,
        value_labels=args.value_labels,
    )
    if args.reference and not design:
        if args.reference not in trial.arms:
            raise IptOutcomesError(
                f"--reference {args.reference!r} is not an arm of the data "
                f"(arms: {', '.join(trial.arms)})"
            )
        trial = trial.with_reference(args.reference)
    if analysable:
        trial.require_analysable()
    return trial


def inputs_of(args, *paths) -> list[Path]:
    """Files the command reads (an output may never replace one)."""
    out = [Path(p) for p in paths if p]
    if getattr(args, "design", None):
        out.append(Path(args.design))
    return out


def labelled(tables: dict, trial) -> dict:
    """Each table with a ``visit`` column gains ``visit_label`` (the design's label) at the end."""
    out = {}
    for name, t in tables.items():
        if "visit" in t.columns and "visit_label" not in t.columns and len(t.columns):
            t = t.assign(visit_label=[trial.visit_label(v) if v == v else "" for v in t["visit"]])
        out[name] = t
    return out


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def arm_and_visit(args, trial) -> tuple[str, float]:
    """``--arm`` (default: the design's first non-reference arm in the data) and ``--visit``
    (default: the last key visit), checked against the data."""
    arm = args.arm or next((a for a in trial.arms if a != trial.reference), None)
    visit = args.visit if args.visit is not None else trial.key_visits[-1]
    if arm is None:
        raise IptOutcomesError("give --arm: the data have no arm besides the reference")
    if arm not in trial.arms:
        raise IptOutcomesError(f"--arm {arm!r} is not in the data (arms: {', '.join(trial.arms)})")
    if arm == trial.reference:
        raise IptOutcomesError(
            f"--arm {arm!r} is the reference arm; name another arm to compare with it"
        )
    if float(visit) not in trial.post_visits:
        raise IptOutcomesError(
            f"--visit {visit:g} is not a post-baseline visit of the data "
            f"({', '.join(f'{v:g}' for v in trial.post_visits)})"
        )
    return arm, float(visit)
