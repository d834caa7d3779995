"""``ipt-outcomes plan FILE --design D``: check the analysis plan against the data and print what
the report would run, without running it."""

from __future__ import annotations

from .common import load, say
from .options import add_data_options, path_text

__all__ = ["arguments", "run"]


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("file", type=path_text, metavar="FILE")
    add_data_options(p)


def run(args) -> int:
    from ..plan.describe import describe_plan
    from ..plan.intercurrent import estimand_events
    from ..plan.populations import population_counts
    from ..plan.resolve import resolve_plan
    from ..plan.run import family_hypotheses

    trial = load(args, args.file)
    trials = _instrument_trials(args, trial)
    plan = resolve_plan(trial, trials=trials)
    counts = population_counts(trial, plan.populations)
    events = {e.id: estimand_events(trial, e) for e in plan.estimands}
    fam = family_hypotheses(plan, trial)
    say(describe_plan(plan, trial, counts, events, fam))
    return 0


def _instrument_trials(args, trial) -> dict:
    """The trial of each instrument the plan's endpoints name, from the table read once (the
    selected instrument's is ``trial``)."""
    out = {trial.instrument.name: trial}
    for name in dict.fromkeys(e.instrument for e in trial.design.plan.endpoints if e.instrument):
        other = trial.for_instrument(name)
        out.setdefault(other.instrument.name, other)
    return out
