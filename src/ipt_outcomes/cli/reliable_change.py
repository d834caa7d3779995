"""``ipt-outcomes reliable-change FILE``: reliable and clinically significant change (Jacobson &
Truax 1991) per subject and visit, rates per arm with Wilson intervals, comparisons between arms
and the pre/post figure."""

from __future__ import annotations

import sys

from ..output import OutputFolder
from .common import inputs_of, labelled, load, say
from .options import add_data_options, add_out, alpha, path_text

__all__ = ["arguments", "run"]


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("file", type=path_text, metavar="FILE")
    p.add_argument("--cutoff", choices=("a", "b", "c"), default="a",
                   help="clinical cut-off: a = 2 SD beyond the clinical mean (default); b = 2 SD "
                        "(of the clinical sample) within the functional mean; c = between the "
                        "two (b and c need the design's functional_mean and functional_sd)")  # fmt: skip
    p.add_argument("--alpha", type=alpha, default=0.05,
                   help="1 - confidence level of the rates and comparisons (default 0.05)")  # fmt: skip
    p.add_argument("--no-figure", action="store_true", help="write the tables only")
    add_out(p)
    add_data_options(p)


def run(args) -> int:
    from ..format import fmt
    from ..stats.reliable_change import CATEGORIES, reliable_change, reliable_change_plot

    OutputFolder(args.out, inputs_of(args, args.file)).check()  # before the work
    trial = load(args, args.file)
    res = reliable_change(trial, args.cutoff, alpha=args.alpha)
    inst = trial.instrument
    if res.subjects.empty:
        from ..exceptions import IptOutcomesError

        raise IptOutcomesError(
            f"{trial.source}: no visit has two or more subjects with a baseline and a score "
            f"whose baselines vary: reliable change is not defined ({'; '.join(res.notes)})"
        )
    tables = {
        "reliable_change": res.subjects,
        "reliable_change_rates": res.rates,
        "reliable_change_comparisons": res.comparisons,
        "reliable_change_criteria": res.criteria,
    }
    figure = None
    if not args.no_figure:
        done = set(res.criteria["visit"])
        shown = [v for v in trial.key_visits if v in done] or sorted(done)[-1:]
        sub = res.subjects[res.subjects["visit"].isin(shown)]
        figure = reliable_change_plot(
            sub,
            res.criteria[res.criteria["visit"].isin(shown)],
            inst,
            arm_labels={a: trial.arm_label(a) for a in trial.arms},
            visit_labels={v: trial.visit_label(v) for v in shown},
        )
    with OutputFolder(args.out, inputs_of(args, args.file)) as out:
        out.write_tables(labelled(tables, trial))
        if figure is not None:
            from ..report.figures import save_figure

            save_figure(figure, out.path("reliable_change.png"))
    crit = res.criteria.set_index("visit")
    say(
        f"Reliable and clinically significant change in {inst.name} (Jacobson & Truax; "
        f"reliability {crit['reliability'].iloc[0]:g}; cut-off {args.cutoff}; "
        f"{inst.better} scores are better; reference {trial.arm_label(trial.reference)}):"
    )
    rates = res.rates
    comp = res.comparisons
    for v in trial.key_visits:
        if v not in crit.index:
            continue
        c = crit.loc[v]
        say(f"{trial.visit_label(v)}: {int(c['n'])} subjects; reliable change = more than "
            f"{c['critical'] * c['s_diff']:.2f} points (S_diff {c['s_diff']:.3f}); clinical "
            f"cut-off {c['cutoff']:.2f}")  # fmt: skip
        at = rates[rates["visit"] == v]
        for arm in trial.arms:
            r = at[at["arm"] == arm].set_index("category")
            if r.empty or int(r["n"].iloc[0]) == 0:
                continue
            parts = ", ".join(
                f"{cat} {int(r.loc[cat, 'count'])} ({fmt(r.loc[cat, 'rate'], 'pct')})"
                for cat in CATEGORIES
            )
            say(f"  {trial.arm_label(arm)} (n = {int(r['n'].iloc[0])}): {parts}")
        rec = comp[(comp["visit"] == v) & (comp["outcome"] == "recovered")] if len(comp) else comp
        for row in rec.itertuples(index=False):
            if row.risk_difference == row.risk_difference:
                say(f"  Recovered, {trial.arm_label(row.arm)} - "
                    f"{trial.arm_label(row.reference)}: {fmt(row.risk_difference, 'pp')} "
                    f"({fmt(row.rd_ci_low, 'pp')} to {fmt(row.rd_ci_high, 'pp')}), Fisher p "
                    f"{fmt(row.p_fisher, 'p')}")  # fmt: skip
    for note in res.notes:
        say(f"note: {note}")
    extra = " and reliable_change.png" if figure is not None else ""
    print(f"Wrote {len(tables)} tables{extra} to {args.out}", file=sys.stderr)
    return 0
