"""The convergence stop: how long a search may go without improving before it ends early."""

from __future__ import annotations

import pytest

from logistica_workers.routing.engines import TINY_PATIENCE, converged, patience
from logistica_workers.routing.pool import pool_patience


def test_long_budgets_buy_longer_plateaus_but_never_half_the_budget() -> None:
    # 200 stops: 2 s per-stop patience, plus a quarter of the budget
    assert patience(60.0, 200) == pytest.approx(17.0)
    assert patience(2.0, 100) == pytest.approx(1.0)  # capped at half the budget
    assert patience(600.0, 2000) <= 300.0
    assert patience(60.0, 5) == TINY_PATIENCE


def test_the_pool_keeps_the_per_stop_patience_for_fast_small_answers() -> None:
    assert pool_patience(10.0, 20) == pytest.approx(0.2)
    assert pool_patience(10.0, 20) < patience(10.0, 20)


@pytest.mark.parametrize(
    ("now", "last_gain", "expected"),
    [
        (2.9, 1.0, False),  # 1.9 s without a gain, patience 2 s
        (3.0, 1.0, True),  # early gains only: the fixed patience ends it
        (22.0, 20.0, False),  # still improving at 20 s: waits 10 s for the next gain
        (29.9, 20.0, False),
        (30.0, 20.0, True),
    ],
)
def test_a_search_that_improves_late_waits_longer(
    now: float, last_gain: float, expected: bool
) -> None:
    assert converged(now, 0.0, last_gain, 2.0) is expected
