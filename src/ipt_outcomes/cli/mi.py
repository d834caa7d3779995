"""``ipt-outcomes mi FILE``: estimands with intercurrent events by reference-based multiple
imputation (SPEC ``mi_contrasts.csv``, ``mi_lsmeans.csv``), the delta-adjusted tipping point, and
the MAR-only MVN imputation of one arm (``--method mvn``: ``mi_pooled.csv``)."""

from __future__ import annotations

import sys

from ..constants import COVARIANCE_STRUCTURES, MI_METHODS, MI_RESAMPLING, MI_STRATEGIES
from ..exceptions import IptOutcomesError
from ..output import OutputFolder
from .common import arm_and_visit, inputs_of, labelled, load, say
from .options import (
    MAX_WORKERS,
    add_data_options,
    add_out,
    alpha,
    at_least,
    delta_max,
    delta_step,
    nonempty_name,
    score_difference,
    visit_value,
)

__all__ = ["arguments", "run"]


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("file", metavar="FILE")
    p.add_argument("--strategy", choices=MI_STRATEGIES, default="MAR",
                   help="how a dropout without an events row is imputed (default MAR)")  # fmt: skip
    p.add_argument("--events", metavar="FILE",
                   help="intercurrent events: subject_id, visit (first visit affected), strategy")  # fmt: skip
    p.add_argument("--method", choices=(*MI_METHODS, "mvn"), default="condmean",
                   help="condmean (default), approxbayes, bayes; mvn: the MAR-only MVN data "
                        "augmentation of one arm (mi_pooled.csv)")  # fmt: skip
    p.add_argument("--resampling", choices=MI_RESAMPLING, default="jackknife",
                   help="standard errors of condmean (default jackknife)")  # fmt: skip
    p.add_argument("--delta", type=score_difference, metavar="D",
                   help="points added to imputed post-event scores of the non-reference arms")  # fmt: skip
    p.add_argument("--variance", choices=("resampling", "information-anchored"),
                   default="resampling", help="condmean variance (default resampling)")  # fmt: skip
    p.add_argument("--interval", choices=("normal", "percentile"), default=None,
                   help="condmean bootstrap interval (default normal: SE = sd)")  # fmt: skip
    p.add_argument("--covariance", choices=COVARIANCE_STRUCTURES, default="us",
                   help="covariance of the imputation model (default us)")  # fmt: skip
    p.add_argument("--covariate", action="append", type=nonempty_name, metavar="COL",
                   help="baseline covariate in the imputation model (a main effect) and in the "
                        "analysis model (repeatable); not with --method bayes")  # fmt: skip
    p.add_argument("--group-by-arm", action="store_true",
                   help="one covariance matrix per arm in the imputation model")  # fmt: skip
    p.add_argument("--optimizer", choices=("rbmi", "exact"), default="rbmi",
                   help="rbmi: each fit as R mmrm makes it (rbmi's numbers; default); exact: "
                        "the REML optimum")  # fmt: skip
    p.add_argument("--imputations", "--n-samples", dest="imputations", type=at_least(2, 100_000),
                   metavar="M", help="bootstrap samples or imputations (default 500; mvn 50)")  # fmt: skip
    p.add_argument("--chains", type=at_least(1, 64), default=4, metavar="C",
                   help="bayes: Gibbs chains (default 4)")  # fmt: skip
    p.add_argument("--burn-in", type=at_least(0, 1_000_000), default=100, metavar="K",
                   help="bayes: iterations discarded per chain (default 100)")  # fmt: skip
    p.add_argument("--thin", type=at_least(1, 10_000), default=2, metavar="K",
                   help="bayes: iterations per kept draw (default 2)")  # fmt: skip
    p.add_argument("--tipping-point", action="store_true",
                   help="also the delta grid (tipping_point.csv, .png) and the exact tipping "
                        "point (mi_tipping_point.csv)")  # fmt: skip
    p.add_argument("--arm", metavar="ARM",
                   help="arm of the tipping point (default: every non-reference arm; mvn: the "
                        "design's first)")  # fmt: skip
    p.add_argument("--visit", type=visit_value, metavar="V",
                   help="visit of the tipping point (default: the design's last key visit)")  # fmt: skip
    p.add_argument("--iterations", type=at_least(1, 100_000), default=50, metavar="K",
                   help="mvn: data-augmentation iterations per imputation (default 50)")  # fmt: skip
    p.add_argument("--seed", type=at_least(0), default=2016, metavar="S")
    p.add_argument("--alpha", type=alpha, default=0.05)
    p.add_argument("--delta-max", type=delta_max, default=8.0, metavar="D",
                   help="tipping-point grid from -D to +D points (default 8)")  # fmt: skip
    p.add_argument("--delta-step", type=delta_step, default=0.5, metavar="D")
    p.add_argument(
        "--workers",
        type=at_least(1, MAX_WORKERS),
        metavar="N",
        help="local processes (default: one per core)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_out(p)
    add_data_options(p)


def run(args) -> int:
    if args.method == "mvn":
        return _run_mvn(args)
    import numpy as np

    from ..estimands.events import read_events
    from ..estimands.reference_based import reference_based_mi
    from ..format import format_frame

    OutputFolder(args.out, inputs_of(args, args.file, args.events)).check()  # before the work
    trial = load(args, args.file)
    if args.arm is not None or args.visit is not None:
        arm, visit = arm_and_visit(args, trial)
        arms = [arm] if args.arm is not None else None
    else:
        arms, visit = None, float(trial.key_visits[-1])
    if args.tipping_point and args.delta_max / args.delta_step > 5000:
        raise IptOutcomesError("the tipping-point grid would have more than 10,000 deltas; "
                               "use a larger --delta-step or a smaller --delta-max")  # fmt: skip
    if args.variance == "information-anchored" and args.method != "condmean":
        raise IptOutcomesError("--variance information-anchored is for --method condmean")
    if args.interval is not None and (args.method, args.resampling) != ("condmean", "bootstrap"):
        raise IptOutcomesError(
            "--interval is for --method condmean --resampling bootstrap (the other methods' "
            "intervals follow from their variance)"
        )
    events = read_events(args.events, trial) if args.events else None
    res = reference_based_mi(
        trial,
        args.strategy,
        events=events,
        method=args.method,
        resampling=args.resampling,
        delta=args.delta or 0.0,
        n_samples=args.imputations,
        seed=args.seed,
        covariance=args.covariance,
        group_by_arm=args.group_by_arm,
        covariates=args.covariate or (),
        optimizer=args.optimizer,
        variance=args.variance,
        interval=args.interval or "normal",
        chains=args.chains,
        burn_in=args.burn_in,
        thin=args.thin,
        alpha=args.alpha,
        workers=args.workers,
        progress=not args.quiet,
    )
    contrasts, lsmeans = res.contrasts(), res.lsmeans()
    tables = {"mi_contrasts": contrasts, "mi_lsmeans": lsmeans, "mi_fit": res.fit_table()}
    if res.diagnostics is not None:
        tables["mi_diagnostics"] = res.diagnostics
    figure = None
    if args.tipping_point:
        half = np.arange(0.0, args.delta_max + args.delta_step / 2, args.delta_step)
        deltas = np.round(np.unique(np.r_[-half, half]), 10)
        grid = res.tipping_point(deltas, visit, arms)
        exact = res.tipping_point_exact(-args.delta_max, args.delta_max, visit)
        if arms is not None:
            exact = exact[exact["arm"].isin(arms)].reset_index(drop=True)
        tables["tipping_point"] = grid
        tables["mi_tipping_point"] = exact
        from ..report.figures import tipping_point_plot

        figure = tipping_point_plot(
            grid, args.alpha, higher_is_better=trial.instrument.higher_is_better
        )
        if grid["arm"].nunique() > 1:
            from plotnine import facet_wrap

            figure = figure + facet_wrap("arm")
    with OutputFolder(args.out, inputs_of(args, args.file, args.events)) as out:
        out.write_tables(labelled(tables, trial))
        if figure is not None:
            from ..report.figures import save_figure

            save_figure(figure, out.path("tipping_point.png"))
    _report(res, trial, contrasts, tables, visit, format_frame)
    extra = " and tipping_point.png" if figure is not None else ""
    print(f"Wrote {len(tables)} tables{extra} to {args.out}", file=sys.stderr)
    return 0


def _report(res, trial, contrasts, tables, visit, format_frame) -> None:
    d = res.data
    ev = d.events
    counts = ev.loc[ev["visit"].notna()].groupby("strategy").size()
    events = ", ".join(f"{n} {s}" for s, n in counts.items()) or "none"
    say(f"{res.title}: {d.n} subjects, intercurrent events {events}; "
        f"{res.model.n_missing} missing changes imputed"
        + (f" ({d.n_set_missing} observed after an event set missing)" if d.n_set_missing else "")
        + (f"; delta {res.delta:+g} on imputed post-event changes of the non-reference arms"
           if res.delta else "") + ".")  # fmt: skip
    if res.n_failures:
        say(f"{res.n_failures} resampled fits failed and were replaced by new samples.")
    if res.diagnostics is not None:
        diag = res.diagnostics
        say(f"Gibbs sampler: {int(diag['chains'].iloc[0])} chains; largest split R-hat "
            f"{diag['rhat'].max():.3f}, smallest effective sample size {diag['ess'].min():.0f}"
            + (" (check convergence: R-hat above 1.01)" if diag["rhat"].max() > 1.01 else ""))  # fmt: skip
    show = contrasts.assign(
        arm=contrasts["arm"].map(trial.arm_label),
        reference=contrasts["reference"].map(trial.arm_label),
        visit=contrasts["visit"].map(trial.visit_label),
    )[["arm", "reference", "visit", "estimate", "se", "df", "ci_low", "ci_high", "p"]]
    say(f"Difference in change from baseline in {trial.instrument.name} (ANCOVA, pooled; "
        f"{trial.instrument.favours_note()}):")  # fmt: skip
    say(format_frame(show, 3).to_string(index=False))
    exact = tables.get("mi_tipping_point")
    if exact is not None:
        for _, t in exact.iterrows():
            say(f"Tipping point at {trial.visit_label(visit)}: with {t['delta']:+.3f} points added "
                f"to the imputed post-event scores of {trial.arm_label(t['arm'])} (making them "
                f"{trial.instrument.shift_text(t['delta'])}), p reaches {res.alpha:g}.")  # fmt: skip
        if exact.empty:
            say(f"No tipping point at {trial.visit_label(visit)} within the delta grid.")


def _run_mvn(args) -> int:
    """The MAR-only MVN data augmentation of one arm against the reference (mi_pooled.csv)."""
    import numpy as np

    from ..estimands.mvn import impute_mvn, mi_contrast, tipping_point, wide_scores
    from ..report.figures import save_figure, tipping_point_plot

    if args.events:
        raise IptOutcomesError("--events needs a reference-based --method (condmean, "
                               "approxbayes or bayes)")  # fmt: skip
    OutputFolder(args.out, inputs_of(args, args.file)).check()  # before the work
    trial = load(args, args.file)
    arm, visit = arm_and_visit(args, trial)
    ref = trial.reference
    m = args.imputations or 50
    wide = wide_scores(trial)
    wide = wide[wide["arm"].isin([arm, ref])]
    wide["arm"] = wide["arm"].cat.remove_unused_categories()
    if wide[visit].notna().groupby(wide["arm"], observed=True).sum().min() < 2:
        raise IptOutcomesError(
            f"fewer than two observed scores at {trial.visit_label(visit)} in {arm!r} or {ref!r}: "
            "nothing to impute from"
        )
    imputed = impute_mvn(wide, m=m, seed=args.seed, iterations=args.iterations,
                         workers=args.workers, progress=not args.quiet)  # fmt: skip
    pooled = mi_contrast(imputed, arm, ref, visit, args.alpha)
    half = np.arange(0.0, args.delta_max + args.delta_step / 2, args.delta_step)
    deltas = np.round(np.unique(np.r_[-half, half]), 10)
    tipping = tipping_point(wide, imputed, arm, ref, visit, deltas, args.alpha)
    with OutputFolder(args.out, inputs_of(args, args.file)) as out:
        out.write_tables(labelled({"mi_pooled": pooled, "tipping_point": tipping}, trial))
        save_figure(
            tipping_point_plot(
                tipping, args.alpha, higher_is_better=trial.instrument.higher_is_better
            ),
            out.path("tipping_point.png"),
        )
    r = pooled.iloc[0]
    n_imp = int(wide.loc[wide["arm"] == arm, visit].isna().sum())
    say(f"Multiple imputation (MVN per arm, MAR; m = {m}, seed {args.seed}): "
        f"{trial.arm_label(arm)} - {trial.arm_label(ref)} in change, {trial.visit_label(visit)}: "
        f"{r['estimate']:.2f} (95% CI {r['ci_low']:.2f} to {r['ci_high']:.2f}; "
        f"{trial.instrument.favours_text(r['estimate'], trial.arm_label(arm), trial.arm_label(ref))}), "
        f"p = {r['p']:.4f}, "
        f"Barnard-Rubin df {r['df']:.1f}, fraction of missing information {r['fmi']:.2f}")  # fmt: skip
    for _, t in tipping[tipping["tipping_point"]].iterrows():
        say(f"Tipping point: with {t['delta']:+g} points added to the {n_imp} imputed "
            f"{trial.arm_label(arm)} scores (making them {trial.instrument.shift_text(t['delta'])}) "
            f"the conclusion changes (p = {t['p']:.3f}).")  # fmt: skip
    if not tipping["tipping_point"].any():
        say(f"No tipping point within delta +-{args.delta_max:g}.")
    print(f"Wrote 2 tables and tipping_point.png to {args.out}", file=sys.stderr)
    return 0
