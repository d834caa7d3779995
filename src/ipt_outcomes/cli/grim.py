"""``ipt-outcomes grim``: can a percentage (whole percent) be k/N for a whole k?"""

from __future__ import annotations

import argparse

from ..output import OutputFolder
from .common import say
from .options import AtMostValues, add_out, at_least, finite

__all__ = ["arguments", "run"]

#: GRIM enumerates k.
MAX_GRIM_N = 100_000


def _percent(text: str) -> float:
    v = finite(text)
    if not 0 <= v <= 100:
        raise argparse.ArgumentTypeError(f"a percentage must be between 0 and 100, got {text}")
    return v


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("--percent", type=_percent, required=True, metavar="P")
    p.add_argument("--n", type=at_least(1, MAX_GRIM_N), nargs="+", required=True, metavar="N",
                   action=AtMostValues, most=1_000)  # fmt: skip
    add_out(p)


def run(args) -> int:
    from ..stats.appraisal import grim_table

    table = grim_table(args.percent, args.n)
    with OutputFolder(args.out) as out:
        out.write_table("grim", table)
    say(table.to_string(index=False))
    return 0
