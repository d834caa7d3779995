"""Pool several effect sizes of one study into one, assuming they correlate (as metafor's
``aggregate.escalc(struct = "CS", rho = RHO)``).

A study that reports its effect on several instruments (HAM-D and BDI, say) gives effect sizes
that are not independent. With a compound-symmetric correlation ``rho`` between them, the
study's covariance matrix is ``V = rho s s' + (1 - rho) diag(s^2)``; the pooled effect is the
inverse-variance (generalised least squares) mean ``1' V^-1 y / 1' V^-1 1`` with variance
``1 / 1' V^-1 1`` (Borenstein et al. 2009, ch. 24). ``rho = 0`` gives the fixed-effect mean of
the study's effect sizes; a study with one effect size is unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import IptOutcomesError

__all__ = ["aggregate_effects", "duplicated_studies"]


def duplicated_studies(data: pd.DataFrame, study: str = "study") -> dict:
    """Studies with more than one row: ``{study: [row labels]}`` (in file order).

    Examples
    --------
    >>> d = pd.DataFrame({"study": ["A", "B", "A"], "row": ["row 2", "row 3", "row 4"]})
    >>> duplicated_studies(d)
    {'A': ['row 2', 'row 4']}
    """
    counts = data[study].value_counts(sort=False)
    dup = counts[counts > 1].index
    rows = data["row"] if "row" in data.columns else pd.Series(data.index.astype(str),
                                                               index=data.index)  # fmt: skip
    return {s: list(rows[data[study] == s]) for s in data[study].drop_duplicates() if s in dup}


def aggregate_effects(
    data: pd.DataFrame,
    rho: float,
    *,
    effect: str = "effect",
    se: str = "se",
    study: str = "study",
) -> pd.DataFrame:
    """One row per study: its effect sizes pooled under correlation ``rho``.

    Parameters
    ----------
    data : DataFrame
        One row per effect size.
    rho : float
        Assumed correlation between effect sizes of the same study, ``0 <= rho < 1``.
    effect, se, study : str
        Column names.

    Returns
    -------
    DataFrame
        ``study, effect, se, n_effects`` in order of each study's first row, with the other
        columns of that first row (``row`` lists every row pooled, e.g. ``"row 4, row 5"``).

    Notes
    -----
    Validated against metafor 3.8-1 ``aggregate(escalc(yi, sei), cluster = study, rho)`` on
    the Metapsy depression database (``tests/reference/meta``), to 1e-12.

    Examples
    --------
    >>> d = pd.DataFrame({"study": ["A", "A", "B"], "effect": [0.4, 0.6, 0.2],
    ...                   "se": [0.2, 0.2, 0.1]})
    >>> a = aggregate_effects(d, 0.5)
    >>> a[["study", "n_effects"]].to_dict("list")
    {'study': ['A', 'B'], 'n_effects': [2, 1]}
    >>> [round(x, 12) for x in a["effect"]], [round(x * x, 12) for x in a["se"]]  # metafor: yi, vi
    ([0.5, 0.2], [0.03, 0.01])
    """
    if not 0 <= rho < 1:
        raise ValueError(f"rho must be in [0, 1), got {rho}")
    if data.empty:
        return data.assign(n_effects=pd.Series(dtype=int))
    codes, names = pd.factorize(data[study], sort=False)
    y_all = data[effect].to_numpy(dtype=float)
    s_all = data[se].to_numpy(dtype=float)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    groups = np.split(order, bounds)  # row positions of each study, in order of first row
    rows = data["row"].astype(str).to_numpy() if "row" in data.columns else None
    first = np.array([g[0] for g in groups])
    out_y, out_se, n_eff, row_lists = [], [], [], []
    for g in groups:
        y, s = y_all[g], s_all[g]
        n = len(g)
        if n == 1:
            out_y.append(float(y[0]))
            out_se.append(float(s[0]))
        else:
            cov = rho * np.outer(s, s)
            cov[np.diag_indices(n)] = s * s
            try:
                chol = np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:  # pragma: no cover - rho < 1 keeps V positive definite
                raise IptOutcomesError(
                    f"study {names[codes[g[0]]]}: the effect sizes' covariance is not positive "
                    f"definite with rho = {rho}"
                ) from None
            a = np.linalg.solve(chol, np.ones(n))
            b = np.linalg.solve(chol, y)
            total = float(a @ a)  # 1' V^-1 1
            out_y.append(float(a @ b) / total)
            out_se.append(float(np.sqrt(1.0 / total)))
        n_eff.append(n)
        if rows is not None:
            row_lists.append(", ".join(rows[g]))
    out = data.iloc[first].copy()
    out[effect] = out_y
    out[se] = out_se
    out["n_effects"] = n_eff
    if rows is not None:
        out["row"] = row_lists
    return out.reset_index(drop=True)
