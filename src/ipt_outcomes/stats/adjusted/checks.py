"""Argument checks shared by the steps of the covariate-adjusted analysis."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

#: The variances of the marginal risks (Ge et al. sandwich, Ye et al., Ge model-based).
VARIANCES = ("ge", "ye", "model")


def _names(value, argument: str) -> tuple:
    """A column-name argument as a tuple (a single string is one name)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    try:
        names = tuple(value)
    except TypeError:
        raise ValueError(f"{argument} must be a column name or a sequence of names") from None
    if len(set(names)) != len(names):
        raise ValueError(f"{argument} names a column more than once: {list(names)}")
    return names


def _check_columns(data: pd.DataFrame, names: Iterable, argument: str) -> None:
    missing = [c for c in names if c not in data.columns]
    if missing:
        raise ValueError(
            f"{argument}: column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))} not in the data "
            f"(columns: {', '.join(map(str, data.columns))})"
        )


def _check_alpha(alpha) -> None:
    if not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _check_variance(variance, strata: tuple) -> None:
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {', '.join(VARIANCES)}; got {variance!r}")
    if strata and variance != "ye":
        raise ValueError(
            f"strata are used only by variance='ye' (Ye et al. 2023); variance={variance!r} "
            "ignores them, so strata must be empty"
        )


def _sorted(values) -> list:
    values = list(values)
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _match_arm(value, present: Sequence, argument: str):
    """The arm label in the data equal to ``value`` (or, failing that, to ``str(value)``)."""
    for a in present:
        if a == value:
            return a
    by_text = [a for a in present if str(a) == str(value)]
    if len(by_text) == 1:
        return by_text[0]
    raise ValueError(
        f"{argument}: arm {value!r} is not in the data (arms: {', '.join(map(str, present))})"
    )


def _outcome_values(col: pd.Series, outcome: str) -> np.ndarray:
    """0/1 floats from a 0/1 or boolean column (no missing values left)."""
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=float)
    try:
        y = col.to_numpy(dtype=float)  # numbers, or True/False held as objects
    except (TypeError, ValueError):
        y = None
    if y is not None and np.all((y == 0) | (y == 1)):
        return y
    bad = _sorted(pd.unique(col[~col.isin([0, 1, True, False])]))[:5]
    raise ValueError(f"outcome: column {outcome!r} must be 0/1 or boolean; found {bad}")


def _is_numeric(col: pd.Series) -> bool:
    from ...data.covariates import as_numbers

    return pd.api.types.is_bool_dtype(col) or as_numbers(col) is not None
