"""The tables of an "Estimands" report section (ICH E9(R1)).

* :func:`estimand_description` - the primary estimand in the ICH E9(R1) attributes, built from
  the trial's design and data.
* :func:`estimand_tables` - that description; the primary MMRM (MAR) beside the reference-based
  sensitivity analyses at the key visit; and the delta-adjusted tipping point.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

from ..constants import MI_STRATEGIES
from ..exceptions import IptOutcomesError

__all__ = ["estimand_description", "estimand_tables", "STRATEGY_NAMES"]

#: What each strategy assumes after an intercurrent event (Carpenter, Roger & Kenward 2013).
STRATEGY_NAMES = {
    "MAR": "missing at random: outcomes continue as in the subject's own arm",
    "JR": "jump to reference: from the event, the reference arm's mean",
    "CR": "copy reference: the reference arm's mean at every visit",
    "CIR": "copy increments in reference: the reference arm's changes from the last visit before the event",
    "LMCF": "last mean carried forward: the subject's arm mean at the last visit before the event",
}


def estimand_description(trial, strategy: str = "MAR", events: pd.DataFrame | None = None,
                         visit: float | None = None) -> pd.DataFrame:  # fmt: skip
    """The primary estimand in the ICH E9(R1) attributes.

    Parameters
    ----------
    trial : Trial
    strategy : str
        Strategy for dropouts without an events row.
    events : DataFrame, optional
        Intercurrent events (:func:`~ipt_outcomes.estimands.events.read_events`).
    visit : float, optional
        The key visit (default the design's last key visit).

    Returns
    -------
    DataFrame
        ``attribute, description``: population, treatment conditions, variable (endpoint),
        intercurrent events and their strategies, population-level summary measure.
    """
    from .events import intercurrent_events

    visit = float(trial.key_visits[-1] if visit is None else visit)
    ice = intercurrent_events(trial, strategy, events)
    n = len(ice)
    per_arm = ", ".join(f"{trial.arm_label(a)} {int((ice['arm'] == a).sum())}" for a in trial.arms)
    ref = trial.reference
    others = [a for a in trial.arms if a != ref]
    happened = ice[ice["visit"].notna()]
    by = happened.groupby(["strategy", "source"]).size()
    if len(happened):
        parts = []
        for (s, source), k in by.items():
            what = "dropouts" if source == "dropout" else "events from the events file"
            parts.append(f"{k} {what} handled by {s} ({STRATEGY_NAMES[s]})")
        ice_text = (f"{len(happened)} of {n} subjects: treatment discontinuation or dropout before "
                    f"the last visit; " + "; ".join(parts) + ". Missing visits followed by an "
                    "observed one are imputed under MAR.")  # fmt: skip
    else:
        ice_text = "None observed: every subject was assessed up to the last visit."
    rows = [
        ("Population", f"Randomised subjects with a baseline {trial.instrument.name} score "
                       f"(n = {n}: {per_arm})."),
        ("Treatment", "; ".join(f"{trial.arm_label(a)} versus {trial.arm_label(ref)}"
                                for a in others) + "."),
        ("Variable", f"Change from baseline in {trial.instrument.name} at "
                     f"{trial.visit_label(visit)}."),
        ("Intercurrent events and strategies", ice_text),
        ("Population-level summary", "Difference in mean change from baseline between each arm "
                                     "and the reference (ANCOVA adjusted for baseline; "
                                     "multiple imputation pooled), with 95% CI."),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["attribute", "description"])


TIP_COLS = ["arm", "reference", "visit", "delta", "estimate", "se", "df", "ci_low", "ci_high", "p",
            "significant", "tipping_point", "strategy", "method"]  # fmt: skip
TIP_EXACT_COLS = ["arm", "reference", "visit", "delta", "estimate", "se", "ci_low", "ci_high", "p",
                  "direction"]  # fmt: skip


def estimand_tables(
    trial,
    strategies=MI_STRATEGIES,
    method: str = "condmean",
    *,
    events: pd.DataFrame | None = None,
    visit: float | None = None,
    tipping_strategy: str = "MAR",
    deltas=None,
    alpha: float = 0.05,
    seed: int = 2016,
    n_samples: int | None = None,
    workers: int | None = 1,
    primary: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Everything an "Estimands" report section shows, as tables.

    Parameters
    ----------
    trial : Trial
    strategies : sequence of str
        Reference-based sensitivity analyses to run (default all five: MAR, JR, CR, CIR, LMCF);
        each is the strategy of every dropout without an events row.
    method : {"condmean", "approxbayes", "bayes"}
        Imputation method (default conditional mean imputation with the jackknife, which is
        deterministic).
    events : DataFrame, optional
        Intercurrent events; their own strategies are kept in every analysis.
    visit : float, optional
        The key visit (default the design's last).
    tipping_strategy : str
        Strategy of the delta-adjusted tipping-point analysis (default MAR).
    deltas : sequence of float, optional
        Tipping-point grid (default -8 to 8 by 0.5 points).
    alpha, seed, n_samples, workers
        As :func:`~ipt_outcomes.estimands.reference_based.reference_based_mi`.
    primary : DataFrame, optional
        The primary MMRM's contrasts (``MMRMResults.contrasts()``) when the caller has already
        fitted it (the report does), so that the model is fitted once.

    Returns
    -------
    dict of DataFrame
        ``estimand`` - :func:`estimand_description` (``attribute, description``): population,
        treatment, variable, intercurrent events and their strategies, summary measure.

        ``analyses`` - at the key visit, one row per analysis and non-reference arm:
        ``analysis, strategy, method, arm, reference, visit, estimate, se, df, ci_low, ci_high,
        p``; first the primary MMRM (MAR, Kenward-Roger df, the SPEC's default), then the
        multiple imputation under each strategy.

        ``tipping_point`` - :meth:`MIResults.tipping_point` at the key visit: ``arm, reference,
        visit, delta, estimate, se, df, ci_low, ci_high, p, significant, tipping_point,
        strategy, method``, over the grid.

        ``tipping_point_exact`` - the deltas at which p crosses ``alpha``: ``arm, reference,
        visit, delta, estimate, se, ci_low, ci_high, p, direction``.

    Notes
    -----
    ICH E9(R1) (2019) asks that an estimand name its population, treatment conditions,
    variable, the handling of intercurrent events and the population-level summary; the
    reference-based analyses are the sensitivity analyses regulators ask for (Carpenter, Roger &
    Kenward 2013; Wolbers et al. 2022). ``delta`` is added to the imputed post-event changes of
    the non-reference arms: positive deltas are worse outcomes on a symptom scale.

    Examples
    --------
    >>> import pandas as pd
    >>> from ipt_outcomes.data.trial import trial_from_frame
    >>> scores = pd.DataFrame({
    ...     "subject_id": [s for s in "abcdefgh" for _ in range(3)],
    ...     "arm": ["TAU"] * 12 + ["CBT"] * 12,
    ...     "visit": [0, 4, 8] * 8,
    ...     "hamd17": [20, 17, 15, 22, 20, None, 18, 15, 14, 25, 21, 20,
    ...                21, 14, 10, 19, 12, None, 24, 16, 11, 23, 15, 12]})
    >>> tables = estimand_tables(trial_from_frame(scores, reference="TAU"), strategies=("JR",),
    ...                          deltas=[0, 4])
    >>> sorted(tables)
    ['analyses', 'estimand', 'tipping_point', 'tipping_point_exact']
    >>> tables["estimand"]["attribute"].tolist()
    ['Population', 'Treatment', 'Variable', 'Intercurrent events and strategies', 'Population-level summary']
    >>> tables["analyses"]["analysis"].tolist()
    ['MMRM (primary)', 'Multiple imputation (JR)']
    """
    from ..models.mmrm import fit_mmrm
    from .reference_based import reference_based_mi

    visit = float(trial.key_visits[-1] if visit is None else visit)
    deltas = np.arange(-8.0, 8.25, 0.5) if deltas is None else np.asarray(deltas, float)
    mmrm = fit_mmrm(trial, alpha=alpha).contrasts() if primary is None else primary
    mmrm = mmrm[mmrm["visit"] == visit].assign(
        analysis="MMRM (primary)", strategy="MAR", method="mmrm_reml_kenward_roger"
    )
    rows = [mmrm]
    kw = dict(events=events, method=method, alpha=alpha, seed=seed, n_samples=n_samples,
              workers=workers)  # fmt: skip
    tip = None
    for s in strategies:
        try:
            res = reference_based_mi(trial, s, **kw)
        except (
            IptOutcomesError
        ) as exc:  # e.g. LMCF with events at the first visit: said, not hidden
            rows.append(pd.DataFrame([dict(analysis=f"Multiple imputation ({s})", strategy=s,
                                           method=method, visit=visit, note=f"not estimated: {exc}")]))  # fmt: skip
            continue
        c = res.contrasts()
        rows.append(c[c["visit"] == visit].assign(analysis=f"Multiple imputation ({s})"))
        if s == tipping_strategy:
            tip = res
    if tip is None and tipping_strategy not in strategies:
        with contextlib.suppress(IptOutcomesError):  # then no tipping point, as below
            tip = reference_based_mi(trial, tipping_strategy, **kw)
    cols = ["analysis", "strategy", "method", "arm", "reference", "visit", "estimate", "se", "df",
            "ci_low", "ci_high", "p", "note"]  # fmt: skip
    analyses = pd.concat([r.reindex(columns=cols) for r in rows], ignore_index=True)
    analyses["note"] = analyses["note"].astype(object).fillna("")
    return {
        "estimand": estimand_description(
            trial, tipping_strategy if not strategies else strategies[0], events, visit
        ),  # fmt: skip
        "analyses": analyses,
        # without the tipping strategy's imputation (its row in ``analyses`` says why) the
        # tipping-point tables are empty, and a report leaves them out
        "tipping_point": (
            tip.tipping_point(deltas, visit) if tip is not None else pd.DataFrame(columns=TIP_COLS)
        ),
        "tipping_point_exact": (
            tip.tipping_point_exact(float(deltas.min()), float(deltas.max()), visit)
            if tip is not None
            else pd.DataFrame(columns=TIP_EXACT_COLS)
        ),
    }
