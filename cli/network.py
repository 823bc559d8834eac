"""`shoal network ...`: create, inspect, ls, rm, as docker's swarm-scoped overlay networks."""

from __future__ import annotations

import argparse

from cli import batch, labels, output, table
from cli.client import Client
from common.model import Network

LS_HEADER = ("NETWORK ID", "NAME", "DRIVER", "SCOPE")
DRIVER = "overlay"
SCOPE = "swarm"


def register(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(metavar="COMMAND", required=True)

    create = commands.add_parser("create", help="Create a network")
    create.add_argument(
        "--subnet",
        default="",
        metavar="CIDR",
        help="Subnet of the network, /8 to /24 (default: a /16 of 10.128.0.0/9)",
    )
    create.add_argument(
        "-d",
        "--driver",
        choices=(DRIVER,),
        default=DRIVER,
        help="Driver of the network (only overlay)",
    )
    create.add_argument(
        "--label",
        action="append",
        type=labels.parse,
        default=[],
        metavar="KEY[=VALUE]",
        help="Network labels",
    )
    create.add_argument("name", metavar="NETWORK")
    create.set_defaults(run=_create)

    inspect = commands.add_parser("inspect", help="Display detailed information on networks")
    inspect.add_argument("networks", nargs="+", metavar="NETWORK")
    inspect.set_defaults(run=_inspect)

    ls = commands.add_parser("ls", help="List networks")
    output.add_listing_options(ls)
    ls.set_defaults(run=_ls)

    rm = commands.add_parser("rm", help="Remove networks (refused while a service uses one)")
    rm.add_argument("networks", nargs="+", metavar="NETWORK")
    rm.set_defaults(run=_rm)


def _create(args: argparse.Namespace, client: Client) -> int:
    network = client.create_network(args.name, args.subnet, dict(args.label))
    print(network.id)
    return 0


def _inspect(args: argparse.Namespace, client: Client) -> int:
    output.json_document([document(client.get_network(ref)) for ref in args.networks])
    return 0


def _ls(args: argparse.Namespace, client: Client) -> int:
    networks = client.list_networks()
    if args.quiet:
        for network in networks:
            print(network.id)
    elif args.format == "json":
        output.json_lines(_ls_record(n) for n in networks)
    else:
        print(table.render(LS_HEADER, [list(_ls_record(n).values()) for n in networks]))
    return 0


def _rm(args: argparse.Namespace, client: Client) -> int:
    def remove(ref: str) -> None:
        client.remove_network(ref)
        print(ref)

    return batch.each(args.networks, remove)


def _ls_record(network: Network) -> dict[str, str]:
    return {
        "ID": output.short_id(network.id),
        "Name": network.name,
        "Driver": DRIVER,
        "Scope": SCOPE,
    }


def document(network: Network) -> dict[str, object]:
    """`network inspect` output, in docker's shape, with the VXLAN ID and each node's slice."""
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": output.rfc3339(network.meta.created_at),
        "Scope": SCOPE,
        "Driver": DRIVER,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": network.subnet}]},
        "Options": {"com.docker.network.driver.overlay.vxlanid_list": str(network.vni)},
        "Labels": network.labels,
        "Slices": dict(sorted(network.slices.items())),
    }
