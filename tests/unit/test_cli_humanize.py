"""cli.humanize: the durations `service ps` shows, with docker's thresholds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cli.humanize import duration


@pytest.mark.parametrize(
    ("elapsed", "text"),
    [
        (timedelta(seconds=-3), "Less than a second"),
        (timedelta(0), "Less than a second"),
        (timedelta(milliseconds=999), "Less than a second"),
        (timedelta(seconds=1), "1 second"),
        (timedelta(seconds=5.9), "5 seconds"),
        (timedelta(seconds=59), "59 seconds"),
        (timedelta(seconds=60), "About a minute"),
        (timedelta(seconds=119), "About a minute"),
        (timedelta(minutes=2), "2 minutes"),
        (timedelta(minutes=59, seconds=59), "59 minutes"),
        (timedelta(minutes=60), "About an hour"),
        (timedelta(minutes=89), "About an hour"),
        (timedelta(minutes=90), "2 hours"),
        (timedelta(hours=47), "47 hours"),
        (timedelta(hours=48), "2 days"),
        (timedelta(days=13), "13 days"),
        (timedelta(days=14), "2 weeks"),
        (timedelta(days=59), "8 weeks"),
        (timedelta(days=60), "2 months"),
        (timedelta(days=729), "24 months"),
        (timedelta(days=730), "2 years"),
    ],
)
def test_duration(elapsed: timedelta, text: str) -> None:
    """Each threshold gives the same words as docker's HumanDuration, rounding down within a unit
    and rounding hours half up."""
    assert duration(elapsed) == text
