"""GRIM-style granularity checks, against the arithmetic in reference/saloheimo2016.md."""

from __future__ import annotations

import pytest

from ipt_outcomes.stats.granularity import (
    consistent_counts,
    nearest_consistent_n,
    round_half_up_percent,
)


def test_61_percent_is_impossible_out_of_27_or_42():
    # reference/saloheimo2016.md: 16/27 = 59.3%, 17/27 = 63.0%, 25/42 = 59.5%, 26/42 = 61.9%
    assert consistent_counts(61, 27) == []
    assert consistent_counts(61, 42) == []


def test_42_percent_is_impossible_out_of_34_but_possible_out_of_33_and_38():
    assert consistent_counts(42, 34) == []  # 14/34 = 41.2%, 15/34 = 44.1%
    assert consistent_counts(42, 33) == [14]
    assert consistent_counts(42, 38) == [16]


def test_rounding_is_half_up_and_exact():
    assert round_half_up_percent(1, 8) == 13.0  # 12.5 -> 13
    assert round_half_up_percent(119, 200) == 60.0  # 59.5 -> 60
    assert round_half_up_percent(1, 3, decimals=1) == 33.3


def test_consistent_counts_agrees_with_brute_force_for_small_n():
    for n in range(1, 120):
        for pct in range(0, 101):
            brute = [k for k in range(n + 1) if round_half_up_percent(k, n) == pct]
            assert consistent_counts(pct, n) == brute


def test_nearest_consistent_n_prefers_the_closer_then_the_larger():
    assert nearest_consistent_n(61, 27, 42) == 28
    assert nearest_consistent_n(42, 34, 46) == 33


def test_invalid_arguments_raise():
    with pytest.raises(ValueError):
        round_half_up_percent(3, 2)
    with pytest.raises(ValueError):
        consistent_counts(50, 0)
