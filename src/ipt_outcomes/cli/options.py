"""Options shared by several commands, and argument types that check their range where parsed.

Nothing here imports a numerical library: ``ipt-outcomes --help`` must start fast.
"""

from __future__ import annotations

import argparse
import math
import os

__all__ = [
    "add_data_options",
    "add_out",
    "alpha",
    "positive_int",
    "at_least",
    "AtMostValues",
    "nonnegative",
    "positive",
    "probability",
    "finite",
    "between",
    "score_difference",
    "delta_max",
    "delta_step",
    "path_text",
    "nonempty_name",
    "visit_value",
    "encoding",
    "MAX_WORKERS",
    "MIN_ALPHA",
    "MAX_POINTS",
]

#: Local worker processes: more than a few per core only costs memory.
MAX_WORKERS = max(4, 4 * (os.cpu_count() or 1))


def finite(text: str) -> float:
    """A finite number."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


#: The smallest alpha: a 99.9999% interval. Smaller ones stretch intervals beyond what a
#: float holds (``--alpha 1e-300`` made infinite limits) and no analysis plan uses them.
MIN_ALPHA = 1e-6
#: Score points: a difference, shift or grid bound beyond this is beyond every depression
#: scale's range (HAM-D 0-52, MADRS 0-60, BDI-II 0-63).
MAX_POINTS = 100.0
#: The finest tipping-point grid step (with MAX_POINTS, at most 4,001 deltas).
MIN_DELTA_STEP = 0.05


def alpha(text: str) -> float:
    """1 - confidence level, strictly between 0 and 1, and at least :data:`MIN_ALPHA`."""
    v = finite(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (e.g. 0.05), got {text}")
    if v < MIN_ALPHA:
        raise argparse.ArgumentTypeError(
            f"must be at least {MIN_ALPHA:g} (a 99.9999% interval): smaller values give "
            f"intervals too wide to compute; got {text}"
        )
    return v


def between(lo: float, hi: float, unit: str = ""):
    """A finite number in [lo, hi]."""

    def parse(text: str) -> float:
        v = finite(text)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo:g} and {hi:g}{unit}, got {text}")
        return v

    parse.__name__ = f"number in [{lo:g}, {hi:g}]"
    return parse


#: A difference or shift in score points (power --effect, mi --delta).
score_difference = between(-MAX_POINTS, MAX_POINTS, " score points")
#: The tipping-point grid's bound (from -D to +D).
delta_max = between(0, MAX_POINTS, " score points")


def delta_step(text: str) -> float:
    """The tipping-point grid's step: at least :data:`MIN_DELTA_STEP` (a grid of millions of
    imputations is not an analysis)."""
    v = positive(text)
    if v < MIN_DELTA_STEP:
        raise argparse.ArgumentTypeError(
            f"must be at least {MIN_DELTA_STEP:g} score points (a finer grid means thousands "
            f"of imputations per point of delta), got {text}"
        )
    return v


def probability(text: str) -> float:
    """A probability strictly between 0 and 1."""
    v = finite(text)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return v


def at_least(lo: int, most: int | None = None):
    """A whole number >= lo (and <= most, when given)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, got {v}")
        if most is not None and v > most:
            raise argparse.ArgumentTypeError(f"must be at most {most:,}, got {v:,}")
        return v

    parse.__name__ = f"whole number >= {lo}" + (f" and <= {most}" if most is not None else "")
    return parse


positive_int = at_least(1)


class AtMostValues(argparse.Action):
    """``nargs="+"`` with at most ``most`` values (``add_argument(..., action=AtMostValues,
    most=100)``): each value is one more analysis."""

    def __init__(self, option_strings, dest, most: int = 100, **kwargs):
        self.most = most
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) > self.most:
            parser.error(
                f"argument {option_string}: at most {self.most:,} values, got {len(values):,}"
            )
        setattr(namespace, self.dest, values)


def nonnegative(text: str) -> float:
    v = finite(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return v


def positive(text: str) -> float:
    v = finite(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return v


def path_text(text: str) -> str:
    """A file or folder name: not empty (an unset shell variable would write into the current
    folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file or folder name, got an empty one")
    return text


def nonempty_name(text: str) -> str:
    """A column, arm or sheet name: not empty, surrounding spaces dropped and Unicode NFC, as
    the readers make headers and labels (a name typed in another normal form is the same
    name)."""
    import unicodedata

    if not text.strip():
        raise argparse.ArgumentTypeError("expected a name, got an empty one")
    return unicodedata.normalize("NFC", text.strip())


def visit_value(text: str) -> float | str:
    """A visit as in the data: a number >= 0, or a text code that the design maps (``"WEEK 4"``,
    checked against the design when the data are read)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a visit value or code, got an empty one")
    try:
        v = float(text)
    except ValueError:
        return text.strip()
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    if v < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return v


def encoding(text: str) -> str:
    """A text encoding Python knows (checked here, before the file is read)."""
    import codecs

    try:
        codecs.lookup(text)
    except LookupError:
        raise argparse.ArgumentTypeError(
            f"unknown encoding {text!r} (e.g. utf-8, latin-1, cp1252, utf-16)"
        ) from None
    return text


def add_out(p: argparse.ArgumentParser, default: str = "reports/tables") -> None:
    p.add_argument(
        "--out",
        type=path_text,
        default=default,
        metavar="DIR",
        help=f"output folder (default {default})",
    )


#: Flags of the data options, by the argument of :func:`ipt_outcomes.load_trial` they set.
FLAGS = {
    "subject": "--subject-col",
    "arm": "--arm-col",
    "visit": "--visit-col",
    "outcome": "--outcome-col",
    "baseline": "--baseline-col",
    "baseline_visit": "--baseline-visit",
    "reference": "--reference",
    "sheet": "--sheet",
    "value_labels": "--value-labels",
    "instrument": "--instrument",
}


def add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data file options")
    g.add_argument(
        "--design",
        type=path_text,
        metavar="FILE",
        help="trial design TOML (arms, visits, instrument, columns)",
    )
    g.add_argument(
        "--subject-col",
        type=nonempty_name,
        metavar="COL",
        help="column of subject ids (default subject_id)",
    )
    g.add_argument(
        "--arm-col",
        type=nonempty_name,
        metavar="COL",
        help="column of randomised arms (default arm)",
    )
    g.add_argument(
        "--visit-col", type=nonempty_name, metavar="COL", help="column of visits (default visit)"
    )
    g.add_argument(
        "--outcome-col",
        type=nonempty_name,
        metavar="COL",
        help="column of outcome scores (default hamd17)",
    )
    g.add_argument(
        "--baseline-col",
        type=nonempty_name,
        metavar="COL",
        help="column carrying the baseline score on every row (a baseline record may also be there)",
    )
    g.add_argument(
        "--baseline-visit",
        type=visit_value,
        metavar="V",
        help="visit value (or the design's visit code) of the baseline rows (default: the "
        "design's, else 0)",
    )
    g.add_argument(
        "--instrument",
        type=nonempty_name,
        metavar="NAME",
        help="the design's instrument to analyse, by name or param (default: its first)",
    )
    g.add_argument(
        "--reference",
        type=nonempty_name,
        metavar="ARM",
        help="comparator arm (default: the design's, else TAU)",
    )
    g.add_argument(
        "--sheet",
        type=nonempty_name,
        metavar="NAME",
        help="worksheet of an .xlsx file (default: the first)",
    )
    g.add_argument(
        "--encoding", type=encoding, metavar="ENC", help="encoding of a text file (default UTF-8)"
    )
    g.add_argument(
        "--value-labels",
        choices=("codes", "labels"),
        default="codes",
        help="SPSS/Stata value labels: keep the stored codes (default) or use the labels",
    )
