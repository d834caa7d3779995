"""The MMRM's fixed effects: visit + arm:visit + baseline:visit (+ covariates), and its LS-means grid.

A cell-means parameterisation of the same model space as R's ``chg ~ visit + arm:visit +
base:visit``; the same specification builds the model matrix of the data and the rows of the
reference grid (baseline and numeric covariates at their means over the analysed rows, levels of
text covariates weighted equally, as emmeans and SAS do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["MMRMDesign", "build_design"]


@dataclass
class MMRMDesign:
    arms: list
    reference: str
    visits: list
    covariates: list
    levels: dict  # categorical covariate -> levels
    names: list
    baseline_mean: float
    covariate_means: dict

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        n = len(frame)
        cols = []
        v = frame["visit"].to_numpy()
        a = frame["arm"].to_numpy()
        b = frame["baseline"].to_numpy(float)
        for vv in self.visits:
            cols.append((v == vv).astype(float))
        for arm in self.arms:
            if arm == self.reference:
                continue
            for vv in self.visits:
                cols.append(((a == arm) & (v == vv)).astype(float))
        for vv in self.visits:
            cols.append(b * (v == vv))
        for cov in self.covariates:
            if cov in self.levels:
                x = frame[cov].astype(str).to_numpy()
                for lev in self.levels[cov][1:]:
                    cols.append((x == lev).astype(float))
            else:
                cols.append(frame[cov].to_numpy(float))
        return np.column_stack(cols) if cols else np.zeros((n, 0))

    def grid_row(self, arm, visit) -> np.ndarray:
        """Row of the LS-means reference grid: covariates at their means (emmeans convention)."""
        x = np.zeros(len(self.names))
        i = 0
        for vv in self.visits:
            x[i] = float(vv == visit)
            i += 1
        for a in self.arms:
            if a == self.reference:
                continue
            for vv in self.visits:
                x[i] = float(a == arm and vv == visit)
                i += 1
        for vv in self.visits:
            x[i] = self.baseline_mean * float(vv == visit)
            i += 1
        for cov in self.covariates:
            if cov in self.levels:
                levs = self.levels[cov]
                for _lev in levs[1:]:
                    x[i] = 1.0 / len(levs)  # equal weights over levels, as emmeans
                    i += 1
            else:
                x[i] = self.covariate_means[cov]
                i += 1
        return x


def build_design(frame, reference, arms, covariates) -> MMRMDesign:
    visits = sorted(frame["visit"].unique())
    names = [f"visit[{v:g}]" for v in visits]
    names += [f"arm[{a}]:visit[{v:g}]" for a in arms if a != reference for v in visits]
    names += [f"baseline:visit[{v:g}]" for v in visits]
    levels, means = {}, {}
    for cov in covariates:
        col = frame[cov]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            names.append(cov)
            means[cov] = float(col.astype(float).mean())
        else:
            levs = sorted(col.astype(str).unique())
            levels[cov] = levs
            names += [f"{cov}[{lev}]" for lev in levs[1:]]
    return MMRMDesign(
        arms=list(arms),
        reference=reference,
        visits=visits,
        covariates=list(covariates),
        levels=levels,
        names=names,
        baseline_mean=float(frame["baseline"].astype(float).mean()),
        covariate_means=means,
    )
