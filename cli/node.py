"""`shoal node ...`: ls, rm."""

from __future__ import annotations

import argparse

from cli import batch, output, table
from cli.client import Client, NodeListing
from common.model import Node, NodeRole

HEADER = ("ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION")


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(metavar="COMMAND", required=True)
    ls = commands.add_parser("ls", help="List nodes in the cluster")
    output.add_listing_options(ls)
    ls.set_defaults(run=_ls)

    rm = commands.add_parser("rm", help="Remove one or more nodes from the cluster")
    rm.add_argument(
        "-f", "--force", action="store_true", help="Force-remove a node from the cluster"
    )
    rm.add_argument("nodes", nargs="+", metavar="NODE")
    rm.set_defaults(run=_rm)


def _ls(args: argparse.Namespace, client: Client) -> int:
    listing = client.list_nodes()
    nodes = sorted(listing.nodes, key=lambda node: (node.description.hostname, node.id))
    if args.quiet:
        for node in nodes:
            print(node.id)
    elif args.format == "json":
        output.json_lines(_record(node, listing) for node in nodes)
    else:
        print(table.render(HEADER, [_row(node, listing) for node in nodes]))
    return 0


def _rm(args: argparse.Namespace, client: Client) -> int:
    def remove(ref: str) -> None:
        client.remove_node(ref, force=args.force)
        print(ref)

    return batch.each(args.nodes, remove)


def _record(node: Node, listing: NodeListing) -> dict[str, object]:
    # Docker puts the `*` into the JSON ID as well; a separate field keeps the ID usable.
    return {
        "ID": node.id,
        "Self": node.id == listing.self_id,
        "Hostname": node.description.hostname,
        "Status": node.state.name.capitalize(),
        "Availability": node.availability.name.capitalize(),
        "ManagerStatus": _manager_status(node),
        "EngineVersion": node.description.engine_version,
    }


def _row(node: Node, listing: NodeListing) -> list[str]:
    return [
        f"{node.id} *" if node.id == listing.self_id else node.id,
        node.description.hostname,
        node.state.name.capitalize(),
        node.availability.name.capitalize(),
        _manager_status(node),
        node.description.engine_version,
    ]


def _manager_status(node: Node) -> str:
    # With a single manager there is no election yet: every manager is the leader.
    return "Leader" if node.role is NodeRole.MANAGER else ""
