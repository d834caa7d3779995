"""Teaching kit: worksheets (student and key from one definition), numbers quoted from the
report, the baseline-adjustment simulation and RoB 2 assessments."""

from .adjustment import (
    adjustment_plot,
    adjustment_scenario,
    simulate_adjustment,
    summarise_adjustment,
)
from .worksheets import (
    ROB2_DOMAINS,
    ROB2_LEVELS,
    ReportNumbers,
    Task,
    Worksheet,
    frame,
    load_rob2,
    read_report_tables,
    render_index,
    render_worksheet,
    rob2_overall,
    rob2_traffic_light,
)

__all__ = [
    "Task",
    "Worksheet",
    "ReportNumbers",
    "read_report_tables",
    "frame",
    "render_worksheet",
    "render_index",
    "adjustment_scenario",
    "simulate_adjustment",
    "summarise_adjustment",
    "adjustment_plot",
    "ROB2_DOMAINS",
    "ROB2_LEVELS",
    "load_rob2",
    "rob2_overall",
    "rob2_traffic_light",
]
