"""``ipt-outcomes mi FILE``: multiple imputation and the delta-adjusted tipping point."""

from __future__ import annotations

import sys

from ..exceptions import IptOutcomesError
from ..output import OutputFolder
from .common import arm_and_visit, inputs_of, labelled, load, say

__all__ = ["run"]


def run(args) -> int:
    import numpy as np

    from ..estimands.mvn import impute_mvn, mi_contrast, tipping_point, wide_scores
    from ..report.figures import save_figure, tipping_point_plot

    trial = load(args, args.file)
    arm, visit = arm_and_visit(args, trial)
    ref = trial.reference
    wide = wide_scores(trial)
    wide = wide[wide["arm"].isin([arm, ref])]
    wide["arm"] = wide["arm"].cat.remove_unused_categories()
    if wide[visit].notna().groupby(wide["arm"], observed=True).sum().min() < 2:
        raise IptOutcomesError(
            f"fewer than two observed scores at {trial.visit_label(visit)} in {arm!r} or {ref!r}: "
            "nothing to impute from"
        )
    imputed = impute_mvn(wide, m=args.imputations, seed=args.seed, iterations=args.iterations,
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
    say(f"Multiple imputation (MVN per arm, MAR; m = {args.imputations}, seed {args.seed}): "
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
