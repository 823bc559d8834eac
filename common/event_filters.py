"""The filters of `shoal events`, as docker writes them (KEY=VALUE), checked the same way by the
client, before it calls, and by the manager, which applies them; and the header by which the
manager says its history starts later than --since asked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from common.errors import InvalidArgument

TYPES = ("service", "node", "task")
ACTIONS = ("create", "update", "remove")

# Keys whose values are names or IDs are open; the others take one of a fixed set of words.
_CLOSED: Mapping[str, tuple[str, ...]] = {"type": TYPES, "event": ACTIONS}
KEYS = ("type", "service", "node", "event")

# Initial metadata of an Events stream whose --since was older than the manager's history: the
# moment (Unix nanoseconds) the replay starts from instead.
HISTORY_FROM = "shoal-history-from"


def _one_of(words: Iterable[str]) -> str:
    *rest, last = words
    return f"{', '.join(rest)} or {last}"


def parse(text: str) -> tuple[str, str]:
    """'type=service' -> ('type', 'service'); InvalidArgument for anything else."""
    key, sep, value = text.partition("=")
    if not sep:
        raise InvalidArgument(f"invalid filter {text!r}: expected KEY=VALUE")
    return check(key, value)


def check(key: str, value: str) -> tuple[str, str]:
    """The pair, normalized, or InvalidArgument naming what is allowed."""
    key, value = key.strip().lower(), value.strip()
    text = f"{key}={value}"
    if key not in KEYS:
        raise InvalidArgument(f"invalid filter {text!r}: the key is one of {_one_of(KEYS)}")
    if not value:
        raise InvalidArgument(f"invalid filter {text!r}: expected KEY=VALUE")
    allowed = _CLOSED.get(key)
    if allowed is not None and value not in allowed:
        raise InvalidArgument(f"invalid filter {text!r}: {key} is one of {_one_of(allowed)}")
    return key, value


def group(pairs: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """Values by key, each pair checked: values of one key are alternatives, keys all apply."""
    grouped: dict[str, set[str]] = {}
    for pair in pairs:
        key, value = check(*pair)
        grouped.setdefault(key, set()).add(value)
    return {key: frozenset(values) for key, values in grouped.items()}
