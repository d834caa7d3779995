"""``ipt-outcomes simulate --seed N --out FILE``: the calibrated synthetic trial."""

from __future__ import annotations

import sys
import time

from ..output import atomic_write

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

    t0 = time.perf_counter()
    trial = simulate_trial(
        args.seed,
        n_per_arm=args.n_per_arm,
        visits=args.visits,
        include_modelled_arm=not args.no_modelled_arm,
    )
    with atomic_write(args.out) as fh:
        write_trial_csv(trial.data, fh)
    if args.calibration:
        seed_row = pd.DataFrame([dict(quantity="seed", arm="all", visit=np.nan, target=str(trial.seed),
                                      achieved=str(trial.seed), status="", kind="", source="ipt-outcomes simulate --seed")])  # fmt: skip
        with atomic_write(args.calibration) as fh:
            pd.concat([seed_row, trial.calibration], ignore_index=True).to_csv(
                fh, index=False, lineterminator="\n"
            )
    if not args.quiet:
        sys.stdout.write(calibration_text(trial))
    n_sub = trial.data["subject_id"].nunique()
    print(
        f"Wrote {args.out}: {n_sub} subjects, {len(trial.data)} rows ({time.perf_counter() - t0:.1f} s).",
        file=sys.stderr,
    )
    return 0
