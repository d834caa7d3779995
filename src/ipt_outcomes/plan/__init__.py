"""The analysis plan, executed: between the validated trial and the report.

The design file declares the plan (:mod:`ipt_outcomes.data.analysis_plan`); this layer resolves it
against the data (:mod:`.resolve`: defaults filled in, names checked), runs each analysis once
(:mod:`.analyses`, :mod:`.subgroups`), applies the multiplicity rule (:mod:`.multiplicity`) and
returns every number as analysis results data (:mod:`.ard`). The report renders what
:func:`run_plan` returns and computes nothing itself.
"""

from .multiplicity import adjust, graphical_adjusted
from .resolve import PlanError, default_plan, plan_json, resolve_plan
from .run import PlanResults, run_plan

__all__ = [
    "PlanError",
    "PlanResults",
    "adjust",
    "default_plan",
    "graphical_adjusted",
    "plan_json",
    "resolve_plan",
    "run_plan",
]
