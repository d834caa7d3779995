"""R mmrm's model formula: fixed effects in Wilkinson notation plus one covariance term.

``change ~ arm * visit + baseline * visit + SEX + us(visit | subject)``: formulaic parses the
formula (``*``, ``:``, ``-``, ``0 +``, functions of columns); the one term that calls a
covariance structure, ``us(visit | subject)``, ``us(visit | arm / subject)`` (one covariance
matrix per arm) or ``sp_exp(time | subject)`` (``sp_exp(x, y | subject)`` for several
coordinates), is taken out of the fixed effects and read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...exceptions import IptOutcomesError
from .covariance import MMRM_COVARIANCES

__all__ = ["CovarianceTerm", "MMRMFormula", "parse_formula"]

_TERM = re.compile(r"^\s*(\w+)\s*\((.*)\)\s*$", re.S)


@dataclass(frozen=True)
class CovarianceTerm:
    """``structure(visit | group / subject)``."""

    structure: str
    visit: tuple[str, ...]  # the visit factor, or the coordinates of a spatial structure
    subject: str
    group: str | None = None

    @property
    def spatial(self) -> bool:
        return self.structure == "sp_exp"

    def __str__(self) -> str:
        who = f"{self.group} / {self.subject}" if self.group else self.subject
        return f"{self.structure}({', '.join(self.visit)} | {who})"


@dataclass(frozen=True)
class MMRMFormula:
    response: str
    rhs: str  # fixed effects, for formulaic
    covariance: CovarianceTerm

    def __str__(self) -> str:
        return f"{self.response} ~ {self.rhs} + {self.covariance}"


def parse_formula(formula: str) -> MMRMFormula:
    """Split an R mmrm formula into response, fixed effects and covariance term.

    Examples
    --------
    >>> f = parse_formula("chg ~ arm * visit + baseline:visit + us(visit | arm / subject)")
    >>> f.response, f.rhs, str(f.covariance)
    ('chg', '1 + arm + visit + arm:visit + baseline:visit', 'us(visit | arm / subject)')
    """
    from formulaic import Formula
    from formulaic.errors import FormulaicError

    if not isinstance(formula, str) or "~" not in formula:
        raise IptOutcomesError(
            f"an MMRM formula needs a response and '~', e.g. "
            f"'change ~ arm * visit + us(visit | subject)'; got {formula!r}"
        )
    try:
        parsed = Formula(formula)
        lhs, rhs = parsed.lhs, parsed.rhs
    except (FormulaicError, SyntaxError, ValueError, AttributeError) as exc:
        raise IptOutcomesError(f"cannot read the formula {formula!r}: {exc}") from None
    if len(lhs) != 1:
        raise IptOutcomesError(f"the formula {formula!r} needs exactly one response")
    response = str(lhs[0])
    cov_terms, fixed = [], []
    for term in rhs:
        m = _TERM.match(str(term)) if len(term.factors) == 1 else None
        name = m.group(1) if m else None
        if name in MMRM_COVARIANCES or (m and "|" in m.group(2)):
            cov_terms.append((term, name, m.group(2)))
        else:
            fixed.append(str(term))
    if not cov_terms:
        raise IptOutcomesError(
            "the formula has no covariance term: add one of "
            + ", ".join(f"{s}(visit | subject)" for s in MMRM_COVARIANCES[:-1])
            + " or sp_exp(time | subject)"
        )
    if len(cov_terms) > 1:
        raise IptOutcomesError(
            "the formula has more than one covariance term: "
            + ", ".join(str(t[0]) for t in cov_terms)
        )
    _, name, inner = cov_terms[0]
    if name not in MMRM_COVARIANCES:
        raise IptOutcomesError(
            f"unknown covariance structure {name!r} (choose from {', '.join(MMRM_COVARIANCES)})"
        )
    if inner.count("|") != 1:
        raise IptOutcomesError(
            f"write the covariance term as {name}(visit | subject), got {inner!r}"
        )
    left, right = (s.strip() for s in inner.split("|"))
    visit = tuple(v.strip() for v in left.split(",") if v.strip())
    if not visit:
        raise IptOutcomesError(f"the covariance term {name}({inner}) names no visit variable")
    if name != "sp_exp" and len(visit) != 1:
        raise IptOutcomesError(
            f"{name}(...) takes one visit factor; only sp_exp takes several coordinates"
        )
    parts = [s.strip() for s in right.split("/")]
    if len(parts) > 2 or not all(parts):
        raise IptOutcomesError(
            f"write the subject as 'subject' or 'group / subject' in {name}({inner})"
        )
    group, subject = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
    for v in (*visit, subject, group):
        if v is not None and not re.fullmatch(r"[\w.]+", v):
            raise IptOutcomesError(f"{v!r} in {name}({inner}) must be a column name")
    if "1" not in fixed:
        fixed = ["0", *fixed]
    return MMRMFormula(
        response, " + ".join(fixed) or "1", CovarianceTerm(name, visit, subject, group)
    )
