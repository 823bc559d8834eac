"""`shoal service logs`: the lines of a service's or a task's containers, each after the name of
the task that wrote it, laid out as docker lays them out:
`web.1.abc123def456@node1    | hello`, stderr lines on stderr."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from typing import BinaryIO

from cli import output
from cli.client import Client
from common import durations
from common.errors import InvalidArgument
from common.logs import LogOptions, LogSource, ServiceLogs
from common.model import now

_UNIX_TIME = re.compile(r"^(\d+)(?:\.(\d{1,9}))?$")
_NS = 1_000_000_000


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    parser.add_argument(
        "-n",
        "--tail",
        type=_tail,
        default=None,
        metavar="N",
        help='Number of lines to show from the end of each task\'s logs (default "all")',
    )
    parser.add_argument(
        "--since",
        type=_since,
        default=0,
        metavar="T",
        help="Show logs since a time (e.g. 2013-01-02T13:23:37Z) or for a duration (e.g. 42m)",
    )
    parser.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    parser.add_argument(
        "--no-task-ids", action="store_true", help="Do not include task IDs in output"
    )
    parser.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    parser.add_argument("ref", metavar="SERVICE|TASK")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, client: Client) -> int:
    options = LogOptions(follow=args.follow, tail=args.tail, since_ns=args.since)
    printer = Printer(
        timestamps=args.timestamps, task_ids=not args.no_task_ids, trunc=not args.no_trunc
    )
    try:
        for batch in client.service_logs(args.ref, options):
            printer.write(batch)
    except KeyboardInterrupt:
        if not args.follow:
            raise
        # Following ends only when the user stops it: that is success, as with docker.
        return 0
    return 1 if printer.failed else 0


class Printer:
    def __init__(
        self,
        *,
        timestamps: bool,
        task_ids: bool,
        trunc: bool,
        out: BinaryIO | None = None,
        err: BinaryIO | None = None,
    ) -> None:
        self._timestamps = timestamps
        self._task_ids = task_ids
        self._trunc = trunc
        self._out = out or sys.stdout.buffer
        self._err = err or sys.stderr.buffer
        self._prefixes: dict[str, bytes] = {}
        self.failed = False

    def write(self, batch: ServiceLogs) -> None:
        for source in batch.sources:
            self._prefixes[source.task_id] = self._prefix(source).encode()
        for line in batch.lines:
            stamp = _timestamp(line.timestamp_ns).encode() + b" " if self._timestamps else b""
            prefix = self._prefixes.get(line.task_id, line.task_id.encode() + b"    | ")
            target = self._err if line.stderr else self._out
            target.write(stamp + prefix + line.data + b"\n")
        for error in batch.errors:
            self.failed = True
            self._err.write(f"error from node {error.node}: {error.message}\n".encode())
        # Each batch shows at once: a followed line is worth nothing an hour late.
        self._out.flush()
        self._err.flush()

    def _prefix(self, source: LogSource) -> str:
        # A global service's tasks have no slot; like `service ps`, they go by their node.
        name = f"{source.service_name}.{source.slot or source.node_id}"
        if self._task_ids:
            name += "." + (output.short_id(source.task_id) if self._trunc else source.task_id)
        return f"{name}@{source.node_name or source.node_id}    | "


def _timestamp(ns: int) -> str:
    """docker's --timestamps layout: RFC 3339 in UTC with nanoseconds."""
    seconds, nanos = divmod(ns, _NS)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def _tail(text: str) -> int | None:
    if text == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid tail {text!r}: expected a number of lines or 'all'"
        ) from None
    # docker reads a negative count as all.
    return None if count < 0 else count


def _since(text: str) -> int:
    """An RFC 3339 time or date, a Unix time, or a duration back from now -> ns since the epoch."""
    unix = _UNIX_TIME.match(text)
    if unix is not None:
        seconds, fraction = unix.groups()
        return int(seconds) * _NS + int((fraction or "0").ljust(9, "0"))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            back = durations.parse(text)
        except InvalidArgument:
            raise argparse.ArgumentTypeError(
                f"invalid since {text!r}: expected a time such as 2013-01-02T13:23:37Z,"
                " a Unix time, or a duration such as 42m"
            ) from None
        return int((now() - back).timestamp() * _NS)
    # docker reads a time without a zone as the client's local time.
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp()) * _NS + moment.microsecond * 1000
