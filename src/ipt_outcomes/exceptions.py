"""Exceptions and warning classes of ipt-outcomes, all in one place.

Every error a user can cause by what they give the tool (a file, a design, an argument) is an
:class:`IptOutcomesError`; the command line turns those into one clear message and exit status 1.
Anything else escaping is a bug.
"""

from __future__ import annotations

__all__ = [
    "IptOutcomesError",
    "InputFileError",
    "DataValidationError",
    "DesignError",
    "CalibrationError",
    "CalibrationWarning",
    "ConvergenceWarning",
]


class IptOutcomesError(Exception):
    """Base class of errors caused by the user's input rather than by the program."""


class InputFileError(IptOutcomesError):
    """A file cannot be read at all (missing, a directory, not text, unknown format, wrong sheet)."""


class DataValidationError(IptOutcomesError):
    """A table breaks the data contract.

    Parameters
    ----------
    problems : list of ipt_outcomes.validation.Problem
        Every problem found, so that the user sees all of them at once.
    source : str
        The file (or description of the frame) the problems were found in.
    """

    def __init__(self, problems, source: str = "data"):
        self.problems = list(problems)
        self.source = source
        n = len(self.problems)
        lines = [p.format(source) for p in self.problems]
        head = f"{source}: {n} problem{'s' if n != 1 else ''} with the data"
        super().__init__("\n".join([head, *lines]))


class DesignError(IptOutcomesError):
    """A trial design file is missing, unreadable or inconsistent."""


class CalibrationError(IptOutcomesError):
    """The synthetic-trial calibration targets cannot be met (e.g. an impossible sample size)."""


class CalibrationWarning(UserWarning):
    """A calibration target was met only approximately."""


class ConvergenceWarning(UserWarning):
    """A model fit did not converge cleanly or fell back to a simpler structure."""
