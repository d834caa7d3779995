"""Forest and funnel plots of a meta-analysis, each one function returning a plotnine ``ggplot``
(the caller saves it; the ``meta`` command writes ``meta_forest.png`` and ``meta_funnel.png``).

The forest plot shows each study's effect with its 95% interval (square sized by its weight in
the model), the pooled effect as a diamond spanning its confidence interval and the prediction
interval as a line beneath it; with subgroups, each level's studies and diamond come first and
the overall diamond last. The funnel plot shows each study's effect against its standard error
(0 at the top) with the pooled effect and the region where 95% of studies would fall without
heterogeneity or small-study effects. A study named by ``highlight`` is drawn in orange and
marked in both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["meta_forest_plot", "funnel_plot", "HIGHLIGHT_COLOUR"]

HIGHLIGHT_COLOUR = "#D55E00"
_STUDY_COLOUR = "#333333"
_POOLED_COLOUR = "#0072B2"
_MARK = "\u25b6 "  # a triangle before the highlighted study's name


def _ci_text(est, lo, hi, digits: int = 2) -> str:
    from ..format import fmt

    k = f"f{digits}"
    return f"{fmt(est, k)} [{fmt(lo, k)}, {fmt(hi, k)}]"


def _label(name: str, highlight: str | None) -> str:
    return f"{_MARK}{name}" if highlight is not None and name == highlight else name


def _pooled_label(fit, what: str) -> str:
    return f"{what} (k = {fit.k}; I\u00b2 = {fit.i2:.0f}%)"


def meta_forest_plot(result, highlight: str | None = None, effect_label: str = "Hedges' g",
                     title: str = "") -> object:  # fmt: skip
    """Forest plot of a :class:`~ipt_outcomes.meta.MetaAnalysis`.

    Parameters
    ----------
    result : MetaAnalysis
    highlight : str, optional
        A study to draw in orange and mark with a triangle.
    effect_label : str
        What the effect sizes are (x axis).
    title : str

    Returns
    -------
    plotnine.ggplot
        Its data: ``plot.data`` has one row per study (``y, label, estimate, ci_low, ci_high,
        weight, highlighted``).

    Examples
    --------
    >>> from ipt_outcomes.meta import meta_analysis
    >>> d = pd.DataFrame({"study": list("ABCD"), "effect": [0.2, 0.5, 0.1, 0.8],
    ...                   "se": [0.1, 0.2, 0.15, 0.3]})
    >>> p = meta_forest_plot(meta_analysis(d), highlight="B")
    >>> list(p.data["label"])
    ['A', '\u25b6 B', 'C', 'D']
    """
    from plotnine import (
        aes,
        element_blank,
        element_text,
        geom_point,
        geom_polygon,
        geom_segment,
        geom_text,
        geom_vline,
        ggplot,
        labs,
        scale_color_identity,
        scale_fill_identity,
        scale_size_identity,
        scale_x_continuous,
        scale_y_continuous,
        theme,
    )

    from ..report.figures import house_theme, nice_breaks

    blocks = []  # (header or None, studies frame, fit, pooled label)
    if result.subgroups:
        for level, fit in result.subgroups.items():
            blocks.append(
                (f"{result.by} = {level}", fit.studies, fit, _pooled_label(fit, "Subgroup"))
            )
    else:
        blocks.append((None, result.overall.studies, None, ""))
    overall = result.overall
    rows, diamonds, labels, ys, headers = [], [], [], [], []
    y = 0.0
    for header, studies, fit, plabel in blocks:
        if header is not None:
            y -= 1
            headers.append({"y": y, "label": header})
            labels.append(header)
            ys.append(y)
        for rec in studies.itertuples(index=False):
            y -= 1
            hl = highlight is not None and rec.study == highlight
            rows.append({"y": y, "label": _label(rec.study, highlight), "estimate": rec.estimate,
                         "ci_low": rec.ci_low, "ci_high": rec.ci_high, "weight": rec.weight,
                         "highlighted": hl, "text": _ci_text(rec.estimate, rec.ci_low, rec.ci_high)
                         + f"  {rec.weight:4.1f}%"})  # fmt: skip
            labels.append(_label(rec.study, highlight))
            ys.append(y)
        if fit is not None:
            y -= 1
            diamonds.append((y, fit, plabel))
            labels.append(plabel)
            ys.append(y)
            y -= 0.5
    y -= 1
    diamonds.append((y, overall, _pooled_label(overall, "Random-effects model")))
    labels.append(diamonds[-1][2])
    ys.append(y)
    study_df = pd.DataFrame(rows)
    study_df["size"] = 1.2 + 3.8 * np.sqrt(study_df["weight"] / study_df["weight"].max())
    study_df["colour"] = np.where(study_df["highlighted"], HIGHLIGHT_COLOUR, _STUDY_COLOUR)
    poly, pis, ptext = [], [], []
    for i, (yy, fit, _lab) in enumerate(diamonds):
        colour = _POOLED_COLOUR if fit is overall else "#56B4E9"
        for x, dy in (
            (fit.ci_low, 0),
            (fit.estimate, 0.38),
            (fit.ci_high, 0),
            (fit.estimate, -0.38),
        ):
            poly.append({"x": x, "y": yy + dy, "group": i, "fill": colour})
        pis.append({"y": yy - 0.42, "x": fit.pi_low, "xend": fit.pi_high})
        ptext.append({"y": yy, "text": _ci_text(fit.estimate, fit.ci_low, fit.ci_high)})
    lo = min(study_df["ci_low"].min(), min(p["x"] for p in pis), 0.0)
    hi = max(study_df["ci_high"].max(), max(p["xend"] for p in pis), 0.0)
    breaks = nice_breaks((lo, hi))
    text_x = max(hi, breaks[-1]) + 0.04 * (hi - lo)
    right = text_x + 0.55 * (hi - lo)
    test = "Knapp-Hartung" if overall.test == "knha" else "z"
    caption = (f"Squares: studies, sized by weight, with 95% CI; diamond: pooled effect "
               f"({overall.method.upper()} tau\u00b2, {test} 95% CI); line beneath it: 95% "
               "prediction interval.")  # fmt: skip
    if highlight is not None:
        caption += f"\n{_MARK}{highlight} in orange."
    n_rows = len(ys)
    fig = (
        ggplot(study_df, aes("estimate", "y"))
        + geom_vline(xintercept=0, color="#999999")
        + geom_vline(xintercept=overall.estimate, color=_POOLED_COLOUR, linetype="dotted")
        + geom_segment(aes(x="ci_low", xend="ci_high", y="y", yend="y", color="colour"), size=0.5)
        + geom_point(aes(size="size", color="colour", fill="colour"), shape="s")
        + geom_polygon(aes("x", "y", group="group", fill="fill"), data=pd.DataFrame(poly),
                       color="#222222", size=0.3)
        + geom_segment(aes(x="x", xend="xend", y="y", yend="y"), data=pd.DataFrame(pis),
                       color=_POOLED_COLOUR, size=1.2)
        + geom_text(aes(x=text_x, y="y", label="text", color="colour"), ha="left", size=7.5)
        + geom_text(aes(x=text_x, y="y", label="text"), data=pd.DataFrame(ptext), ha="left",
                    size=7.5, fontweight="bold")
        + geom_text(aes(x=text_x, y="y", label="text"), ha="left", size=7.5, fontweight="bold",
                    data=pd.DataFrame({"y": [-0.25], "text": [f"{effect_label} [95% CI]  weight"]}))
        + scale_color_identity()
        + scale_fill_identity()
        + scale_size_identity()
        + scale_y_continuous(breaks=ys, labels=labels, limits=(min(ys) - 0.9, 0.2))
        + scale_x_continuous(breaks=breaks, limits=(min(lo, breaks[0]), right))
        + labs(x=f"{effect_label} (95% CI)", y="", title=title, caption=caption)
        + house_theme()
        + theme(figure_size=(10, max(3.5, 1.8 + 0.2 * n_rows)), panel_grid_major_y=element_blank(),
                panel_grid_major_x=element_blank(),
                axis_text_y=element_text(size=7.5, ha="right"), plot_caption=element_text(size=8))
    )  # fmt: skip
    return fig


def funnel_plot(result, highlight: str | None = None, effect_label: str = "Hedges' g",
                title: str = "") -> object:  # fmt: skip
    """Funnel plot of a :class:`~ipt_outcomes.meta.MetaAnalysis` (its overall model's studies).

    Parameters
    ----------
    result : MetaAnalysis
    highlight : str, optional
        A study to draw in orange and label.
    effect_label : str
    title : str

    Returns
    -------
    plotnine.ggplot
        ``plot.data``: ``study, estimate, se, highlighted``.

    Examples
    --------
    >>> from ipt_outcomes.meta import meta_analysis
    >>> d = pd.DataFrame({"study": list("ABCD"), "effect": [0.2, 0.5, 0.1, 0.8],
    ...                   "se": [0.1, 0.2, 0.15, 0.3]})
    >>> p = funnel_plot(meta_analysis(d), highlight="D")
    >>> p.data["highlighted"].tolist()
    [False, False, False, True]
    """
    from plotnine import (
        aes,
        geom_line,
        geom_point,
        geom_text,
        geom_vline,
        ggplot,
        labs,
        scale_color_identity,
        scale_y_reverse,
        theme,
    )

    from ..report.figures import house_theme

    overall = result.overall
    d = overall.studies[["study", "estimate", "se"]].copy()
    d["highlighted"] = d["study"] == highlight if highlight is not None else False
    d["colour"] = np.where(d["highlighted"], HIGHLIGHT_COLOUR, _STUDY_COLOUR)
    top = float(d["se"].max()) * 1.05
    mu = overall.estimate
    z = 1.959963984540054
    funnel = pd.DataFrame({"x": [mu - z * top, mu, mu + z * top], "y": [top, 0.0, top]})
    egger = result.egger
    caption = (
        "Dashed: where 95% of studies would lie around the pooled effect without heterogeneity."
    )
    if np.isfinite(egger.get("p", np.nan)):
        from ..format import fmt

        caption += (f"\nEgger's test: intercept {fmt(egger['intercept'], 'f2')}, "
                    f"{fmt(egger['p'], 'p_text')} (k = {overall.k}).")  # fmt: skip
    fig = (
        ggplot(d, aes("estimate", "se"))
        + geom_line(aes("x", "y"), data=funnel, linetype="dashed", color="#777777")
        + geom_vline(xintercept=mu, color=_POOLED_COLOUR)
        + geom_vline(xintercept=0, color="#bbbbbb")
        + geom_point(aes(color="colour"), size=2.2, alpha=0.85)
        + scale_color_identity()
        + scale_y_reverse()
        + labs(x=effect_label, y="Standard error", title=title, caption=caption)
        + house_theme()
        + theme(figure_size=(7, 5.5))
    )  # fmt: skip
    hl = d[d["highlighted"]]
    if len(hl):
        fig = fig + geom_text(aes("estimate", "se", label="study"), data=hl, color=HIGHLIGHT_COLOUR,
                              nudge_y=0.04 * top, size=9)  # fmt: skip
    return fig
