"""Retry delays: doubling with jitter up to a cap, and for a large cluster's agents spread over
the window the manager gave, so that they do not retry many times a second between them."""

from __future__ import annotations

from common.backoff import Backoff


def delays(backoff: Backoff, count: int) -> list[float]:
    return [backoff.next_delay() for _ in range(count)]


def test_doubles_from_the_first_step_up_to_the_cap() -> None:
    steps = delays(Backoff(0.1, 2.0), 8)
    nominal = [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    assert all(step / 2 <= d <= step for d, step in zip(steps, nominal, strict=True))


def test_a_widened_backoff_retries_no_faster_than_half_its_window() -> None:
    backoff = Backoff(0.1, 2.0)
    backoff.widen(20.0)
    backoff.reset()
    assert all(5.0 <= d <= 20.0 for d in delays(backoff, 50))
    # A small cluster's window leaves the steps as they were.
    backoff.widen(0.01)
    backoff.reset()
    assert 0.05 <= backoff.next_delay() <= 0.1
