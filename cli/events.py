"""`shoal events`: cluster changes as they happen, one line each, as `docker events` prints them.

It runs until interrupted. Ctrl-C is the way it is meant to end, so that exits 0, as `docker
events` does, and a script can still tell it from a lost manager or a stream the manager ended,
which are one line on stderr and exit 1. Times are printed in UTC.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cli.answers import ClusterEvent
from cli.client import Client
from common import durations, event_filters
from common.errors import InvalidArgument, Unavailable
from common.model import EPOCH, now

_UNIX_TIME = re.compile(r"\d+(\.\d{1,9})?")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--filter",
        action="append",
        type=_filter,
        default=[],
        metavar="KEY=VALUE",
        help=(
            "Only events that match: type=service|node|task, service=NAME|ID,"
            " node=HOSTNAME|ID, event=create|update|remove (repeat a key for any of several"
            " values; every key given must match)"
        ),
    )
    parser.add_argument(
        "--since",
        type=_since,
        default=0,
        metavar="TIME",
        help=(
            "Show the events since TIME first: a duration back from now (10m, 1h30m), an"
            " RFC 3339 time or a Unix timestamp. The manager keeps the events since it started,"
            " the last 10000 at most"
        ),
    )
    parser.add_argument(
        "--format", choices=("json",), help="Print each event as one JSON object per line"
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace, client: Client) -> int:
    render = _json if args.format == "json" else _line
    try:
        for event in client.events(args.filter, args.since, _history_from):
            # Flushed at once: whoever reads a pipe wants each event as it happens.
            print(render(event), flush=True)
    except KeyboardInterrupt:
        return 0
    raise Unavailable("the manager ended the event stream")


def _history_from(unix_nano: int) -> None:
    # stderr, so a pipe reading the events sees events only.
    print(
        f"events before {_timestamp(unix_nano)} are no longer kept (the manager keeps those"
        " since it started, up to a limit): showing the events from then on",
        file=sys.stderr,
        flush=True,
    )


def _line(event: ClusterEvent) -> str:
    line = f"{_timestamp(event.time_unix_nano)} {event.type} {event.action} {event.id}"
    if event.attributes:
        line += " (" + ", ".join(f"{key}={value}" for key, value in event.attributes) + ")"
    return line


def _json(event: ClusterEvent) -> str:
    record = {
        "Type": event.type,
        "Action": event.action,
        "Actor": {"ID": event.id, "Attributes": dict(event.attributes)},
        "scope": "swarm",
        "time": event.time_unix_nano // 10**9,
        "timeNano": event.time_unix_nano,
    }
    return json.dumps(record, ensure_ascii=False)


def _timestamp(unix_nano: int) -> str:
    """RFC 3339 with nanoseconds, as docker prints an event's time."""
    seconds, nanos = divmod(unix_nano, 10**9)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def _filter(text: str) -> tuple[str, str]:
    try:
        return event_filters.parse(text)
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _since(text: str) -> int:
    """The moment as nanoseconds since the Unix epoch."""
    text = text.strip()
    if _UNIX_TIME.fullmatch(text):
        return int(Decimal(text) * 10**9)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = now() - durations.parse(text)
        except InvalidArgument:
            raise argparse.ArgumentTypeError(
                f"invalid time {text!r}: use a duration (10m), an RFC 3339 time"
                " (2026-11-25T14:32:00Z) or a Unix timestamp"
            ) from None
    # As docker: a time without a zone is the client's local time.
    moment = moment.astimezone(UTC) if moment.tzinfo is None else moment
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000
