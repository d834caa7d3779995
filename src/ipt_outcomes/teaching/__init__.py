"""Teaching kit: worksheets (student and key from one definition) and RoB 2 assessments."""

from .worksheets import (
    ROB2_DOMAINS,
    ROB2_LEVELS,
    Task,
    Worksheet,
    load_rob2,
    render_worksheet,
    rob2_overall,
    rob2_traffic_light,
)

__all__ = [
    "Task",
    "Worksheet",
    "render_worksheet",
    "ROB2_DOMAINS",
    "ROB2_LEVELS",
    "load_rob2",
    "rob2_overall",
    "rob2_traffic_light",
]
