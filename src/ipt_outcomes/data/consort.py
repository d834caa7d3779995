"""The design file's ``[consort]`` section: the counts of the participant flow that a score file
cannot know (CONSORT 2010, items 13a-b and the flow diagram).

A score file holds the randomised participants and their assessments; how many people were
assessed for eligibility, why the others were excluded and why a participant was lost to
follow-up are in the trial's records, not in the scores. The section gives them::

    [consort]
    # Source: Saloheimo et al. 2016, Methods: 1,515 adults screened, 134 randomised
    assessed = 1515                       # assessed for eligibility
    excluded = [                          # reasons for exclusion before randomisation
      { reason = "Did not meet inclusion criteria", n = 1200 },
      { reason = "Declined to participate", n = 181 },
    ]
    lost = [                              # reasons for loss to follow-up, by arm
      { arm = "IPT", reason = "Moved away", n = 2 },
    ]

Every key is optional. ``excluded`` needs ``assessed``; its reasons may not add up to more than
``assessed``. ``lost`` names observed arms of ``[[arms]]``. What the counts must agree with in
the data (assessed minus excluded = the randomised participants; the reasons for loss of an arm
no more than the participants it lost) is checked when the report lays out the flow
(:func:`ipt_outcomes.plan.tables.report_tables`): without ``excluded`` the report says
"reasons not reported" for the difference between ``assessed`` and the randomised; reasons that
cover fewer participants than were lost leave the rest as "reason not recorded".
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import DesignError

__all__ = ["Consort", "ReasonCount", "LostCount", "consort_section", "build_consort"]


@dataclass(frozen=True)
class ReasonCount:
    """A reason for exclusion before randomisation and how many it excluded."""

    reason: str
    n: int


@dataclass(frozen=True)
class LostCount:
    """A reason for loss to follow-up in one arm and how many it lost."""

    arm: str
    reason: str
    n: int


@dataclass(frozen=True)
class Consort:
    """The ``[consort]`` counts of a design (all optional)."""

    assessed: int | None = None  # assessed for eligibility
    excluded: tuple[ReasonCount, ...] = ()  # reasons for exclusion before randomisation
    lost: tuple[LostCount, ...] = ()  # reasons for loss to follow-up, by arm

    @property
    def excluded_total(self) -> int:
        return sum(r.n for r in self.excluded)


def consort_section(Section, Number, Text, Inconsistent):
    """The pydantic model of ``[consort]``, a field of the design file's schema.

    ``Section`` is the schema's base model (unknown keys forbidden), ``Number`` a finite float,
    ``Text`` a non-empty string and ``Inconsistent`` the design's error for a rule across keys.
    """
    from typing import Annotated

    from pydantic import Field, model_validator

    # at most a hundred million: no trial screens more (a larger count is a typing slip)
    Count = Annotated[float, Field(ge=0, le=100_000_000, allow_inf_nan=False)]

    def whole(key: str, value: float) -> None:
        if value != int(value):
            raise Inconsistent(key, f"a count of participants is a whole number, got {value:g}")

    class ExcludedEntry(Section):
        reason: Text
        n: Count

    class LostEntry(Section):
        arm: Text
        reason: Text
        n: Count

    class ConsortSection(Section):
        assessed: Count | None = None
        excluded: list[ExcludedEntry] = Field(default_factory=list)
        lost: list[LostEntry] = Field(default_factory=list)

        @model_validator(mode="after")
        def _counts(self):
            if self.assessed is not None:
                whole("consort.assessed", self.assessed)
            for i, e in enumerate(self.excluded):
                whole(f"consort.excluded[{i + 1}].n", e.n)
            for i, e in enumerate(self.lost):
                whole(f"consort.lost[{i + 1}].n", e.n)
            if self.excluded and self.assessed is None:
                raise Inconsistent(
                    "consort.excluded",
                    "reasons for exclusion need the number assessed for eligibility "
                    "(consort.assessed)",
                )
            total = sum(e.n for e in self.excluded)
            if self.assessed is not None and total > self.assessed:
                raise Inconsistent(
                    "consort.excluded",
                    f"the reasons exclude {total:g} participants, more than the {self.assessed:g} "
                    "assessed for eligibility",
                )
            reasons = [e.reason for e in self.excluded]
            dup = sorted({r for r in reasons if reasons.count(r) > 1})
            if dup:
                raise Inconsistent("consort.excluded", f"reason {dup[0]!r} is given twice")
            pairs = [(e.arm, e.reason) for e in self.lost]
            dup2 = sorted({p for p in pairs if pairs.count(p) > 1})
            if dup2:
                raise Inconsistent(
                    "consort.lost", f"reason {dup2[0][1]!r} is given twice for arm {dup2[0][0]!r}"
                )
            return self

    return ConsortSection


def build_consort(section, arms, source: str) -> Consort:
    """The :class:`Consort` of a checked ``[consort]`` section; ``arms`` are the design's
    :class:`~ipt_outcomes.data.design.Arm` s (a reason for loss names an observed one)."""
    by_code = {a.code: a for a in arms}
    lost = []
    for i, e in enumerate(section.lost):
        where = f"{source}: consort.lost[{i + 1}].arm"
        if by_code and e.arm not in by_code:
            raise DesignError(f"{where}: {e.arm!r} is not one of the arms {list(by_code)}")
        if e.arm in by_code and by_code[e.arm].modelled:
            raise DesignError(
                f"{where}: {e.arm!r} is a modelled arm; it has no participants to lose"
            )
        lost.append(LostCount(arm=e.arm, reason=e.reason, n=int(e.n)))
    return Consort(
        assessed=None if section.assessed is None else int(section.assessed),
        excluded=tuple(ReasonCount(reason=e.reason, n=int(e.n)) for e in section.excluded),
        lost=tuple(lost),
    )
