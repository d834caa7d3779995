"""What every worksheet gets: the trial, the report's tables, the published figures and settings.

Worksheets quote every number they share with the report from the report's own tables
(``ctx.n``, a :class:`~ipt_outcomes.teaching.ReportNumbers`): the same value, the same
formatting, tagged with its source as in the report. What they compute themselves (a simpler
analysis, a simulation) they say so, and show the report's number beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from ipt_outcomes.data.trial import Trial
from ipt_outcomes.teaching import ReportNumbers

SYNTHETIC_NOTE = (
    "The trial data in this worksheet are synthetic: the individual data of Saloheimo et al. "
    "(2016) are not public, so the project generated a trial calibrated to the published summary "
    "figures (data/synthetic/README.md): it agrees with them because it was made to. Published "
    "figures quoted here are the paper's; every other number comes from the synthetic data and is "
    "an illustration, not evidence."
)
METAPSY_NOTE = (
    "The effect sizes in this worksheet are real: an excerpt of the Metapsy database of randomised "
    "trials of psychotherapy for depression against control conditions (Cuijpers, Miguel, Harrer, "
    "Plessen, Ciharova, Ebert, Karyotaki; doi:10.5281/zenodo.7254845; ODC-By 1.0 licence, see "
    "data/README.md), analysed with the functions ipt-outcomes meta runs. Numbers from the "
    "project's report are from its synthetic trial."
)
INDEX_NOTE = (
    "Worksheets 1-7 use the project's synthetic trial, calibrated to the published summary figures "
    "of Saloheimo et al. (2016): an illustration, not evidence. Worksheet 8 uses real effect sizes "
    "from the Metapsy database (data/README.md)."
)


@dataclass
class Context:
    trial: Trial
    targets: pd.DataFrame  # published figures and their sources (saloheimo2016_targets.csv)
    rob2: Path
    report: dict  # the report's tables (build.py: built in memory, or read by read_report_tables)
    seed: int = 2016
    sims: int = 500  # simulated trials per n (worksheet 4) and per scenario (worksheet 7)
    imputations: int = 50
    workers: int | None = None
    metapsy: Path | None = None  # the Metapsy excerpt (worksheet 8)
    synthetic: bool = True
    n: ReportNumbers = field(init=False)

    def __post_init__(self):
        self.n = ReportNumbers(self.report)

    @property
    def scores(self) -> Trial:
        return self.trial

    @property
    def design(self):
        return self.trial.design

    @property
    def reference(self) -> str:
        return self.design.reference

    @property
    def data_note(self) -> str:
        return SYNTHETIC_NOTE if self.synthetic else ""

    @cached_property
    def plan(self):
        """The design's analysis plan, resolved as the report resolves it (ids filled in)."""
        from ipt_outcomes.plan.resolve import resolve_plan

        return resolve_plan(self.trial)

    def endpoint(self, endpoint_id: str):
        """The plan's endpoint ``endpoint_id`` (its population, covariates, missing rule...)."""
        for ep in self.plan.endpoints:
            if ep.id == endpoint_id:
                return ep
        raise KeyError(f"the design's plan has no endpoint {endpoint_id!r}")

    def sensitivity_id(self, endpoint_id: str, analysis: str, **settings) -> str:
        """The id of the plan's sensitivity analysis of ``endpoint_id`` by ``analysis`` with
        ``settings`` (e.g. ``missing="nri"``): the name of its report tables."""
        for s in self.plan.sensitivity:
            if (s.endpoint == endpoint_id and s.analysis == analysis
                    and all(getattr(s, k) == v for k, v in settings.items())):  # fmt: skip
                return s.id
        raise KeyError(f"the design's plan has no {analysis} sensitivity analysis of "
                       f"{endpoint_id!r} with {settings}")  # fmt: skip

    def analysed_observed_arms(self, endpoint_id: str) -> Trial:
        """The trial as the report analyses ``endpoint_id`` for the observed arms: the
        endpoint's population, the observed arms only (the report fits a modelled arm with the
        reference apart, ``fit = "modelled"``)."""
        from ipt_outcomes.plan.analyses import split_arms
        from ipt_outcomes.plan.populations import members, restrict

        ep = self.endpoint(endpoint_id)
        pop = next(p for p in self.plan.populations if p.id == ep.population)
        observed, _ = split_arms(restrict(self.trial, members(self.trial, pop)))
        return observed

    def label(self, arm: str) -> str:
        return self.trial.arm_label(arm)

    def visit(self, visit: float) -> str:
        return self.trial.visit_label(visit)

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
