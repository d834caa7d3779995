"""``ipt-outcomes fragility`` and ``ipt-outcomes grim``: appraisal of published numbers."""

from __future__ import annotations

import argparse

from ..output import OutputFolder
from .common import say

__all__ = ["run_fragility", "run_grim", "pair"]


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


def run_fragility(args) -> int:
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


def run_grim(args) -> int:
    from ..stats.appraisal import grim_table

    table = grim_table(args.percent, args.n)
    with OutputFolder(args.out) as out:
        out.write_table("grim", table)
    say(table.to_string(index=False))
    return 0
