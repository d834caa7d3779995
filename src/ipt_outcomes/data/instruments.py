"""A small registry of instruments common in depression psychotherapy trials, for suggestions.

``instruments.csv`` beside this module lists, for HAM-D 17, MADRS, BDI-II, PHQ-9, QIDS-SR16,
GAD-7, WHO-5 and SOFAS: the range, whether higher scores are better, a usual remission threshold
and a published reliability, each **with its source**. Where no source could be given with
confidence the value is left empty rather than guessed.

These values are *suggestions*: ``ipt-outcomes design`` writes them into a starter design with
their source as a comment, for the user to check, and ``reliable-change`` names the registry's
reliability when the design gives none. Nothing here is used by an analysis unless the user puts
it in the design file.

Examples
--------
>>> known = lookup_instrument("BDI_II_TOTAL")
>>> known.name, known.minimum, known.maximum, known.higher_is_better, known.remission
('BDI-II', 0.0, 63.0, False, 13.0)
>>> lookup_instrument("WHO5").higher_is_better
True
>>> lookup_instrument("AVAL") is None
True
"""

from __future__ import annotations

import csv
import functools
import math
import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["KnownInstrument", "known_instruments", "lookup_instrument", "registry_table"]


@dataclass(frozen=True)
class KnownInstrument:
    """One instrument of the registry (every value a suggestion, with its source).

    Attributes
    ----------
    name : str
        Usual name (``"HAM-D 17"``).
    aliases : tuple of str
        Lower-case keys (letters and digits only) that a column name or PARAMCD value starting
        with them is taken to mean this instrument.
    minimum, maximum : float
        Range of the total score.
    integer : bool
        Totals are whole numbers.
    higher_is_better : bool
        ``True`` for well-being and functioning scales.
    remission : float or None
        Usual remission threshold in the instrument's direction (score <= it when lower is
        better, >= it when higher is better); ``None`` when there is no consensus value.
    remission_source, reliability_kind, reliability_source, note : str
        Where the values come from.
    reliability : float or None
        A published reliability coefficient (``None`` when none is listed).
    """

    name: str
    aliases: tuple[str, ...]
    minimum: float
    maximum: float
    integer: bool
    higher_is_better: bool
    remission: float | None
    remission_source: str
    reliability: float | None
    reliability_kind: str
    reliability_source: str
    note: str

    @property
    def remission_key(self) -> str:
        """The design key of the threshold: ``remission_min`` or ``remission_max``."""
        return "remission_min" if self.higher_is_better else "remission_max"

    def reliability_suggestion(self) -> str:
        """A sentence suggesting the reliability with its source (empty when none is listed).

        Examples
        --------
        >>> print(lookup_instrument("PHQ-9").reliability_suggestion())  # doctest: +ELLIPSIS
        suggestion for PHQ-9: reliability = 0.89 (internal consistency ..., Kroenke K, ...)
        """
        if self.reliability is None:
            return ""
        return (
            f"suggestion for {self.name}: reliability = {self.reliability:g} "
            f"({self.reliability_kind}, {self.reliability_source})"
        )


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


@functools.cache
def known_instruments() -> tuple[KnownInstrument, ...]:
    """Every instrument of the registry, in the order of ``instruments.csv``."""
    text = resources.files(__package__).joinpath("instruments.csv").read_text(encoding="utf-8")
    out = []
    for row in csv.DictReader(text.splitlines()):
        out.append(
            KnownInstrument(
                name=row["name"],
                aliases=tuple(a for a in row["aliases"].split("|") if a),
                minimum=float(row["min"]),
                maximum=float(row["max"]),
                integer=row["integer"] == "true",
                higher_is_better=row["higher_is_better"] == "true",
                remission=_number(row["remission"]),
                remission_source=row["remission_source"],
                reliability=_number(row["reliability"]),
                reliability_kind=row["reliability_kind"],
                reliability_source=row["reliability_source"],
                note=row["note"],
            )
        )
    return tuple(out)


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def lookup_instrument(text: str) -> KnownInstrument | None:
    """The registry's instrument named by a column name, PARAMCD value or instrument name.

    A name matches an alias exactly, or starts with it and goes on with something other than
    digits (``MADRS_TOTAL`` is MADRS; ``HAMD21`` is not HAM-D 17). Case, spaces and punctuation
    are ignored.

    Returns
    -------
    KnownInstrument or None
    """
    key = _key(text)
    if not key:
        return None
    pairs = [(_key(a), k) for k in known_instruments() for a in (*k.aliases, k.name)]
    for alias, k in sorted(pairs, key=lambda p: len(p[0]), reverse=True):
        if key == alias or (key.startswith(alias) and not key[len(alias) :].isdigit()):
            return k
    return None


def registry_table():
    """The registry as a DataFrame (one row per instrument), for documentation.

    Returns
    -------
    DataFrame
        ``name, min, max, higher_is_better, remission, remission_source, reliability,
        reliability_kind, reliability_source, note``.
    """
    import pandas as pd

    rows = [
        {
            "name": k.name,
            "min": k.minimum,
            "max": k.maximum,
            "higher_is_better": k.higher_is_better,
            "remission": math.nan if k.remission is None else k.remission,
            "remission_source": k.remission_source,
            "reliability": math.nan if k.reliability is None else k.reliability,
            "reliability_kind": k.reliability_kind,
            "reliability_source": k.reliability_source,
            "note": k.note,
        }
        for k in known_instruments()
    ]
    return pd.DataFrame(rows)
