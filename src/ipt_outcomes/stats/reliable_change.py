"""Reliable and clinically significant change (Jacobson & Truax 1991), per subject and visit.

Psychotherapy outcome research reports, for each patient, whether the change from baseline is
larger than the instrument's measurement error (the reliable change index, RCI) and whether the
patient moved from the clinical into the functional range of the scale (clinically significant
change). The categories are those of R ``clinicalsignificance``'s Jacobson-Truax method
(``cs_combined(..., rci_method = "JT")``): **recovered** (reliably improved, clinical before,
functional after), **improved**, **unchanged**, **deteriorated**, **harmed** (reliably
deteriorated, not clinical before, not functional after).

Definitions (SPEC "reliable_change.csv"), at each post-baseline visit over the subjects with a
baseline and a score at that visit, pooled over arms; d = -1 when lower is better, +1 when higher
is better; M and SD (n - 1) of those baselines; r the instrument's reliability:

* S_diff = sqrt(2) * SD * sqrt(1 - r); rci = d * (score - baseline) / S_diff (positive =
  improvement); reliably improved if rci > z (z = 1.959964, the two-sided 5% normal quantile),
  reliably deteriorated if rci < -z;
* cut-off a = M + d * 2 SD; b = functional_mean - d * 2 SD (the package's form, with the SD of
  the clinical sample); c = (SD * functional_mean + functional_sd * M) / (SD + functional_sd);
* clinical before: d * baseline < d * cut-off; functional after: d * score > d * cut-off.

Checked against R clinicalsignificance on the Claus et al. (2020) trial (HAM-D, BDI-II and the
higher-is-better WHO-5, cut-offs a, b and c) and on a simulated two-instrument trial:
``tests/reference/reliable_change/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import IptOutcomesError

__all__ = [
    "CATEGORIES",
    "CUTOFF_TYPES",
    "RCI_CRITICAL",
    "jacobson_truax",
    "reliable_change",
    "reliable_change_rates",
    "reliable_change_comparisons",
    "reliable_change_plot",
    "ReliableChangeResults",
]

#: The categories, from best to worst.
CATEGORIES = ("recovered", "improved", "unchanged", "deteriorated", "harmed")
CUTOFF_TYPES = ("a", "b", "c")
#: Two-sided 5% critical value of the RCI (R ``qnorm(0.975)``).
RCI_CRITICAL = 1.959963984540054

#: Outcomes compared between arms: name -> categories that count as the event, and whether the
#: event is a benefit.
OUTCOMES = {
    "recovered": (("recovered",), True),
    "reliable_improvement": (("recovered", "improved"), True),
    "reliable_deterioration": (("deteriorated", "harmed"), False),
}


def _cutoff(kind, m, sd, direction, functional_mean, functional_sd) -> float:
    if kind == "a":
        return m + direction * 2 * sd
    if kind == "b":
        return functional_mean - direction * 2 * sd
    return (sd * functional_mean + functional_sd * m) / (sd + functional_sd)


def jacobson_truax(
    baseline,
    score,
    *,
    reliability: float,
    higher_is_better: bool = False,
    cutoff: str = "a",
    functional_mean: float | None = None,
    functional_sd: float | None = None,
    critical: float = RCI_CRITICAL,
) -> tuple[pd.DataFrame, dict]:
    """Jacobson-Truax reliable and clinically significant change of one pre/post sample.

    Parameters
    ----------
    baseline, score : array-like
        Pre and post scores of the same subjects (no missing values).
    reliability : float
        Reliability of the instrument, 0 < r < 1.
    higher_is_better : bool
        Direction of the instrument.
    cutoff : {"a", "b", "c"}
        Type of the clinical cut-off (module docstring).
    functional_mean, functional_sd : float, optional
        Mean and SD of a functional population (needed for cut-offs b and c).
    critical : float
        Critical value of the RCI (default the two-sided 5% normal quantile).

    Returns
    -------
    (DataFrame, dict)
        One row per subject: ``baseline, score, change, rci, clinical_before,
        functional_after, category``; and the sample's ``n, m_clinical, sd_clinical, s_diff,
        cutoff, critical``.

    Examples
    --------
    >>> rows, info = jacobson_truax([20, 24, 18, 30], [8, 22, 19, 12], reliability=0.8)
    >>> rows["category"].tolist(), round(info["s_diff"], 4), round(info["cutoff"], 3)
    (['recovered', 'unchanged', 'unchanged', 'recovered'], 3.3466, 12.417)
    """
    if not 0 < reliability < 1:
        raise ValueError(f"reliability must be in (0, 1), got {reliability!r}")
    if cutoff not in CUTOFF_TYPES:
        raise ValueError(f"cutoff must be one of {CUTOFF_TYPES}, got {cutoff!r}")
    if cutoff in ("b", "c") and (functional_mean is None or functional_sd is None):
        raise ValueError(f"cutoff {cutoff!r} needs functional_mean and functional_sd")
    b = np.asarray(baseline, dtype=float)
    y = np.asarray(score, dtype=float)
    if b.shape != y.shape or b.ndim != 1:
        raise ValueError("baseline and score must be 1-d arrays of the same length")
    if np.isnan(b).any() or np.isnan(y).any():
        raise ValueError("baseline and score must not be missing")
    n = len(b)
    d = 1.0 if higher_is_better else -1.0
    m = float(b.mean()) if n else math.nan
    sd = float(b.std(ddof=1)) if n > 1 else math.nan
    s_diff = math.sqrt(2.0) * sd * math.sqrt(1.0 - reliability)
    cut = _cutoff(cutoff, m, sd, d, functional_mean, functional_sd)
    change = y - b
    with np.errstate(divide="ignore", invalid="ignore"):
        rci = d * change / s_diff
    improved = rci > critical
    deteriorated = rci < -critical
    clinical = d * b < d * cut
    functional = d * y > d * cut
    recovered = improved & clinical & functional
    harmed = deteriorated & ~clinical & ~functional
    category = np.select(
        [recovered, harmed, improved, deteriorated],
        ["recovered", "harmed", "improved", "deteriorated"],
        default="unchanged",
    )
    rows = pd.DataFrame(
        {
            "baseline": b,
            "score": y,
            "change": change,
            "rci": rci,
            "clinical_before": clinical,
            "functional_after": functional,
            "category": category,
        }
    )
    info = dict(n=n, m_clinical=m, sd_clinical=sd, s_diff=s_diff, cutoff=float(cut),
                critical=float(critical))  # fmt: skip
    return rows, info


@dataclass
class ReliableChangeResults:
    """Reliable change of a trial: per subject, rates, comparisons, and per-visit criteria.

    Attributes
    ----------
    subjects : DataFrame
        ``reliable_change.csv``: ``subject_id, arm, visit, baseline, score, change, rci,
        category, clinical_before, functional_after``.
    rates : DataFrame
        ``reliable_change_rates.csv``: ``arm, visit, category, n, count, rate, ci_low,
        ci_high`` (Wilson).
    comparisons : DataFrame
        Each arm against the reference for recovery, reliable improvement (recovered or
        improved) and reliable deterioration (deteriorated or harmed):
        :func:`reliable_change_comparisons`.
    criteria : DataFrame
        Per visit: ``visit, n, m_clinical, sd_clinical, reliability, s_diff, critical,
        cutoff_type, cutoff, functional_mean, functional_sd``.
    """

    instrument: object
    reference: str
    cutoff_type: str
    subjects: pd.DataFrame
    rates: pd.DataFrame
    comparisons: pd.DataFrame
    criteria: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """Rates of each category per arm and visit, wide: one row per arm and visit."""
        wide = self.rates.pivot_table(
            index=["arm", "visit"], columns="category", values="rate", sort=False
        )
        return wide.reindex(columns=list(CATEGORIES)).reset_index()


def _instrument_settings(trial, reliability, functional_mean, functional_sd, cutoff):
    from ..data.instruments import lookup_instrument

    inst = trial.instrument
    r = reliability if reliability is not None else inst.reliability
    if r is None:
        known = lookup_instrument(inst.name)
        hint = ""
        if known is not None and known.reliability is not None:
            hint = f" ({known.reliability_suggestion()}; check it fits your sample)"
        raise IptOutcomesError(
            f"reliable change needs the reliability of {inst.name}: give `reliability` "
            f"(test-retest or internal consistency, between 0 and 1) in the design's "
            f"[instrument]{hint}"
        )
    if not 0 < r < 1:
        raise IptOutcomesError(f"reliability must be between 0 and 1, got {r!r}")
    fm = functional_mean if functional_mean is not None else inst.functional_mean
    fsd = functional_sd if functional_sd is not None else inst.functional_sd
    if cutoff in ("b", "c") and (fm is None or fsd is None):
        raise IptOutcomesError(
            f"cut-off {cutoff} needs the mean and SD of a functional (non-clinical) population "
            f"for {inst.name}: give functional_mean and functional_sd in the design's "
            "[instrument], or use --cutoff a"
        )
    return float(r), fm, fsd


def reliable_change(
    trial,
    cutoff: str = "a",
    *,
    visits=None,
    reliability: float | None = None,
    functional_mean: float | None = None,
    functional_sd: float | None = None,
    alpha: float = 0.05,
) -> ReliableChangeResults:
    """Reliable and clinically significant change of every subject at every post-baseline visit.

    Parameters
    ----------
    trial : Trial
        Its instrument gives the direction, ``reliability`` and the functional norms.
    cutoff : {"a", "b", "c"}
        Clinical cut-off (module docstring); b and c need the functional norms.
    visits : sequence of float, optional
        Post-baseline visits (default: all).
    reliability, functional_mean, functional_sd : float, optional
        Override the instrument's.
    alpha : float
        1 - confidence level of the rates' and comparisons' intervals (the RCI's criterion is
        always the two-sided 5% one, as Jacobson and Truax's).

    Returns
    -------
    ReliableChangeResults

    Raises
    ------
    IptOutcomesError
        Without the instrument's reliability (naming the registry's suggestion when it has
        one), or without functional norms for cut-offs b and c.

    Notes
    -----
    Per visit over the subjects with a baseline and a score there, pooled over arms (SPEC): the
    clinical mean and SD are those subjects' baselines, as R clinicalsignificance computes them
    for a pre/post pair (``cs_combined(data, id, time, outcome, pre = baseline, post = visit,
    reliability = r, better_is = ..., rci_method = "JT", cutoff_type = ...)``). A visit with
    fewer than two such subjects, or whose baselines do not vary, has no reliable change (a
    note says so).
    """
    if cutoff not in CUTOFF_TYPES:
        raise ValueError(f"cutoff must be one of {CUTOFF_TYPES}, got {cutoff!r}")
    r, fm, fsd = _instrument_settings(trial, reliability, functional_mean, functional_sd, cutoff)
    inst = trial.instrument
    derived = trial.derived
    obs = derived.loc[derived["score"].notna()]
    grid = list(trial.post_visits)
    if visits is not None:
        wanted = {float(v) for v in visits}
        grid = [v for v in grid if v in wanted]
    parts, criteria, notes = [], [], []
    for v in grid:
        at = obs.loc[obs["visit"] == v]
        if len(at) < 2 or at["baseline"].nunique() < 2:
            notes.append(
                f"{trial.visit_label(v)}: "
                + ("fewer than two subjects with a baseline and a score"
                   if len(at) < 2 else "every baseline is the same (SD 0)")
                + ": no reliable change"
            )  # fmt: skip
            continue
        rows, info = jacobson_truax(
            at["baseline"].to_numpy(float),
            at["score"].to_numpy(float),
            reliability=r,
            higher_is_better=inst.higher_is_better,
            cutoff=cutoff,
            functional_mean=fm,
            functional_sd=fsd,
        )
        rows.insert(0, "visit", float(v))
        rows.insert(0, "arm", at["arm"].to_numpy())
        rows.insert(0, "subject_id", at["subject_id"].to_numpy())
        parts.append(rows)
        criteria.append(dict(visit=float(v), n=info["n"], m_clinical=info["m_clinical"],
                             sd_clinical=info["sd_clinical"], reliability=r,
                             s_diff=info["s_diff"], critical=info["critical"], cutoff_type=cutoff,
                             cutoff=info["cutoff"], functional_mean=fm, functional_sd=fsd))  # fmt: skip
    cols = ["subject_id", "arm", "visit", "baseline", "score", "change", "rci", "category",
            "clinical_before", "functional_after"]  # fmt: skip
    subjects = pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)
    order = {a: i for i, a in enumerate(trial.arms)}
    if len(subjects):
        subjects = subjects.sort_values(
            ["visit", "arm", "subject_id"], key=lambda s: s.map(order) if s.name == "arm" else s,
            kind="stable",
        ).reset_index(drop=True)  # fmt: skip
    done = [c["visit"] for c in criteria]
    rates = reliable_change_rates(subjects, arms=trial.arms, visits=done, alpha=alpha)
    comparisons = reliable_change_comparisons(
        subjects, trial.reference, arms=trial.arms, visits=done, alpha=alpha
    )
    crit_cols = ["visit", "n", "m_clinical", "sd_clinical", "reliability", "s_diff", "critical",
                 "cutoff_type", "cutoff", "functional_mean", "functional_sd"]  # fmt: skip
    return ReliableChangeResults(
        instrument=inst,
        reference=trial.reference,
        cutoff_type=cutoff,
        subjects=subjects,
        rates=rates,
        comparisons=comparisons,
        criteria=pd.DataFrame(criteria, columns=crit_cols),
        notes=notes,
    )


def reliable_change_rates(
    subjects: pd.DataFrame, *, arms=None, visits=None, alpha: float = 0.05
) -> pd.DataFrame:
    """Share of each category per arm and visit, with Wilson intervals.

    Parameters
    ----------
    subjects : DataFrame
        ``reliable_change.csv`` rows (``arm, visit, category``).
    arms, visits : sequence, optional
        Order of the arms and the visits to report (every category of every arm and visit gets
        a row; an arm without subjects at a visit has ``n = 0`` and empty rates).
    alpha : float

    Returns
    -------
    DataFrame
        ``arm, visit, category, n, count, rate, ci_low, ci_high`` (Wilson score interval, as R
        ``prop.test(count, n, correct = FALSE)``).
    """
    from .proportions import proportion_ci

    arms = list(arms) if arms is not None else list(dict.fromkeys(subjects["arm"]))
    visits = sorted(subjects["visit"].unique()) if visits is None else list(visits)
    counts = subjects.groupby(["arm", "visit", "category"]).size()
    totals = subjects.groupby(["arm", "visit"]).size()
    rows = []
    for v in visits:
        for arm in arms:
            n = int(totals.get((arm, v), 0))
            for cat in CATEGORIES:
                k = int(counts.get((arm, v, cat), 0))
                if n:
                    lo, hi = proportion_ci(k, n, "wilson", alpha)
                    rows.append((arm, float(v), cat, n, k, k / n, lo, hi))
                else:
                    rows.append((arm, float(v), cat, 0, 0, np.nan, np.nan, np.nan))
    return pd.DataFrame(
        rows, columns=["arm", "visit", "category", "n", "count", "rate", "ci_low", "ci_high"]
    )


def reliable_change_comparisons(
    subjects: pd.DataFrame,
    reference: str,
    *,
    arms=None,
    visits=None,
    alpha: float = 0.05,
    rd_method: str = "newcombe",
) -> pd.DataFrame:
    """Each arm against the reference: recovery, reliable improvement, reliable deterioration.

    Parameters
    ----------
    subjects : DataFrame
        ``reliable_change.csv`` rows.
    reference : str
    arms, visits : sequence, optional
    alpha : float
    rd_method : {"newcombe", "miettinen-nurminen"}

    Returns
    -------
    DataFrame
        ``arm, reference, visit, outcome`` (``recovered``; ``reliable_improvement`` = recovered
        or improved; ``reliable_deterioration`` = deteriorated or harmed), then the columns of
        :func:`ipt_outcomes.stats.response.compare_with_reference`: risk difference (arm -
        reference) with its interval (Newcombe hybrid score by default), risk ratio (Katz),
        odds ratio (Woolf), two-sided Fisher p, and the NNT worded NNTB / NNTH - for
        deterioration a higher rate in the arm is harm (NNTH). ``p_holm`` is Holm over the
        visits within each outcome.
    """
    from .response import compare_with_reference

    arms = list(arms) if arms is not None else list(dict.fromkeys(subjects["arm"]))
    visits = sorted(subjects["visit"].unique()) if visits is None else list(visits)
    out = []
    if reference not in arms or not len(subjects):
        return pd.DataFrame(columns=["arm", "reference", "visit", "outcome"])
    for name, (cats, benefit) in OUTCOMES.items():
        frame = subjects[["subject_id", "arm", "visit"]].assign(
            **{name: subjects["category"].isin(cats).to_numpy()}
        )
        table = compare_with_reference(frame, reference, name, rd_method=rd_method, alpha=alpha,
                                       arms=arms, visits=visits, harmful_event=not benefit)  # fmt: skip
        table.insert(3, "outcome", name)
        out.append(table)
    return pd.concat(out, ignore_index=True)


def reliable_change_plot(subjects: pd.DataFrame, criteria: pd.DataFrame, instrument, *,
                         arm_labels: dict | None = None, visit_labels: dict | None = None):  # fmt: skip
    """The classic pre/post scatter of reliable change (a plotnine ``ggplot``; the caller saves it).

    Baseline on the x axis, score at the visit on the y axis, one panel per arm (and per visit
    when there are several): the no-change diagonal, the band of changes that are not reliable
    (``|change| <= critical * S_diff`` around it), the clinical cut-off as dashed lines on both
    axes, and each subject coloured by category.

    Parameters
    ----------
    subjects, criteria : DataFrame
        :attr:`ReliableChangeResults.subjects` and ``.criteria`` (visits as numbers).
    instrument : Instrument
        Its name, range and direction title and orient the figure.
    arm_labels, visit_labels : dict, optional
        Display labels of arm codes and visits.
    """
    from plotnine import (
        aes,
        coord_equal,
        element_text,
        facet_grid,
        geom_abline,
        geom_hline,
        geom_point,
        geom_ribbon,
        geom_vline,
        ggplot,
        labs,
        scale_color_manual,
        scale_x_continuous,
        scale_y_continuous,
        theme,
    )

    from ..report.figures import house_theme

    arm_labels = arm_labels or {}
    visit_labels = visit_labels or {}
    lo, hi = float(instrument.minimum), float(instrument.maximum)
    d = subjects.copy()
    arm_order = [arm_labels.get(a, a) for a in dict.fromkeys(d["arm"])]
    visit_order = [visit_labels.get(v, f"{v:g}") for v in sorted(d["visit"].unique())]
    d["arm_label"] = pd.Categorical([arm_labels.get(a, a) for a in d["arm"]], arm_order)
    d["visit_label"] = pd.Categorical(
        [visit_labels.get(v, f"{v:g}") for v in d["visit"]], visit_order
    )
    d["category"] = pd.Categorical(d["category"], list(CATEGORIES))
    grid = np.linspace(lo, hi, 101)
    band = []
    for c in criteria.itertuples(index=False):
        half = c.critical * c.s_diff
        for a in arm_order:
            band.append(pd.DataFrame({"x": grid, "ymin": np.clip(grid - half, lo, hi),
                                      "ymax": np.clip(grid + half, lo, hi), "arm_label": a,
                                      "visit_label": visit_labels.get(c.visit, f"{c.visit:g}")}))  # fmt: skip
    band = pd.concat(band, ignore_index=True)
    band["arm_label"] = pd.Categorical(band["arm_label"], arm_order)
    band["visit_label"] = pd.Categorical(band["visit_label"], visit_order)
    cuts = criteria.assign(
        visit_label=pd.Categorical(
            [visit_labels.get(v, f"{v:g}") for v in criteria["visit"]], visit_order
        )
    )
    colours = {"recovered": "#009E73", "improved": "#56B4E9", "unchanged": "#999999",
               "deteriorated": "#E69F00", "harmed": "#D55E00"}  # fmt: skip
    where = "above" if instrument.higher_is_better else "below"
    fig = (
        ggplot(d, aes("baseline", "score"))
        + geom_ribbon(
            aes(x="x", ymin="ymin", ymax="ymax"),
            data=band,
            inherit_aes=False,
            fill="#cccccc",
            alpha=0.5,
        )  # fmt: skip
        + geom_abline(intercept=0, slope=1, color="#333333")
        + geom_vline(aes(xintercept="cutoff"), data=cuts, linetype="dashed")
        + geom_hline(aes(yintercept="cutoff"), data=cuts, linetype="dashed")
        + geom_point(aes(color="category"), alpha=0.8, size=1.8)
        + scale_color_manual(values=colours, drop=False)
        + scale_x_continuous(limits=(lo, hi))
        + scale_y_continuous(limits=(lo, hi))
        + coord_equal()
        + facet_grid("visit_label ~ arm_label")
        + labs(
            x=f"{instrument.name} at baseline",
            y=f"{instrument.name} at the visit",
            color="",
            title=f"Reliable change in {instrument.name} (Jacobson & Truax)",
            caption=f"{instrument.better.capitalize()} scores are better: improvement is "
            f"{where} the diagonal.\nGrey band: change within measurement error; dashed lines: "
            "the clinical cut-off.",
        )
        + house_theme()
        + theme(
            plot_caption=element_text(size=8),
            figure_size=(3.4 * len(arm_order) + 1.6, 3.4 * len(visit_order) + 1.2),
        )
    )
    return fig
