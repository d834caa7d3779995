"""``ipt-outcomes fragility``: the fragility index of a 2x2 comparison (Walsh et al. 2014)."""

from __future__ import annotations

import argparse

from ..output import OutputFolder
from .common import say
from .options import add_out, alpha

__all__ = ["arguments", "run", "pair"]

#: The fragility index changes one outcome at a time (a Fisher test each).
MAX_FRAGILITY_PER_ARM = 100_000


def pair(text: str, minimum: int = 0, maximum: int | None = None) -> tuple[int, int]:
    """Two whole numbers ``A,B``, each at least ``minimum`` (and at most ``maximum``)."""
    try:
        a, b = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two whole numbers separated by a comma, got {text!r}"
        ) from None
    if min(a, b) < 0:
        raise argparse.ArgumentTypeError(f"counts cannot be negative, got {text!r}")
    if min(a, b) < minimum:
        raise argparse.ArgumentTypeError(f"each must be at least {minimum}, got {text!r}")
    if maximum is not None and max(a, b) > maximum:
        raise argparse.ArgumentTypeError(f"each must be at most {maximum:,}, got {text!r}")
    return a, b


def _pair(text):
    return pair(text, maximum=MAX_FRAGILITY_PER_ARM)


def _totals(text):
    return pair(text, minimum=1, maximum=MAX_FRAGILITY_PER_ARM)


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument(
        "--events", type=_pair, required=True, metavar="A,B", help="events in the two arms"
    )
    p.add_argument(
        "--totals", type=_totals, required=True, metavar="NA,NB", help="patients in the two arms"
    )
    p.add_argument("--alpha", type=alpha, default=0.05)
    add_out(p)


def run(args) -> int:
    import pandas as pd

    from ..exceptions import IptOutcomesError
    from ..stats.appraisal import fragility_index

    (ea, eb), (na, nb) = args.events, args.totals
    if na == 0 or nb == 0:
        raise IptOutcomesError("--totals must be at least 1 in each arm")
    if ea > na or eb > nb:
        raise IptOutcomesError(
            f"--events {ea},{eb} must not exceed --totals {na},{nb}: an arm cannot have more "
            "events than patients"
        )
    res = fragility_index(ea, na, eb, nb, alpha=args.alpha)
    table = pd.DataFrame([res])[
        ["fragility_index", "p_fisher", "significant", "kind", "p_after", "changed_arm"]
    ]
    with OutputFolder(args.out) as out:
        out.write_table("fragility", table)
    verb = "non-significant" if res["significant"] else "significant"
    say(
        f"{res['kind'].capitalize()} index {res['fragility_index']}: Fisher p = {res['p_fisher']:.4g}; "
        f"changing {res['fragility_index']} patient outcome(s) in arm {res['changed_arm'] or '-'} makes the result {verb}."
    )
    return 0
