"""Stage 2 of the report: figures, each one function returning a plotnine ``ggplot``.

Figures are built from the generated tables only (the spaghetti plot from the score file, which
carries no numbers). One house theme; arm colours from the Okabe-Ito palette, which stays
distinguishable with the common colour-vision deficiencies. :func:`build_figures` saves each as
PNG and SVG with fixed metadata so that the files are reproducible.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from plotnine import (
    aes,
    coord_flip,
    element_blank,
    element_text,
    facet_wrap,
    geom_col,
    geom_errorbar,
    geom_hline,
    geom_line,
    geom_point,
    geom_rect,
    geom_ribbon,
    geom_text,
    geom_tile,
    ggplot,
    labs,
    position_dodge,
    scale_color_manual,
    scale_fill_gradient,
    scale_fill_manual,
    scale_x_continuous,
    scale_y_continuous,
    theme,
    theme_minimal,
)

__all__ = [
    "ARM_COLOURS",
    "arm_palette",
    "house_theme",
    "consort_diagram",
    "rates_plot",
    "forest_plot",
    "mmrm_plot",
    "spaghetti_plot",
    "waterfall_plot",
    "missingness_plot",
    "sensitivity_plot",
    "power_curve",
    "tipping_point_plot",
    "save_figure",
    "build_figures",
]

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
ARM_COLOURS = {"TAU": "#555555", "IPT": "#0072B2", "PeGT": "#E69F00", "IPT+MED": "#009E73"}


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
    return theme_minimal(base_size=11) + theme(
        figure_size=(8, 4.5),
        legend_position="bottom",
        panel_grid_minor=element_blank(),
        plot_title=element_text(weight="bold", size=12),
        strip_text=element_text(weight="bold"),
    )


def _cat(series, order):
    return pd.Categorical(series, categories=[o for o in order if o in set(series)])


def consort_diagram(consort: pd.DataFrame, arms) -> ggplot:
    """CONSORT-style flow: one column per arm, one box per stage, drawn from the counts."""
    c = consort.copy()
    c["label"] = [
        (f"{s}\nn = {n}" if np.isnan(v) else f"{s} at {v:g}\nn = {n}")
        for s, v, n in zip(c["stage"], c["visit"].astype(float), c["n"], strict=True)
    ]
    c["col"] = [list(arms).index(a) for a in c["arm"]]
    c["row"] = c.groupby("arm").cumcount()
    c["x"], c["y"] = c["col"] * 1.0, -c["row"] * 1.0
    c["arm"] = _cat(c["arm"], arms)
    pal = arm_palette(arms)
    return (
        ggplot(c)
        + geom_rect(
            aes(xmin="x - 0.42", xmax="x + 0.42", ymin="y - 0.38", ymax="y + 0.38", fill="arm"),
            alpha=0.18,
            color="#333333",
        )
        + geom_text(aes("x", "y", label="label"), size=8)
        + scale_fill_manual(values=pal)
        + scale_x_continuous(breaks=list(range(len(arms))), labels=list(arms))
        + labs(title="Participant flow by arm (from the data)", x="", y="", fill="")
        + house_theme()
        + theme(
            axis_text_y=element_blank(),
            panel_grid_major=element_blank(),
            legend_position="none",
            figure_size=(max(6, 2.2 * len(arms)), 1.0 + 0.75 * c["row"].max() + 1),
        )  # fmt: skip
    )


def rates_plot(response: pd.DataFrame, remission: pd.DataFrame, arms, unit: str) -> ggplot:
    """Response and remission rates by visit with Wilson 95% intervals."""
    a = response.rename(columns={"responders": "events"}).assign(
        endpoint="Response (>= 50% improvement)"
    )
    b = remission.rename(columns={"remitters": "events"}).assign(endpoint="Remission (HAM-D <= 7)")
    d = pd.concat([a, b], ignore_index=True).dropna(subset=["rate"])
    d["arm"] = _cat(d["arm"], arms)
    dodge = position_dodge(width=0.5)
    return (
        ggplot(d, aes("visit", "rate * 100", color="arm"))
        + geom_line(position=dodge)
        + geom_errorbar(aes(ymin="ci_low * 100", ymax="ci_high * 100"), width=0.3, position=dodge)
        + geom_point(position=dodge, size=2)
        + facet_wrap("~endpoint")
        + scale_color_manual(values=arm_palette(arms))
        + scale_y_continuous(limits=(0, 100))
        + labs(
            title="Response and remission, observed cases, with Wilson 95% intervals",
            x=f"Visit ({unit})",
            y="Percent of patients assessed",
            color="",
        )  # fmt: skip
        + house_theme()
    )


def forest_plot(comparisons: pd.DataFrame, arms, key_visits) -> ggplot:
    """Risk difference in response vs the reference at the key visits (Newcombe intervals)."""
    d = comparisons[comparisons["visit"].isin(key_visits)].dropna(subset=["risk_difference"]).copy()
    d["label"] = [
        f"{a} vs {r}, visit {v:g}"
        for a, r, v in zip(d["arm"], d["reference"], d["visit"], strict=True)
    ]
    d["label"] = pd.Categorical(
        d["label"], categories=list(reversed(list(dict.fromkeys(d["label"]))))
    )
    d["arm"] = _cat(d["arm"], arms)
    return (
        ggplot(d, aes("label", "risk_difference * 100", color="arm"))
        + geom_hline(yintercept=0, linetype="dashed", color="#777777")
        + geom_errorbar(aes(ymin="rd_ci_low * 100", ymax="rd_ci_high * 100"), width=0.25)
        + geom_point(size=2.5)
        + coord_flip()
        + scale_color_manual(values=arm_palette(arms))
        + labs(
            title="Response: risk difference vs reference (percentage points, 95% CI)",
            x="",
            y="Risk difference (percentage points)",
            color="",
        )
        + house_theme()
    )


def mmrm_plot(lsmeans: pd.DataFrame, arms, unit: str) -> ggplot:
    """MMRM LS-mean change from baseline by arm and visit with 95% intervals."""
    d = lsmeans.copy()
    d["arm"] = _cat(d["arm"], arms)
    dodge = position_dodge(width=0.4)
    return (
        ggplot(d, aes("visit", "estimate", color="arm"))
        + geom_hline(yintercept=0, color="#999999")
        + geom_line(position=dodge)
        + geom_errorbar(aes(ymin="ci_low", ymax="ci_high"), width=0.3, position=dodge)
        + geom_point(position=dodge, size=2)
        + scale_color_manual(values=arm_palette(arms))
        + labs(
            title="MMRM: LS-mean change in HAM-D from baseline (95% CI)",
            x=f"Visit ({unit})",
            y="Change from baseline",
            color="",
        )
        + house_theme()
    )


def spaghetti_plot(scores: pd.DataFrame, arms, unit: str) -> ggplot:
    """Individual trajectories of observed scores, one panel per arm."""
    d = scores[scores["hamd17"].notna()].copy()
    d["arm"] = _cat(d["arm"], arms)
    return (
        ggplot(d, aes("visit", "hamd17", group="subject_id", color="arm"))
        + geom_line(alpha=0.35)
        + geom_point(alpha=0.35, size=0.6)
        + facet_wrap("~arm", nrow=1)
        + scale_color_manual(values=arm_palette(arms))
        + labs(
            title="Individual HAM-D trajectories (observed scores)",
            x=f"Visit ({unit})",
            y="HAM-D 17",
        )
        + house_theme()
        + theme(legend_position="none", figure_size=(max(8, 2.3 * len(arms)), 3.8))
    )


def waterfall_plot(waterfall: pd.DataFrame, arms) -> ggplot:
    """Percent change in HAM-D from baseline per patient at the last key visit, sorted."""
    d = waterfall.copy()
    d["rank"] = d.groupby("arm").cumcount()
    d["arm"] = _cat(d["arm"], arms)
    d["Responder"] = np.where(d["responder"], "responder", "non-responder")
    return (
        ggplot(d, aes("rank", "percent_change", fill="Responder"))
        + geom_col(width=0.9)
        + geom_hline(yintercept=-50, linetype="dashed", color="#333333")
        + facet_wrap("~arm", nrow=1, scales="free_x")
        + scale_fill_manual(values={"responder": "#0072B2", "non-responder": "#BBBBBB"})
        + labs(
            title=f"Percent change in HAM-D at visit {d['visit'].iloc[0]:g} (dashed: response threshold)"
            if len(d)
            else "Percent change in HAM-D",
            x="Patients, sorted",
            y="Change from baseline (%)",
            fill="",
        )  # fmt: skip
        + house_theme()
        + theme(axis_text_x=element_blank(), figure_size=(max(8, 2.3 * len(arms)), 3.8))
    )


def missingness_plot(missingness: pd.DataFrame, arms) -> ggplot:
    """Percent of patients without a score, by arm and visit."""
    d = missingness.copy()
    d["arm"] = _cat(d["arm"], arms)
    d["visit_label"] = pd.Categorical(
        [f"{v:g}" for v in d["visit"]], categories=[f"{v:g}" for v in sorted(d["visit"].unique())]
    )
    d["label"] = [f"{p:.0f}%" for p in d["percent_missing"]]
    return (
        ggplot(d, aes("visit_label", "arm", fill="percent_missing"))
        + geom_tile(color="white")
        + geom_text(aes(label="label"), size=9)
        + scale_fill_gradient(low="#F7F7F7", high="#D55E00", limits=(0, 100))
        + labs(title="Missing HAM-D scores by arm and visit", x="Visit", y="", fill="% missing")
        + house_theme()
        + theme(figure_size=(7, 1.2 + 0.5 * len(arms)))
    )


def sensitivity_plot(sensitivity: pd.DataFrame, arms) -> ggplot:
    """The last key visit's comparisons under each missing-data rule (and the MMRM)."""
    d = sensitivity.copy()
    d["arm"] = _cat(d["arm"], arms)
    d["rule"] = pd.Categorical(d["rule"], categories=["observed", "nri", "locf", "mmrm"])
    return (
        ggplot(d, aes("rule", "estimate", color="arm"))
        + geom_hline(yintercept=0, linetype="dashed", color="#777777")
        + geom_errorbar(
            aes(ymin="ci_low", ymax="ci_high"), width=0.2, position=position_dodge(width=0.5)
        )
        + geom_point(size=2.5, position=position_dodge(width=0.5))
        + facet_wrap("~measure", scales="free_y")
        + scale_color_manual(values=arm_palette(arms))
        + labs(
            title="Does the conclusion depend on the missing-data rule?",
            x="Missing-data rule",
            y="Estimate vs reference (95% CI)",
            color="",
        )
        + house_theme()
    )


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


def tipping_point_plot(tipping: pd.DataFrame, alpha: float = 0.05) -> ggplot:
    """Delta-adjusted MI: the PeGT - TAU estimate and its interval against the shift delta
    added to imputed values in the experimental arm; the tipping point is where p crosses
    alpha (the interval reaches zero)."""
    d = tipping.assign(
        significant=np.where(tipping["p"] < alpha, f"p < {alpha:g}", f"p >= {alpha:g}")
    )
    return (
        ggplot(d, aes("delta", "estimate"))
        + geom_hline(yintercept=0, color="#777777")
        + geom_errorbar(aes(ymin="ci_low", ymax="ci_high", color="significant"), width=0.15)
        + geom_point(aes(color="significant"), size=2.5)
        + scale_color_manual(values={f"p < {alpha:g}": "#0072B2", f"p >= {alpha:g}": "#D55E00"})
        + labs(
            x="delta: points added to imputed scores in the experimental arm (worse)",
            y="difference in change (95% CI)",
            color="",
            title="Tipping-point analysis (delta-adjusted multiple imputation)",
        )  # fmt: skip
        + house_theme()
    )


def save_figure(fig: ggplot, path, dpi: int = 100) -> Path:
    """Save ``fig`` to ``path`` (PNG or SVG) whole or not at all, with fixed metadata."""
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "ipt-outcomes"  # stable SVG ids
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lstrip(".")
    meta = {"Software": None} if ext == "png" else {"Date": None, "Creator": None}
    tmp = path.with_name(f".{path.stem}.tmp.{ext}")
    fig.save(tmp, dpi=dpi, verbose=False, metadata=meta)
    tmp.replace(path)
    return path


def build_figures(
    tables: dict[str, pd.DataFrame], scores: pd.DataFrame, arms, key_visits, unit: str, out_dir
) -> list[Path]:
    """Draw every figure and save it as PNG (100 dpi) and SVG into ``out_dir``."""
    figs = {
        "consort": consort_diagram(tables["consort"], arms),
        "rates": rates_plot(tables["response_rates"], tables["remission_rates"], arms, unit),
        "forest": forest_plot(tables["response_comparisons"], arms, key_visits),
        "mmrm": mmrm_plot(tables["mmrm_lsmeans"], arms, unit),
        "spaghetti": spaghetti_plot(scores, arms, unit),
        "waterfall": waterfall_plot(tables["waterfall"], arms),
        "missingness": missingness_plot(tables["missingness"], arms),
        "sensitivity": sensitivity_plot(tables["sensitivity"], arms),
    }
    out_dir = Path(out_dir)
    return [
        save_figure(fig, out_dir / f"{name}.{ext}")
        for name, fig in figs.items()
        for ext in ("png", "svg")
    ]
