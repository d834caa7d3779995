"""Analysis results data (``ard.csv``): one row per statistic, in the spirit of CDISC's Analysis
Results Standard and R's ``cards``.

Columns: ``analysis_id, endpoint, population, estimand, analysis, instrument, arm, reference,
visit, contrast, subgroup, level, statistic, value``. A *result* is the rows sharing every column
but ``statistic`` and ``value``; within a result each statistic appears once. Conventions:

* ``contrast``: ``difference`` (arm minus reference: MMRM, ANCOVA, multiple imputation),
  ``lsmean`` (an arm's least-squares mean; ``reference`` empty), ``rate`` (an arm's response or
  remission rate), ``risk_difference`` / ``risk_ratio`` / ``odds_ratio`` (response
  comparisons), a model term for the random-effects model (``arm[IPT]:time``), ``fit`` (model
  fit statistics), ``analysed`` (subjects analysed), ``tipping_point``; a population's size is a
  row with ``statistic = n`` per arm (``analysis = population``, and once more under each
  analysis that uses the population).
* ``statistic``: ``estimate, se, df, t, p, ci_low, ci_high, p_adjusted, n, n_analysed, events,
  delta, ...``; ``p_adjusted`` is the multiplicity-adjusted p of the plan's rule (family members
  only).
* ``arm`` and ``reference`` are arm codes as in the data; ``visit`` as in the data.
* A modelled arm is fitted with the reference arm alone: those rows have ``level`` =
  :data:`MODELLED_FIT` (the reference's LS mean of that fit among them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ARD_COLUMNS", "result_rows", "population_rows"]

#: ``level`` of the rows of a modelled arm's fit (the modelled arm with the reference alone).
MODELLED_FIT = "fit of the modelled arm with the reference"

ARD_COLUMNS = ["analysis_id", "endpoint", "population", "estimand", "analysis", "instrument",
               "arm", "reference", "visit", "contrast", "subgroup", "level", "statistic",
               "value"]  # fmt: skip

_T_STATS = ("estimate", "se", "df", "t", "p", "ci_low", "ci_high", "p_adjusted")
_LSM_STATS = ("estimate", "se", "df", "ci_low", "ci_high")
_RESPONSE = (
    ("risk_difference", "risk_difference", "rd_ci_low", "rd_ci_high"),
    ("risk_ratio", "risk_ratio", "rr_ci_low", "rr_ci_high"),
    ("odds_ratio", "odds_ratio", "or_ci_low", "or_ci_high"),
)


def _melt(frame: pd.DataFrame, stats, ident: dict, *, contrast=None, rename=None) -> list[dict]:
    """Rows of ``frame`` as ARD rows: its ``arm, reference, visit`` (when present) plus
    ``ident``, one row per statistic in ``stats`` that is a column."""
    out = []
    if frame is None or not len(frame):
        return out
    rename = rename or {}
    for r in frame.to_dict("records"):
        base = dict(ident)
        if r.get("fit") == "modelled":  # the modelled arm's own fit, with the reference alone
            base["level"] = MODELLED_FIT
        base["arm"] = r.get("arm", "")
        base["reference"] = r.get("reference", "") if "reference" in r else ""
        base["visit"] = r.get("visit", "")
        base["contrast"] = r.get("contrast", contrast) if contrast is None else contrast
        for s in stats:
            col = rename.get(s, s)
            if col not in r:
                continue
            v = r[col]
            if isinstance(v, bool | np.bool_):
                v = float(v)
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            out.append({**base, "statistic": s, "value": v})
    return out


def result_rows(res, instrument: str, population_n: pd.DataFrame) -> list[dict]:
    """ARD rows of one :class:`~ipt_outcomes.plan.analyses.Result`."""
    ident = dict(analysis_id=res.id, endpoint=res.endpoint.id, population=res.population,
                 estimand=res.estimand, analysis=res.analysis, instrument=instrument,
                 subgroup="", level="")  # fmt: skip
    t = res.tables
    rows: list[dict] = []
    # the population's size per arm, under this analysis
    pn = population_n[population_n["population"] == res.population]
    for r in pn.itertuples(index=False):
        rows.append({**ident, "arm": r.arm, "reference": "", "visit": "", "contrast": "",
                     "statistic": "n", "value": int(r.n)})  # fmt: skip
    rows += _melt(res.n, ("n_analysed",), ident, contrast="analysed", rename={"n_analysed": "n"})
    a = res.analysis
    if a in ("mmrm", "ancova", "mi"):
        rows += _melt(t.get("contrasts"), _T_STATS, ident, contrast="difference")
        rows += _melt(t.get("lsmeans"), _LSM_STATS, ident, contrast="lsmean")
        fit = t.get("fit")
        if fit is not None:
            rows += _melt(fit, ("neg2_reml_loglik", "neg2_loglik", "aic", "bic", "n_subjects",
                                "n_obs"), ident, contrast="fit")  # fmt: skip
    elif a == "lmm":
        fixed = t.get("fixed")
        if fixed is not None:
            for r in fixed.to_dict("records"):
                for s in _T_STATS:
                    if s in r and np.isfinite(r[s]):
                        rows.append({**ident, "arm": "", "reference": "", "visit": "",
                                     "contrast": r["term"], "statistic": s, "value": r[s]})  # fmt: skip
        rows += _melt(t.get("fit"), ("loglik", "var_intercept", "var_slope", "var_residual",
                                     "n_obs", "n_subjects"), ident, contrast="fit")  # fmt: skip
        rows += _melt(t.get("icc"), ("var_group", "var_subject", "var_residual", "icc",
                                     "n_groups"), ident, contrast="therapy_groups")  # fmt: skip
        nested = t.get("nested")
        if nested is not None:
            for r in nested.to_dict("records"):
                for s in _T_STATS:
                    if s in r and np.isfinite(r[s]):
                        rows.append({**ident, "arm": "", "reference": "", "visit": "",
                                     "contrast": f"{r['model']}: {r['term']}", "statistic": s,
                                     "value": r[s]})  # fmt: skip
    elif a in ("response", "adjusted-response", "missing-rule"):
        rates = t.get("rates")
        if rates is not None:
            ev = "responders" if "responders" in rates else "remitters"
            rows += _melt(rates, ("estimate", "ci_low", "ci_high", "events", "n_analysed"),
                          ident, contrast="rate",
                          rename={"estimate": "rate", "events": ev, "n_analysed": "n"})  # fmt: skip
        comp = t.get("comparisons")
        if comp is not None:
            for contrast, est, lo, hi in _RESPONSE:
                extra = ("p", "p_adjusted") if contrast == "risk_difference" else ()
                rows += _melt(comp, ("estimate", "ci_low", "ci_high", *extra), ident,
                              contrast=contrast,
                              rename={"estimate": est, "ci_low": lo, "ci_high": hi,
                                      "p": "p_fisher"})  # fmt: skip
        rc = t.get("rc_rates")
        if rc is not None:
            for r in rc.to_dict("records"):
                lvl = {"level": f"fit of the modelled arm with the reference: {r['category']}"
                       if r.get("fit") == "modelled" else r["category"]}  # fmt: skip
                for stat, col in (("estimate", "rate"), ("ci_low", "ci_low"),
                                  ("ci_high", "ci_high"), ("events", "count"),
                                  ("n_analysed", "n")):  # fmt: skip
                    v = r.get(col)
                    if v is not None and v == v:
                        rows.append({**ident, "arm": r["arm"], "reference": "",
                                     "visit": r["visit"], "contrast": "rate", **lvl,
                                     "statistic": stat, "value": v})  # fmt: skip
        rcc = t.get("rc_comparisons")
        if rcc is not None:
            for outcome, part in rcc.groupby("outcome", sort=False):
                for contrast, est, lo, hi in _RESPONSE:
                    extra = ("p", "p_adjusted") if contrast == "risk_difference" else ()
                    for row in _melt(part, ("estimate", "ci_low", "ci_high", *extra), ident,
                                     contrast=contrast,
                                     rename={"estimate": est, "ci_low": lo, "ci_high": hi,
                                             "p": "p_fisher"}):  # fmt: skip
                        row["level"] = (f"{row['level']}: {outcome}" if row["level"]
                                        else outcome)  # fmt: skip
                        rows.append(row)
        eff = t.get("effects")
        if eff is not None:
            rows += _melt(eff, ("estimate", "se", "ci_low", "ci_high", "p", "p_adjusted"), ident)
        if a == "missing-rule":  # a continuous endpoint's rule: ANCOVA tables
            rows += _melt(t.get("contrasts"), _T_STATS, ident, contrast="difference")
            rows += _melt(t.get("lsmeans"), _LSM_STATS, ident, contrast="lsmean")
    elif a == "tipping-point":
        rows += _melt(t.get("contrasts"), _T_STATS, ident, contrast="difference")
        grid = t.get("grid")
        if grid is not None:
            for r in grid.to_dict("records"):
                lvl = f"delta {r['delta']:g}"
                for s in ("estimate", "se", "ci_low", "ci_high", "p"):
                    if np.isfinite(r[s]):
                        rows.append({**ident, "arm": r["arm"], "reference": r["reference"],
                                     "visit": r["visit"], "contrast": "difference",
                                     "level": lvl, "statistic": s, "value": r[s]})  # fmt: skip
        rows += _melt(t.get("exact"), ("delta", "estimate", "se", "ci_low", "ci_high", "p"),
                      ident, contrast="tipping_point")  # fmt: skip
    elif a == "subgroup":
        for r in t.get("contrasts", pd.DataFrame()).to_dict("records"):
            for s in _T_STATS:
                if s in r and r[s] is not None and np.isfinite(r[s]):
                    rows.append({**ident, "arm": r["arm"], "reference": r["reference"],
                                 "visit": r["visit"], "contrast": "difference",
                                 "subgroup": r["subgroup"], "level": str(r["level"]),
                                 "statistic": s, "value": r[s]})  # fmt: skip
        for r in t.get("interaction", pd.DataFrame()).to_dict("records"):
            for s in ("num_df", "den_df", "f", "p"):
                stat = "interaction_p" if s == "p" else f"interaction_{s}"
                if r.get(s) is not None and np.isfinite(r[s]):
                    rows.append({**ident, "arm": "", "reference": "", "visit": r["visit"],
                                 "contrast": "interaction", "subgroup": r["subgroup"],
                                 "statistic": stat, "value": r[s]})  # fmt: skip
    return rows


def population_rows(counts: pd.DataFrame) -> list[dict]:
    """``statistic = n`` per population and arm (``analysis = population``)."""
    rows = []
    for r in counts.itertuples(index=False):
        rows.append(dict(analysis_id=f"population-{r.population}", endpoint="",
                         population=r.population, estimand="", analysis="population",
                         instrument="", arm=r.arm, reference="", visit="", contrast="",
                         subgroup="", level="", statistic="n", value=int(r.n)))  # fmt: skip
    return rows


def frame(rows: list[dict]) -> pd.DataFrame:
    """The ARD as a frame, columns in order, every value a number."""
    out = pd.DataFrame(rows, columns=ARD_COLUMNS)
    for c in ARD_COLUMNS[:-1]:
        out[c] = out[c].fillna("")
    out["value"] = out["value"].astype(float)
    return out
