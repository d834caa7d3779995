"""``ipt-outcomes design FILE --out design.toml``: a starter design inferred from a score file."""

from __future__ import annotations

import sys

from ..output import atomic_write

__all__ = ["run"]


def run(args) -> int:
    from ..data.design import ColumnMap
    from ..data.infer import infer_design_text
    from ..data.readers import read_table

    columns = ColumnMap().with_overrides(
        subject=args.subject_col,
        arm=args.arm_col,
        visit=args.visit_col,
        outcome=args.outcome_col,
        baseline=args.baseline_col,
    )
    raw = read_table(args.file, sheet=args.sheet, encoding=args.encoding,
                     value_labels=args.value_labels)  # fmt: skip
    text = infer_design_text(raw, columns, baseline_visit=args.baseline_visit,
                             reference=args.reference)  # fmt: skip
    with atomic_write(args.out, inputs=[args.file]) as fh:
        fh.write(text)
    print(f"Wrote {args.out}: check every value (especially times, unit and the instrument), "
          f"then use it with --design {args.out}", file=sys.stderr)  # fmt: skip
    return 0
