"""The `filters` query parameter as docker's clients encode it: a JSON object of key -> values,
either {"label": {"a=b": true}} (current clients) or {"label": ["a=b"]} (older ones)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping

from common.errors import InvalidArgument

Filters = Mapping[str, tuple[str, ...]]


def parse(text: str | None, allowed: Collection[str]) -> Filters:
    """The filters text asks for; InvalidArgument for malformed JSON or a key not in allowed."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:
        raise InvalidArgument(f"invalid filter: {text!r} is not JSON") from None
    if not isinstance(raw, dict):
        raise InvalidArgument(f"invalid filter: {text!r} is not a JSON object")
    found: dict[str, tuple[str, ...]] = {}
    for key, values in raw.items():
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")
        as_set = isinstance(values, dict) and all(v is True for v in values.values())
        if as_set or isinstance(values, list):
            found[key] = tuple(values)
        else:
            raise InvalidArgument(f"invalid filter '{key}': expected a list or a set of values")
        if not all(isinstance(v, str) for v in found[key]):
            raise InvalidArgument(f"invalid filter '{key}': values are strings")
    return found


def any_prefix(values: Iterable[str], text: str) -> bool:
    return any(text.startswith(v) for v in values)


def labels_match(wanted: Iterable[str], labels: Mapping[str, str]) -> bool:
    """Docker's label filter: every entry, KEY or KEY=VALUE, holds."""
    for entry in wanted:
        key, sep, value = entry.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def one_of(filters: Filters, key: str, words: Collection[str]) -> tuple[str, ...]:
    """filters[key], each value checked against words."""
    values = filters.get(key, ())
    for value in values:
        if value not in words:
            allowed = ", ".join(sorted(words))
            raise InvalidArgument(f"invalid filter '{key}={value}': expected one of {allowed}")
    return values
