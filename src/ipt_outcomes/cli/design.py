"""``ipt-outcomes design FILE --out design.toml``: a starter design inferred from a score file."""

from __future__ import annotations

import sys

from ..exceptions import DataValidationError, IptOutcomesError
from ..output import atomic_write, check_output_file
from .common import check_value_labels, explain_sheet, inputs_of
from .options import add_data_options, path_text

__all__ = ["arguments", "run"]


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("file", type=path_text, metavar="FILE")
    p.add_argument("--out", required=True, type=path_text, metavar="FILE.toml",
                   help="design file to write")  # fmt: skip
    add_data_options(p)


def run(args) -> int:
    import tomllib

    from ..data.design import ColumnMap, parse_design
    from ..data.infer import infer_design_text
    from ..data.readers import read_table
    from ..data.validation import validate_scores

    if args.design:
        raise IptOutcomesError(
            "`design` infers a design from the score file and reads no --design; the design "
            "file it writes is --out"
        )
    columns = ColumnMap().with_overrides(
        subject=args.subject_col,
        arm=args.arm_col,
        visit=args.visit_col,
        outcome=args.outcome_col,
        baseline=args.baseline_col,
    )
    roles = {"subject": columns.subject, "arm": columns.arm, "visit": columns.visit,
             "outcome": columns.outcome, "baseline": columns.baseline}  # fmt: skip
    used = [c for c in roles.values() if c]
    twice = sorted({c for c in used if used.count(c) > 1})
    if twice:
        raise IptOutcomesError(
            f"{args.file}: column {twice[0]!r} is mapped to more than one role "
            f"({', '.join(k for k, v in roles.items() if v == twice[0])})"
        )
    inputs = inputs_of(args, args.file)
    check_output_file(args.out, inputs)  # before reading, so a wrong --out is said first
    check_value_labels(args, args.file, None)
    raw = read_table(args.file, sheet=args.sheet, encoding=args.encoding,
                     value_labels=args.value_labels)  # fmt: skip
    try:
        text = infer_design_text(raw, columns, baseline_visit=args.baseline_visit,
                                 reference=args.reference)  # fmt: skip
        # the data must hold up under the design written for them: a subject in two arms, a
        # duplicated visit or a bad cell is said now, by row, subject and column
        design = parse_design(tomllib.loads(text), source=str(args.out))
        validate_scores(raw, design, columns)  # raises with every problem found
    except DataValidationError as err:
        raise explain_sheet(err, args.file, args) from None
    with atomic_write(args.out, inputs=inputs) as fh:
        fh.write(text)
    print(f"Wrote {args.out}: check every value (especially times, unit and the instrument), "
          f"then use it with --design {args.out}", file=sys.stderr)  # fmt: skip
    return 0
