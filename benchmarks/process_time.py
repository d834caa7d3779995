"""Whole-process wall time of a command: the median of ``repeat`` runs (shared by the benches)."""

from __future__ import annotations

import statistics
import subprocess
import time


def process_seconds(cmd: list[str], repeat: int, cwd=None) -> float:
    """Median wall time of ``cmd`` over ``repeat`` runs; a failing run stops the bench."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        runs.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return statistics.median(runs)
