"""``ipt-outcomes mi FILE``: estimands with intercurrent events by reference-based multiple
imputation (SPEC ``mi_contrasts.csv``, ``mi_lsmeans.csv``), the delta-adjusted tipping point, and
the MAR-only MVN imputation of one arm (``--method mvn``: ``mi_pooled.csv``)."""

from __future__ import annotations

import sys

from ..exceptions import IptOutcomesError
from ..output import OutputFolder
from .common import arm_and_visit, inputs_of, labelled, load, say

__all__ = ["run"]


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

        figure = tipping_point_plot(grid, args.alpha)
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
    say(f"Difference in change from baseline in {trial.instrument.name} (ANCOVA, pooled):")
    say(format_frame(show, 3).to_string(index=False))
    exact = tables.get("mi_tipping_point")
    if exact is not None:
        for _, t in exact.iterrows():
            say(f"Tipping point at {trial.visit_label(visit)}: with {t['delta']:+.3f} points added "
                f"to the imputed post-event scores of {trial.arm_label(t['arm'])}, p reaches "
                f"{res.alpha:g}.")  # fmt: skip
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
        save_figure(tipping_point_plot(tipping, args.alpha), out.path("tipping_point.png"))
    r = pooled.iloc[0]
    n_imp = int(wide.loc[wide["arm"] == arm, visit].isna().sum())
    say(f"Multiple imputation (MVN per arm, MAR; m = {m}, seed {args.seed}): "
        f"{trial.arm_label(arm)} - {trial.arm_label(ref)} in change, {trial.visit_label(visit)}: "
        f"{r['estimate']:.2f} (95% CI {r['ci_low']:.2f} to {r['ci_high']:.2f}), p = {r['p']:.4f}, "
        f"Barnard-Rubin df {r['df']:.1f}, fraction of missing information {r['fmi']:.2f}")  # fmt: skip
    for _, t in tipping[tipping["tipping_point"]].iterrows():
        say(f"Tipping point: with {t['delta']:+g} points added to the {n_imp} imputed "
            f"{trial.arm_label(arm)} scores the conclusion changes (p = {t['p']:.3f}).")  # fmt: skip
    if not tipping["tipping_point"].any():
        say(f"No tipping point within delta +-{args.delta_max:g}.")
    print(f"Wrote 2 tables and tipping_point.png to {args.out}", file=sys.stderr)
    return 0
