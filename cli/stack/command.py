"""`shoal stack deploy|ls|services|ps|rm`, as docker's commands of the same names."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cli import output, service_update, table, tasks
from cli.answers import ServiceSummary, TaskListing
from cli.client import Client
from cli.service import LS_HEADER as SERVICES_HEADER
from cli.service import ls_record
from cli.stack import convert, deploy, loader, plan, removal
from cli.stack.model import NAMESPACE_LABEL
from common.model import now

LS_HEADER = ("NAME", "SERVICES")


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(metavar="COMMAND", required=True)

    up = commands.add_parser("deploy", help="Deploy a new stack or update an existing stack")
    up.add_argument(
        "-c",
        "--compose-file",
        action="append",
        required=True,
        type=Path,
        metavar="FILE",
        help="Path to a Compose file (repeatable: later files override earlier ones)",
    )
    up.add_argument(
        "--prune", action="store_true", help="Prune services that are no longer referenced"
    )
    service_update.add_wait_flags(up)
    up.add_argument("stack", metavar="STACK")
    up.set_defaults(run=_deploy)

    ls = commands.add_parser("ls", help="List stacks")
    ls.add_argument("--format", choices=("table", "json"), default="table", help="Output format")
    ls.set_defaults(run=_ls)

    services = commands.add_parser("services", help="List the services in the stack")
    output.add_listing_options(services)
    services.add_argument("stack", metavar="STACK")
    services.set_defaults(run=_services)

    ps = commands.add_parser("ps", help="List the tasks in the stack")
    output.add_listing_options(ps)
    ps.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    ps.add_argument("stack", metavar="STACK")
    ps.set_defaults(run=_ps)

    rm = commands.add_parser("rm", help="Remove one or more stacks")
    rm.add_argument("stacks", nargs="+", metavar="STACK")
    rm.set_defaults(run=removal.run)


def _deploy(args: argparse.Namespace, client: Client) -> int:
    # The whole file is read and checked before the first call: a bad file creates nothing.
    model = loader.load(args.compose_file, args.stack, os.environ)
    stack = convert.stack(model, args.stack)
    for warning in stack.warnings:
        print(warning, file=sys.stderr)
    services = [summary.service for summary in client.list_services()]
    files = [*client.list_data(False), *client.list_data(True)]
    steps = plan.make(stack, services, client.list_networks(), files, prune=args.prune)
    waiting = deploy.Waiting(detach=args.detach, quiet=args.quiet, timeout=args.timeout)
    return deploy.run(client, stack, steps, waiting)


def _ls(args: argparse.Namespace, client: Client) -> int:
    counts: dict[str, int] = {}
    for summary in client.list_services():
        name = summary.service.spec.labels.get(NAMESPACE_LABEL)
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    records = [{"Name": name, "Services": str(counts[name])} for name in sorted(counts)]
    if args.format == "json":
        output.json_lines(records)
    else:
        print(table.render(LS_HEADER, [list(r.values()) for r in records]))
    return 0


def stack_services(client: Client, stack: str) -> list[ServiceSummary]:
    found = [s for s in client.list_services() if plan.of_stack(s.service, stack)]
    return sorted(found, key=lambda summary: summary.service.spec.name)


def _services(args: argparse.Namespace, client: Client) -> int:
    found = stack_services(client, args.stack)
    if not found:
        print(f"Nothing found in stack: {args.stack}", file=sys.stderr)
    elif args.quiet:
        for summary in found:
            print(summary.service.id)
    elif args.format == "json":
        output.json_lines(ls_record(summary) for summary in found)
    else:
        print(table.render(SERVICES_HEADER, [list(ls_record(s).values()) for s in found]))
    return 0


def _ps(args: argparse.Namespace, client: Client) -> int:
    ids = {summary.service.id for summary in stack_services(client, args.stack)}
    if not ids:
        print(f"Nothing found in stack: {args.stack}", file=sys.stderr)
        return 0
    listing = client.list_tasks()
    listing = TaskListing([t for t in listing.tasks if t.service_id in ids], listing.nodes)
    records = tasks.records(listing, trunc=not args.no_trunc, now=now())
    if args.quiet:
        for record in records:
            print(record["ID"])
    elif args.format == "json":
        output.json_lines(records)
    else:
        print(table.render(tasks.HEADER, tasks.rows(records)))
    return 0
