"""Random-effects models: the fitting engine (:mod:`.core`) and the SPEC's models (:mod:`.models`).

The engine: :mod:`.structure` (clusters and blocks), :mod:`.deviance` (profiled deviance and
its derivatives), :mod:`.optimise` (multi-start trust-region Newton and the boundary check),
:mod:`.satterthwaite` (lmerTest), :mod:`.kenward_roger` (pbkrtest), :mod:`.results`.
"""

from .core import LMMFitError, LMMResults, RandomTerm, fit_lmm
from .models import (
    fit_growth_model,
    group_therapy_arm,
    growth_model,
    lmm_fit_table,
    partially_nested_model,
)

__all__ = [
    "LMMFitError",
    "LMMResults",
    "RandomTerm",
    "fit_lmm",
    "fit_growth_model",
    "growth_model",
    "group_therapy_arm",
    "lmm_fit_table",
    "partially_nested_model",
]
