"""Stage 2 of the report: figures, each one function returning a plotnine ``ggplot``.

Figures are built from the generated tables only (the individual trajectories from the score
file, which carry no numbers of their own). One house theme; numbers on axes with a true minus
sign (U+2212), as in the tables. :func:`build_figures` draws each figure once and saves it as PNG
(and SVG, with its text kept as text) with fixed metadata, so that the files are reproducible;
when the data are synthetic every figure carries the mark "SYNTHETIC DATA" (with what the data
were calibrated to) in its caption, and the PNG's description says what the figure shows.

Colour means arm, and only arm, in every figure of the report (Okabe-Ito palette, which stays
distinguishable with the common colour-vision deficiencies). Everything else is shown by other
channels, the same in every figure:

* a modelled arm: dashed line, diamond marker (also in the legend), label "(modelled)";
* a binary status (responder, p below the level): a solid against a pale bar, a filled against
  a hollow marker;
* an amount (percent of scores missing): the one sequential scale :data:`SEQUENTIAL`, light to
  dark purple, which no arm uses, with the value written in the cell;
* reference lines (zero, a threshold): grey or black, dashed.

The CONSORT diagram is black and white, as CONSORT 2010 draws it.
"""

from __future__ import annotations

import math
import re
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
    scale_alpha_manual,
    scale_color_manual,
    scale_fill_gradient,
    scale_fill_manual,
    scale_linetype_manual,
    scale_shape_manual,
    scale_x_continuous,
    scale_y_continuous,
    theme,
    theme_minimal,
    theme_void,
)

from ..format import fmt
from ..output import staged_file
from ..runtime import side_by_side

__all__ = [
    "FigureLabels",
    "ARM_COLOURS",
    "SEQUENTIAL",
    "NEUTRALS",
    "arm_palette",
    "house_theme",
    "nice_breaks",
    "number_labels",
    "consort_diagram",
    "rates_plot",
    "forest_plot",
    "mmrm_plot",
    "subgroup_plot",
    "spaghetti_plot",
    "spaghetti_sample",
    "SPAGHETTI_MAX",
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
#: the one scale for amounts (light to dark purple): no arm is drawn in these colours
SEQUENTIAL = ("#F2F0F7", "#54278F")
#: colours of reference lines, text and frames (never an arm's)
NEUTRALS = ("#000000", "#333333", "#777777", "#999999", "#BBBBBB", "#FFFFFF")
WIDTH, HEIGHT = 10.0, 5.6  # inches: the report's figures fill its text width
DPI = 110


def arm_palette(arms) -> dict[str, str]:
    """Colour per arm: the project's arms fixed, any others from the Okabe-Ito palette."""
    taken = set(ARM_COLOURS.values()) | {"#000000"}
    free = [c for c in OKABE_ITO if c not in taken] + ["#882255", "#44AA99", "#999933"]
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
        plot_caption=element_text(size=9, ha="right"),
    )


def number_labels(breaks) -> list[str]:
    """Axis labels of numbers as the tables show them (true minus sign, no trailing zeros).

    Examples
    --------
    >>> number_labels([-10.0, -2.5, 0.0, 5.0]) == ["\\u221210", "\\u22122.5", "0", "5"]
    True
    """
    return [fmt(b, "auto") for b in breaks]


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
        return scale_x_continuous(breaks=times, labels=number_labels(times))

    def without_repeated_reference(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A table that stacks the observed arms' fit and the modelled arm's fit (``fit``
        column) without the reference arm's rows of the modelled fit: a figure shows the
        reference once, from the fit of the observed arms."""
        if "fit" not in frame.columns:
            return frame
        again = (frame["fit"].astype(str) == "modelled") & (
            frame["arm"].astype(str) == self.reference
        )
        return frame[~again]


LINETYPES = {"observed": "solid", "modelled": "dashed"}
SHAPES = {"observed": "o", "modelled": "D"}


def _arm_scales(lab: FigureLabels, shown) -> list:
    """One legend for the arms: colour, marker and line type per arm label, so that the
    modelled arm's key shows its dashed line and diamond as the plot draws them."""
    shown = [x for x in lab.labels_in_order if x in set(shown)]
    codes = {lab.label(a): a for a in lab.arms}
    kind = {x: "modelled" if codes.get(x) in lab.modelled else "observed" for x in shown}
    pal = lab.palette()
    long = sum(len(x) + 4 for x in shown) > 90
    return [
        scale_color_manual(values={x: pal[x] for x in shown}, breaks=shown, name=""),
        scale_shape_manual(values={x: SHAPES[kind[x]] for x in shown}, breaks=shown, name=""),
        scale_linetype_manual(
            values={x: LINETYPES[kind[x]] for x in shown}, breaks=shown, name=""
        ),  # fmt: skip
        guides(color=guide_legend(ncol=2 if long else max(len(shown), 1))),
        labs(color="", shape="", linetype=""),
    ]


def _dodge(lab: FigureLabels, times) -> float:
    """Horizontal spread of the arms at a visit: a small share of the time axis."""
    t = [float(x) for x in times]
    span = (max(t) - min(t)) if len(t) > 1 else 1.0
    return 0.03 * span * max(len(lab.arms), 2) / 2


# ------------------------------------------------------------------------------------------
# participant flow
# ------------------------------------------------------------------------------------------

CONSORT_PT = 8.5  # text size of the diagram, points
_LINE_IN = CONSORT_PT * 1.25 / 72  # one line of text, inches
_PAD_IN = 0.09  # text to box edge
_BOX_IN = 2.45  # box width
_GAP_IN = 0.3  # between arm columns
_LABEL_IN = 1.0  # column of stage names on the left


def _text_width_in(text: str, bold: bool = False) -> float:
    """Width of ``text`` at the diagram's size, in inches, as matplotlib will draw it."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(size=CONSORT_PT, weight="bold" if bold else "normal")
    width, _, _ = TextToPath().get_text_width_height_descent(text, prop, ismath=False)
    return width / 72


def _box_lines(lines: list[str], width_in: float = _BOX_IN, bold_first: bool = False) -> list[str]:
    """Lines wrapped to the box by their drawn width; a count "(n = 12)" is never split."""
    room = width_in - 2 * _PAD_IN - 0.04
    out = []
    for k, line in enumerate(lines):
        bold = bold_first and k == 0
        indent = len(line) - len(line.lstrip(" "))
        words = re.sub(r"\(n = ([^)]*)\)", "(n\u00a0=\u00a0\\1)", line.strip()).split(" ")
        current = " " * indent
        for w in words:
            trial = (current + " " + w) if current.strip() else current + w
            if current.strip() and _text_width_in(trial.replace("\u00a0", " "), bold) > room:
                out.append(current)
                current = " " * (indent + 2) + w
            else:
                current = trial
        out.append(current)
    return [x.replace("\u00a0", " ") for x in out]


def _box_height(n_lines: int) -> float:
    return n_lines * _LINE_IN + 2 * _PAD_IN


def consort_diagram(
    consort: pd.DataFrame,
    lab: FigureLabels,
    enrolment: pd.DataFrame | None = None,
    lost: pd.DataFrame | None = None,
) -> ggplot:
    """CONSORT 2010 flow diagram: enrolment (assessed for eligibility, excluded with reasons,
    when the design gives them), randomised, then per arm allocation, follow-up (assessed at
    each visit, lost to follow-up with reasons) and analysis (analysed, excluded from the
    analysis with the reason). A modelled arm is outside the randomised flow: its own dashed
    panel to the right, not joined to the randomisation.

    The drawing is laid out in inches (the axes are the figure), so that text sits inside its
    boxes at any number of arms.
    """
    c = consort.copy()
    c["arm"] = c["arm"].astype(str)
    present = [a for a in lab.arms if a in set(c["arm"])]
    observed = [a for a in present if a not in lab.modelled]
    modelled = [a for a in present if a in lab.modelled]
    enrol = enrolment if enrolment is not None else pd.DataFrame(columns=["stage", "reason", "n"])
    lost = lost if lost is not None else pd.DataFrame(columns=["arm", "reason", "n"])
    col = _BOX_IN + _GAP_IN
    x0 = _LABEL_IN + _GAP_IN
    centre = {a: x0 + _BOX_IN / 2 + i * col for i, a in enumerate(observed)}
    flow_mid = (min(centre.values()) + max(centre.values())) / 2 if centre else x0 + _BOX_IN / 2
    panel_x = x0 + len(observed) * col + 0.25  # the modelled arms' panel
    width = panel_x + (len(modelled) * col + 0.1 if modelled else 0) + 0.1
    boxes, texts, segs, arrows, stages = [], [], [], [], []

    def box(x_mid, top, lines, w=_BOX_IN, dashed=False, bold_first=False):
        lines = _box_lines(lines, w, bold_first)
        h = _box_height(len(lines))
        boxes.append(dict(xmin=x_mid - w / 2, xmax=x_mid + w / 2, ymin=top - h, ymax=top,
                          line="dashed" if dashed else "solid"))  # fmt: skip
        for k, line in enumerate(lines):
            texts.append(dict(x=x_mid - w / 2 + _PAD_IN, y=top - _PAD_IN - (k + 0.5) * _LINE_IN,
                              label=line, bold=bold_first and k == 0))  # fmt: skip
        return top - h

    def n_of(frame, **match):
        m = pd.Series(True, index=frame.index)
        for k, v in match.items():
            m &= frame[k].astype(str) == str(v)
        hit = frame.loc[m, "n"]
        return int(float(hit.iloc[0])) if len(hit) else None

    y = 0.0  # tops go down from 0; shifted to the figure at the end
    top_margin = 0.15
    y -= top_margin
    assessed = n_of(enrol, stage="Assessed for eligibility")
    randomised = n_of(enrol, stage="Randomised")
    if randomised is None:
        randomised = int(c.loc[c["arm"].isin(observed) & (c["step"] == 1), "n"].sum())
    if assessed is not None:
        stage_top = y
        bottom = box(flow_mid, y, [f"Assessed for eligibility (n = {assessed})"])
        ex = enrol[(enrol["stage"] == "Excluded")]
        why = ex["reason"].fillna("").astype(str).str.strip()
        total, reasons = ex[why == ""], ex[why != ""]
        ex_lines = [f"Excluded (n = {int(float(total['n'].iloc[0])) if len(total) else 0})"]
        ex_lines += [f"  {r.reason} (n = {int(float(r.n))})" for r in reasons.itertuples()]
        ex_x = flow_mid + _BOX_IN * 0.75 + _GAP_IN
        if len(observed) == 1:
            ex_x = flow_mid + _BOX_IN + _GAP_IN
        ex_top = bottom - 0.2
        ex_bottom = box(ex_x, ex_top, ex_lines)
        width = max(width, ex_x + _BOX_IN / 2 + 0.1)
        y = ex_bottom - 0.2
        segs.append(dict(x=flow_mid, y=bottom, xend=flow_mid, yend=y))
        arrows.append(dict(x=flow_mid, y=(ex_top + ex_bottom) / 2,
                           xend=ex_x - _BOX_IN / 2, yend=(ex_top + ex_bottom) / 2))  # fmt: skip
        y = box(flow_mid, y, [f"Randomised (n = {randomised})"])
        stages.append(("Enrolment", stage_top, y))
    else:
        stage_top = y
        y = box(flow_mid, y, [f"Randomised (n = {randomised})"])
        stages.append(("Enrolment", stage_top, y))
    # the randomised flow, one column per observed arm
    bar = y - 0.18
    if observed:
        segs.append(dict(x=flow_mid, y=y, xend=flow_mid, yend=bar))
        if len(observed) > 1:
            segs.append(dict(x=min(centre.values()), y=bar, xend=max(centre.values()), yend=bar))
    rows = {}  # stage -> {arm: lines}
    for a in present:
        r = c[c["arm"] == a].sort_values("step")
        first = r.iloc[0]
        base = r[r["step"] == 2]
        if a in lab.modelled:
            continue
        rows.setdefault("Allocation", {})[a] = [
            f"Allocated to {lab.label(a)} (n = {int(first['n'])})",
            *([f"Baseline assessed (n = {int(base.iloc[0]['n'])})"] if len(base) else []),
        ]
        visits = r[r["stage"] == "Assessed"]
        lines = ["Assessed:"]
        lines += [f"  {lab.vlabel(v.visit)} (n = {int(v.n)})" for v in visits.itertuples()]
        last = visits.iloc[-1] if len(visits) else None
        n_lost = int(last["lost"]) if last is not None else 0
        when = f" (no score at {lab.vlabel(last['visit'])})" if last is not None else ""
        lines.append(f"Lost to follow-up{when} (n = {n_lost})")
        for k in lost[lost["arm"].astype(str) == a].itertuples():
            lines.append(f"  {k.reason} (n = {int(float(k.n))})")
        rows.setdefault("Follow-up", {})[a] = lines
        an = r.iloc[-1]
        reason = str(an.get("reason", "") or "")
        rows.setdefault("Analysis", {})[a] = [
            f"{an['stage']} (n = {int(an['n'])})",
            f"Excluded from the analysis (n = {int(an['missed'])})"
            + (f": {reason}" if reason and reason != "nan" else ""),
        ]  # fmt: skip
    top = bar - 0.3
    flow_top = top
    for stage in ("Allocation", "Follow-up", "Analysis"):
        per = rows.get(stage, {})
        if not per:
            continue
        heights = {a: _box_height(len(_box_lines(per[a]))) for a in per}
        h = max(heights.values())
        for a in observed:
            if a in per:
                box(centre[a], top, per[a])
                into = bar if stage == "Allocation" else top + 0.3
                arrows.append(dict(x=centre[a], y=into, xend=centre[a], yend=top))  # fmt: skip
                if stage != "Analysis":
                    segs.append(dict(x=centre[a], y=top - heights[a], xend=centre[a],
                                     yend=top - h - 0.3))  # fmt: skip
        stages.append((stage, top, top - h))
        top -= h + 0.3
    bottom = top + 0.3
    for i, a in enumerate(modelled):  # outside the randomised flow: a dashed panel of its own
        r = c[c["arm"] == a].sort_values("step")
        an = r.iloc[-1]
        lines = ["Modelled arm, not randomised", lab.label(a),
                 f"Modelled participants (n = {int(r.iloc[0]['n'])})",
                 f"{an['stage']} (n = {int(an['n'])})",
                 f"Analysed with {lab.label(lab.reference)} alone; outside every count of the "
                 "trial"]  # fmt: skip
        box(panel_x + _BOX_IN / 2 + i * col, flow_top, lines, dashed=True, bold_first=True)
    stage_w = _LABEL_IN - 0.1
    height = -min([bottom] + [b["ymin"] for b in boxes]) + 0.15
    for name, t, b in stages:
        boxes.append(dict(xmin=0.1, xmax=0.1 + stage_w, ymin=b, ymax=t, line="solid"))
        texts.append(dict(x=0.1 + stage_w / 2, y=(t + b) / 2, label=name, bold=True))
    B = pd.DataFrame(boxes)
    T = pd.DataFrame(texts)
    for frame, cols in ((B, ["ymin", "ymax"]), (T, ["y"])):
        frame[cols] = frame[cols] + height
    S = pd.DataFrame(segs, columns=["x", "y", "xend", "yend"])
    A = pd.DataFrame(arrows, columns=["x", "y", "xend", "yend"])
    S[["y", "yend"]] += height
    A[["y", "yend"]] += height
    stage_names = {name for name, _, _ in stages}
    plain = T[~T["bold"]]
    bold_box = T[T["bold"] & ~T["label"].isin(stage_names)]
    bold_stage = T[T["bold"] & T["label"].isin(stage_names)]
    fig = (
        ggplot()
        + geom_rect(B, aes(xmin="xmin", xmax="xmax", ymin="ymin", ymax="ymax", linetype="line"),
                    fill="#FFFFFF", color="#333333", size=0.5)
        + geom_segment(S, aes("x", "y", xend="xend", yend="yend"), color="#333333", size=0.5)
        + geom_segment(A, aes("x", "y", xend="xend", yend="yend"), color="#333333", size=0.5,
                       arrow=arrow(length=0.06, type="closed"))
        + geom_text(plain, aes("x", "y", label="label"), size=CONSORT_PT, ha="left", va="center")
        + geom_text(bold_box, aes("x", "y", label="label"), size=CONSORT_PT, ha="left",
                    va="center", fontweight="bold")
        + geom_text(bold_stage, aes("x", "y", label="label"), size=CONSORT_PT, ha="center",
                    va="center", fontweight="bold")
        + scale_linetype_manual(values={"solid": "solid", "dashed": "dashed"}, guide=None)
        + scale_x_continuous(limits=(0, width), expand=(0, 0))
        + scale_y_continuous(limits=(0, height), expand=(0, 0))
        + theme_void()
        + theme(figure_size=(width, height), plot_margin=0, plot_caption=element_text(size=8, ha="right"))
    )  # fmt: skip
    return fig


# ------------------------------------------------------------------------------------------
# efficacy
# ------------------------------------------------------------------------------------------


def rates_plot(rates: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Rates of one binary endpoint (response or remission) by visit with their intervals."""
    d = lab.without_repeated_reference(rates).dropna(subset=["rate"]).copy()
    d["time"] = lab.time(d["visit"])
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    w = _dodge(lab, d["time"])
    dodge = position_dodge(width=w)
    return (
        ggplot(d, aes("time", "rate * 100", color="arm", linetype="arm", shape="arm", group="arm"))
        + geom_line(position=dodge)
        + geom_errorbar(aes(ymin="ci_low * 100", ymax="ci_high * 100"), width=w / 2, position=dodge,
                        linetype="solid")
        + geom_point(position=dodge, size=2.4, fill="white")
        + _arm_scales(lab, d["arm"].astype(str))
        + lab.time_axis(d["visit"])
        + scale_y_continuous(limits=(0, 100), breaks=[0, 20, 40, 60, 80, 100])
        + labs(x=lab.time_title, y="Percent of participants analysed")
        + house_theme()
    )  # fmt: skip


def _row_positions(d: pd.DataFrame) -> list:
    """The distinct ``row`` labels of ``d`` in order of appearance, top to bottom; sets ``d["y"]``
    (the first row highest)."""
    order = list(dict.fromkeys(d["row"]))
    d["y"] = [len(order) - order.index(r) for r in d["row"]]
    return order


def _row_axis(order: list):
    """The y axis of a plot of one labelled row per estimate (:func:`_row_positions`)."""
    return scale_y_continuous(breaks=[len(order) - i for i in range(len(order))], labels=order,
                              limits=(0.5, len(order) + 0.5))  # fmt: skip


def forest_plot(effects: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Covariate-adjusted risk difference against the reference, one row per arm and visit, in
    percentage points, with its interval."""
    d = effects[effects["contrast"] == "risk_difference"].dropna(subset=["estimate"]).copy()
    d["row"] = [
        f"{lab.label(a)}, {lab.vlabel(v)}" for a, v in zip(d["arm"], d["visit"], strict=True)
    ]
    order = _row_positions(d)
    for col in ("estimate", "ci_low", "ci_high"):
        d[col] = 100 * d[col].astype(float)
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    lim = (min(d["ci_low"].min(), 0), max(d["ci_high"].max(), 0))
    breaks = nice_breaks(lim)
    return (
        ggplot(d, aes(x="estimate", y="y", color="arm", shape="arm"))
        + geom_vline(xintercept=0, linetype="dashed", color="#777777")
        + geom_errorbarh(aes(xmin="ci_low", xmax="ci_high"), height=0.16)
        + geom_point(size=2.8, fill="white")
        + _row_axis(order)
        + scale_x_continuous(breaks=breaks, labels=number_labels(breaks))
        + _arm_scales(lab, d["arm"].astype(str))
        + labs(x=_wrap(f"Risk difference against {lab.label(lab.reference)}, percentage points "
                       f"({lab.confidence}% interval); right of zero: more responders in the arm",
                       52), y="")
        + house_theme()
        + theme(legend_position="none", figure_size=(WIDTH, max(3.4, 1.8 + 0.5 * len(order))))
    )  # fmt: skip


def subgroup_plot(contrasts: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Difference against the reference within each subgroup level (one row per level and arm,
    one panel per visit)."""
    d = contrasts.dropna(subset=["estimate"]).copy()
    d["row"] = [f"{lev}: {lab.label(a)}" for lev, a in zip(d["level"], d["arm"], strict=True)]
    order = _row_positions(d)
    d["visit_label"] = pd.Categorical(
        [lab.vlabel(v) for v in d["visit"]],
        categories=list(dict.fromkeys(lab.vlabel(v) for v in d["visit"])),
    )
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    lim = (min(d["ci_low"].min(), 0), max(d["ci_high"].max(), 0))
    breaks = nice_breaks(lim)
    return (
        ggplot(d, aes(x="estimate", y="y", color="arm", shape="arm"))
        + geom_vline(xintercept=0, linetype="dashed", color="#777777")
        + geom_errorbarh(aes(xmin="ci_low", xmax="ci_high"), height=0.18)
        + geom_point(size=2.6, fill="white")
        + facet_wrap("~visit_label")
        + _row_axis(order)
        + scale_x_continuous(breaks=breaks, labels=number_labels(breaks))
        + _arm_scales(lab, d["arm"].astype(str))
        + labs(x=_wrap(f"Difference against {lab.label(lab.reference)} ({lab.confidence}% "
                       "interval)", 52), y="")
        + house_theme()
        + theme(legend_position="none", figure_size=(WIDTH, max(3.4, 1.8 + 0.45 * len(order))))
    )  # fmt: skip


def mmrm_plot(lsmeans: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """MMRM LS-mean change from baseline by arm and visit with confidence intervals (the
    reference arm once, from the fit of the observed arms)."""
    d = lab.without_repeated_reference(lsmeans).copy()
    d["time"] = lab.time(d["visit"])
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    w = _dodge(lab, d["time"])
    dodge = position_dodge(width=w)
    lim = (min(d["ci_low"].min(), 0), max(d["ci_high"].max(), 0))
    breaks = nice_breaks(lim)
    return (
        ggplot(d, aes("time", "estimate", color="arm", linetype="arm", shape="arm", group="arm"))
        + geom_hline(yintercept=0, color="#999999")
        + geom_line(position=dodge)
        + geom_errorbar(aes(ymin="ci_low", ymax="ci_high"), width=w / 2, position=dodge,
                        linetype="solid")
        + geom_point(position=dodge, size=2.4, fill="white")
        + _arm_scales(lab, d["arm"].astype(str))
        + lab.time_axis(d["visit"])
        + scale_y_continuous(breaks=breaks, labels=number_labels(breaks))
        + labs(x=lab.time_title, y=f"Change in {lab.instrument} from baseline (points)")
        + house_theme()
    )  # fmt: skip


#: the spaghetti plot draws at most this many participants per arm (a seeded random sample)
SPAGHETTI_MAX = 60
#: the waterfall draws one bar per participant up to this many in an arm, else one filled step
#: outline per arm and status (the same picture at a cost that does not grow with participants)
WATERFALL_BARS_MAX = 150


def spaghetti_sample(scores: pd.DataFrame, max_per_arm: int = SPAGHETTI_MAX,
                     seed: int = 2016) -> pd.DataFrame:  # fmt: skip
    """The participants a spaghetti plot draws: every one in an arm of at most ``max_per_arm``,
    else a random sample of ``max_per_arm`` (``numpy.random.default_rng(seed)``, drawn per arm
    in arm order from the participants sorted by id, so the same data give the same sample).

    Returns
    -------
    DataFrame
        ``arm, n, shown`` (participants with a score, and drawn) and the attribute
        ``attrs["subjects"]``: the set of drawn ``subject_id``.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"subject_id": [f"s{i}" for i in range(10)],
    ...                        "arm": ["A"] * 8 + ["B"] * 2, "visit": 0, "score": 10})
    >>> spaghetti_sample(scores, max_per_arm=3)[["arm", "n", "shown"]].to_dict("records")
    [{'arm': 'A', 'n': 8, 'shown': 3}, {'arm': 'B', 'n': 2, 'shown': 2}]
    """
    d = scores[scores["score"].notna()]
    rng = np.random.default_rng(seed)
    rows, chosen = [], set()
    for arm, ids in d.groupby("arm", sort=True, observed=True)["subject_id"]:
        ids = sorted(set(ids), key=str)
        if len(ids) > max_per_arm:
            ids = [ids[i] for i in np.sort(rng.choice(len(ids), max_per_arm, replace=False))]
        chosen.update(ids)
        rows.append(dict(arm=arm, n=d.loc[d["arm"] == arm, "subject_id"].nunique(), shown=len(ids)))
    out = pd.DataFrame(rows, columns=["arm", "n", "shown"])
    out.attrs["subjects"] = chosen
    return out


def spaghetti_plot(scores: pd.DataFrame, lab: FigureLabels, max_per_arm: int = SPAGHETTI_MAX,
                   seed: int = 2016) -> ggplot:  # fmt: skip
    """Individual trajectories of observed scores, one panel per arm: every participant, or in
    an arm of more than ``max_per_arm`` a seeded random sample of them (:func:`spaghetti_sample`),
    as the subtitle then says, so that the figure's cost does not grow with the trial."""
    sample = spaghetti_sample(scores, max_per_arm, seed)
    d = scores[scores["score"].notna() & scores["subject_id"].isin(sample.attrs["subjects"])]
    d = d.copy()
    d["time"] = lab.time(d["visit"])
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    n_arms = d["arm"].nunique()
    rows = 1 if n_arms <= 3 else 2
    breaks = nice_breaks((d["score"].min(), d["score"].max()))
    fig = (
        ggplot(d, aes("time", "score", group="subject_id", color="arm"))
        + geom_line(alpha=0.35)
        + geom_point(alpha=0.35, size=0.6)
        + facet_wrap("~arm", **_facets(n_arms))
        + scale_color_manual(values=lab.palette())
        + lab.time_axis(d["visit"])
        + scale_y_continuous(breaks=breaks, labels=number_labels(breaks))
        + labs(x=lab.time_title, y=lab.instrument)
        + house_theme()
        + theme(legend_position="none", figure_size=(WIDTH, 3.6 * rows + 0.8))
    )  # fmt: skip
    sampled = sample[sample["shown"] < sample["n"]]
    if len(sampled):
        order = {a: i for i, a in enumerate(lab.arms)}
        sampled = sampled.sort_values("arm", key=lambda c: c.astype(str).map(order))
        parts = [f"{lab.label(r.arm)} {fmt(r.shown, 'int')} of {fmt(r.n, 'int')}"
                 for r in sampled.itertuples(index=False)]  # fmt: skip
        fig += labs(subtitle=_wrap(f"A random sample of participants (seed {seed}): "
                                   + ", ".join(parts), 120))  # fmt: skip
    return fig


def waterfall_plot(waterfall: pd.DataFrame, lab: FigureLabels,
                   bars_max: int = WATERFALL_BARS_MAX) -> ggplot:  # fmt: skip
    """Percent change from baseline per participant at the last key visit, sorted, one panel per
    arm in its colour; responders solid, non-responders pale. An arm of more than ``bars_max``
    participants is drawn as the outline of its sorted bars, filled (one shape per arm and
    status instead of a bar each: the same picture, drawn at a cost that does not grow with the
    number of participants)."""
    d = waterfall.copy()
    d["rank"] = d.groupby("arm").cumcount()
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    d["status"] = np.where(d["responder"].astype(str) == "True", "responder", "non-responder")
    when = lab.vlabel(d["visit"].iloc[0]) if len(d) else ""
    n_arms = d["arm"].nunique()
    rows = 1 if n_arms <= 3 else 2
    # percent_change has the sign of the change in score: improvement is down when lower is
    # better, up (of the room to improve) when higher is better
    up = lab.higher_is_better
    lim = ((min(d["percent_change"].min(), 0), max(d["percent_change"].max(), 100)) if up
           else (min(d["percent_change"].min(), -100), max(d["percent_change"].max(), 0)))  # fmt: skip
    breaks = nice_breaks(lim)
    many = len(d) and d.groupby("arm", observed=True).size().max() > bars_max
    if many:  # each bar's top edge, from rank - 0.45 to rank + 0.45, as one outline per group
        steps = pd.concat([d.assign(rank=d["rank"] - 0.45), d.assign(rank=d["rank"] + 0.45)])
        steps = steps.sort_values(["arm", "rank"], kind="stable").assign(zero=0.0)
        steps["part"] = steps["arm"].astype(str) + "|" + steps["status"]
        bars = geom_ribbon(steps, aes("rank", ymin="zero", ymax="percent_change", group="part"),
                           outline_type="full", size=0)  # fmt: skip
    else:
        bars = geom_col(width=0.9)
    return (
        ggplot(d, aes("rank", "percent_change", fill="arm", alpha="status"))
        + bars
        + geom_hline(yintercept=lab.response_percent * (1 if up else -1), linetype="dashed",
                     color="#333333")
        + facet_wrap("~arm", scales="free_x", **_facets(n_arms))
        + scale_fill_manual(values=lab.palette(), guide=None)
        + scale_alpha_manual(values={"responder": 1.0, "non-responder": 0.3},
                             breaks=["responder", "non-responder"], name="")
        + guides(alpha=guide_legend(override_aes={"fill": "#000000"}))
        + labs(alpha="")
        + scale_y_continuous(breaks=breaks, labels=number_labels(breaks))
        + labs(x=f"Participants, sorted by change at {when}",
               y="Change (% of room to improve)" if up
               else "Change from baseline (%)")
        + house_theme()
        + theme(axis_text_x=element_blank(), panel_grid_major_x=element_blank(),
                figure_size=(WIDTH, 3.4 * rows + 1.0))
    )  # fmt: skip


def missingness_plot(missingness: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Percent of participants without a score, by arm and visit (the sequential purple scale,
    the value written in each cell)."""
    d = missingness.copy()
    order = sorted(d["visit"].astype(float).unique(), key=lambda v: lab.time([v])[0])
    names = [lab.vlabel(v) for v in order]
    d["visit_label"] = pd.Categorical([lab.vlabel(v) for v in d["visit"]], categories=names)
    d["arm"] = pd.Categorical([lab.label(a) for a in d["arm"].astype(str)],
                              categories=list(reversed(lab.labels_in_order)))  # fmt: skip
    d["label"] = [f"{p:.0f}%" for p in d["percent_missing"]]
    d["ink"] = np.where(d["percent_missing"] > 55, "light", "dark")
    return (
        ggplot(d, aes("visit_label", "arm", fill="percent_missing"))
        + geom_tile(color="white")
        + geom_text(d[d["ink"] == "dark"], aes(label="label"), size=11, color="#000000")
        + geom_text(d[d["ink"] == "light"], aes(label="label"), size=11, color="#FFFFFF")
        + scale_fill_gradient(low=SEQUENTIAL[0], high=SEQUENTIAL[1], limits=(0, 100), guide=None)
        + labs(x="", y="")
        + house_theme()
        + theme(figure_size=(WIDTH, 1.6 + 0.6 * d["arm"].nunique()), panel_grid=element_blank())
    )  # fmt: skip


def power_curve(power: pd.DataFrame, target: float | None = None, title: str = "Power") -> ggplot:
    """Power against n per arm: simulated power with its 95% Monte-Carlo band, exact power
    (when known) as a line, and the target power as a dashed line (no arm colours: the curve
    is not an arm)."""
    d = power.assign(kind="simulated")
    fig = (
        ggplot(d, aes("n_per_arm", "power"))
        + geom_ribbon(aes(ymin="ci_low", ymax="ci_high"), fill="#BBBBBB", alpha=0.5)
        + geom_point(color="#000000")
    )
    if "exact_power" in d and len(d) > 1:
        fig += geom_line(aes(y="exact_power"), color="#333333", linetype="solid")
    elif len(d) > 1:
        fig += geom_line(color="#333333")
    if target is not None:
        fig += geom_hline(yintercept=target, linetype="dashed", color="#777777")
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
    tipping: pd.DataFrame,
    alpha: float = 0.05,
    lab: FigureLabels | None = None,
    higher_is_better: bool | None = None,
) -> ggplot:
    """Delta-adjusted MI: each arm's difference from the reference and its interval against the
    shift delta added to its imputed values; the tipping point is where p crosses alpha (the
    interval reaches zero): markers filled where p < alpha, hollow where not. One panel per arm
    when the table has several, in the arm's colour when ``lab`` names the arms. The axis says
    what a positive shift does on the instrument (``higher_is_better``, default ``lab``'s)."""
    if higher_is_better is None:
        higher_is_better = bool(getattr(lab, "higher_is_better", False))
    below, above = f"p < {alpha:g}", f"p \u2265 {alpha:g}"
    d = tipping.assign(significant=np.where(tipping["p"] < alpha, below, above))
    several = "arm" in d and d["arm"].nunique() > 1
    if lab is not None and "arm" in d:
        d["arm"] = lab.arm_column(d["arm"].astype(str))
    coloured = lab is not None and "arm" in d
    base = aes("delta", "estimate", color="arm") if coloured else aes("delta", "estimate")
    deltas = sorted(set(d["delta"].astype(float)))
    step = min(np.diff(deltas)) if len(deltas) > 1 else 1.0
    lim = (min(d["ci_low"].min(), 0), max(d["ci_high"].max(), 0))
    ybreaks = nice_breaks(lim)
    xbreaks = nice_breaks((min(deltas), max(deltas))) if deltas else []
    fig = (
        ggplot(d, base)
        + geom_hline(yintercept=0, color="#777777", linetype="dashed")
        + geom_errorbar(aes(ymin="ci_low", ymax="ci_high"), width=0.4 * step,
                        **({} if coloured else {"color": "#333333"}))
        + geom_point(aes(shape="significant", fill="significant"), size=2.5,
                     **({} if coloured else {"color": "#333333"}))
        + scale_shape_manual(values={below: "o", above: "o"}, name="")
        + scale_fill_manual(values={below: "#333333", above: "#FFFFFF"}, name="")
        + scale_y_continuous(breaks=ybreaks, labels=number_labels(ybreaks))
        + scale_x_continuous(breaks=xbreaks, labels=number_labels(xbreaks))
        + labs(x="Delta: points added to the compared arm's imputed scores (positive: "
                 f"{'better' if higher_is_better else 'worse'})",
               y=f"Difference in change ({100 * (1 - alpha):g}% CI)", shape="", fill="")
        + house_theme()
    )  # fmt: skip
    if coloured:
        fig += scale_color_manual(values=lab.palette(), guide=None)
    if several:
        fig = fig + facet_wrap("~arm") + theme(figure_size=(WIDTH, 4.8))
    return fig


def _save(figure, path: Path, dpi: int, description: str = "") -> Path:
    ext = path.suffix.lstrip(".")
    if ext == "png":
        meta = {"Software": None}
        if description:
            meta["Description"] = description
    elif ext == "svg":
        meta = {"Date": None, "Creator": None}
        if description:
            meta["Description"] = description
    else:
        meta = {"Creator": None}
    with staged_file(path) as tmp:
        figure.savefig(tmp, format=ext, dpi=dpi, metadata=meta)
    return path


def save_figures(
    fig: ggplot, stem, formats=("png", "svg"), dpi: int = DPI, description: str = ""
) -> list[Path]:
    """Draw ``fig`` once and save it as ``stem.png``, ``stem.svg``, ... (whole or not at all).

    SVG keeps its text as text (editable, searchable); ``description`` (what the figure shows)
    goes into the files' metadata.
    """
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "ipt-outcomes"  # stable SVG ids
    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text, not paths
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    figure = fig.draw()
    try:
        return [_save(figure, stem.with_name(f"{stem.name}.{ext}"), dpi, description)
                for ext in formats]  # fmt: skip
    finally:
        plt.close(figure)


def save_figure(fig: ggplot, path, dpi: int = 100) -> Path:
    """Save ``fig`` to ``path`` (PNG or SVG) whole or not at all, with fixed metadata."""
    path = Path(path)
    return save_figures(fig, path.with_suffix(""), (path.suffix.lstrip("."),), dpi)[0]


#: figure kind -> function of (tables, scores, labels, src) drawing it (see report.tlf)
FIGURES = {
    "consort": lambda t, s, lab, src: consort_diagram(
        t[src], lab, t.get("consort_enrolment"), t.get("consort_lost")
    ),  # fmt: skip
    "missingness": lambda t, s, lab, src: missingness_plot(t[src], lab),
    "mmrm": lambda t, s, lab, src: mmrm_plot(t[src], lab),
    "rates": lambda t, s, lab, src: rates_plot(t[src], lab),
    "forest": lambda t, s, lab, src: forest_plot(t[src], lab),
    "subgroup": lambda t, s, lab, src: subgroup_plot(t[src], lab),
    "spaghetti": lambda t, s, lab, src: spaghetti_plot(s, lab),
    "waterfall": lambda t, s, lab, src: waterfall_plot(t[src], lab),
    "tipping_point": lambda t, s, lab, src: tipping_point_plot(t[src], lab.alpha, lab),
}


def figure_of(tables: dict, scores: pd.DataFrame, kind: str, src: str) -> ggplot:
    """The figure of a TLF as exported: drawn from the tables, with the synthetic-data mark in
    its caption when the data are synthetic."""
    from .page import Furniture

    lab = FigureLabels.from_tables(tables)
    fig = FIGURES[kind](tables, scores, lab, src)
    mark = Furniture.from_tables(tables).mark
    if mark:
        fig = fig + labs(caption=mark) + theme(plot_caption=element_text(size=8.5, ha="right",
                                                                         weight="bold"))  # fmt: skip
    return fig


def build_figures(
    tables: dict[str, pd.DataFrame], scores: pd.DataFrame, out_dir, *, svg: bool = False
) -> list[Path]:
    """Draw every figure the TLF catalogue lists and save it as PNG (and SVG) into ``out_dir``,
    named by the TLF (``<name>.png``).

    ``tables`` are the report's tables; ``scores`` the trial's long scores (for the individual
    trajectories, which carry no numbers of their own); ``svg`` also saves each figure as SVG
    (vector; drawing it costs about as much again as the PNG). Each file's description is the
    figure's alternative text (:func:`~.alt.describe`), with the synthetic-data mark.
    """
    from .alt import describe
    from .page import Furniture

    tlf = tables["tlf"]
    figs = tlf[tlf["kind"] == "Figure"]
    mark = Furniture.from_tables(tables).mark
    jobs = [(str(r.name), str(r.figure), str(r.src) if isinstance(r.src, str) else "",
             str(r.label), str(r.title)) for r in figs.itertuples(index=False)]  # fmt: skip
    out_dir = Path(out_dir)
    formats = ("png", "svg") if svg else ("png",)

    def draw(job):
        name, kind, src, label, title = job
        text = f"{label}. {describe(kind, tables, src, title)}" + (f" {mark}." if mark else "")
        save_figures(figure_of(tables, scores, kind, src), out_dir / name, formats,
                     description=text)  # fmt: skip

    # Figures are independent: this process and a forked child each draw the next one not yet
    # taken (the files are the same whichever process draws them)
    side_by_side(draw, jobs)
    return [out_dir / f"{j[0]}.{ext}" for j in jobs for ext in formats]
