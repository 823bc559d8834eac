"""Object IDs: 25 base36 characters from 128 random bits, the shape Docker Swarm uses."""

from __future__ import annotations

import secrets

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(value: int, width: int) -> str:
    if value < 0:
        raise ValueError("base36 takes a non-negative number")
    digits = []
    while value:
        value, rest = divmod(value, 36)
        digits.append(ALPHABET[rest])
    if len(digits) > width:
        raise ValueError(f"{len(digits)} base36 digits do not fit in {width}")
    return "".join(reversed(digits)).rjust(width, "0")


def new_id() -> str:
    return base36(secrets.randbits(128), 25)
