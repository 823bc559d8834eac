"""Durations as docker writes them: 90s, 1m30s, 2160h, and also 90d for long-lived things."""

from __future__ import annotations

import re
from datetime import timedelta

from common.errors import InvalidArgument

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse(text: str) -> timedelta:
    """'1h30m' -> 90 minutes. A bare number is seconds. Zero and negative are refused."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise InvalidArgument(
                f"invalid duration {text!r}: use a number with a unit, like 90s, 10m, 2160h or 90d"
            ) from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise InvalidArgument(f"invalid duration {text!r}: it must be more than zero")
    return timedelta(seconds=seconds)
