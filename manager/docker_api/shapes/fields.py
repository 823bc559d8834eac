"""Reading a docker JSON object strictly: each key the reader takes is checked for its type, and
whatever is left that is not empty is refused by name, so a field Shoal would silently drop
never passes as if it were applied."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from common.errors import InvalidArgument


def is_empty(value: Any) -> bool:
    """Docker's clients send many fields at their zero value; those ask for nothing."""
    if isinstance(value, dict):
        return all(is_empty(v) for v in value.values())
    if isinstance(value, list):
        return all(is_empty(v) for v in value)
    return value is None or value == "" or value is False or value == 0


class Fields:
    """One JSON object at path (such as TaskTemplate.ContainerSpec), read key by key; done()
    refuses what was not read."""

    def __init__(self, value: Any, path: str) -> None:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise InvalidArgument(f"invalid field {path or 'body'}: expected a JSON object")
        self._left: dict[str, Any] = dict(value)
        self.path = path

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _key(self, key: str) -> str:
        """key as given: docker's Go decoder takes field names in any case (docker-py sends
        {"Mode": {"replicated": ...}}), an exact match first."""
        if key in self._left:
            return key
        folded = key.lower()
        return next((k for k in self._left if k.lower() == folded), key)

    def take(self, key: str) -> Any:
        return self._left.pop(self._key(key), None)

    def has(self, key: str) -> bool:
        return self._left.get(self._key(key)) is not None

    def text(self, key: str, default: str = "") -> str:
        value = self.take(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise InvalidArgument(f"invalid field {self._at(key)}: expected a string")
        return value

    def integer(self, key: str, default: int = 0) -> int:
        value = self.take(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"invalid field {self._at(key)}: expected an integer")
        return value

    def number(self, key: str) -> float:
        value = self.take(key)
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidArgument(f"invalid field {self._at(key)}: expected a number")
        return float(value)

    def flag(self, key: str) -> bool:
        value = self.take(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise InvalidArgument(f"invalid field {self._at(key)}: expected true or false")
        return value

    def duration(self, key: str) -> timedelta | None:
        """Docker's durations are integer nanoseconds; absent: None."""
        if not self.has(key):
            self.take(key)
            return None
        return timedelta(microseconds=self.integer(key) / 1000)

    def obj(self, key: str) -> Fields:
        return Fields(self.take(key), self._at(key))

    def objs(self, key: str) -> list[Fields]:
        return [Fields(item, f"{self._at(key)}[{i}]") for i, item in enumerate(self.items(key))]

    def items(self, key: str) -> list[Any]:
        value = self.take(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise InvalidArgument(f"invalid field {self._at(key)}: expected a list")
        return value

    def strs(self, key: str) -> tuple[str, ...]:
        items = self.items(key)
        if not all(isinstance(item, str) for item in items):
            raise InvalidArgument(f"invalid field {self._at(key)}: expected a list of strings")
        return tuple(items)

    def labels(self, key: str) -> dict[str, str]:
        value = self.take(key)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise InvalidArgument(f"invalid field {self._at(key)}: expected string labels")
        return dict(value)

    def choice(self, key: str, words: dict[str, Any], default: Any) -> Any:
        word = self.text(key)
        if not word:
            return default
        if word not in words:
            allowed = ", ".join(sorted(words))
            raise InvalidArgument(
                f"invalid field {self._at(key)}: {word!r} is not one of {allowed}"
            )
        return words[word]

    def allow(self, key: str, *values: Any) -> None:
        """key may be given only with one of values (Shoal's one behaviour), or empty."""
        value = self.take(key)
        if not is_empty(value) and value not in values:
            raise InvalidArgument(
                f"unsupported value {value!r} of field {self._at(key)}: Shoal does not support it"
            )

    def done(self) -> None:
        for key, value in self._left.items():
            if not is_empty(value):
                raise InvalidArgument(
                    f"unsupported field {self._at(key)}: Shoal does not support it"
                )
