"""ActionCounts arithmetic: the engine's one-pass weighted sum against the plain sum of scaled counts."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given
from hypothesis import strategies as st

from simulator.metrics.actions import ActionCounts

_COUNTS = st.builds(ActionCounts, *(st.integers(0, 10**12) for _ in fields(ActionCounts)))


@given(st.lists(st.tuples(_COUNTS, st.integers(0, 10**6)), max_size=8))
def test_weighted_sum_is_the_sum_of_scaled_counts(terms: list[tuple[ActionCounts, int]]) -> None:
    assert ActionCounts.weighted_sum(terms) == sum((c.scaled(n) for c, n in terms), ActionCounts())


def test_weighted_sum_of_nothing_is_zero() -> None:
    assert ActionCounts.weighted_sum([]) == ActionCounts()
