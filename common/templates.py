"""Docker's service templates, as a hostname may hold them: `web-{{.Task.Slot}}`.

Only docker's placeholders are understood, no pipelines or functions; anything else is refused
when the service is created, so a task never fails on a template."""

from __future__ import annotations

from collections.abc import Mapping

from common.errors import InvalidArgument

FIELDS = (
    "Service.ID",
    "Service.Name",
    "Node.ID",
    "Node.Hostname",
    "Task.ID",
    "Task.Name",
    "Task.Slot",
)
_OPEN, _CLOSE = "{{", "}}"
_ACTIONS = {f".{f}": f for f in FIELDS}


def _parts(template: str) -> list[tuple[str, str]]:
    """template as (text, field) pairs in order, field empty after the last placeholder;
    InvalidArgument for an action that is not a placeholder, or an unclosed one.

    One pass with str.find, never a regular expression: a lazy match over `{{{{{{...` went
    back over the rest of the text from every brace, which took seconds."""
    parts = []
    at = 0
    while (start := template.find(_OPEN, at)) >= 0:
        end = template.find(_CLOSE, start + len(_OPEN))
        if end < 0:
            raise InvalidArgument(f"invalid template {template!r}: unclosed {_OPEN}")
        action = template[start + len(_OPEN) : end]
        field = _ACTIONS.get(action.strip())
        if field is None:
            raise InvalidArgument(
                f"invalid template {template!r}: unknown {_OPEN}{action}{_CLOSE}"
                f" (use {', '.join(_OPEN + '.' + f + _CLOSE for f in FIELDS)})"
            )
        parts.append((template[at:start], field))
        at = end + len(_CLOSE)
    parts.append((template[at:], ""))
    return parts


def check(template: str) -> None:
    _parts(template)


def render(template: str, values: Mapping[str, str]) -> str:
    """template with each placeholder replaced by values[field]."""
    return "".join(text + (values[field] if field else "") for text, field in _parts(template))
