"""Percentiles as the benchmark and the load runner report them."""

import math

import pytest

from chat_memory_dev.stats import percentile


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),  # between the two middle ranks
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([4.0, 1.0, 3.0, 2.0], 75, 3.25),  # unsorted input
        (list(map(float, range(1, 101))), 95, 95.05),
        (list(map(float, range(1, 101))), 99, 99.01),
        ([7.0], 99, 7.0),
    ],
)
def test_percentile_interpolates_between_closest_ranks(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == pytest.approx(expected)


def test_percentile_edges() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="within 0 and 100"):
        percentile([1.0], 101)
