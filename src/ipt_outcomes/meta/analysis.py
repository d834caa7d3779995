"""A whole meta-analysis as the ``meta`` command runs it: effect sizes pooled within studies
(``rho``), the random-effects model overall and per subgroup (``by``), Egger's test and the
test of subgroup differences.

Each subgroup is its own model: the effect sizes of that level only, pooled within studies and
fitted with its own tau^2, exactly as the overall model on a file holding only that level. A
study whose effect sizes fall in several levels (risk of bias judged per outcome, say)
therefore contributes to several subgroups; the test of subgroup differences then treats them as
independent, and says so.

Edge cases (decided with metafor's behaviour as the guide):

* fewer than 2 studies overall: refused (nothing to pool); a subgroup with one study is its own
  model with tau^2 = 0 and the z test (metafor switches from Knapp-Hartung and warns), Q = 0 on
  0 df with p = 1 and no tau^2 interval;
* k = 2: fitted; Knapp-Hartung then uses t with 1 df (a very wide interval, which is honest);
* tau^2 on the boundary: exactly 0 when the (restricted) likelihood is highest there (metafor's
  Fisher scoring stops just above 0); a note says the result equals the fixed-effect one;
* Knapp-Hartung with effects that vary less than their SEs imply (s^2 < 1, tau^2 = 0): not
  truncated, as metafor, so the interval can be narrower than the z interval; with all effects
  equal its width is 0; a note says so and names ``--test z`` as the conservative choice;
* Egger's test with k < 3, equal standard errors or an exact fit: empty, with the reason.

The test of subgroup differences compares the subgroup estimates with a fixed-effect Q test
(``Q = sum((mu_g - mu_bar)^2 / se_g^2)``, ``G - 1`` df, Borenstein et al. 2009, ch. 19), using
each subgroup's own standard error (Knapp-Hartung-adjusted with ``test="knha"``); in metafor,
``rma(estimates, sei = ses, method = "FE")``'s Q.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.validation import Problem
from ..exceptions import DataValidationError, IptOutcomesError
from .aggregate import aggregate_effects, duplicated_studies
from .egger import egger_table, egger_test
from .pooling import POOLED_COLUMNS, STUDY_COLUMNS, RandomEffectsResults, random_effects

__all__ = ["MetaAnalysis", "meta_analysis", "subgroup_levels", "MISSING_LEVEL"]

#: The level of a ``by`` column for rows whose cell is empty or NA.
MISSING_LEVEL = "(missing)"


def subgroup_levels(values) -> list[str]:
    """The levels of a ``by`` column in display order: numerically when every level is a
    number, else alphabetically (as R's factor); empty cells last as ``(missing)``.

    Examples
    --------
    >>> subgroup_levels(["4", "10", "2", ""])
    ['2', '4', '10', '(missing)']
    >>> subgroup_levels(["ind", "grp", "gsh"])
    ['grp', 'gsh', 'ind']
    """
    present = sorted({str(v) for v in values if str(v) not in ("", MISSING_LEVEL)})
    with contextlib.suppress(ValueError):  # not all numbers: alphabetical
        present.sort(key=float)
    missing = any(str(v) in ("", MISSING_LEVEL) for v in values)
    return present + ([MISSING_LEVEL] if missing else [])


@dataclass
class MetaAnalysis:
    """Results of :func:`meta_analysis`.

    Attributes
    ----------
    overall : RandomEffectsResults
    subgroups : dict of str -> RandomEffectsResults
        One model per level of ``by`` (empty without ``by``).
    by : str or None
    egger : dict
        :func:`~ipt_outcomes.meta.egger_test` of the overall model's studies.
    between : dict
        Test of subgroup differences (``q, df, p``; empty without ``by``).
    data : DataFrame
        The studies as analysed overall (one row per study; pooled when ``rho`` is given).
    notes : list of str
    """

    overall: RandomEffectsResults
    subgroups: dict
    by: str | None
    egger: dict
    between: dict
    data: pd.DataFrame
    rho: float | None = None
    notes: list = field(default_factory=list)

    def pooled_table(self) -> pd.DataFrame:
        """``meta_pooled.csv``: the overall row (``by`` and ``subgroup`` empty), then one row
        per level."""
        rows = [self.overall.pooled()]
        rows += [fit.pooled(self.by or "", level) for level, fit in self.subgroups.items()]
        return pd.concat(rows, ignore_index=True)[POOLED_COLUMNS]

    def studies_table(self) -> pd.DataFrame:
        """``meta_studies.csv``: each study's effect, SE, weight in the overall model (percent)
        and 95% interval."""
        return self.overall.studies[STUDY_COLUMNS].copy()

    def egger_table(self) -> pd.DataFrame:
        """``meta_egger.csv``: Egger's intercept, its SE and p (empty when not testable)."""
        return egger_table(self.egger)

    def fit_table(self) -> pd.DataFrame:
        """``meta_fit.csv``: per model the test statistic, df, p, tau, the Q-profile intervals
        of tau^2, I^2 and H^2, and the Knapp-Hartung factor."""
        rows = [self.overall.fit_table().assign(by="", subgroup="")]
        rows += [fit.fit_table().assign(by=self.by or "", subgroup=level)
                 for level, fit in self.subgroups.items()]  # fmt: skip
        out = pd.concat(rows, ignore_index=True)
        return out[["by", "subgroup", *[c for c in out.columns if c not in ("by", "subgroup")]]]

    def tests_table(self) -> pd.DataFrame:
        """``meta_tests.csv``: Egger's test in full (t, df, the limit estimate) and the test
        of subgroup differences, one row each, with a note when a value is empty."""
        e = self.egger
        rows = [dict(test="egger", statistic=e["t"], df=e["df"], p=e["p"], estimate=e["intercept"],
                     se=e["se"], limit_estimate=e["limit_estimate"], limit_se=e["limit_se"],
                     limit_ci_low=e["limit_ci_low"], limit_ci_high=e["limit_ci_high"],
                     note=e["note"])]  # fmt: skip
        if self.between:
            b = self.between
            rows.append(dict(test="subgroup_difference", statistic=b["q"], df=b["df"], p=b["p"],
                             note=b["note"]))  # fmt: skip
        return pd.DataFrame(rows)


def _between(subgroups: dict) -> dict:
    from scipy.stats import chi2

    fits = [f for f in subgroups.values() if np.isfinite(f.se)]
    usable = [f for f in fits if f.se > 0]
    note = ""
    if len(usable) < len(fits):
        note = "left out: subgroups whose standard error is 0 (Knapp-Hartung with equal effects)"
    if len(usable) < 2:
        return dict(q=float("nan"), df=0, p=float("nan"),
                    note=(note + "; " if note else "") + "fewer than two subgroups to compare")  # fmt: skip
    est = np.array([f.estimate for f in usable])
    w = 1.0 / np.array([f.se for f in usable]) ** 2
    mean = float(np.sum(w * est) / np.sum(w))
    q = float(np.sum(w * (est - mean) ** 2))
    df = len(usable) - 1
    return dict(q=q, df=df, p=float(chi2.sf(q, df)), note=note)


def meta_analysis(
    data: pd.DataFrame,
    *,
    method: str = "reml",
    test: str = "knha",
    by: str | None = None,
    rho: float | None = None,
    effect: str = "effect",
    se: str = "se",
    study: str = "study",
    level: float = 0.95,
    source: str | None = None,
) -> MetaAnalysis:
    """Random-effects meta-analysis of a table of effect sizes (what ``ipt-outcomes meta`` runs).

    Parameters
    ----------
    data : DataFrame
        One row per effect size, e.g. from :func:`~ipt_outcomes.meta.read_effect_sizes`
        (columns ``study, effect, se`` and ``row``, the row label used in messages).
    method : {"reml", "ml", "pm", "dl"}
    test : {"knha", "z"}
    by : str, optional
        A column whose levels each get their own model.
    rho : float, optional
        Pool several effect sizes per study assuming this correlation (``0 <= rho < 1``);
        without it, a study in more than one row is an error.
    effect, se, study : str
        Column names.
    level : float
        Confidence level.
    source : str, optional
        The file, for messages (default ``data.attrs["source"]``).

    Returns
    -------
    MetaAnalysis

    Raises
    ------
    DataValidationError
        A study in several rows without ``rho`` (every such study, with its rows).
    IptOutcomesError
        Fewer than two studies.

    Examples
    --------
    >>> d = pd.DataFrame({"study": ["A", "B", "B", "C"], "effect": [0.2, 0.5, 0.7, 0.1],
    ...                   "se": [0.1, 0.2, 0.2, 0.15], "rob": ["low", "high", "high", "low"]})
    >>> res = meta_analysis(d, rho=0.5, by="rob")
    >>> res.pooled_table()[["by", "subgroup", "k"]].to_dict("list")
    {'by': ['', 'rob', 'rob'], 'subgroup': ['', 'high', 'low'], 'k': [3, 1, 2]}
    """
    src = source or data.attrs.get("source", "data")
    if rho is not None and not 0 <= rho < 1:
        raise ValueError(f"rho must be in [0, 1), got {rho}")
    if by is not None and by not in data.columns:
        raise IptOutcomesError(f"{src}: no column {by!r} (for --by)")
    notes = list(data.attrs.get("notes", []))
    if rho is None:
        dup = duplicated_studies(data, study)
        if dup:
            problems = [
                Problem("duplicate", f"study {name} has {len(rows)} effect sizes (rows "
                        f"{', '.join(r.removeprefix('row ') for r in rows)}); pool them with "
                        "--aggregate RHO (e.g. 0.5), keep one per study, or give each its own "
                        "name (--study-col)", row=rows[0], column=study)
                for name, rows in dup.items()
            ]  # fmt: skip
            raise DataValidationError(problems, src)

    def prepare(frame: pd.DataFrame) -> pd.DataFrame:
        if rho is None:
            return frame.reset_index(drop=True)
        return aggregate_effects(frame, rho, effect=effect, se=se, study=study)

    def fit(frame: pd.DataFrame) -> RandomEffectsResults:
        return random_effects(frame, effect=effect, se=se, study=study, method=method, test=test,
                              level=level)  # fmt: skip

    overall_data = prepare(data)
    k = len(overall_data)
    if k < 2:
        what = "study" if k == 1 else "studies"
        raise IptOutcomesError(
            f"{src}: a meta-analysis needs at least 2 studies; there {'is' if k == 1 else 'are'} "
            f"{k} {what} with an effect size and a standard error"
            + (f" ({overall_data[study].iloc[0]})" if k == 1 else "")
        )
    if rho is not None and (overall_data["n_effects"] > 1).any():
        m = int((overall_data["n_effects"] > 1).sum())
        notes.append(f"{m} of {k} studies have several effect sizes, pooled with rho = {rho:g}")
    overall = fit(overall_data)
    subgroups: dict[str, RandomEffectsResults] = {}
    between: dict = {}
    if by is not None:
        cells = data[by].astype(str).replace("", MISSING_LEVEL)
        levels = subgroup_levels(cells)
        if MISSING_LEVEL in levels:
            n = int((cells == MISSING_LEVEL).sum())
            what = f"{n} effect sizes have" if n > 1 else "1 effect size has"
            notes.append(f"{what} no {by}: analysed as the level {MISSING_LEVEL}")
        for lev in levels:
            subgroups[lev] = fit(prepare(data[cells == lev]))
        for lev, f in subgroups.items():
            if f.k == 1:
                notes.append(f"{by} = {lev}: one study; tau^2 = 0 and the z test (as metafor)")
        spread = data.assign(_lev=cells).groupby(study)["_lev"].nunique()
        across = list(spread[spread > 1].index)
        between = _between(subgroups)
        if across:
            shown = ", ".join(across[:5]) + (" ..." if len(across) > 5 else "")
            many = f"{len(across)} studies have" if len(across) > 1 else "1 study has"
            msg = (f"{many} effect sizes in several levels of {by} "
                   f"({shown}) and count in each; the test of subgroup differences treats the "
                   "subgroups as independent")  # fmt: skip
            notes.append(msg)
            between["note"] = "; ".join(x for x in (between["note"], msg) if x)
    e = egger_test(overall_data[effect], overall_data[se], level)
    if e["note"]:
        notes.append(f"Egger's test: {e['note']}")
    notes += overall.notes
    for lev, f in subgroups.items():
        notes += [f"{by} = {lev}: {n}" for n in f.notes if not n.startswith("one study")]
    return MetaAnalysis(overall=overall, subgroups=subgroups, by=by, egger=e, between=between,
                        data=overall_data, rho=rho, notes=list(dict.fromkeys(notes)))  # fmt: skip
