"""Durations and sizes as people read them, the way docker writes them (go-units HumanDuration
and BytesSize)."""

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


BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def bytes_size(size: float) -> str:
    """Four significant digits and a binary unit, without a space: "512MiB", "7.704GiB"."""
    unit = 0
    while size >= 1024 and unit < len(BINARY_UNITS) - 1:
        size /= 1024
        unit += 1
    return f"{size:.4g}{BINARY_UNITS[unit]}"


def go_duration(value: timedelta) -> str:
    """As Go prints a time.Duration: 5s, 1m30s, 200ms."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    if total_ms < 1000:
        return f"{total_ms}ms"
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = rest / 1000
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return text + f"{seconds:g}s"
