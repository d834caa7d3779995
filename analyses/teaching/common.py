"""What every worksheet gets: the trial, its design, the published figures and run settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ipt_outcomes.data.trial import Trial


@dataclass
class Context:
    trial: Trial
    targets: pd.DataFrame  # published figures and their sources (saloheimo2016_targets.csv)
    rob2: Path
    seed: int = 2016
    sims: int = 500  # simulated trials per n for the MMRM power (worksheet 4)
    imputations: int = 50
    workers: int | None = None

    @property
    def scores(self) -> Trial:
        return self.trial

    @property
    def design(self):
        return self.trial.design

    @property
    def reference(self) -> str:
        return self.design.reference

    def _row(self, quantity: str, arm: str, visit=None) -> pd.Series:
        t = self.targets
        rows = t[(t["quantity"] == quantity) & (t["arm"] == arm)]
        if visit is not None:
            rows = rows[pd.to_numeric(rows["visit"], errors="coerce") == float(visit)]
        if len(rows) != 1:
            raise KeyError(f"no single published {quantity} for {arm} at {visit}")
        return rows.iloc[0]

    def published(self, quantity: str, arm: str, visit=None) -> float:
        return float(self._row(quantity, arm, visit)["value"])

    def source(self, quantity: str, arm: str, visit=None) -> str:
        return str(self._row(quantity, arm, visit)["source"])


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
