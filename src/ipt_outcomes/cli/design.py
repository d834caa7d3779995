"""``ipt-outcomes design FILE --out design.toml``: a starter design inferred from a score file."""

from __future__ import annotations

import sys

from ..exceptions import DataValidationError, IptOutcomesError
from ..output import atomic_write, check_output_file
from .common import check_value_labels, explain_sheet, inputs_of
from .options import add_data_options, nonempty_name, path_text

__all__ = ["arguments", "run"]


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("file", type=path_text, metavar="FILE")
    p.add_argument("--out", required=True, type=path_text, metavar="FILE.toml",
                   help="design file to write")  # fmt: skip
    g = p.add_argument_group("analysis-data (ADaM BDS) columns (default: PARAMCD, ABLFL, ANL01FL "
                             "when the file has them)")  # fmt: skip
    g.add_argument("--param-col", type=nonempty_name, metavar="COL",
                   help="column whose values select each instrument's rows of a long file")  # fmt: skip
    g.add_argument("--baseline-flag-col", type=nonempty_name, metavar="COL",
                   help="column whose 'Y' marks the baseline record")  # fmt: skip
    g.add_argument("--analysis-flag-col", type=nonempty_name, metavar="COL",
                   help="column whose 'Y' marks the rows to analyse")  # fmt: skip
    add_data_options(p)


def run(args) -> int:
    import tomllib

    from ..data.design import parse_design
    from ..data.infer import infer_design_text, resolve_columns
    from ..data.readers import read_table
    from ..data.validation import validate_scores

    if args.design:
        raise IptOutcomesError(
            "`design` infers a design from the score file and reads no --design; the design "
            "file it writes is --out"
        )
    if args.instrument:
        raise IptOutcomesError(
            "`design` writes every instrument of the file into the design; --instrument "
            "chooses one when the analysis commands read it"
        )
    given = {"subject": args.subject_col, "arm": args.arm_col, "visit": args.visit_col,
             "outcome": args.outcome_col, "baseline": args.baseline_col,
             "param": args.param_col, "baseline_flag": args.baseline_flag_col,
             "analysis_flag": args.analysis_flag_col}  # fmt: skip
    used = [c for c in given.values() if c]
    twice = sorted({c for c in used if used.count(c) > 1})
    if twice:
        raise IptOutcomesError(
            f"{args.file}: column {twice[0]!r} is mapped to more than one role "
            f"({', '.join(k for k, v in given.items() if v == twice[0])})"
        )
    inputs = inputs_of(args, args.file)
    check_output_file(args.out, inputs)  # before reading, so a wrong --out is said first
    check_value_labels(args, args.file, None)
    raw = read_table(args.file, sheet=args.sheet, encoding=args.encoding,
                     value_labels=args.value_labels)  # fmt: skip
    columns = resolve_columns(raw.frame, given)
    roles = columns.roles()
    twice = sorted({c for c in roles.values() if list(roles.values()).count(c) > 1})
    if twice:
        raise IptOutcomesError(
            f"{args.file}: column {twice[0]!r} would serve more than one role "
            f"({', '.join(k for k, v in roles.items() if v == twice[0])}); name the columns with "
            "the mapping flags"
        )
    try:
        text = infer_design_text(raw, columns, baseline_visit=args.baseline_visit,
                                 reference=args.reference)  # fmt: skip
        # the data must hold up under the design written for them: a subject in two arms, a
        # duplicated visit or a bad cell is said now, by row, subject and column
        design = parse_design(tomllib.loads(text), source=str(args.out))
        notes = []
        for name in design.instrument_names:
            chosen = design.with_instrument(name)
            try:
                validate_scores(raw, chosen, chosen.columns)  # raises with every problem found
            except DataValidationError as err:
                notes.append(_best_end_note(err, chosen.instrument))  # else raised again
    except DataValidationError as err:
        raise explain_sheet(err, args.file, args) from None
    with atomic_write(args.out, inputs=inputs) as fh:
        fh.write(text)
    for note in notes:
        print(f"ipt-outcomes: {args.file}: note: {note}", file=sys.stderr)
    names = ", ".join(design.instrument_names)
    print(f"Wrote {args.out} ({names}): check every value (especially times, unit, the "
          "direction of each instrument and the suggested thresholds), then use it with "
          f"--design {args.out}", file=sys.stderr)  # fmt: skip
    return 0


#: problems that only the instrument's direction (which `design` cannot infer) makes problems
_BEST_END = frozenset({"baseline_zero", "baseline_at_best_end"})


def _best_end_note(err, instrument) -> str:
    """What to tell the user when the only problems of the written design are baselines at the
    best end of the scale under its guessed direction (a WHO-5 baseline of 0 read as if lower
    were better): the file is written and the direction is theirs to set. Any other problem is
    raised again."""
    if any(p.rule not in _BEST_END for p in err.problems if p.severity == "error"):
        raise err
    subjects = sorted({str(p.subject) for p in err.problems if p.rule in _BEST_END})
    shown = ", ".join(subjects[:5]) + (
        f" and {len(subjects) - 5} more" if len(subjects) > 5 else ""
    )
    direction = "higher" if instrument.higher_is_better else "lower"
    other = "false" if instrument.higher_is_better else "true"
    return (
        f"{instrument.name}: {len(subjects)} subject{'s' if len(subjects) > 1 else ''} "
        f"({shown}) {'have' if len(subjects) > 1 else 'has'} a baseline of "
        f"{instrument.best:g}, the best end of the scale if {direction} is better (percent "
        f"improvement undefined): set higher_is_better = {other} if that is the scale's "
        "direction, else correct those scores before analysing"
    )
