"""Stage 2 of the report: figures, each one function returning a plotnine ``ggplot``.

Figures are built from the generated tables only (the individual trajectories from the score
file, which carry no numbers of their own). One house theme; arm colours from the Okabe-Ito
palette, which stays distinguishable with the common colour-vision deficiencies; a modelled arm
is drawn dashed and hollow and its label says "(modelled)". Axis breaks are round numbers.
:func:`build_figures` draws each figure once and saves it as PNG and SVG with fixed metadata,
so that the files are reproducible.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from plotnine import (
    aes,
    arrow,
    element_blank,
    element_text,
    facet_wrap,
    geom_col,
    geom_errorbar,
    geom_errorbarh,
    geom_hline,
    geom_line,
    geom_point,
    geom_rect,
    geom_ribbon,
    geom_segment,
    geom_text,
    geom_tile,
    geom_vline,
    ggplot,
    guide_legend,
    guides,
    labs,
    position_dodge,
    scale_color_manual,
    scale_fill_gradient,
    scale_fill_manual,
    scale_linetype_manual,
    scale_shape_manual,
    scale_x_continuous,
    scale_y_continuous,
    theme,
    theme_minimal,
)

from ..output import staged_file
from .background import Background

__all__ = [
    "FigureLabels",
    "ARM_COLOURS",
    "arm_palette",
    "house_theme",
    "nice_breaks",
    "consort_diagram",
    "rates_plot",
    "forest_plot",
    "mmrm_plot",
    "subgroup_plot",
    "spaghetti_plot",
    "waterfall_plot",
    "missingness_plot",
    "power_curve",
    "tipping_point_plot",
    "save_figure",
    "save_figures",
    "build_figures",
    "FIGURES",
]

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
ARM_COLOURS = {"TAU": "#555555", "IPT": "#0072B2", "PeGT": "#E69F00", "IPT+MED": "#009E73"}
WIDTH, HEIGHT = 10.0, 5.6  # inches: the report's figures fill its text width
DPI = 110


def arm_palette(arms) -> dict[str, str]:
    """Colour per arm: the project's arms fixed, any others from the Okabe-Ito palette."""
    free = [c for c in OKABE_ITO if c not in ARM_COLOURS.values()]
    out, i = {}, 0
    for a in arms:
        if a in ARM_COLOURS:
            out[a] = ARM_COLOURS[a]
        else:
            out[a] = free[i % len(free)]
            i += 1
    return out


def house_theme():
    return theme_minimal(base_size=12) + theme(
        figure_size=(WIDTH, HEIGHT),
        legend_position="bottom",
        panel_grid_minor=element_blank(),
        plot_title=element_text(weight="bold", size=13),
        strip_text=element_text(weight="bold", size=11),
    )


def nice_breaks(limits, n: int = 6) -> list[float]:
    """Round axis breaks (steps of 1, 2, 5 or 10 times a power of ten) covering ``limits``.

    Examples
    --------
    >>> nice_breaks((-7.3, 1.2))
    [-8.0, -6.0, -4.0, -2.0, 0.0, 2.0]
    >>> nice_breaks((0, 100))
    [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    >>> nice_breaks((-6.4, 3.9))
    [-8.0, -6.0, -4.0, -2.0, 0.0, 2.0, 4.0]
    """
    lo, hi = (float(x) for x in limits)
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return [lo] if np.isfinite(lo) else []
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    # the round step giving the number of intervals closest to n - 1
    step = min((m * mag for m in (1, 2, 5, 10)), key=lambda s: abs((hi - lo) / s - (n - 1)))
    start = math.floor(lo / step) * step
    out, x = [], start
    while x <= hi + step * 1e-9 or (out and out[-1] < hi):
        out.append(round(x, 10))
        x += step
    return [float(v) + 0.0 for v in out]


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def _facets(n: int) -> dict:
    """Panels per row: all in one row up to three, else two rows (no empty panels at four)."""
    return {"nrow": 1} if n <= 3 else {"ncol": math.ceil(n / 2)}


@dataclass(frozen=True)
class FigureLabels:
    """What figures call things: arm labels, visit times and labels, the instrument and unit."""

    arms: tuple = ()  # arm codes in display order
    arm_label: dict = field(default_factory=dict)  # code -> label (modelled arms marked)
    modelled: frozenset = frozenset()  # codes of modelled arms
    reference: str = ""
    visit_time: dict = field(default_factory=dict)  # visit -> time
    visit_label: dict = field(default_factory=dict)  # visit -> label
    key_visits: tuple = ()
    instrument: str = "score"
    unit: str = ""
    remission_max: float = 7.0
    response_percent: float = 50.0
    confidence: str = "95"
    alpha: float = 0.05
    higher_is_better: bool = False

    @classmethod
    def from_tables(cls, tables: dict) -> FigureLabels:
        """From the report's ``arms``, ``visits`` and ``trial`` tables."""
        arms = tables["arms"]
        visits = tables["visits"]
        trial = tables["trial"].set_index("key")["value"]

        def num(key, default):
            try:
                return float(trial.get(key, default))
            except (TypeError, ValueError):
                return default

        def flag(col):
            return arms[col].astype(str) == "True"

        unit = str(trial.get("visit_unit", ""))
        return cls(
            arms=tuple(arms["arm"].astype(str)),
            arm_label=dict(zip(arms["arm"].astype(str), arms["label"].astype(str), strict=True)),
            modelled=frozenset(arms.loc[flag("modelled"), "arm"].astype(str)),
            reference=str(arms.loc[flag("reference"), "arm"].iloc[0]) if flag("reference").any() else "",
            visit_time=dict(zip(visits["visit"].astype(float), visits["time"].astype(float), strict=True)),
            visit_label=dict(zip(visits["visit"].astype(float), visits["label"].astype(str), strict=True)),
            key_visits=tuple(float(v) for v in visits.loc[visits["key"].astype(str) == "True", "visit"]),
            instrument=str(trial.get("instrument", "score")),
            unit="" if unit == "nan" else unit,
            remission_max=num("remission_max", 7.0),
            response_percent=100 * num("response_improvement", 0.5),
            confidence=str(trial.get("confidence_percent", "95")),
            alpha=num("alpha", 0.05),
            higher_is_better=str(trial.get("higher_is_better", "False")) == "True",
        )  # fmt: skip

    def label(self, arm) -> str:
        return self.arm_label.get(str(arm), str(arm))

    def vlabel(self, visit) -> str:
        return self.visit_label.get(float(visit), f"{float(visit):g}")

    @property
    def labels_in_order(self) -> list[str]:
        return [self.label(a) for a in self.arms]

    def palette(self) -> dict[str, str]:
        """Colour per arm label (colours chosen by arm code)."""
        pal = arm_palette(self.arms)
        return {self.label(a): c for a, c in pal.items()}

    def arm_column(self, codes) -> pd.Categorical:
        shown = [self.label(a) for a in codes]
        return pd.Categorical(
            shown, categories=[x for x in self.labels_in_order if x in set(shown)]
        )

    def source_column(self, codes) -> list[str]:
        """``observed`` or ``modelled`` per arm code (drawn solid or dashed)."""
        return ["modelled" if str(a) in self.modelled else "observed" for a in codes]

    def time(self, visits) -> list[float]:
        return [self.visit_time.get(float(v), float(v)) for v in visits]

    @property
    def time_title(self) -> str:
        return f"{self.unit.capitalize()} since randomisation" if self.unit else "Visit"

    def time_axis(self, visits):
        """x scale at the visit times, labelled with the times."""
        times = sorted(set(self.time(visits)))
        return scale_x_continuous(breaks=times, labels=[f"{x:g}" for x in times])


LINETYPES = {"observed": "solid", "modelled": "dashed"}
SHAPES = {"observed": "o", "modelled": "D"}


def _source_scales():
    """Modelled arms dashed and diamond-shaped; no legend of its own (the label says it)."""
    return [
        scale_linetype_manual(values=LINETYPES, guide=None),
        scale_shape_manual(values=SHAPES, guide=None),
    ]


def _arm_legend(lab: FigureLabels):
    """Arm legend in two columns when the labels would not fit on one line."""
    long = sum(len(x) + 4 for x in lab.labels_in_order) > 90
    return guides(color=guide_legend(ncol=2 if long else len(lab.arms) or 1))


# ------------------------------------------------------------------------------------------
# participant flow
# ------------------------------------------------------------------------------------------


def consort_diagram(consort: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """CONSORT flow diagram drawn from the counts: randomised, allocation, follow-up per visit
    (assessed, missed, lost for good), analysed; boxes joined by arrows, one column per arm."""
    c = consort.copy()
    c["arm"] = c["arm"].astype(str)
    arms = [a for a in lab.arms if a in set(c["arm"])]
    k = len(arms)
    boxes, lines, arrows = [], [], []
    total = int(c.loc[c["stage"] == "Randomised", "n"].sum())
    top = 0.0
    boxes.append(dict(x=(k - 1) / 2, y=top, w=0.9, label=f"Randomised\nn = {total}",
                      arm="", source="observed"))  # fmt: skip
    bar = top - 0.62
    lines.append(dict(x=(k - 1) / 2, y=top - 0.36, xend=(k - 1) / 2, yend=bar))
    if k > 1:
        lines.append(dict(x=0.0, y=bar, xend=float(k - 1), yend=bar))
    n_rows = 0
    for col, arm in enumerate(arms):
        rows = c[c["arm"] == arm].sort_values("step")
        src = "modelled" if arm in lab.modelled else "observed"
        y = top - 1.25
        arrows.append(dict(x=float(col), y=bar, xend=float(col), yend=y + 0.4))
        rand = rows[rows["stage"] == "Randomised"].iloc[0]
        base = rows[rows["stage"] == "Baseline assessed"]
        text = f"Allocated to\n{_wrap(lab.label(arm), 26)}\nn = {rand['n']:.0f}"
        if len(base):
            text += f"\nBaseline assessed n = {base.iloc[0]['n']:.0f}"
        boxes.append(dict(x=float(col), y=y, w=0.9, label=text, arm=arm, source=src))
        for r in rows[rows["stage"] == "Assessed"].itertuples(index=False):
            arrows.append(dict(x=float(col), y=y - 0.42, xend=float(col), yend=y - 0.78))
            y -= 1.2
            text = (f"{lab.vlabel(r.visit)}\nAssessed n = {r.n:.0f}\nNot assessed n = {r.missed:.0f}"
                    f"\nLost for good n = {r.lost:.0f}")  # fmt: skip
            boxes.append(dict(x=float(col), y=y, w=0.9, label=text, arm=arm, source=src))
        fas = rows[rows["stage"].str.startswith("Analysed")]
        if len(fas):
            r = fas.iloc[0]
            arrows.append(dict(x=float(col), y=y - 0.42, xend=float(col), yend=y - 0.78))
            y -= 1.2
            text = (f"Analysed (full analysis set)\nn = {r['n']:.0f}\nExcluded n = {r['missed']:.0f}\n"
                    "(no baseline or no later score)")  # fmt: skip
            boxes.append(dict(x=float(col), y=y, w=0.9, label=text, arm=arm, source=src))
        n_rows = max(n_rows, round(-y / 1.2) + 1)
    b = pd.DataFrame(boxes)
    b["xmin"], b["xmax"] = b["x"] - b["w"] / 2, b["x"] + b["w"] / 2
    b["ymin"], b["ymax"] = b["y"] - 0.4, b["y"] + 0.4
    b["fill"] = [lab.label(a) if a else "all" for a in b["arm"]]
    pal = {**lab.palette(), "all": "#FFFFFF"}
    fig = (
        ggplot()
        + geom_segment(pd.DataFrame(lines), aes("x", "y", xend="xend", yend="yend"), color="#333333")
        + geom_segment(pd.DataFrame(arrows), aes("x", "y", xend="xend", yend="yend"), color="#333333",
                       arrow=arrow(length=0.08, type="closed"))
        + geom_rect(b, aes(xmin="xmin", xmax="xmax", ymin="ymin", ymax="ymax", fill="fill",
                           linetype="source"), alpha=0.16, color="#333333")
        + geom_text(b, aes("x", "y", label="label"), size=9.5, lineheight=1.1)
        + scale_fill_manual(values=pal, guide=None)
        + scale_linetype_manual(values=LINETYPES, guide=None)
        + scale_x_continuous(limits=(-0.5, k - 0.5))
        + labs(x="", y="")
        + theme_minimal(base_size=11)
        + theme(axis_text=element_blank(), panel_grid=element_blank(),
                figure_size=(max(6.0, 2.9 * k), 1.0 + 1.45 * n_rows))
    )  # fmt: skip
    return fig


# ------------------------------------------------------------------------------------------
# efficacy
# ------------------------------------------------------------------------------------------


def rates_plot(rates: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Rates of one binary endpoint (response or remission) by visit with their intervals."""
    d = rates.dropna(subset=["rate"]).copy()
    d["time"] = lab.time(d["visit"])
    d["source"] = lab.source_column(d["arm"])
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    dodge = position_dodge(width=0.35)
    return (
        ggplot(d, aes("time", "rate * 100", color="arm", linetype="source", shape="source"))
        + geom_line(position=dodge)
        + geom_errorbar(aes(ymin="ci_low * 100", ymax="ci_high * 100"), width=0.3, position=dodge,
                        linetype="solid")
        + geom_point(position=dodge, size=2.4, fill="white")
        + scale_color_manual(values=lab.palette())
        + _source_scales()
        + lab.time_axis(d["visit"])
        + scale_y_continuous(limits=(0, 100), breaks=[0, 20, 40, 60, 80, 100])
        + _arm_legend(lab)
        + labs(x=lab.time_title, y="Percent of participants analysed", color="")
        + house_theme()
    )  # fmt: skip


def forest_plot(effects: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Covariate-adjusted risk difference against the reference, one row per arm and visit, in
    percentage points, with its interval."""
    d = effects[effects["contrast"] == "risk_difference"].dropna(subset=["estimate"]).copy()
    d["row"] = [
        f"{lab.label(a)}, {lab.vlabel(v)}" for a, v in zip(d["arm"], d["visit"], strict=True)
    ]
    order = list(dict.fromkeys(d["row"]))
    d["y"] = [len(order) - order.index(r) for r in d["row"]]
    for col in ("estimate", "ci_low", "ci_high"):
        d[col] = 100 * d[col].astype(float)
    d["source"] = lab.source_column(d["arm"])
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    lim = (min(d["ci_low"].min(), 0), max(d["ci_high"].max(), 0))
    return (
        ggplot(d, aes(x="estimate", y="y", color="arm", shape="source"))
        + geom_vline(xintercept=0, linetype="dashed", color="#777777")
        + geom_errorbarh(aes(xmin="ci_low", xmax="ci_high"), height=0.18)
        + geom_point(size=2.8, fill="white")
        + scale_y_continuous(breaks=[len(order) - i for i in range(len(order))], labels=order,
                             limits=(0.5, len(order) + 0.5))
        + scale_x_continuous(breaks=nice_breaks(lim))
        + scale_color_manual(values=lab.palette())
        + _source_scales()
        + labs(x=f"Risk difference against {lab.label(lab.reference)}, percentage points\n"
                 f"({lab.confidence}% interval; right of zero favours the arm)", y="",
               color="")
        + house_theme()
        + theme(legend_position="none", figure_size=(WIDTH, max(3.0, 1.4 + 0.5 * len(order))))
    )  # fmt: skip


def subgroup_plot(contrasts: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Difference against the reference within each subgroup level (one row per level and arm,
    one panel per visit)."""
    d = contrasts.dropna(subset=["estimate"]).copy()
    d["row"] = [f"{lev}: {lab.label(a)}" for lev, a in zip(d["level"], d["arm"], strict=True)]
    order = list(dict.fromkeys(d["row"]))
    d["y"] = [len(order) - order.index(r) for r in d["row"]]
    d["visit_label"] = pd.Categorical(
        [lab.vlabel(v) for v in d["visit"]],
        categories=list(dict.fromkeys(lab.vlabel(v) for v in d["visit"])),
    )
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    lim = (min(d["ci_low"].min(), 0), max(d["ci_high"].max(), 0))
    return (
        ggplot(d, aes(x="estimate", y="y", color="arm"))
        + geom_vline(xintercept=0, linetype="dashed", color="#777777")
        + geom_errorbarh(aes(xmin="ci_low", xmax="ci_high"), height=0.2)
        + geom_point(size=2.6)
        + facet_wrap("~visit_label")
        + scale_y_continuous(breaks=[len(order) - i for i in range(len(order))], labels=order,
                             limits=(0.5, len(order) + 0.5))
        + scale_x_continuous(breaks=nice_breaks(lim))
        + scale_color_manual(values=lab.palette())
        + labs(x=f"Difference against {lab.label(lab.reference)} ({lab.confidence}% interval)",
               y="", color="")
        + house_theme()
        + theme(legend_position="none", figure_size=(WIDTH, max(3.0, 1.4 + 0.45 * len(order))))
    )  # fmt: skip


def mmrm_plot(lsmeans: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """MMRM LS-mean change from baseline by arm and visit with confidence intervals."""
    d = lsmeans.copy()
    d["time"] = lab.time(d["visit"])
    d["source"] = lab.source_column(d["arm"])
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    dodge = position_dodge(width=0.35)
    lim = (min(d["ci_low"].min(), 0), max(d["ci_high"].max(), 0))
    return (
        ggplot(d, aes("time", "estimate", color="arm", linetype="source", shape="source"))
        + geom_hline(yintercept=0, color="#999999")
        + geom_line(position=dodge)
        + geom_errorbar(aes(ymin="ci_low", ymax="ci_high"), width=0.3, position=dodge,
                        linetype="solid")
        + geom_point(position=dodge, size=2.4, fill="white")
        + scale_color_manual(values=lab.palette())
        + _source_scales()
        + lab.time_axis(d["visit"])
        + scale_y_continuous(breaks=nice_breaks(lim))
        + _arm_legend(lab)
        + labs(x=lab.time_title, y=f"Change in {lab.instrument} (points)", color="")
        + house_theme()
    )  # fmt: skip


def spaghetti_plot(scores: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Individual trajectories of observed scores, one panel per arm."""
    d = scores[scores["score"].notna()].copy()
    d["time"] = lab.time(d["visit"])
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    n_arms = d["arm"].nunique()
    rows = 1 if n_arms <= 3 else 2
    return (
        ggplot(d, aes("time", "score", group="subject_id", color="arm"))
        + geom_line(alpha=0.35)
        + geom_point(alpha=0.35, size=0.6)
        + facet_wrap("~arm", **_facets(n_arms))
        + scale_color_manual(values=lab.palette())
        + lab.time_axis(d["visit"])
        + scale_y_continuous(breaks=nice_breaks((d["score"].min(), d["score"].max())))
        + labs(x=lab.time_title, y=lab.instrument)
        + house_theme()
        + theme(legend_position="none", figure_size=(WIDTH, 3.6 * rows + 0.8))
    )  # fmt: skip


def waterfall_plot(waterfall: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Percent change from baseline per participant at the last key visit, sorted."""
    d = waterfall.copy()
    d["rank"] = d.groupby("arm").cumcount()
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    d["Responder"] = np.where(d["responder"].astype(str) == "True", "responder", "non-responder")
    when = lab.vlabel(d["visit"].iloc[0]) if len(d) else ""
    n_arms = d["arm"].nunique()
    rows = 1 if n_arms <= 3 else 2
    lim = (min(d["percent_change"].min(), -100), max(d["percent_change"].max(), 0))
    return (
        ggplot(d, aes("rank", "percent_change", fill="Responder"))
        + geom_col(width=0.9)
        + geom_hline(yintercept=-lab.response_percent, linetype="dashed", color="#333333")
        + facet_wrap("~arm", scales="free_x", **_facets(n_arms))
        + scale_fill_manual(values={"responder": "#0072B2", "non-responder": "#BBBBBB"})
        + scale_y_continuous(breaks=nice_breaks(lim))
        + labs(x=f"Participants, sorted by change at {when}", y="Change from baseline (%)", fill="")
        + house_theme()
        + theme(axis_text_x=element_blank(), panel_grid_major_x=element_blank(),
                figure_size=(WIDTH, 3.4 * rows + 1.0))
    )  # fmt: skip


def missingness_plot(missingness: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Percent of participants without a score, by arm and visit."""
    d = missingness.copy()
    order = sorted(d["visit"].astype(float).unique(), key=lambda v: lab.time([v])[0])
    names = [lab.vlabel(v) for v in order]
    d["visit_label"] = pd.Categorical([lab.vlabel(v) for v in d["visit"]], categories=names)
    d["arm"] = pd.Categorical([lab.label(a) for a in d["arm"].astype(str)],
                              categories=list(reversed(lab.labels_in_order)))  # fmt: skip
    d["label"] = [f"{p:.0f}%" for p in d["percent_missing"]]
    return (
        ggplot(d, aes("visit_label", "arm", fill="percent_missing"))
        + geom_tile(color="white")
        + geom_text(aes(label="label"), size=11)
        + scale_fill_gradient(low="#F7F7F7", high="#D55E00", limits=(0, 100), guide=None)
        + labs(x="", y="")
        + house_theme()
        + theme(figure_size=(WIDTH, 1.4 + 0.6 * d["arm"].nunique()), panel_grid=element_blank())
    )  # fmt: skip


def power_curve(power: pd.DataFrame, target: float | None = None, title: str = "Power") -> ggplot:
    """Power against n per arm: simulated power with its 95% Monte-Carlo band, exact power
    (when known) as a line, and the target power as a dashed line."""
    d = power.assign(kind="simulated")
    fig = (
        ggplot(d, aes("n_per_arm", "power"))
        + geom_ribbon(aes(ymin="ci_low", ymax="ci_high"), fill="#0072B2", alpha=0.2)
        + geom_point(color="#0072B2")
    )
    if "exact_power" in d and len(d) > 1:
        fig += geom_line(aes(y="exact_power"), color="#000000", linetype="solid")
    elif len(d) > 1:
        fig += geom_line(color="#0072B2")
    if target is not None:
        fig += geom_hline(yintercept=target, linetype="dashed", color="#D55E00")
    return (
        fig
        + scale_y_continuous(limits=(0, 1), labels=lambda b: [f"{v:.0%}" for v in b])
        + labs(
            x="patients per arm",
            y="power",
            title=title,
            caption="points and band: simulation (95% Monte-Carlo interval); line: "
            + ("exact power" if "exact_power" in d else "simulated power"),
        )  # fmt: skip
        + house_theme()
    )


def tipping_point_plot(
    tipping: pd.DataFrame, alpha: float = 0.05, lab: FigureLabels | None = None
) -> ggplot:
    """Delta-adjusted MI: each arm's difference from the reference and its interval against the
    shift delta added to its imputed values; the tipping point is where p crosses alpha (the
    interval reaches zero). One panel per arm when the table has several."""
    d = tipping.assign(
        significant=np.where(tipping["p"] < alpha, f"p < {alpha:g}", f"p >= {alpha:g}")
    )
    fig = (
        ggplot(d, aes("delta", "estimate"))
        + geom_hline(yintercept=0, color="#777777")
        + geom_errorbar(aes(ymin="ci_low", ymax="ci_high", color="significant"), width=0.15)
        + geom_point(aes(color="significant"), size=2.5)
        + scale_color_manual(values={f"p < {alpha:g}": "#0072B2", f"p >= {alpha:g}": "#D55E00"})
        + labs(
            x="delta: points added to the compared arm's imputed scores (worse)",
            y="difference in change (95% CI)",
            color="",
        )  # fmt: skip
        + house_theme()
    )
    if "arm" in d and d["arm"].nunique() > 1:
        d["arm"] = lab.arm_column(d["arm"].astype(str)) if lab is not None else d["arm"]
        fig = fig + facet_wrap("~arm") + theme(figure_size=(10, 4.5))
        fig.data = d
    return fig


def _save(figure, path: Path, dpi: int) -> Path:
    ext = path.suffix.lstrip(".")
    meta = {"Software": None} if ext == "png" else {"Date": None, "Creator": None}
    with staged_file(path) as tmp:
        figure.savefig(tmp, format=ext, dpi=dpi, metadata=meta)
    return path


def save_figures(fig: ggplot, stem, formats=("png", "svg"), dpi: int = DPI) -> list[Path]:
    """Draw ``fig`` once and save it as ``stem.png``, ``stem.svg``, ... (whole or not at all)."""
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "ipt-outcomes"  # stable SVG ids
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    figure = fig.draw()
    try:
        return [_save(figure, stem.with_name(f"{stem.name}.{ext}"), dpi) for ext in formats]
    finally:
        plt.close(figure)


def save_figure(fig: ggplot, path, dpi: int = 100) -> Path:
    """Save ``fig`` to ``path`` (PNG or SVG) whole or not at all, with fixed metadata."""
    path = Path(path)
    return save_figures(fig, path.with_suffix(""), (path.suffix.lstrip("."),), dpi)[0]


#: figure kind -> function of (tables, scores, labels, src) drawing it (see report.tlf)
FIGURES = {
    "consort": lambda t, s, lab, src: consort_diagram(t[src], lab),
    "missingness": lambda t, s, lab, src: missingness_plot(t[src], lab),
    "mmrm": lambda t, s, lab, src: mmrm_plot(t[src], lab),
    "rates": lambda t, s, lab, src: rates_plot(t[src], lab),
    "forest": lambda t, s, lab, src: forest_plot(t[src], lab),
    "subgroup": lambda t, s, lab, src: subgroup_plot(t[src], lab),
    "spaghetti": lambda t, s, lab, src: spaghetti_plot(s, lab),
    "waterfall": lambda t, s, lab, src: waterfall_plot(t[src], lab),
    "tipping_point": lambda t, s, lab, src: tipping_point_plot(t[src], lab.alpha, lab),
}


def build_figures(
    tables: dict[str, pd.DataFrame], scores: pd.DataFrame, out_dir, *, svg: bool = False
) -> list[Path]:
    """Draw every figure the TLF catalogue lists and save it as PNG (and SVG) into ``out_dir``,
    named by the TLF (``<name>.png``).

    ``tables`` are the report's tables; ``scores`` the trial's long scores (for the individual
    trajectories, which carry no numbers of their own); ``svg`` also saves each figure as SVG
    (vector; drawing it costs about as much again as the PNG).
    """
    lab = FigureLabels.from_tables(tables)
    tlf = tables["tlf"]
    figs = tlf[tlf["kind"] == "Figure"]
    jobs = [(str(r.name), str(r.figure), str(r.src) if isinstance(r.src, str) else "")
            for r in figs.itertuples(index=False)]  # fmt: skip
    out_dir = Path(out_dir)
    formats = ("png", "svg") if svg else ("png",)

    def draw(some):
        for name, kind, src in some:
            save_figures(FIGURES[kind](tables, scores, lab, src), out_dir / name, formats)

    # Figures are independent: a child process draws every other one (the files are the same
    # whichever process draws them)
    other = Background(draw, jobs[1::2])
    draw(jobs[0::2])
    other.result()
    return [out_dir / f"{name}.{ext}" for name, _, _ in jobs for ext in formats]
