"""What every command that reads a score file does: load the trial once, write outputs whole."""

from __future__ import annotations

import sys
from pathlib import Path

from ..exceptions import IptOutcomesError

__all__ = [
    "load",
    "inputs_of",
    "labelled",
    "say",
    "arm_and_visit",
    "nothing_to_analyse",
    "check_value_labels",
    "explain_sheet",
]


def load(args, path, *, analysable: bool = True):
    """The :class:`~ipt_outcomes.data.trial.Trial` of ``path`` under the command's options.

    Errors are worded for the command line: a workbook whose first sheet is not the scores
    names its other sheets and ``--sheet``; SPSS/Stata value labels on a column that must hold
    numbers name ``--value-labels``; "nothing to analyse" names the flags that fix it. An
    analysing command prints the data's warnings (rows not analysed, a key visit without
    scores) on standard error; ``validate`` lists them in its report.
    """
    from ..data.trial import load_trial
    from ..exceptions import DataValidationError

    design = getattr(args, "design", None)
    if design:
        from ..data.design import load_design

        design = load_design(design)
        if args.reference and design.arms and args.reference not in design.arm_codes:
            raise IptOutcomesError(
                f"--reference {args.reference!r} is not one of the design's arms "
                f"{list(design.arm_codes)}"
            )
    check_value_labels(args, path, design)
    try:
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
            instrument=getattr(args, "instrument", None),
        )
    except DataValidationError as err:
        raise explain_sheet(err, path, args) from None
    if args.reference and not design:
        if args.reference not in trial.arms:
            raise IptOutcomesError(
                f"--reference {args.reference!r} is not an arm of the data "
                f"(arms: {', '.join(trial.arms)})"
            )
        trial = trial.with_reference(args.reference)
    if analysable:
        why = nothing_to_analyse(trial)
        if why:
            raise IptOutcomesError(f"{trial.source}: nothing to analyse: {why}")
        if trial.reference not in trial.arms:
            raise IptOutcomesError(
                f"{trial.source}: the reference arm {trial.reference!r} is not in the data (arms: "
                f"{', '.join(trial.arms)}); name the comparator with --reference ARM (or the "
                f"design's [analysis] reference){_labels_hint(args, path, trial)}"
            )
        trial.require_analysable()
        for p in trial.problems:
            if p.severity == "warning":
                print(f"ipt-outcomes: {p.format(trial.source)}", file=sys.stderr)
    return trial


def nothing_to_analyse(trial) -> str | None:
    """Why nothing in the trial can be analysed (with the flags that fix it), or ``None``."""
    why = trial.nothing_to_analyse()
    if why and trial.baseline.empty:
        why += " (on the command line: --baseline-visit V, or --baseline-col COL)"
    return why


def _labels_hint(args, path, trial) -> str:
    """When the arms are codes that carry value labels, say how to use the labels."""
    if args.value_labels != "codes":
        return ""
    col = trial.columns.arm
    labels = _value_labels(path).get(col)
    if not labels:
        return ""
    shown = ", ".join(f"{_code(k)} = {v}" for k, v in list(labels.items())[:6])
    return (
        f"; the file's value labels of {col!r} ({shown}) are not used unless you give "
        "--value-labels labels"
    )


def _code(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _value_labels(path) -> dict:
    from ..data.readers import value_labels_of

    return value_labels_of(path)


def check_value_labels(args, path, design) -> None:
    """``--value-labels labels`` with labels on a column that must hold numbers (visit, score,
    baseline) would turn every value into text: refuse it once, naming the column and the fix."""
    if args.value_labels != "labels":
        return
    labels = _value_labels(path)
    if not labels:
        return
    from ..data.design import ColumnMap

    cols = (design.columns if design is not None else ColumnMap()).with_overrides(
        subject=args.subject_col,
        arm=args.arm_col,
        visit=args.visit_col,
        outcome=args.outcome_col,
        baseline=args.baseline_col,
    )
    for role, col in (
        ("visit", cols.visit),
        ("outcome", cols.outcome),
        ("baseline", cols.baseline),
    ):
        texts = [v for v in (labels.get(col) or {}).values() if not _is_number(v)]
        if col and texts:
            shown = ", ".join(f"{_code(k)} = {v}" for k, v in list(labels[col].items())[:5])
            raise IptOutcomesError(
                f"{path}, column {col}: the {role} column carries value labels ({shown}) and "
                f"{'visits' if role == 'visit' else 'scores'} must be numbers: --value-labels "
                "labels would replace every value by its label. Use --value-labels codes (the "
                "default) and, for visit names, the design's [visits] labels"
            )


def _is_number(text) -> bool:
    try:
        float(str(text).strip().replace(",", "."))
    except ValueError:
        return False
    return True


def explain_sheet(err, path, args):
    """A workbook read from its first sheet that lacks the required columns: name its other
    sheets (and which of them has the columns) and --sheet."""
    from ..data.readers import sheet_names
    from ..exceptions import DataValidationError

    missing = [p for p in err.problems if p.rule == "required_column"]
    if not missing or args.sheet is not None:
        return err
    sheets = sheet_names(path)
    if len(sheets) < 2:
        return err
    from ..data.validation import Problem

    cols = [p.column for p in missing]
    fits = [s for s in sheets[1:] if set(cols) <= set(_header_of(path, s))]
    others = ", ".join(repr(s) for s in sheets[1:])
    fix = f"the workbook's other sheets are {others}: "
    if fits:
        fix += f"sheet {fits[0]!r} has them, give --sheet {_quote(fits[0])}"
    else:
        fix += "name the one with the scores with --sheet NAME"
    msg = f"the first sheet {sheets[0]!r} was read and it lacks {', '.join(cols)}; {fix}"
    n_required = 5 if args.baseline_col else 4
    if len(missing) >= n_required:  # none of the columns: the sheet, not the columns, is wrong
        return DataValidationError([Problem("sheet", msg, option="sheet")], err.source)
    return DataValidationError([Problem("sheet", msg, option="sheet"), *err.problems], err.source)


def _header_of(path, sheet: str) -> list[str]:
    import pandas as pd

    try:
        head = pd.read_excel(path, sheet_name=sheet, nrows=0, engine="openpyxl")
    except Exception:  # an unreadable sheet is simply not the one
        return []
    return [str(c).strip() for c in head.columns]


def _quote(name: str) -> str:
    import shlex

    return shlex.quote(name)


def inputs_of(args, *paths) -> list[Path]:
    """Files the command reads (an output may never replace one)."""
    out = [Path(p) for p in paths if p]
    if getattr(args, "design", None):
        out.append(Path(args.design))
    return out


def labelled(tables: dict, trial) -> dict:
    """Each table with a ``visit`` column gains ``visit_label`` (the design's label) at the end,
    and its visits are written as in the input (a design's text codes stay text)."""
    out = {}
    for name, t in tables.items():
        if "visit" in t.columns and "visit_label" not in t.columns and len(t.columns):
            t = t.assign(visit_label=[trial.visit_label(v) if v == v else "" for v in t["visit"]])
        out[name] = trial.with_input_visits(t)
    return out


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def arm_and_visit(args, trial) -> tuple[str, float]:
    """``--arm`` (default: the design's first non-reference arm in the data) and ``--visit``
    (default: the last key visit), checked against the data."""
    arm = args.arm or next((a for a in trial.arms if a != trial.reference), None)
    visit = trial.key_visits[-1]
    if args.visit is not None:
        try:
            visit = trial.design.visit_value(args.visit)
        except ValueError as exc:
            raise IptOutcomesError(f"--visit: {exc}") from None
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
            f"--visit {trial.design.visit_text(visit)} is not a post-baseline visit of the data "
            f"({', '.join(trial.design.visit_text(v) for v in trial.post_visits)})"
        )
    return arm, float(visit)
