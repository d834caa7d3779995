"""The one design-matrix builder (models/design.py): R's coding, the same spec for new rows, the
emmeans reference grid and Type III hypotheses, on tiny hand-built frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipt_outcomes.models.design import ModelDesign


def small():
    return pd.DataFrame(
        {
            "arm": ["B", "A", "C", "A", "B", "C", "A", "B"],
            # a factor (text whose values are all numbers would be numbers, as R's read.csv)
            "visit": pd.Categorical(["1", "1", "1", "2", "2", "2", "2", "1"]),
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 9.0],
        }
    )


def test_treatment_coding_with_the_first_given_level_as_reference():
    d = ModelDesign("arm + x", small(), levels={"arm": ["C", "A", "B"]})
    assert d.names == ["Intercept", "arm[T.A]", "arm[T.B]", "x"]
    np.testing.assert_array_equal(d.matrix[:3, 1:3], [[0, 1], [1, 0], [0, 0]])


def test_new_rows_are_built_by_the_same_spec():
    data = small()
    d = ModelDesign("arm * visit + x", data)
    np.testing.assert_array_equal(d.build(data.iloc[[4, 2]]), d.matrix[[4, 2]])


def test_interaction_without_main_effect_codes_the_margin_fully_as_r_does():
    d = ModelDesign("visit + arm:visit", small())
    # R's model.matrix: visit contrasts, then arm contrasts within every visit
    assert d.names == ["Intercept", "visit[T.2]", "arm[T.B]:visit[1]", "arm[T.C]:visit[1]",
                       "arm[T.B]:visit[2]", "arm[T.C]:visit[2]"]  # fmt: skip


def test_text_whose_values_are_all_numbers_is_a_slope_and_other_text_a_factor():
    """A CSV's extra column of numbers arrives as text: it enters as numbers (R's read.csv),
    blanks and NA missing; text with any non-number is a factor."""
    data = small().assign(age=["30", "41.5", "NA", "50", " 22", "", "35", "60"],
                          site=["1", "2", "x", "1", "2", "x", "1", "2"])  # fmt: skip
    num = ModelDesign("arm + age", data.iloc[[0, 1, 3, 4, 6, 7]])
    assert num.names == ["Intercept", "arm[T.B]", "age"]  # no arm C in these rows
    np.testing.assert_allclose(num.matrix[:, 2], [30, 41.5, 50, 22, 35, 60])
    assert num.means["age"] == pytest.approx(np.mean([30, 41.5, 50, 22, 35, 60]))
    assert ModelDesign("site", data).names == ["Intercept", "site[T.2]", "site[T.x]"]


def test_unused_levels_are_dropped_unless_kept():
    data = small()
    assert "arm[T.Z]" not in ModelDesign("arm", data, levels={"arm": ["A", "B", "C", "Z"]}).names
    kept = ModelDesign("arm", data, levels={"arm": ["A", "B", "C", "Z"]}, drop_unused=False)
    assert "arm[T.Z]" in kept.names and not kept.matrix[:, kept.names.index("arm[T.Z]")].any()


def test_grid_rows_hold_numbers_at_their_mean_and_average_other_factors_equally():
    data = small()
    d = ModelDesign("arm + visit + x", data)
    row = d.grid_row({"arm": "B"})
    assert row[d.names.index("x")] == pytest.approx(data["x"].mean())
    assert row[d.names.index("visit[T.2]")] == pytest.approx(0.5)
    assert row[d.names.index("arm[T.B]")] == 1.0
    grid = d.grid({"arm": ["A", "C"]})
    np.testing.assert_allclose(grid[("C",)], d.grid_row({"arm": "C"}))


def test_type3_hypothesis_of_a_main_effect_in_a_balanced_additive_model():
    """With treatment coding and no interaction, the Type III hypothesis of arm is that its
    coefficients are zero: the rows span exactly the arm columns."""
    data = small()
    d = ModelDesign("arm + x", data)
    L = d.type3_contrasts(data)["arm"]
    assert L.shape == (2, 4)
    assert np.allclose(L[:, [0, 3]], 0)
    assert np.linalg.matrix_rank(L[:, 1:3]) == 2


def test_a_counterfactual_of_a_main_effect_equals_a_rebuild():
    data = small()
    d = ModelDesign("arm + x", data)
    for level in ("A", "B", "C"):
        np.testing.assert_array_equal(
            d.with_value(d.matrix, "arm", level), d.build(data.assign(arm=level))
        )
    inter = ModelDesign("arm * x", data)
    with pytest.raises(ValueError, match="interacts"):
        inter.with_value(inter.matrix, "arm", "A")
    np.testing.assert_array_equal(
        inter.with_value(inter.matrix, "arm", "B", data), inter.build(data.assign(arm="B"))
    )
