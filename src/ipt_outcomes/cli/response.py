"""``ipt-outcomes response FILE``: response and remission rates, comparisons and GEE."""

from __future__ import annotations

import sys
import warnings

from ..constants import ADJUSTED_VARIANCES, CI_METHODS, MISSING_RULES
from ..exceptions import ConvergenceWarning, IptOutcomesError
from ..output import OutputFolder
from .common import inputs_of, labelled, load, say
from .options import add_data_options, add_out, alpha, nonempty_name, path_text

__all__ = ["arguments", "run"]


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("file", type=path_text, metavar="FILE")
    p.add_argument("--missing", choices=MISSING_RULES, default="observed",
                   help="missing-data rule (default observed)")  # fmt: skip
    add_out(p)
    p.add_argument("--ci", choices=CI_METHODS, default="wilson", help="interval of a rate")
    p.add_argument("--rd-method", choices=("newcombe", "miettinen-nurminen"), default="newcombe",
                   help="interval of the risk difference")  # fmt: skip
    p.add_argument("--alpha", type=alpha, default=0.05, help="1 - confidence level (default 0.05)")
    g = p.add_argument_group("covariate adjustment (marginal effects by g-computation, FDA 2023)")
    g.add_argument("--adjust", action="append", type=nonempty_name, metavar="COL",
                   help="adjust for a baseline covariate: 'baseline' (the baseline score) or a "
                        "column (repeatable); writes response_adjusted.csv")  # fmt: skip
    g.add_argument("--variance", choices=ADJUSTED_VARIANCES, default="ge",
                   help="ge: Ge et al. 2011 (delta method, HC0 sandwich); ye: Ye et al. 2023")  # fmt: skip
    g.add_argument("--strata", action="append", type=nonempty_name, metavar="COL",
                   help="randomisation strata for --variance ye (repeatable)")  # fmt: skip
    add_data_options(p)


def run(args) -> int:
    import pandas as pd

    from ..format import fmt
    from ..stats.response import analyse_response

    if args.strata and not args.adjust:
        raise IptOutcomesError("--strata is used only with --adjust (covariate adjustment)")
    if args.strata and args.variance != "ye":
        raise IptOutcomesError("--strata needs --variance ye (Ge's variance does not use strata)")
    trial = load(args, args.file)
    if args.adjust:  # checked before the analyses, not after them
        from .adjusted import check_covariates

        check_covariates(trial, args.adjust, "--adjust")
        check_covariates(trial, args.strata, "--strata")
    with warnings.catch_warnings():  # non-convergence is reported in response_gee_fit.csv
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = analyse_response(
            trial, args.missing, ci_method=args.ci, rd_method=args.rd_method, alpha=args.alpha
        )
    failed = res.gee_fit.loc[~res.gee_fit["converged"].astype(bool), "correlation"].tolist()
    if failed:
        res.notes.append(f"GEE ({', '.join(failed)}) did not converge: see response_gee_fit.csv")
    tables = {
        "response_rates": res.response_rates,
        "remission_rates": res.remission_rates,
        "response_comparisons": res.response_comparisons,
        "remission_comparisons": res.remission_comparisons,
        "response_chisq": res.chi_square,
        "response_gee": res.gee,
        "response_gee_fit": res.gee_fit,
    }
    if args.adjust:
        from .adjusted import adjusted_table

        tables["response_adjusted"], notes = adjusted_table(trial, args)
        res.notes.extend(notes)
    for name, t in tables.items():  # the rule last, so the SPEC's columns stay first and in order
        tables[name] = t.assign(missing=args.missing) if len(t.columns) else t
    with OutputFolder(args.out, inputs_of(args, args.file)) as out:
        out.write_tables(labelled(tables, trial))
    show = res.summary()
    show = show[show["visit"].isin(trial.key_visits)]
    pct = pd.DataFrame(
        {
            "arm": show["arm"].map(trial.arm_label),
            "visit": show["visit"].map(trial.visit_label),
            "n": show["n"].map(lambda v: fmt(v, "int")),
            "responders": show["responders"].map(lambda v: fmt(v, "int")),
            "rate": show["rate"].map(lambda v: fmt(v, "pct")),
            "p_fisher": show["p_fisher"].map(lambda v: fmt(v, "p")),
            "p_holm": show["p_holm"].map(lambda v: fmt(v, "p")),
            "nnt": show["nnt_text"].fillna(""),
        }
    )
    rule = {"observed": "observed cases", "nri": "non-responder imputation",
            "locf": "last observation carried forward"}[args.missing]  # fmt: skip
    inst = trial.instrument
    remission = f"; remission = {inst.remission_text}" if inst.has_remission else ""
    say(f"Response = improvement of at least {inst.response_improvement:.0%} from baseline in "
        f"{inst.name} ({inst.better} scores are better){remission}.")  # fmt: skip
    say(f"Response ({rule}; reference {trial.arm_label(res.reference)}):")
    say(pct.to_string(index=False))
    if "response_adjusted" in tables:
        adj = tables["response_adjusted"]
        rd = adj[(adj["contrast"] == "risk_difference") & adj["visit"].isin(trial.key_visits)]
        if len(rd):
            say(
                f"Covariate-adjusted risk difference ({', '.join(args.adjust)}; {args.variance} variance):"
            )
            for r in rd.itertuples(index=False):
                where = f"  {trial.arm_label(r.arm)}, {trial.visit_label(r.visit)}: "
                if r.estimate == r.estimate:  # not NaN
                    say(f"{where}{fmt(r.estimate, 'pp')} ({fmt(r.ci_low, 'pp')} to "
                        f"{fmt(r.ci_high, 'pp')}), p {fmt(r.p, 'p')}")  # fmt: skip
                else:
                    say(f"{where}not estimable (see the note below)")
    for note in res.notes:
        say(f"note: {note}")
    print(f"Wrote {len(tables)} tables to {args.out}", file=sys.stderr)
    return 0
