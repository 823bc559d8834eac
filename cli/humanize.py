"""Durations as people read them, with the same thresholds as docker (go-units HumanDuration)."""

from __future__ import annotations

from datetime import timedelta


def duration(elapsed: timedelta) -> str:
    """From "Less than a second" through "About a minute" to "N years"; negative counts as zero."""
    seconds = int(elapsed.total_seconds())
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    # Rounded half up, as Go's math.Round does (Python's round() would go half to even).
    hours = int(elapsed.total_seconds() / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // (24 * 7)} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // (24 * 30)} months"
    return f"{seconds // (3600 * 24 * 365)} years"
