"""Covariate values as every model reads them: a column of numbers is a slope whether the file
kept it as numbers or as text (a CSV's ``AGE`` as read, as R's ``read.csv`` makes it), and a
blank or ``NA`` cell is missing; any other text is a factor's level."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["as_numbers", "present", "numeric_or_as_is"]


_MISSING = ("", "NA")


def present(col: pd.Series) -> pd.Series:
    """Which values of a covariate are there: not NaN and not blank text, and for numbers
    written as text (:func:`as_numbers`) not ``NA`` either.

    Examples
    --------
    >>> present(pd.Series(["1.5", "", "NA", None])).tolist()
    [True, False, False, False]
    >>> present(pd.Series(["North", " "])).tolist()
    [True, False]
    """
    num = as_numbers(col)
    if num is not None:
        return num.notna()
    return col.notna() & col.astype(str).str.strip().ne("")


def as_numbers(col: pd.Series) -> pd.Series | None:
    """The column as floats when it holds numbers: a numeric dtype, or text whose every non-empty
    value is a finite number (a CSV's numeric column as read, e.g. ``AGE``), as R's ``read.csv``
    reads it; blanks and ``NA`` become NaN. None for booleans, categoricals and other text
    (factors).

    Examples
    --------
    >>> as_numbers(pd.Series(["38.5", " 41", "", "NA"])).tolist()
    [38.5, 41.0, nan, nan]
    >>> as_numbers(pd.Series(["North", "2"])) is None
    True
    """
    if pd.api.types.is_bool_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype):
        return None
    if pd.api.types.is_numeric_dtype(col):
        return col.astype(float)
    text = col.astype(object).where(col.notna(), None)
    text = text.map(lambda v: None if v is None or str(v).strip() in _MISSING else str(v).strip())
    present = text.notna()
    if not present.any():
        return None
    num = pd.to_numeric(text[present], errors="coerce")
    if num.isna().any() or not np.isfinite(num.to_numpy(dtype=float)).all():
        return None
    out = pd.Series(np.nan, index=col.index, dtype=float)
    out[present] = num.astype(float)
    return out


def numeric_or_as_is(values: pd.Series) -> pd.Series:
    """``values`` as floats when they hold numbers (:func:`as_numbers`), else unchanged.

    Examples
    --------
    >>> numeric_or_as_is(pd.Series(["51.5", "18", None])).tolist()
    [51.5, 18.0, nan]
    >>> numeric_or_as_is(pd.Series(["F", "M"])).tolist()
    ['F', 'M']
    """
    num = as_numbers(values)
    if num is None:
        return values
    num.name = values.name
    return num
