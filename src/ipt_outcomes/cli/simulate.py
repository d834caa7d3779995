"""``ipt-outcomes simulate --seed N --out FILE``: the calibrated synthetic trial."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from ..output import atomic_write, check_output_file

__all__ = ["run", "calibration_text"]


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

    from ..data.synthetic import simulate_trial, write_trial_csv
    from ..exceptions import IptOutcomesError

    check_output_file(args.out)  # before the simulation, not after it
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
