"""`shoal secret ...` and `shoal config ...`: create, inspect, ls, rm, and rotate (beyond
Swarm), as docker's commands show them. `secret inspect` never shows data; `config inspect`
does, as docker's does."""

from __future__ import annotations

import argparse
import base64
import sys
from typing import BinaryIO

from cli import batch, humanize, labels, output, progress, service_update, table
from cli.client import Client
from common.errors import InvalidArgument
from common.limits import max_data_bytes
from common.model import DataInfo, now

LS_HEADER = ("ID", "NAME", "CREATED", "UPDATED")
STDIN = "-"


def register(parser: argparse.ArgumentParser, *, config: bool) -> None:
    what = "config" if config else "secret"
    commands = parser.add_subparsers(metavar="COMMAND", required=True)
    # Not dest "config": that is the global --config (the client bundle's directory).
    parser.set_defaults(data_config=config)

    create = commands.add_parser("create", help=f"Create a {what} from a file or STDIN as content")
    create.add_argument(
        "-l",
        "--label",
        action="append",
        type=labels.parse,
        default=[],
        metavar="KEY[=VALUE]",
        help=f"{what.capitalize()} labels",
    )
    create.add_argument("name", metavar=what.upper())
    create.add_argument("file", metavar="FILE|-")
    create.set_defaults(run=_create)

    inspect = commands.add_parser("inspect", help=f"Display detailed information on {what}s")
    inspect.add_argument(
        "--pretty", action="store_true", help="Print the information in a human friendly format"
    )
    inspect.add_argument("refs", nargs="+", metavar=what.upper())
    inspect.set_defaults(run=_inspect)

    ls = commands.add_parser("ls", help=f"List {what}s")
    output.add_listing_options(ls)
    ls.set_defaults(run=_ls)

    rm = commands.add_parser("rm", help=f"Remove {what}s (refused while a service uses one)")
    rm.add_argument("refs", nargs="+", metavar=what.upper())
    rm.set_defaults(run=_rm)

    rotate = commands.add_parser(
        "rotate",
        help=f"Store a new version of a {what}; every service using it rolls to it",
    )
    rotate.add_argument("ref", metavar=what.upper())
    rotate.add_argument("file", metavar="FILE|-")
    service_update.add_wait_flags(rotate)
    rotate.set_defaults(run=_rotate)


def read_data(source: str, config: bool) -> bytes:
    """The bytes of FILE, or of stdin for -; see read_file."""
    if source == STDIN:
        return _bounded(sys.stdin.buffer, "stdin", config)
    return read_file(source, config)


def read_file(path: str, config: bool) -> bytes:
    """The bytes of a file, never more than the limit's worth read (a file without end,
    /dev/zero, is refused like any other too big); one line naming the file and the cause or
    the limit when it cannot be used."""
    try:
        with open(path, "rb") as file:
            return _bounded(file, path, config)
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror}") from None


def _bounded(stream: BinaryIO, name: str, config: bool) -> bytes:
    limit = max_data_bytes(config)
    data = stream.read(limit + 1)
    if len(data) > limit:
        what = "config" if config else "secret"
        raise InvalidArgument(f"{name}: {what} data is over the limit of {limit // 1024} KB")
    return data


def _create(args: argparse.Namespace, client: Client) -> int:
    info = client.create_data(
        args.data_config, args.name, dict(args.label), read_data(args.file, args.data_config)
    )
    print(info.id)
    return 0


def _rotate(args: argparse.Namespace, client: Client) -> int:
    """Store the new version, then follow each service's rolling update as `service update`
    does; the exit code is the worst of theirs (3: one rolled back or paused)."""
    info, services = client.rotate_data(
        args.data_config, args.ref, read_data(args.file, args.data_config)
    )
    print(info.id)
    code = progress.CONVERGED
    for name in services:
        if not args.quiet:
            print(f"{name}: rolling to version {info.versions[-1]}", flush=True)
        if not args.detach:
            code = max(
                code,
                progress.wait(client, name, progress.Goal.UPDATE, args.timeout, quiet=args.quiet),
            )
    return code


def _inspect(args: argparse.Namespace, client: Client) -> int:
    found: list[DataInfo] = []

    def get(ref: str) -> None:
        found.append(client.get_data(args.data_config, ref))

    status = batch.each(args.refs, get)
    if args.pretty:
        print("\n\n".join(pretty(info) for info in found))
    elif found or status == 0:
        output.json_document([document(info) for info in found])
    return status


def _ls(args: argparse.Namespace, client: Client) -> int:
    items = client.list_data(args.data_config)
    if args.quiet:
        for info in items:
            print(info.id)
    elif args.format == "json":
        output.json_lines(_ls_record(i) for i in items)
    else:
        print(table.render(LS_HEADER, [list(_ls_record(i).values()) for i in items]))
    return 0


def _rm(args: argparse.Namespace, client: Client) -> int:
    def remove(ref: str) -> None:
        client.remove_data(args.data_config, ref)
        print(ref)

    return batch.each(args.refs, remove)


def _ago(info: DataInfo, updated: bool) -> str:
    moment = info.meta.updated_at if updated else info.meta.created_at
    return f"{humanize.duration(now() - moment)} ago"


def _ls_record(info: DataInfo) -> dict[str, str]:
    return {
        "ID": info.id,
        "Name": info.name,
        "CreatedAt": _ago(info, False),
        "UpdatedAt": _ago(info, True),
    }


def document(info: DataInfo) -> dict[str, object]:
    """`inspect` output in docker's shape, with the versions still kept; Data (base64, as
    docker's) for a config only."""
    spec: dict[str, object] = {"Name": info.name, "Labels": info.labels}
    if info.config:
        spec["Data"] = base64.b64encode(info.data).decode()
    return {
        "ID": info.id,
        "Version": {"Index": info.meta.version},
        "CreatedAt": output.rfc3339(info.meta.created_at),
        "UpdatedAt": output.rfc3339(info.meta.updated_at),
        "Spec": spec,
        "DataVersions": list(info.versions),
    }


def pretty(info: DataInfo) -> str:
    lines = [
        output.pretty_field("ID:", info.id),
        output.pretty_field("Name:", info.name),
    ]
    if info.labels:
        lines.append("Labels:")
        lines += [f" - {k}={v}" for k, v in sorted(info.labels.items())]
    lines += [
        output.pretty_field("Created at:", output.go_time(info.meta.created_at)),
        output.pretty_field("Updated at:", output.go_time(info.meta.updated_at)),
        output.pretty_field("Versions:", ", ".join(str(v) for v in info.versions)),
    ]
    if info.config:
        lines += ["Data:", info.data.decode(errors="replace")]
    return "\n".join(lines)
