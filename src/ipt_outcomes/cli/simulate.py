"""``ipt-outcomes simulate --seed N --out FILE``: the calibrated synthetic trial."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path

from ..constants import MAX_SIMULATED_MONTHS
from ..output import atomic_write, check_output_file
from .options import at_least, path_text

__all__ = ["arguments", "run", "calibration_text"]

#: A simulated trial of 50,000 per arm is about a million rows.
MAX_SIMULATED_PER_ARM = 50_000
#: Visits of a simulated schedule.
MAX_SIMULATED_VISITS = 105


def _visits(text: str) -> list[float]:
    try:
        out = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"visits must be numbers separated by commas, got {text!r}"
        ) from None
    if not all(math.isfinite(v) for v in out):
        raise argparse.ArgumentTypeError(f"visits must be finite numbers, got {text!r}")
    if not out or out[0] != 0 or any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise argparse.ArgumentTypeError("visits must start at 0 and increase, e.g. 0,1.5,3,6,12")
    if len(out) < 2:
        raise argparse.ArgumentTypeError(
            f"visits need baseline 0 and at least one follow-up visit, e.g. 0,3; got {text!r}"
        )
    if len(out) > MAX_SIMULATED_VISITS:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_SIMULATED_VISITS} visits (weekly for two years), got {len(out):,}"
        )
    if out[-1] > MAX_SIMULATED_MONTHS:
        raise argparse.ArgumentTypeError(
            f"visits are months from randomisation, at most {MAX_SIMULATED_MONTHS:g}; got {text!r}"
        )
    return out


def arguments(p) -> None:
    """The command's arguments (range-checked where they are parsed)."""
    p.add_argument(
        "--seed", type=at_least(0), required=True, help="seed (the project's trial uses 2016)"
    )
    p.add_argument("--out", required=True, type=path_text, metavar="FILE", help="CSV file to write")
    p.add_argument("--calibration", type=path_text, metavar="FILE",
                   help="also write the calibration table as CSV")  # fmt: skip
    p.add_argument("--n-per-arm", type=at_least(2, MAX_SIMULATED_PER_ARM), metavar="N",
                   help="scaled trial: N randomised per arm (2 to 50,000)")  # fmt: skip
    p.add_argument(
        "--visits", type=_visits, metavar="V,V,...", help="visit schedule in months (from 0)"
    )
    p.add_argument(
        "--no-modelled-arm", action="store_true", help="leave out the modelled IPT+MED arm"
    )
    p.add_argument("--quiet", action="store_true", help="do not print the calibration table")


def calibration_text(trial) -> str:
    import pandas as pd

    c = trial.calibration.copy()
    c["visit"] = c["visit"].map(lambda v: "" if pd.isna(v) else f"{v:g}")
    c["source"] = c["source"].map(lambda s: s if len(s) <= 70 else s[:67] + "...")
    lines = [
        f"Calibration of the synthetic trial (seed {trial.seed}, accepted draw {trial.attempt}):",
        c[["quantity", "arm", "visit", "target", "achieved", "status", "source"]].to_string(
            index=False
        ),
        "",
        "Published figures that cannot all be true at once, and what was chosen:",
    ]
    lines += [f"- {n}" for n in trial.notes]
    return "\n".join(lines) + "\n"


def run(args) -> int:
    import numpy as np
    import pandas as pd

    from ..data.readers import MAX_ROWS
    from ..datasets import simulate_trial, write_trial_csv
    from ..exceptions import IptOutcomesError

    check_output_file(args.out)  # before the simulation, not after it
    n_arms = 3 if args.no_modelled_arm else 4
    rows = (args.n_per_arm or 46) * n_arms * len(args.visits or (0, 1.5, 3, 6, 12))
    if rows > MAX_ROWS:
        raise IptOutcomesError(
            f"--n-per-arm {args.n_per_arm} with {len(args.visits or ()) or 5} visits is "
            f"{rows:,} rows, more than the {MAX_ROWS:,} this tool reads back; use fewer "
            "patients per arm or fewer visits"
        )
    if args.calibration:
        check_output_file(args.calibration)
        if Path(args.calibration).resolve() == Path(args.out).resolve():  # links followed
            raise IptOutcomesError(
                f"--calibration {args.calibration} is the same file as --out {args.out}: "
                "give each its own name"
            )
    t0 = time.perf_counter()
    trial = simulate_trial(
        args.seed,
        n_per_arm=args.n_per_arm,
        visits=args.visits,
        include_modelled_arm=not args.no_modelled_arm,
    )
    # both files or neither: the inner one is renamed into place only if the outer one succeeds
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(atomic_write(args.out))
        cal = stack.enter_context(atomic_write(args.calibration)) if args.calibration else None
        write_trial_csv(trial.data, fh)
        if cal is not None:
            seed_row = pd.DataFrame([dict(quantity="seed", arm="all", visit=np.nan, target=str(trial.seed),
                                          achieved=str(trial.seed), status="", kind="",
                                          source="ipt-outcomes simulate --seed")])  # fmt: skip
            pd.concat([seed_row, trial.calibration], ignore_index=True).to_csv(
                cal, index=False, lineterminator="\n"
            )
    if not args.quiet:
        sys.stdout.write(calibration_text(trial))
    n_sub = trial.data["subject_id"].nunique()
    print(
        f"Wrote {args.out}: {n_sub} subjects, {len(trial.data)} rows ({time.perf_counter() - t0:.1f} s).",
        file=sys.stderr,
    )
    return 0
