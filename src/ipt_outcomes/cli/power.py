"""``ipt-outcomes power``: power and sample size by simulation (response or MMRM)."""

from __future__ import annotations

import argparse
import math
import sys

from ..constants import DF_METHODS
from ..exceptions import IptOutcomesError
from ..output import OutputFolder
from .common import arm_and_visit, inputs_of, load, say
from .options import (
    MAX_WORKERS,
    AtMostValues,
    add_data_options,
    add_out,
    alpha,
    at_least,
    nonempty_name,
    nonnegative,
    path_text,
    probability,
    score_difference,
)

__all__ = ["arguments", "run", "rates"]

#: Exact power enumerates (n + 1)^2 outcomes per n.
MAX_POWER_PER_ARM = 5_000
MAX_SIMS = 10_000_000
#: Sample sizes in one run (each is a simulation of --sims trials).
MAX_N_VALUES = 100


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument("--rates", type=rates, metavar="P_REF,P_ARM",
                   help="true response rates of the reference arm and the other arm")  # fmt: skip
    p.add_argument("--n-per-arm", type=at_least(2, MAX_POWER_PER_ARM), nargs="+", required=True,
                   action=AtMostValues, most=MAX_N_VALUES, metavar="N",
                   help="patients per arm (2 to 5,000; at most 100 sizes)")  # fmt: skip
    p.add_argument("--test", choices=("chisq", "fisher", "mmrm"), default="chisq")
    p.add_argument("--sims", type=at_least(1, MAX_SIMS), metavar="K",
                   help="simulated trials per n (default 10000; 1000 for mmrm)")  # fmt: skip
    p.add_argument("--seed", type=at_least(0), default=2016, metavar="S")
    p.add_argument("--alpha", type=alpha, default=0.05)
    p.add_argument("--target-power", type=probability, metavar="P",
                   help="also find the sample size for this power (sample_size.csv)")  # fmt: skip
    p.add_argument("--workers", type=at_least(1, MAX_WORKERS), metavar="N",
                   help="local processes (default: one per core)")  # fmt: skip
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("MMRM power (--test mmrm): the scenario is the MMRM fitted to --data")
    g.add_argument(
        "--data",
        type=path_text,
        metavar="FILE",
        help="trial to take the scenario from (default: the project's)",
    )
    g.add_argument(
        "--arm",
        type=nonempty_name,
        metavar="ARM",
        help="arm compared with the reference (default: the design's first)",
    )
    g.add_argument(
        "--visit", type=nonnegative, metavar="V", help="key visit (default: the design's last)"
    )
    g.add_argument("--effect", type=score_difference, metavar="D",
                   help="true difference in mean change at the key visit (default: as fitted)")  # fmt: skip
    g.add_argument("--df", choices=DF_METHODS, default="kenward-roger")
    add_out(p)
    add_data_options(p)


def rates(text: str) -> tuple[float, float]:
    """Two proportions ``P_REF,P_ARM`` in [0, 1]."""
    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected two proportions separated by a comma, e.g. 0.42,0.61; got {text!r}"
        ) from None
    for v in (a, b):
        if not 0 <= v <= 1:
            raise argparse.ArgumentTypeError(
                f"rates must be proportions between 0 and 1, got {v:g}"
            )
    return a, b


#: The exact sample-size search enumerates every outcome at each n it tries (about as many n as
#: the answer): beyond this many per arm it takes many minutes and gigabytes.
MAX_EXACT_SEARCH = 1_000


def _check_exact_search(p_ref: float, p_arm: float, target: float, alpha: float) -> None:
    """Refuse, before minutes of work, a --target-power the exact search cannot reach."""
    from statistics import NormalDist

    if p_ref == p_arm:
        raise IptOutcomesError(
            f"--rates {p_ref:g},{p_arm:g} are equal: no sample size gives power above alpha"
        )
    z = NormalDist().inv_cdf
    pbar = (p_ref + p_arm) / 2
    need = (
        z(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar))
        + z(target) * math.sqrt(p_ref * (1 - p_ref) + p_arm * (1 - p_arm))
    ) ** 2 / (p_ref - p_arm) ** 2
    if need > MAX_EXACT_SEARCH:
        what = (
            "leave out --target-power and give --n-per-arm values around that number to see "
            "their power"
            if need <= MAX_POWER_PER_ARM
            else f"that is also beyond the {MAX_POWER_PER_ARM:,} per arm this command simulates"
        )
        raise IptOutcomesError(
            f"--target-power {target:g} needs about {math.ceil(need):,} per arm for --rates "
            f"{p_ref:g},{p_arm:g} (normal approximation), more than the {MAX_EXACT_SEARCH:,} per "
            f"arm the exact search covers; {what}"
        )


def run(args) -> int:
    import pandas as pd

    from ..report.figures import power_curve, save_figure
    from ..stats import power

    twice = sorted({n for n in args.n_per_arm if args.n_per_arm.count(n) > 1})
    if twice:
        raise IptOutcomesError(
            f"--n-per-arm {twice[0]} is given more than once; give each sample size once"
        )
    run_kw = dict(workers=args.workers, scheduler=args.scheduler, progress=not args.quiet)
    extra = {}
    inputs = []
    if args.test == "mmrm":
        from .report import PROJECT_DATA, PROJECT_DESIGN

        data = args.data or str(PROJECT_DATA)
        if args.data is None and args.design is None and PROJECT_DESIGN.exists():
            args.design = str(PROJECT_DESIGN)
        trial = load(args, data)
        inputs = inputs_of(args, data)
        arm, visit = arm_and_visit(args, trial)
        scenario = power.mmrm_scenario(trial, arm, trial.reference, visit, effect=args.effect)
        sims = args.sims or 1000
        table = power.simulate_mmrm_power(scenario, args.n_per_arm, sims=sims, seed=args.seed,
                                          df=args.df, alpha=args.alpha, **run_kw)  # fmt: skip
        what = (f"MMRM contrast {trial.arm_label(arm)} - {trial.arm_label(trial.reference)}, "
                f"{trial.visit_label(visit)} (true difference {scenario.effect:.2f}, {args.df} df)")  # fmt: skip
        if args.target_power is not None:
            ss = power.mmrm_sample_size(scenario, args.target_power, sims=sims, seed=args.seed, df=args.df,
                                        alpha=args.alpha, **run_kw)  # fmt: skip
            extra["sample_size"] = pd.DataFrame([dict(test="mmrm", alpha=args.alpha, target_power=args.target_power,
                n_per_arm=ss["n_per_arm"], power=ss["power"], mc_se=ss["mc_se"], n_normal=ss["n_normal"],
                method=f"bisection on simulated power, {sims} trials per probe")])  # fmt: skip
    else:
        if args.rates is None:
            raise IptOutcomesError(f"--test {args.test} needs --rates P_REF,P_ARM")
        (p_ref, p_arm), sims = args.rates, args.sims or 10_000
        table = power.simulate_power(p_ref, p_arm, args.n_per_arm, test=args.test, sims=sims,
                                     seed=args.seed, alpha=args.alpha, **run_kw)  # fmt: skip
        what = f"{args.test} test of response {p_arm:.0%} vs {p_ref:.0%} (reference)"
        if args.target_power is not None:
            _check_exact_search(p_ref, p_arm, args.target_power, args.alpha)
            ss = power.sample_size(p_ref, p_arm, args.target_power, args.test, args.alpha)
            extra["sample_size"] = pd.DataFrame([dict(test=args.test, p_ref=p_ref, p_arm=p_arm, alpha=args.alpha,
                                                      target_power=args.target_power, **ss)])  # fmt: skip
    with OutputFolder(args.out, inputs) as out:
        out.write_tables({"power": table, **extra})
        save_figure(
            power_curve(table, target=args.target_power, title=f"Power: {what}"),
            out.path("power_curve.png"),
        )
    say(f"Power by simulation ({sims} trials per n, seed {args.seed}): {what}")
    cols = [c for c in ("n_per_arm", "power", "mc_se", "exact_power", "failed") if c in table]
    say(table[cols].round(4).to_string(index=False))
    if "sample_size" in extra:
        ss = extra["sample_size"].iloc[0]
        how = (f" (simulated power {ss['power']:.3f}, Monte-Carlo SE {ss['mc_se']:.3f}; bisection)"
               if args.test == "mmrm" else f" (exact power {ss['power']:.3f})")  # fmt: skip
        say(f"Smallest n per arm for power {args.target_power:.0%}: {int(ss['n_per_arm'])}{how}")
    print(f"Wrote {len(extra) + 1} tables and power_curve.png to {args.out}", file=sys.stderr)
    return 0
