"""Docker's service templates, as a hostname may hold them: `web-{{.Task.Slot}}`.

Only docker's placeholders are understood, no pipelines or functions; anything else is refused
when the service is created, so a task never fails on a template."""

from __future__ import annotations

import re
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
_ACTION = re.compile(r"\{\{(.*?)\}\}")
_FIELD = re.compile(r"^\s*\.([A-Za-z]+\.[A-Za-z]+)\s*$")


def _fields(template: str) -> list[str]:
    """The placeholders template uses, in order; InvalidArgument for anything else."""
    found = []
    for action in _ACTION.findall(template):
        match = _FIELD.match(action)
        if match is None or match.group(1) not in FIELDS:
            raise InvalidArgument(
                f"invalid template {template!r}: unknown {{{{{action}}}}}"
                f" (use {', '.join('{{.' + f + '}}' for f in FIELDS)})"
            )
        found.append(match.group(1))
    if "{{" in _ACTION.sub("", template):
        raise InvalidArgument(f"invalid template {template!r}: unclosed {{{{")
    return found


def check(template: str) -> None:
    _fields(template)


def render(template: str, values: Mapping[str, str]) -> str:
    """template with each placeholder replaced by values[field]."""
    # sub() meets the placeholders in the order _fields() listed them.
    fields = iter(_fields(template))
    return _ACTION.sub(lambda _: values[next(fields)], template)
