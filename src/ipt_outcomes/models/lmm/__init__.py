"""Random-effects models: the fitting engine (:mod:`.core`) and the SPEC's models (:mod:`.models`)."""

from .core import LMMFitError, LMMResults, RandomTerm, fit_lmm
from .models import group_therapy_arm, growth_model, lmm_fit_table, partially_nested_model

__all__ = [
    "LMMFitError",
    "LMMResults",
    "RandomTerm",
    "fit_lmm",
    "growth_model",
    "group_therapy_arm",
    "lmm_fit_table",
    "partially_nested_model",
]
