"""The base of every fitted model's results: one way to summarise, print and show a fit.

A results object answers ``summary()`` with a tidy DataFrame (one row per estimate), ``fit_table()``
with a one-row DataFrame of fit statistics, prints both with ``print_summary()`` in the package's
number format, and has a short ``repr`` (as lifelines' and statsmodels' results do).
"""

from __future__ import annotations

import sys

import pandas as pd

__all__ = ["ModelResults"]


class ModelResults:
    """Shared behaviour of fitted models (MMRM, LMM, adjusted response, MI)."""

    #: One line naming the model, e.g. "MMRM (REML, us covariance, kenward-roger df)".
    title: str = "model"

    def summary(self) -> pd.DataFrame:  # pragma: no cover - every model defines it
        raise NotImplementedError

    def fit_table(self) -> pd.DataFrame:
        return pd.DataFrame()

    def describe(self) -> str:
        """A few words for ``repr``."""
        return ""

    def __repr__(self) -> str:
        extra = self.describe()
        return f"<{type(self).__name__}: {self.title}{'; ' + extra if extra else ''}>"

    def print_summary(self, file=None, decimals: int = 4) -> None:
        """Print the title, the fit statistics and the summary table."""
        from ..format import format_frame

        out = file or sys.stdout
        print(self.title, file=out)
        fit = self.fit_table()
        if len(fit):
            print(format_frame(fit, decimals).to_string(index=False), file=out)
        print(file=out)
        print(format_frame(self.summary(), decimals).to_string(index=False), file=out)
