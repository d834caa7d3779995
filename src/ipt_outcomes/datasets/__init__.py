"""Data sets the package ships: the calibrated synthetic trial (Saloheimo et al. 2016 rebuilt
from its published figures).

* :mod:`.targets` - the calibration targets, each with its source, and the plan they resolve into;
* :mod:`.generator` - :func:`simulate_trial`, which draws the trial;
* :mod:`.calibration` - what a drawn trial achieves, computed from its data alone.

This package sits above ``data/``, ``stats/`` and ``models/`` (its calibration fits the SPEC's
MMRM); nothing below it imports it.
"""

from __future__ import annotations

from .generator import SimulatedTrial, simulate_trial, write_trial_csv
from .targets import DEFAULT_SEED, DEFAULT_VISITS, load_targets

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_VISITS",
    "SimulatedTrial",
    "load_targets",
    "simulate_trial",
    "write_trial_csv",
]
