"""Benchmark statistics: medians with spread, nearest-rank percentiles, paired ratios."""

from __future__ import annotations

import math

import pytest

from runner.bench.stats import distribution_ms, figure, paired_ratios, percentile


def test_figure_is_median_min_max_of_the_values_in_their_order() -> None:
    fig = figure([3.0, 1.0, 2.0, 10.0], "s")
    assert (fig.median, fig.min, fig.max, fig.n) == (2.5, 1.0, 10.0, 4)
    assert fig.values == (3.0, 1.0, 2.0, 10.0)
    assert fig.as_json()["unit"] == "s"


def test_a_figure_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no measurements"):
        figure([], "ms")


@pytest.mark.parametrize(
    ("fraction", "expected"), [(0.0, 1.0), (0.5, 10.0), (0.95, 19.0), (1.0, 20.0)]
)
def test_percentile_is_nearest_rank(fraction: float, expected: float) -> None:
    assert percentile([float(v) for v in range(20, 0, -1)], fraction) == expected


def test_percentile_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_paired_ratios_divide_pair_by_pair() -> None:
    assert paired_ratios([2.0, 3.0], [1.0, 2.0]) == [2.0, 1.5]
    assert paired_ratios([1.0], [0.0]) == [math.inf]
    with pytest.raises(ValueError, match="as many"):
        paired_ratios([1.0], [1.0, 2.0])


def test_error_distribution_is_in_milliseconds_with_the_worst_absolute_error() -> None:
    dist = distribution_ms([0.010, -0.060, 0.020, 0.030])
    assert dist["min_ms"] == -60.0
    assert dist["max_ms"] == 30.0
    assert dist["p50_ms"] == 10.0
    assert dist["max_abs_ms"] == 60.0
