"""What each figure shows, in words: the alternative text of the report's images and the
description in the PNG and SVG files.

One function per figure kind of :data:`~.figures.FIGURES`, each reading the same table as the
figure and saying what kind of chart it is, what is on its axes and what it shows at its key
point (the last visit, the largest value), with numbers formatted as in the tables. A reader
who cannot see the image learns from it what a sighted reader takes in at a glance.
"""

from __future__ import annotations

import pandas as pd

from ..format import fmt

__all__ = ["describe", "DESCRIBERS"]


def _labels(tables):
    from .figures import FigureLabels

    return FigureLabels.from_tables(tables)


def _span(lab, visits) -> str:
    times = [t for t in lab.time(visits)]
    if not times:
        return ""
    last = max(times)
    unit = lab.unit or "visit units"
    return f"over {fmt(last, 'auto')} {unit}" if lab.unit else f"up to visit {fmt(last, 'auto')}"


def _join(items: list[str]) -> str:
    return "; ".join(items)


def _consort(tables, src, lab) -> str:
    c = tables[src]
    e = tables.get("consort_enrolment")
    parts = []
    if e is not None and len(e):
        first = e[(e["stage"] == "Assessed for eligibility")]
        if len(first):
            ex = e[(e["stage"] == "Excluded") & e["reason"].fillna("").astype(str).eq("")]
            parts.append(f"{fmt(first['n'].iloc[0], 'int')} assessed for eligibility, "
                         f"{fmt(ex['n'].iloc[0], 'int') if len(ex) else 'none'} excluded")  # fmt: skip
        rand = e[e["stage"] == "Randomised"]
        if len(rand):
            parts.append(f"{fmt(rand['n'].iloc[0], 'int')} randomised")
    arms = []
    for a in dict.fromkeys(c["arm"].astype(str)):
        r = c[c["arm"].astype(str) == a].sort_values("step")
        last_visit = r[r["stage"] == "Assessed"]
        lost = fmt(last_visit["lost"].iloc[-1], "int") if len(last_visit) else "0"
        what = "modelled, shown apart" if a in lab.modelled else "allocated"
        arms.append(f"{lab.label(a)}: {fmt(r['n'].iloc[0], 'int')} {what}, {lost} lost to "
                    f"follow-up, {fmt(r['n'].iloc[-1], 'int')} analysed")  # fmt: skip
    return ("Flow diagram (CONSORT 2010) of participants through enrolment, allocation, "
            f"follow-up and analysis: {', '.join(parts)}. {_join(arms)}.")  # fmt: skip


def _missingness(tables, src, lab) -> str:
    d = tables[src]
    worst = d.loc[d["percent_missing"].astype(float).idxmax()]
    return (f"Heat map of the percent of randomised participants without a {lab.instrument} "
            "score, arms in rows and visits in columns, each cell labelled with its percent; "
            f"the most missing: {lab.label(worst['arm'])} at {lab.vlabel(worst['visit'])}, "
            f"{fmt(worst['percent_missing'], 'f0')}%.")  # fmt: skip


def _at_last(d, lab, value, lo=None, hi=None, kind="f1") -> str:
    last = max(d["visit"].astype(float), key=lambda v: lab.time([v])[0])
    at = d[d["visit"].astype(float) == last]
    items = []
    for r in at.itertuples(index=False):
        text = f"{lab.label(r.arm)} {fmt(getattr(r, value), kind)}"
        if lo and hi:
            text += f" ({fmt(getattr(r, lo), kind)} to {fmt(getattr(r, hi), kind)})"
        items.append(text)
    return f"at {lab.vlabel(last)}: {_join(items)}"


def _mmrm(tables, src, lab) -> str:
    d = lab.without_repeated_reference(tables[src])
    return (f"Line chart of the least-squares mean change in {lab.instrument} from baseline by "
            f"arm {_span(lab, d['visit'])}, with {lab.confidence}% confidence intervals; "
            f"{_at_last(d, lab, 'estimate', 'ci_low', 'ci_high', 'f1')}.")  # fmt: skip


def _rates(tables, src, lab) -> str:
    d = lab.without_repeated_reference(tables[src]).dropna(subset=["rate"])
    return (f"Line chart of the percent of participants with the outcome by arm "
            f"{_span(lab, d['visit'])}, with {lab.confidence}% Wilson intervals; "
            f"{_at_last(d, lab, 'rate', kind='pct')}.")  # fmt: skip


def _forest(tables, src, lab) -> str:
    d = tables[src]
    d = d[d["contrast"] == "risk_difference"].dropna(subset=["estimate"])
    items = [f"{lab.label(r.arm)} at {lab.vlabel(r.visit)} {fmt(r.estimate, 'pp_n')} "
             f"({fmt(r.ci_low, 'pp_n')} to {fmt(r.ci_high, 'pp_n')})"
             for r in d.itertuples(index=False)]  # fmt: skip
    return (f"Forest plot of the covariate-adjusted risk difference against "
            f"{lab.label(lab.reference)} in percentage points, one row per arm and visit, with "
            f"{lab.confidence}% intervals and a dashed line at no difference: {_join(items)}.")  # fmt: skip


def _subgroup(tables, src, lab) -> str:
    d = tables[src].dropna(subset=["estimate"])
    items = [f"{r.level}, {lab.label(r.arm)}, {lab.vlabel(r.visit)}: {fmt(r.estimate, 'f1')} "
             f"({fmt(r.ci_low, 'f1')} to {fmt(r.ci_high, 'f1')})"
             for r in d.itertuples(index=False)]  # fmt: skip
    return (f"Forest plot of the difference against {lab.label(lab.reference)} within each "
            f"subgroup level, one panel per visit, with {lab.confidence}% intervals: "
            f"{_join(items)}.")  # fmt: skip


def _spaghetti(tables, src, lab) -> str:
    d = tables.get("descriptive_scores")
    per = ""
    if d is not None and len(d):
        base = d[d["visit"].astype(float) == min(d["visit"].astype(float))]
        per = ": " + _join([f"{lab.label(r.arm)} {fmt(r.n, 'int')} participants"
                            for r in base.itertuples(index=False)])  # fmt: skip
    from .figures import SPAGHETTI_MAX

    sampled = (
        f" In an arm of more than {SPAGHETTI_MAX} participants, {SPAGHETTI_MAX} drawn at random."
        if d is not None and len(d) and (d["n"].astype(float) > SPAGHETTI_MAX).any() else ""
    )  # fmt: skip
    return (
        f"Line chart of each participant's observed {lab.instrument} scores over time, one "
        f"thin line per participant and one panel per arm{per}.{sampled}"
    )


def _waterfall(tables, src, lab) -> str:
    d = tables[src]
    if not len(d):
        return "Bar chart with no participants assessed."
    when = lab.vlabel(d["visit"].iloc[0])
    items = []
    for a in dict.fromkeys(d["arm"].astype(str)):
        x = d[d["arm"].astype(str) == a]
        k = int((x["responder"].astype(str) == "True").sum())
        items.append(f"{lab.label(a)} {fmt(k, 'int')} of {fmt(len(x), 'int')}")
    return (f"Bar chart of the percent change from baseline in {lab.instrument} at {when}, one "
            "bar per participant sorted from worsening to improvement, one panel per arm, a "
            f"dashed line at the response threshold ({fmt(lab.response_percent, 'auto')}% "
            f"improvement); responders (solid bars): {_join(items)}.")  # fmt: skip


def _tipping(tables, src, lab) -> str:
    d = tables[src]
    exact = tables.get(src.replace("__grid", "__exact"))
    where = ""
    if exact is not None and len(exact):
        where = " The conclusion changes at delta " + _join(
            [f"{fmt(r.delta, 'f2')} for {lab.label(r.arm)}" for r in exact.itertuples(index=False)]
        ) + "."  # fmt: skip
    return (f"Chart of the difference against {lab.label(lab.reference)} with its "
            f"{lab.confidence}% interval as delta points are added to the imputed scores, from "
            f"{fmt(d['delta'].min(), 'auto')} to {fmt(d['delta'].max(), 'auto')}; markers filled "
            f"where p < {fmt(lab.alpha, 'auto')}.{where}")  # fmt: skip


DESCRIBERS = {
    "consort": _consort,
    "missingness": _missingness,
    "mmrm": _mmrm,
    "rates": _rates,
    "forest": _forest,
    "subgroup": _subgroup,
    "spaghetti": _spaghetti,
    "waterfall": _waterfall,
    "tipping_point": _tipping,
}


def describe(kind: str, tables: dict[str, pd.DataFrame], src: str, title: str = "") -> str:
    """The alternative text of a figure of kind ``kind`` drawn from ``tables[src]``.

    Falls back to the figure's title when the table is empty or the kind unknown.
    """
    fn = DESCRIBERS.get(kind)
    if fn is None or (src and (src not in tables or not len(tables[src]))):
        return title
    return fn(tables, src, _labels(tables))
