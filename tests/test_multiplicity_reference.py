"""Adjusted p-values against R (tests/reference/multiplicity/make_reference.R: p.adjust and
graphicalMCP's graphical procedure of Bretz et al. 2009)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.plan.multiplicity import adjust

REF = Path(__file__).resolve().parent / "reference" / "multiplicity"
P = pd.read_csv(REF / "p_adjust.csv")
G = pd.read_csv(REF / "graphs.csv")


@pytest.mark.parametrize(("case", "method"), sorted(set(zip(P["case"], P["method"], strict=True))))
def test_adjusted_p_values_equal_r(case, method):
    rows = P[(P["case"] == case) & (P["method"] == method)].sort_values("hypothesis")
    kw = {}
    if method == "graphical":
        g = G[G["case"] == case].sort_values("hypothesis")
        kw = dict(weights=g["weight"].to_list(),
                  transitions=[[float(x) for x in t.split()] for t in g["transitions"]])  # fmt: skip
    got = adjust(rows["p"].to_numpy(), method, **kw)
    np.testing.assert_allclose(got, rows["p_adjusted"].to_numpy(), rtol=0, atol=1e-12)
