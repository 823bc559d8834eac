"""What the client writes besides tables: JSON for scripts, one-line errors for people."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

SHORT_ID = 12
"""How much of an ID docker shows in a table: plenty to tell objects apart and to type."""


def short_id(object_id: str) -> str:
    return object_id[:SHORT_ID]


def add_listing_options(parser: argparse.ArgumentParser) -> None:
    """The `-q` and `--format` flags every docker listing command has."""
    parser.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="Output as a table (default) or as one JSON object per line",
    )


def json_lines(records: Iterable[Mapping[str, object]]) -> None:
    for record in records:
        print(json.dumps(record, ensure_ascii=False))


def json_document(value: object) -> None:
    print(json.dumps(value, indent=4, ensure_ascii=False))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def go_time(moment: datetime) -> str:
    """A time as Go prints it, which docker's human layouts show: `2024-05-16 22:52:44.99 +0000
    UTC`."""
    moment = moment.astimezone(UTC)
    fraction = f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ""
    return f"{moment:%Y-%m-%d %H:%M:%S}{fraction} +0000 UTC"


def error(message: object) -> None:
    print(f"Error: {message}", file=sys.stderr)


PRETTY_COLUMN = 24
"""Where `inspect --pretty` starts each value: where docker's tabs put them on a terminal."""


def pretty_field(name: str, value: str) -> str:
    """A line of an `inspect --pretty` layout."""
    return f"{name:<{PRETTY_COLUMN}}{value}".rstrip()
