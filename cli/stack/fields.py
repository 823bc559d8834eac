"""Reading compose's normalized model: typed values with errors that name their path, and the
warnings for keys Shoal ignores. The model is already schema-checked by compose's loader; these
checks are what is specific to stacks (and keep the types honest)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from common import durations
from common.errors import InvalidArgument

# How compose writes a zero duration: not a length of time durations.parse accepts.
_ZERO = {"0", "0s", "0ms", "0m", "0h"}


class Reader:
    """Collects one warning line per ignored key while a file is converted."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def keys(self, node: dict[str, Any], path: str, supported: Iterable[str]) -> dict[str, Any]:
        """node less the keys Shoal ignores (each warned of once) and compose's empty ones."""
        known = set(supported)
        kept: dict[str, Any] = {}
        for key, value in node.items():
            # Compose writes empty sections ({}) and nulls for keys the file did not set.
            if key.startswith("x-") or value is None or value == {}:
                continue
            if key in known:
                kept[key] = value
            else:
                self.warnings.append(f"Ignoring unsupported option: {path}.{key}")
        return kept


def mapping(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{path}: must be a mapping")
    return value


def items(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidArgument(f"{path}: must be a list")
    return value


def text(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidArgument(f"{path}: must be a string")
    return str(value)


def words(value: Any, path: str) -> tuple[str, ...]:
    return tuple(text(item, f"{path}[{i}]") for i, item in enumerate(items(value, path)))


def integer(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise InvalidArgument(f"{path}: must be an integer")
    try:
        return int(str(value))
    except ValueError:
        raise InvalidArgument(f"{path}: {value!r} is not an integer") from None


def count(value: Any, path: str) -> int:
    number = integer(value, path)
    if number < 0:
        raise InvalidArgument(f"{path}: must not be negative")
    return number


def number(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise InvalidArgument(f"{path}: must be a number")
    try:
        return float(str(value))
    except ValueError:
        raise InvalidArgument(f"{path}: {value!r} is not a number") from None


def flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{path}: must be true or false")
    return value


def duration(value: Any, path: str) -> timedelta:
    written = text(value, path).strip()
    if written in _ZERO:
        return timedelta(0)
    try:
        return durations.parse(written)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{path}: {exc}") from None


def choice(value: Any, path: str, choices: Iterable[str]) -> str:
    allowed = list(choices)
    written = text(value, path)
    if written not in allowed:
        raise InvalidArgument(f"{path}: {written!r} is not one of {', '.join(allowed)}")
    return written


def labels(value: Any, path: str) -> dict[str, str]:
    """Compose gives labels as a mapping once normalized; a value-less label is empty."""
    return {
        str(key): "" if item is None else text(item, f"{path}.{key}")
        for key, item in mapping(value, path).items()
    }
