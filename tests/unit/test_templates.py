"""Docker's service templates in a hostname: checked and rendered in linear time."""

from __future__ import annotations

import time

import pytest

from common import templates
from common.errors import InvalidArgument

VALUES = {"Service.Name": "web", "Task.Slot": "3", "Node.Hostname": "h1"}


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("plain", "plain"),
        ("{{.Service.Name}}-{{.Task.Slot}}", "web-3"),
        ("{{ .Node.Hostname }}.local", "h1.local"),
        ("a}}b{{.Task.Slot}}}}", "a}}b3}}"),
        ("", ""),
    ],
)
def test_render(template: str, rendered: str) -> None:
    templates.check(template)
    assert templates.render(template, VALUES) == rendered


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Task.Slot", "unclosed"),
        ("x{{.Task.Slot}}{{", "unclosed"),
        ("{{.Env.HOME}}", "unknown {{.Env.HOME}}"),
        ("{{.Task.Slot | printf}}", "unknown"),
        ("{{}}", "unknown {{}}"),
    ],
)
def test_refused(template: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        templates.check(template)


@pytest.mark.parametrize("template", ["{{" * 20_000, "{{.Task.Slot}}" * 20_000 + "{{"])
def test_long_templates_are_checked_in_linear_time(template: str) -> None:
    """`{{` repeated 20,000 times took a lazy regex 21 s; one pass answers at once (the bound is
    loose: the suite runs on a loaded machine, and the old way is 40 times over it)."""
    started = time.perf_counter()
    with pytest.raises(InvalidArgument, match="unclosed"):
        templates.check(template)
    assert time.perf_counter() - started < 5
