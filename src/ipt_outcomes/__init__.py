"""ipt-outcomes: outcomes research and trial analysis for depression psychotherapy trials.

The long table of scores is read (:func:`read_table`), checked against the data contract
(:func:`validate_scores`, pandera models in :mod:`ipt_outcomes.schemas`) and turned into change,
percent improvement, response and remission (:func:`derive_outcomes`). The project's own trial is
a calibrated synthetic reconstruction of Saloheimo et al. (2016) (:func:`simulate_trial`).
"""

from importlib.metadata import PackageNotFoundError, version

from .data.derive import derive_outcomes, is_responder
from .data.design import ColumnMap, TrialDesign, default_design, load_design
from .data.readers import read_table
from .data.synthetic import simulate_trial
from .data.validation import validate_scores

try:
    __version__ = version("ipt-outcomes")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "ColumnMap",
    "TrialDesign",
    "default_design",
    "derive_outcomes",
    "is_responder",
    "load_design",
    "read_table",
    "simulate_trial",
    "validate_scores",
    "__version__",
]
