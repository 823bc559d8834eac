"""The daemons' logging: JSON lines off a terminal, text on one, and the level filter."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog

from common import log


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    # setup() binds loggers to this test's captured stderr, which is closed once it ends.
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def test_json_lines_carry_bound_context(capsys: pytest.CaptureFixture[str]) -> None:
    """Off a terminal each event is one JSON object with its level, time and bound IDs."""
    log.setup("info", json=True)
    structlog.contextvars.bind_contextvars(node_id="n1")
    structlog.get_logger("t").bind(task_id="t1").info("task state", state="RUNNING")
    (line,) = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert record["event"] == "task state"
    assert record["node_id"] == "n1"
    assert record["task_id"] == "t1"
    assert record["level"] == "info"
    assert "timestamp" in record


def test_console_output_is_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    """On a terminal the same event reads as text, with the event and its fields."""
    log.setup("info", json=False)
    structlog.get_logger("t").info("session opened", tasks=3)
    err = capsys.readouterr().err
    assert "session opened" in err
    assert "tasks" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.splitlines()[0])


def test_level_filters_lower_levels(capsys: pytest.CaptureFixture[str]) -> None:
    """--log-level warning drops info and debug lines and keeps warnings."""
    log.setup("warning", json=True)
    logger = structlog.get_logger("t")
    logger.debug("hidden")
    logger.info("hidden too")
    logger.warning("shown")
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["shown"]
