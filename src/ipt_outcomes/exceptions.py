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
    "InputWarning",
    "problem_lines",
]

#: Problems of one kind listed in a message; the rest are counted ("... and 8,600 more rows
#: like this"), so that one mistake repeated down a column does not print megabytes.
LISTED_PER_KIND = 20
#: Characters of one listed problem (a 200 MB cell quoted in a message is not a message).
LINE_CHARS = 500


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
        head = f"{source}: {n} problem{'s' if n != 1 else ''} with the data"
        super().__init__("\n".join([head, *problem_lines(self.problems, source)]))


def problem_lines(problems, source: str) -> list[str]:
    """The problems as lines, at most :data:`LISTED_PER_KIND` of each kind (rule), each line
    at most :data:`LINE_CHARS` long; the rest counted per kind after them."""
    shown: dict[str, int] = {}
    lines = []
    for p in problems:
        kind = getattr(p, "rule", "")
        shown[kind] = shown.get(kind, 0) + 1
        if shown[kind] <= LISTED_PER_KIND:
            line = p.format(source)
            lines.append(line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 3] + "...")
    for kind, n in shown.items():
        if n > LISTED_PER_KIND:
            what = "rows" if any(getattr(p, "row", None) for p in problems) else "problems"
            lines.append(
                f"{source}: ... and {n - LISTED_PER_KIND:,} more {what} like this "
                f"({kind.replace('_', ' ')})"
            )
    return lines


class DesignError(IptOutcomesError):
    """A trial design file is missing, unreadable or inconsistent."""


class CalibrationError(IptOutcomesError):
    """The synthetic-trial calibration targets cannot be met (e.g. an impossible sample size)."""


class CalibrationWarning(UserWarning):
    """A calibration target was met only approximately."""


class InputWarning(UserWarning):
    """A file was read with a change the user should know about (floating-point noise
    snapped, invisible characters removed, hidden rows read)."""


class ConvergenceWarning(UserWarning):
    """A model fit did not converge cleanly or fell back to a simpler structure."""
