"""The sections of the report, in order: each a template (``templates/sections/``) and the TLFs
that name it (:mod:`ipt_outcomes.report.tlf`).

A section is shown when the tables it needs exist. To add one (e.g. the estimands of reference-
based multiple imputation): produce its tables in :func:`~.tables.build_tables`, give each TLF a
:class:`~.tlf.Spec` with ``section=`` its key, and list it here; ``sections/tlfs.html.j2`` shows
any section's TLFs, or give the section its own template for prose around them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Section", "SECTIONS"]


@dataclass(frozen=True)
class Section:
    key: str
    title: str  # section numbers are drawn by CSS; the ICH E3 part in brackets
    template: str = "sections/tlfs.html.j2"
    requires: tuple[str, ...] = ()  # tables that must exist and have rows


SECTIONS: tuple[Section, ...] = (
    Section("plan", "Analysis plan: estimands, endpoints, populations, multiplicity",
            "sections/plan.html.j2"),
    Section("participants", "Participants (14.1)"),
    Section("efficacy", "Efficacy, in the order of the analysis plan (14.2)"),
    Section("listings", "Listings (16.2)"),
    Section("provenance", "Provenance", "sections/provenance.html.j2"),
)  # fmt: skip
