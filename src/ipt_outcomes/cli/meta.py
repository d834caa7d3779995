"""``ipt-outcomes meta``: random-effects meta-analysis of published trials (as R metafor ``rma``).

Reads one row per effect size: the Metapsy data standard as the database distributes it
(semicolon-separated, decimal commas, ``NA``; columns ``study``, ``.g``, ``.g_se``) or any table
with ``--effect COL --se COL`` (and ``--study-col COL``). Writes ``meta_pooled.csv``,
``meta_studies.csv`` and ``meta_egger.csv`` (the SPEC's columns), ``meta_fit.csv`` (test
statistic, p, Q-profile intervals of tau^2, I^2 and H^2), ``meta_tests.csv`` (Egger's test in
full, the test of subgroup differences) and the forest and funnel plots.
"""

from __future__ import annotations

import argparse
import sys

from ..exceptions import IptOutcomesError
from ..output import OutputFolder
from .common import say
from .options import add_out, encoding, finite, nonempty_name, path_text

__all__ = ["arguments", "run", "correlation", "condition"]

#: The most studies a forest plot shows (a row each); beyond it only the funnel plot is drawn.
FOREST_MAX = 300


def correlation(text: str) -> float:
    """The assumed correlation of a study's effect sizes, ``0 <= RHO < 1``."""
    v = finite(text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(
            f"must be at least 0 and below 1 (e.g. 0.5), got {text}: with 1 the effect sizes of "
            "a study would be one and the same measurement"
        )
    return v


def condition(text: str) -> tuple[str, tuple[str, ...]]:
    """``COL=VALUE[,VALUE...]``: keep the rows whose ``COL`` is one of the values."""
    col, sep, values = text.partition("=")
    if not sep or not col.strip() or not values.strip():
        raise argparse.ArgumentTypeError(
            f"expected COL=VALUE (e.g. condition_arm1=ipt), got {text!r}"
        )
    return col.strip(), tuple(v.strip() for v in values.split(","))


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("file", type=path_text, metavar="FILE",
                   help="effect sizes: the Metapsy data standard or any table (CSV, .xlsx, ...)")  # fmt: skip
    p.add_argument("--effect", type=nonempty_name, default=".g", metavar="COL",
                   help="effect-size column (default .g, the Metapsy standard's Hedges' g)")  # fmt: skip
    p.add_argument("--se", type=nonempty_name, default=".g_se", metavar="COL",
                   help="standard-error column (default .g_se)")  # fmt: skip
    p.add_argument("--study-col", type=nonempty_name, default="study", metavar="COL",
                   help="study column (default study); rows of one study are pooled by --aggregate")  # fmt: skip
    p.add_argument("--method", choices=("reml", "dl", "pm", "ml"), default="reml",
                   help="estimator of tau^2 (default reml)")  # fmt: skip
    p.add_argument("--test", choices=("knha", "z"), default="knha",
                   help="Knapp-Hartung with t(k-1) (default) or z")  # fmt: skip
    p.add_argument("--by", type=nonempty_name, metavar="COL",
                   help="subgroups: each level of COL its own model, plus the overall row")  # fmt: skip
    p.add_argument("--aggregate", type=correlation, metavar="RHO",
                   help="pool several effect sizes per study assuming correlation RHO (0 <= RHO < 1)")  # fmt: skip
    p.add_argument("--where", type=condition, action="append", default=[], metavar="COL=VALUE",
                   help="analyse only rows whose COL is VALUE (VALUE,VALUE... for any of them; "
                        "repeat for several columns), e.g. --where condition_arm1=ipt")  # fmt: skip
    p.add_argument("--highlight", type=nonempty_name, metavar="STUDY",
                   help="mark this study in the forest and funnel plots")  # fmt: skip
    p.add_argument("--effect-label", default="Hedges' g", metavar="TEXT",
                   help="what the effect sizes are, for the plots' axes (default Hedges' g)")  # fmt: skip
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("--encoding", type=encoding, help="text encoding of FILE (default UTF-8)")
    p.add_argument("--sheet", type=nonempty_name, help="worksheet of an .xlsx file")
    add_out(p)


def _check_highlight(study: str, data, source: str) -> None:
    import difflib

    names = list(dict.fromkeys(data["study"]))
    if study in names:
        return
    close = difflib.get_close_matches(study, names, n=3, cutoff=0.75)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise IptOutcomesError(f"{source}: --highlight {study!r} is not a study of the analysis{hint}")


def run(args) -> int:
    from ..format import fmt
    from ..meta import meta_analysis, read_effect_sizes
    from ..meta.plots import funnel_plot, meta_forest_plot

    source = args.file
    keep = [args.by] if args.by else []
    out = OutputFolder(args.out, inputs=[args.file])
    out.check()  # an impossible output folder is refused before any work
    data = read_effect_sizes(args.file, effect=args.effect, se=args.se, study=args.study_col,
                             keep=keep, where=args.where, encoding=args.encoding,
                             sheet=args.sheet)  # fmt: skip
    if args.highlight:
        _check_highlight(args.highlight, data, source)
    res = meta_analysis(data, method=args.method, test=args.test, by=args.by,
                        rho=args.aggregate, source=source)  # fmt: skip
    forest = funnel = None
    if not args.no_plots:
        funnel = funnel_plot(res, args.highlight, args.effect_label)
        if res.overall.k <= FOREST_MAX:
            forest = meta_forest_plot(res, args.highlight, args.effect_label)
        else:  # a row per study: thousands of rows are no figure (and minutes of drawing)
            res.notes.append(f"{res.overall.k:,} studies: the forest plot is drawn for at most "
                             f"{FOREST_MAX:,}; meta_studies.csv holds every study")  # fmt: skip
    with out:
        out.write_table("meta_pooled", res.pooled_table())
        out.write_table("meta_studies", res.studies_table())
        out.write_table("meta_egger", res.egger_table())
        out.write_table("meta_fit", res.fit_table())
        out.write_table("meta_tests", res.tests_table())
        if funnel is not None:
            from ..report.figures import save_figure

            if forest is not None:
                save_figure(forest, out.path("meta_forest.png"))
            save_figure(funnel, out.path("meta_funnel.png"))
    for note in res.notes:
        print(f"ipt-outcomes: note: {note}", file=sys.stderr)
    o = res.overall
    test = "Knapp-Hartung" if o.test == "knha" else "z"
    pooled = f" ({len(data)} effect sizes pooled within studies, rho = {args.aggregate:g})" \
        if args.aggregate is not None else ""  # fmt: skip
    say(f"k = {o.k} studies{pooled}; {o.method.upper()} tau^2, {test} test")
    say(f"pooled effect {fmt(o.estimate, 'f3')} (95% CI {fmt(o.ci_low, 'f3')} to "
        f"{fmt(o.ci_high, 'f3')}; {fmt(o.p, 'p_text')}); 95% prediction interval "
        f"{fmt(o.pi_low, 'f3')} to {fmt(o.pi_high, 'f3')}")  # fmt: skip
    say(f"tau^2 = {fmt(o.tau2, 'f4')}, I^2 = {fmt(o.i2, 'f1')}%, Q({o.q_df}) = {fmt(o.q, 'f2')}, "
        f"{fmt(o.q_p, 'p_text')}")  # fmt: skip
    e = res.egger
    if e["note"]:
        say(f"Egger's test: not computed ({e['note']})")
    else:
        say(f"Egger's test: intercept {fmt(e['intercept'], 'f3')} (SE {fmt(e['se'], 'f3')}), "
            f"t({e['df']}) = {fmt(e['t'], 'f2')}, {fmt(e['p'], 'p_text')}")  # fmt: skip
    for level, fit in res.subgroups.items():
        say(f"  {args.by} = {level}: k = {fit.k}, {fmt(fit.estimate, 'f3')} ({fmt(fit.ci_low, 'f3')} "
            f"to {fmt(fit.ci_high, 'f3')}), I^2 = {fmt(fit.i2, 'f1')}%")  # fmt: skip
    if res.between and res.between.get("df", 0) > 0:
        b = res.between
        say(f"  subgroup differences: Q({b['df']}) = {fmt(b['q'], 'f2')}, {fmt(b['p'], 'p_text')}")
    plots = [f"meta_{p}.png" for p, f in (("forest", forest), ("funnel", funnel)) if f is not None]
    extra = f" and {', '.join(plots)}" if plots else ""
    say(f"wrote meta_pooled.csv, meta_studies.csv, meta_egger.csv, meta_fit.csv, meta_tests.csv"
        f"{extra} to {args.out}")  # fmt: skip
    return 0
