"""Stage 2 of the report: figures, each one function returning a plotnine ``ggplot``.

Figures are built from the generated tables only (the spaghetti plot from the score file, which
carries no numbers). One house theme; arm colours from the Okabe-Ito palette, which stays
distinguishable with the common colour-vision deficiencies. :func:`build_figures` saves each as
PNG and SVG with fixed metadata so that the files are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    "FigureLabels",
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


@dataclass(frozen=True)
class FigureLabels:
    """What figures call things: arm labels, visit times and labels, the instrument and unit."""

    arms: tuple = ()  # arm codes in display order
    arm_label: dict = field(default_factory=dict)  # code -> label (modelled arms marked)
    visit_time: dict = field(default_factory=dict)  # visit -> time
    visit_label: dict = field(default_factory=dict)  # visit -> label
    instrument: str = "score"
    unit: str = ""
    remission_max: float = 7.0
    response_percent: float = 50.0

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

        return cls(
            arms=tuple(arms["arm"].astype(str)),
            arm_label=dict(zip(arms["arm"].astype(str), arms["label"].astype(str), strict=True)),
            visit_time=dict(
                zip(visits["visit"].astype(float), visits["time"].astype(float), strict=True)
            ),
            visit_label=dict(
                zip(visits["visit"].astype(float), visits["label"].astype(str), strict=True)
            ),
            instrument=str(trial.get("instrument", "score")),
            unit=str(
                trial.get("visit_unit", "") if str(trial.get("visit_unit", "")) != "nan" else ""
            ),
            remission_max=num("remission_max", 7.0),
            response_percent=100 * num("response_improvement", 0.5),
        )

    def label(self, arm) -> str:
        return self.arm_label.get(str(arm), str(arm))

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

    def time(self, visits) -> list[float]:
        return [self.visit_time.get(float(v), float(v)) for v in visits]

    @property
    def time_title(self) -> str:
        return f"{self.unit.capitalize()} since randomisation" if self.unit else "Visit"

    def time_axis(self, visits):
        """x scale at the visit times, labelled with the times."""
        times = sorted(set(self.time(visits)))
        return scale_x_continuous(breaks=times, labels=[f"{x:g}" for x in times])


def _cat(series, order):
    return pd.Categorical(series, categories=[o for o in order if o in set(series)])


def consort_diagram(consort: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """CONSORT-style flow: one column per arm, one box per stage, drawn from the counts."""
    c = consort.copy()
    arms = [a for a in lab.arms if a in set(c["arm"].astype(str))]
    c["label"] = [
        (
            f"{s}\nn = {n:.0f}"
            if np.isnan(v)
            else f"{s}: {lab.visit_label.get(v, f'{v:g}')}\nn = {n:.0f}"
        )
        for s, v, n in zip(c["stage"], c["visit"].astype(float), c["n"], strict=True)
    ]
    c["col"] = [arms.index(a) for a in c["arm"].astype(str)]
    c["row"] = c.groupby("arm").cumcount()
    c["x"], c["y"] = c["col"] * 1.0, -c["row"] * 1.0
    c["arm"] = lab.arm_column(c["arm"].astype(str))
    return (
        ggplot(c)
        + geom_rect(
            aes(xmin="x - 0.42", xmax="x + 0.42", ymin="y - 0.38", ymax="y + 0.38", fill="arm"),
            alpha=0.18,
            color="#333333",
        )
        + geom_text(aes("x", "y", label="label"), size=8)
        + scale_fill_manual(values=lab.palette())
        + scale_x_continuous(breaks=list(range(len(arms))), labels=[lab.label(a) for a in arms])
        + labs(title="Participant flow by arm (from the data)", x="", y="", fill="")
        + house_theme()
        + theme(
            axis_text_y=element_blank(),
            panel_grid_major=element_blank(),
            legend_position="none",
            figure_size=(max(6, 2.2 * len(arms)), 1.0 + 0.75 * c["row"].max() + 1),
        )  # fmt: skip
    )


def rates_plot(response: pd.DataFrame, remission: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Response and remission rates by visit with Wilson 95% intervals."""
    a = response.rename(columns={"responders": "events"}).assign(
        endpoint=f"Response (>= {lab.response_percent:g}% improvement)"
    )
    b = remission.rename(columns={"remitters": "events"}).assign(
        endpoint=f"Remission ({lab.instrument} <= {lab.remission_max:g})"
    )
    d = pd.concat([a, b], ignore_index=True).dropna(subset=["rate"])
    d["time"] = lab.time(d["visit"])
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    dodge = position_dodge(width=0.3)
    return (
        ggplot(d, aes("time", "rate * 100", color="arm"))
        + geom_line(position=dodge)
        + geom_errorbar(aes(ymin="ci_low * 100", ymax="ci_high * 100"), width=0.3, position=dodge)
        + geom_point(position=dodge, size=2)
        + facet_wrap("~endpoint")
        + scale_color_manual(values=lab.palette())
        + lab.time_axis(d["visit"])
        + scale_y_continuous(limits=(0, 100))
        + labs(
            title="Response and remission, observed cases, with Wilson 95% intervals",
            x=lab.time_title,
            y="Percent of patients assessed",
            color="",
        )  # fmt: skip
        + house_theme()
    )


def forest_plot(comparisons: pd.DataFrame, lab: FigureLabels, key_visits) -> ggplot:
    """Risk difference in response vs the reference at the key visits (Newcombe intervals)."""
    d = comparisons[comparisons["visit"].isin(key_visits)].dropna(subset=["risk_difference"]).copy()
    d["label"] = [
        f"{lab.label(a)} vs {lab.label(r)}, {lab.visit_label.get(float(v), f'{v:g}')}"
        for a, r, v in zip(d["arm"], d["reference"], d["visit"], strict=True)
    ]
    d["label"] = pd.Categorical(
        d["label"], categories=list(reversed(list(dict.fromkeys(d["label"]))))
    )
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    return (
        ggplot(d, aes("label", "risk_difference * 100", color="arm"))
        + geom_hline(yintercept=0, linetype="dashed", color="#777777")
        + geom_errorbar(aes(ymin="rd_ci_low * 100", ymax="rd_ci_high * 100"), width=0.25)
        + geom_point(size=2.5)
        + coord_flip()
        + scale_color_manual(values=lab.palette())
        + labs(
            title="Response: risk difference vs reference (percentage points, 95% CI)",
            x="",
            y="Risk difference (percentage points)",
            color="",
        )
        + house_theme()
    )


def mmrm_plot(lsmeans: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """MMRM LS-mean change from baseline by arm and visit with 95% intervals."""
    d = lsmeans.copy()
    d["time"] = lab.time(d["visit"])
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    dodge = position_dodge(width=0.3)
    return (
        ggplot(d, aes("time", "estimate", color="arm"))
        + geom_hline(yintercept=0, color="#999999")
        + geom_line(position=dodge)
        + geom_errorbar(aes(ymin="ci_low", ymax="ci_high"), width=0.3, position=dodge)
        + geom_point(position=dodge, size=2)
        + scale_color_manual(values=lab.palette())
        + lab.time_axis(d["visit"])
        + labs(
            title=f"MMRM: LS-mean change in {lab.instrument} from baseline (95% CI)",
            x=lab.time_title,
            y="Change from baseline",
            color="",
        )
        + house_theme()
    )


def spaghetti_plot(scores: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Individual trajectories of observed scores, one panel per arm."""
    d = scores[scores["score"].notna()].copy()
    d["time"] = lab.time(d["visit"])
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    n_arms = d["arm"].nunique()
    return (
        ggplot(d, aes("time", "score", group="subject_id", color="arm"))
        + geom_line(alpha=0.35)
        + geom_point(alpha=0.35, size=0.6)
        + facet_wrap("~arm", nrow=1)
        + scale_color_manual(values=lab.palette())
        + lab.time_axis(d["visit"])
        + labs(
            title=f"Individual {lab.instrument} trajectories (observed scores)",
            x=lab.time_title,
            y=lab.instrument,
        )
        + house_theme()
        + theme(legend_position="none", figure_size=(max(8, 2.3 * n_arms), 3.8))
    )


def waterfall_plot(waterfall: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Percent change from baseline per patient at the last key visit, sorted."""
    d = waterfall.copy()
    d["rank"] = d.groupby("arm").cumcount()
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    d["Responder"] = np.where(d["responder"], "responder", "non-responder")
    when = lab.visit_label.get(float(d["visit"].iloc[0]), "") if len(d) else ""
    return (
        ggplot(d, aes("rank", "percent_change", fill="Responder"))
        + geom_col(width=0.9)
        + geom_hline(yintercept=-lab.response_percent, linetype="dashed", color="#333333")
        + facet_wrap("~arm", nrow=1, scales="free_x")
        + scale_fill_manual(values={"responder": "#0072B2", "non-responder": "#BBBBBB"})
        + labs(
            title=f"Percent change in {lab.instrument}, {when} (dashed: response threshold)",
            x="Patients, sorted",
            y="Change from baseline (%)",
            fill="",
        )  # fmt: skip
        + house_theme()
        + theme(axis_text_x=element_blank(), figure_size=(max(8, 2.3 * d["arm"].nunique()), 3.8))
    )


def missingness_plot(missingness: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """Percent of patients without a score, by arm and visit."""
    d = missingness.copy()
    order = sorted(d["visit"].astype(float).unique(), key=lambda v: lab.time([v])[0])
    names = [lab.visit_label.get(v, f"{v:g}") for v in order]
    d["visit_label"] = pd.Categorical(
        [lab.visit_label.get(float(v), f"{v:g}") for v in d["visit"]], categories=names
    )
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    d["label"] = [f"{p:.0f}%" for p in d["percent_missing"]]
    return (
        ggplot(d, aes("visit_label", "arm", fill="percent_missing"))
        + geom_tile(color="white")
        + geom_text(aes(label="label"), size=9)
        + scale_fill_gradient(low="#F7F7F7", high="#D55E00", limits=(0, 100))
        + labs(
            title=f"Missing {lab.instrument} scores by arm and visit", x="", y="", fill="% missing"
        )
        + house_theme()
        + theme(figure_size=(7, 1.2 + 0.5 * d["arm"].nunique()))
    )


RULE_NAMES = {
    "observed": "Observed cases",
    "nri": "Non-responder imputation",
    "locf": "Last observation carried forward",
    "mmrm": "MMRM (all observed data)",
}


def sensitivity_plot(sensitivity: pd.DataFrame, lab: FigureLabels) -> ggplot:
    """The last key visit's comparisons under each missing-data rule (and the MMRM)."""
    d = sensitivity.copy()
    d["arm"] = lab.arm_column(d["arm"].astype(str))
    d["rule"] = pd.Categorical(
        [RULE_NAMES.get(r, r) for r in d["rule"]],
        categories=[v for k, v in RULE_NAMES.items() if k in set(sensitivity["rule"])],
    )
    return (
        ggplot(d, aes("rule", "estimate", color="arm"))
        + geom_hline(yintercept=0, linetype="dashed", color="#777777")
        + geom_errorbar(
            aes(ymin="ci_low", ymax="ci_high"), width=0.2, position=position_dodge(width=0.5)
        )
        + geom_point(size=2.5, position=position_dodge(width=0.5))
        + facet_wrap("~measure", scales="free")
        + coord_flip()
        + scale_color_manual(values=lab.palette())
        + labs(
            title="Does the conclusion depend on the missing-data rule?",
            x="",
            y="Estimate vs reference (95% CI)",
            color="",
        )
        + house_theme()
        + theme(figure_size=(9, 4))
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


def build_figures(tables: dict[str, pd.DataFrame], scores: pd.DataFrame, out_dir) -> list[Path]:
    """Draw every figure of the report and save it as PNG (100 dpi) and SVG into ``out_dir``.

    ``tables`` are the report's tables (as written); ``scores`` the trial's long scores (for the
    individual trajectories, which carry no numbers of their own).
    """
    lab = FigureLabels.from_tables(tables)
    key = [float(v) for v in tables["visits"].loc[tables["visits"]["key"].astype(bool), "visit"]]
    figs = {
        "consort": consort_diagram(tables["consort"], lab),
        "rates": rates_plot(tables["response_rates"], tables["remission_rates"], lab),
        "forest": forest_plot(tables["response_comparisons"], lab, key),
        "mmrm": mmrm_plot(tables["mmrm_lsmeans"], lab),
        "spaghetti": spaghetti_plot(scores, lab),
        "waterfall": waterfall_plot(tables["waterfall"], lab),
        "missingness": missingness_plot(tables["missingness"], lab),
        "sensitivity": sensitivity_plot(tables["sensitivity"], lab),
    }
    out_dir = Path(out_dir)
    return [
        save_figure(fig, out_dir / f"{name}.{ext}")
        for name, fig in figs.items()
        for ext in ("png", "svg")
    ]
