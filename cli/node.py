"""`shoal node ...`: inspect, ls, ps, rm, update (promote and demote: cli/node_role.py)."""

from __future__ import annotations

import argparse
import functools
from dataclasses import replace

from cli import batch, cas, humanize, labels, node_role, output, table, tasks
from cli.answers import NodeDetails, NodeListing
from cli.client import Client
from common.errors import NotFound
from common.model import Availability, ManagerStatus, Node, Reachability, now

HEADER = (
    "ID",
    "HOSTNAME",
    "STATUS",
    "AVAILABILITY",
    "MANAGER STATUS",
    "TLS STATUS",
    "ENGINE VERSION",
    "SHOAL VERSION",
)

SELF = "self"
"""Docker's name, in `inspect` and `ps`, for the node the answering manager runs on."""


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(metavar="COMMAND", required=True)
    inspect = commands.add_parser("inspect", help="Display detailed information on nodes")
    inspect.add_argument(
        "--pretty", action="store_true", help="Print the information in a human friendly format"
    )
    inspect.add_argument("nodes", nargs="+", metavar="self|NODE")
    inspect.set_defaults(run=_inspect)

    ls = commands.add_parser("ls", help="List nodes in the cluster")
    output.add_listing_options(ls)
    ls.set_defaults(run=_ls)

    ps = commands.add_parser("ps", help="List tasks running on one or more nodes")
    output.add_listing_options(ps)
    ps.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    ps.add_argument(
        "nodes",
        nargs="*",
        default=[SELF],
        metavar="NODE",
        help=f"Nodes to list the tasks of (default: {SELF}, the node of the manager answering)",
    )
    ps.set_defaults(run=_ps)

    rm = commands.add_parser("rm", help="Remove one or more nodes from the cluster")
    rm.add_argument(
        "-f", "--force", action="store_true", help="Force-remove a node from the cluster"
    )
    rm.add_argument("nodes", nargs="+", metavar="NODE")
    rm.set_defaults(run=_rm)

    update = commands.add_parser("update", help="Update a node")
    update.add_argument(
        "--availability",
        choices=[availability.name.lower() for availability in Availability],
        help='Availability of the node ("active", "pause", "drain")',
    )
    update.add_argument(
        "--label-add",
        action="append",
        type=labels.parse,
        default=[],
        metavar="KEY[=VALUE]",
        help="Add or update a node label",
    )
    update.add_argument(
        "--label-rm", action="append", default=[], metavar="KEY", help="Remove a node label"
    )
    update.add_argument("node", metavar="NODE")
    update.set_defaults(run=_update, check=functools.partial(_require_a_change, update))
    node_role.register(commands)


def _inspect(args: argparse.Namespace, client: Client) -> int:
    # Every node is read before anything is printed: an unknown one fails the whole command.
    nodes = [client.inspect_node(_resolve(client, ref)) for ref in args.nodes]
    if args.pretty:
        print("\n\n".join("\n".join(_pretty(details)) for details in nodes))
    else:
        output.json_document([_document(details) for details in nodes])
    return 0


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


def _ps(args: argparse.Namespace, client: Client) -> int:
    """Each node's tasks in turn, each laid out as `service ps` lays out a service's."""
    per_node: list[list[dict[str, str]]] = []
    moment = now()

    def collect(ref: str) -> None:
        listing = client.list_tasks(node_ref=_resolve(client, ref))
        per_node.append(tasks.records(listing, trunc=not args.no_trunc, now=moment))

    status = batch.each(args.nodes, collect)
    records = [record for node_records in per_node for record in node_records]
    if status and not records:
        return status  # like docker: no empty table under the errors
    if args.quiet:
        for record in records:
            print(record["ID"])
    elif args.format == "json":
        output.json_lines(records)
    else:
        columns = tasks.header(records)
        versions = len(columns) > len(tasks.HEADER)
        rows = [row for node_records in per_node for row in tasks.rows(node_records, versions)]
        print(table.render(columns, rows))
    return status


def _rm(args: argparse.Namespace, client: Client) -> int:
    def remove(ref: str) -> None:
        client.remove_node(ref, force=args.force)
        print(ref)

    return batch.each(args.nodes, remove)


def _update(args: argparse.Namespace, client: Client) -> int:
    def change(node: Node) -> Node:
        # As docker: labels are added first, then removed; removing a missing one is an error.
        new_labels = node.labels | dict(args.label_add)
        for key in args.label_rm:
            if key not in new_labels:
                raise NotFound(f"key {key} doesn't exist in node's labels")
            del new_labels[key]
        availability = (
            node.availability
            if args.availability is None
            else Availability[args.availability.upper()]
        )
        return replace(node, availability=availability, labels=new_labels)

    cas.update(lambda: client.get_node(args.node), lambda node: client.update_node(change(node)))
    print(args.node)
    return 0


def _require_a_change(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.availability is None and not args.label_add and not args.label_rm:
        parser.error("nothing to update: give --availability, --label-add or --label-rm")


def _resolve(client: Client, ref: str) -> str:
    if ref != SELF:
        return ref
    self_id = client.list_nodes().self_id
    if not self_id:
        raise NotFound("the manager that answered runs on no node: name the node instead of self")
    return self_id


def _record(node: Node, listing: NodeListing) -> dict[str, object]:
    # Docker puts the `*` into the JSON ID as well; a separate field keeps the ID usable.
    return {
        "ID": node.id,
        "Self": node.id == listing.self_id,
        "Hostname": node.description.hostname,
        "Status": node.state.name.capitalize(),
        "Availability": node.availability.name.capitalize(),
        "ManagerStatus": _manager_status(listing.managers.get(node.id)),
        "TLSStatus": listing.tls.get(node.id, ""),
        "EngineVersion": node.description.engine_version,
        "ShoalVersion": node.description.version,
    }


def _row(node: Node, listing: NodeListing) -> list[str]:
    return [
        f"{node.id} *" if node.id == listing.self_id else node.id,
        node.description.hostname,
        node.state.name.capitalize(),
        node.availability.name.capitalize(),
        _manager_status(listing.managers.get(node.id)),
        listing.tls.get(node.id, ""),
        node.description.engine_version,
        node.description.version,
    ]


def _manager_status(status: ManagerStatus | None) -> str:
    """Docker's MANAGER STATUS: empty for a worker."""
    if status is None:
        return ""
    if status.leader:
        return "Leader"
    return "Reachable" if status.reachability is Reachability.REACHABLE else "Unreachable"


def _document(details: NodeDetails) -> dict[str, object]:
    """`node inspect` output, shaped like docker's so the same jq filters work."""
    node, status = details.node, details.manager
    description = node.description
    document: dict[str, object] = {
        "ID": node.id,
        "Version": {"Index": node.meta.version},
        "CreatedAt": output.rfc3339(node.meta.created_at),
        "UpdatedAt": output.rfc3339(node.meta.updated_at),
        "Spec": {
            "Labels": dict(sorted(node.labels.items())),
            "Role": node.role.name.lower(),
            "Availability": node.availability.name.lower(),
        },
        "Description": {
            "Hostname": description.hostname,
            "Platform": {"Architecture": description.arch, "OS": description.os},
            "Resources": {
                "NanoCPUs": description.resources.nano_cpus,
                "MemoryBytes": description.resources.memory_bytes,
            },
            "Engine": {"EngineVersion": description.engine_version},
            "Shoal": {"Version": description.version, "Protocol": description.protocol},
            # Docker's TLSInfo names the trust root; ours its digest (the one join tokens
            # carry) and whether it is the root that signs now.
            "TLSInfo": {"TrustRootDigest": node.cert_root, "Status": details.tls_status},
        },
        "Status": {"State": node.state.name.lower(), "Message": node.message, "Addr": node.addr},
    }
    if status is not None:
        # As docker's: Leader only when true.
        manager: dict[str, object] = {"Leader": True} if status.leader else {}
        manager |= {"Reachability": status.reachability.name.lower(), "Addr": status.addr}
        document["ManagerStatus"] = manager
    return document


field = output.pretty_field


def _pretty(details: NodeDetails) -> list[str]:
    """`node inspect --pretty`: docker's layout, the sections it would leave empty left out."""
    node, status = details.node, details.manager
    description = node.description
    resources = description.resources
    lines = [field("ID:", node.id)]
    if node.labels:
        lines.append("Labels:")
        lines += [
            f" - {key}={value}" if value else f" - {key}"
            for key, value in sorted(node.labels.items())
        ]
    lines += [
        field("Hostname:", description.hostname),
        field("Joined at:", output.go_time(node.meta.created_at)),
        "Status:",
        field(" State:", node.state.name.capitalize()),
    ]
    if node.message:
        lines.append(field(" Message:", node.message[:1].upper() + node.message[1:]))
    lines.append(field(" Availability:", node.availability.name.capitalize()))
    if node.addr:
        lines.append(field(" Address:", node.addr))
    if status is not None:
        # Docker's words, "Raft Status" included, so that what reads its output reads ours.
        lines += [
            "Manager Status:",
            field(" Address:", status.addr),
            field(" Raft Status:", status.reachability.name.capitalize()),
            field(" Leader:", "Yes" if status.leader else "No"),
        ]
    memory = humanize.bytes_size(resources.memory_bytes) if resources.memory_bytes else ""
    lines += [
        "Platform:",
        field(" Operating System:", description.os),
        field(" Architecture:", description.arch),
        "Resources:",
        field(" CPUs:", str(resources.nano_cpus // 10**9)),
        field(" Memory:", memory),
        field("Engine Version:", description.engine_version),
        field("Shoal Version:", description.version),
        field("TLS Status:", details.tls_status),
    ]
    return lines
