"""The one design-matrix builder: a formula and a frame give a model matrix once, and the same
specification builds rows for new data (LS-means grids, counterfactual predictions).

Built on formulaic (Wilkinson formulas with R's coding rules: treatment contrasts, full-rank
interactions, the same column space as R's ``model.matrix``). Text and categorical columns are
factors with their levels fixed when the design is made (sorted, or as given); numeric
columns, and text columns whose every value is a number (a CSV's ``AGE`` as read), are slopes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..data.covariates import as_numbers

__all__ = ["ModelDesign"]


def _is_factor(col: pd.Series) -> bool:
    return as_numbers(col) is None


class ModelDesign:
    """A model matrix from a formula's right-hand side, and the spec to rebuild it.

    Parameters
    ----------
    rhs : str
        Right-hand side in Wilkinson notation (``"visit + arm:visit + baseline:visit"``;
        ``"0 + ..."`` for no intercept).
    data : DataFrame
        The analysed rows.
    levels : dict, optional
        Factor -> levels in order (the first is the reference of treatment contrasts). Other
        text, boolean or categorical columns are factors with sorted (or their categorical)
        levels.
    drop_unused : bool
        Leave out given levels that no row has (default), or keep them as columns of zeros.

    Attributes
    ----------
    matrix : ndarray (n, p)
    names : list of str
    terms : list of str
        The formula's terms in column order (``"1"`` for the intercept).
    term_columns : dict
        Term -> column indices.
    factors : dict
        Factor -> levels.
    means : dict
        Numeric variable -> mean over the rows (the emmeans reference value).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"y": [1.0, 2, 3, 4], "arm": ["B", "A", "B", "A"], "x": [1.0, 2, 3, 5]})
    >>> des = ModelDesign("arm + x", d, levels={"arm": ["B", "A"]})
    >>> des.names
    ['Intercept', 'arm[T.A]', 'x']
    >>> des.build(pd.DataFrame({"arm": ["A"], "x": [0.0]})).tolist()
    [[1.0, 1.0, 0.0]]
    """

    def __init__(self, rhs: str, data: pd.DataFrame, levels: dict | None = None,
                 drop_unused: bool = True):  # fmt: skip
        import formulaic

        self.rhs = rhs
        levels = dict(levels or {})
        self._formula = formulaic.Formula(rhs)
        used = self._variables(data)
        self.factors: dict[str, list] = {}
        for v in used:
            if v in levels:
                present = set(pd.unique(data[v]))
                self.factors[v] = [lev for lev in levels[v] if lev in present or not drop_unused]
            elif _is_factor(data[v]):
                col = data[v]
                if isinstance(col.dtype, pd.CategoricalDtype):
                    self.factors[v] = [c for c in col.cat.categories if c in set(col.dropna())]
                else:
                    self.factors[v] = sorted(pd.unique(col.dropna()), key=_sort_key)
        self.means = {v: float(as_numbers(data[v]).mean()) for v in used if v not in self.factors}
        frame = self._prepare(data)
        mm = formulaic.model_matrix(rhs, frame, na_action="raise")
        self.spec = mm.model_spec
        self.matrix = mm.to_numpy(dtype=float)
        self.names = [str(c) for c in mm.columns]
        self.terms = [str(t) for t in self.spec.terms]
        self.term_columns = {str(t): list(ix) for t, ix in self.spec.term_indices.items()}

    # --- variables and frames ------------------------------------------------------------------
    def _variables(self, data) -> list[str]:
        out = []
        for term in self._formula:
            for factor in term.factors:
                name = str(factor.expr)
                if name in data.columns:
                    if name not in out:
                        out.append(name)
                elif name != "1":
                    out += [c for c in data.columns if c not in out and _mentions(name, c)]
        return out

    @property
    def variables(self) -> list[str]:
        return [*self.factors, *self.means]

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for v, levs in self.factors.items():
            if v in frame:
                out[v] = pd.Categorical(frame[v], categories=levs)
        for v in self.means:
            if v in frame:
                col = frame[v]
                out[v] = (col.astype(float) if pd.api.types.is_numeric_dtype(col)
                          else as_numbers(col)).to_numpy()  # fmt: skip
        return pd.DataFrame(out, index=frame.index)

    def build(self, frame: pd.DataFrame) -> np.ndarray:
        """The model matrix of new rows, by the same spec (same levels, same columns)."""
        return self.spec.get_model_matrix(self._prepare(frame), na_action="ignore").to_numpy(
            dtype=float
        )

    def with_value(self, X: np.ndarray, variable: str, value, frame: pd.DataFrame | None = None):
        """The model matrix ``X`` (of ``frame``) with every row's ``variable`` set to ``value``
        (a counterfactual, as g-computation predicts): when the variable enters as a main effect
        only its columns are replaced (no rebuild); otherwise ``frame`` is rebuilt."""
        in_terms = [t for t in self.terms if variable in t.split(":")]
        if in_terms == [variable]:
            cache = self.__dict__.setdefault("_encodings", {})
            if variable not in cache:  # every level's encoding, in one pass
                values = self.factors.get(variable)
                if values is None:
                    raise ValueError(f"{variable!r} is not a factor of the design")
                rows = pd.DataFrame({variable: values})
                for v in self.factors:
                    if v != variable:
                        rows[v] = self.factors[v][0]
                for v in self.means:
                    rows[v] = self.means[v]
                enc = self.build(rows)[:, self.term_columns[variable]]
                cache[variable] = dict(zip(values, enc, strict=True))
            out = X.copy()
            out[:, self.term_columns[variable]] = cache[variable][value]
            return out
        if frame is None:
            raise ValueError(f"{variable!r} interacts with other terms: give the frame to rebuild")
        return self.build(frame.assign(**{variable: value}))

    # --- LS means -----------------------------------------------------------------------------
    def grid_row(self, at: dict) -> np.ndarray:
        """The row of the emmeans reference grid at ``at`` (variable -> value): numeric
        variables not in ``at`` at their means, factors not in ``at`` weighted equally."""
        keys = list(at)
        return self.grid({k: [at[k]] for k in keys})[tuple(at[k] for k in keys)]

    def grid(self, by: dict) -> dict:
        """Reference-grid rows for every combination of ``by`` (variable -> values), built in
        one pass: ``{(value, ...): row}``, other factors averaged with equal weights and
        numeric variables at their means (emmeans' reference grid)."""
        keys = list(by)
        others = [v for v in self.factors if v not in by]
        inner = list(itertools.product(*(self.factors[v] for v in others))) or [()]
        outer = list(itertools.product(*(by[k] for k in keys))) or [()]
        rows = []
        for combo in outer:
            for rest in inner:
                row = {
                    **dict(zip(others, rest, strict=True)),
                    **dict(zip(keys, combo, strict=True)),
                }
                for v in self.means:
                    row.setdefault(v, self.means[v])
                rows.append(row)
        X = self.build(pd.DataFrame(rows)).reshape(len(outer), len(inner), -1).mean(axis=1)
        return {combo: X[i] for i, combo in enumerate(outer)}

    # --- Type III hypotheses -------------------------------------------------------------------
    def type3_contrasts(self, data: pd.DataFrame) -> dict:
        """Each term's Type III hypothesis as R mmrm's ``Anova(type = "III")`` forms it: the
        term's columns under sum-to-zero contrasts for every factor, carried to this design's
        coefficients by ``(X_s'X_s)^-1 X_s' X``."""
        import formulaic

        frame = self._prepare(data)
        rhs = " + ".join(
            ("1" if str(t) == "1" else ":".join(self._sum_coded(str(f.expr)) for f in t.factors))
            for t in self.spec.terms
        )
        if "1" not in self.terms:
            rhs = "0 + " + rhs
        ms = formulaic.model_matrix(rhs, frame, na_action="raise")
        Xs = ms.to_numpy(dtype=float)
        idx = {str(t): list(ix) for t, ix in ms.model_spec.term_indices.items()}
        corr = np.linalg.solve(Xs.T @ Xs, Xs.T @ self.matrix)
        out = {}
        for term in self.terms:
            if term == "1":
                continue
            L = corr[idx[_sum_term(term, self)]]
            L[np.abs(L) < np.sqrt(np.finfo(float).eps)] = 0.0
            out[term] = L
        return out

    def _sum_coded(self, expr: str) -> str:
        return f"C({expr}, contr.sum)" if expr in self.factors else expr


def _sum_term(term: str, design: ModelDesign) -> str:
    return ":".join(design._sum_coded(part) for part in term.split(":"))


def _mentions(expr: str, column: str) -> bool:
    import re

    return re.search(rf"(?<![\w.]){re.escape(column)}(?![\w])", expr) is not None


def _sort_key(value):
    return (0, value, "") if isinstance(value, (int, float, np.number)) else (1, 0, str(value))
