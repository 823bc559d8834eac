"""Network flags of `service create` and `service update`: docker's --network (repeatable),
--network-add/--network-rm and --endpoint-mode."""

from __future__ import annotations

import argparse
from dataclasses import replace

from cli.client import Client
from common.model import EndpointMode, Service, ServiceSpec

MODES = {"vip": EndpointMode.VIP, "dnsrr": EndpointMode.DNSRR}


def add(parser: argparse.ArgumentParser, *, update: bool) -> None:
    if update:
        parser.add_argument("--network-add", action="append", default=[], metavar="NETWORK")
        parser.add_argument("--network-rm", action="append", default=[], metavar="NETWORK")
    else:
        parser.add_argument(
            "--network",
            action="append",
            default=[],
            metavar="NETWORK",
            help="Network to attach the tasks to (repeatable)",
        )
    parser.add_argument(
        "--endpoint-mode",
        choices=tuple(MODES),
        help="How the service is found by name: vip (default) or dnsrr",
    )


def apply(spec: ServiceSpec, args: argparse.Namespace) -> ServiceSpec:
    """create: the networks as named (the manager resolves names to IDs)."""
    mode = MODES[args.endpoint_mode] if args.endpoint_mode else spec.endpoint_mode
    return replace(spec, networks=tuple(args.network), endpoint_mode=mode)


def apply_update(spec: ServiceSpec, args: argparse.Namespace, client: Client) -> ServiceSpec:
    """update: the service's networks (IDs) less those --network-rm names, plus --network-add."""
    mode = MODES[args.endpoint_mode] if args.endpoint_mode else spec.endpoint_mode
    removed = {client.get_network(ref).id for ref in args.network_rm}
    kept = [network for network in spec.networks if network not in removed]
    return replace(spec, networks=(*kept, *args.network_add), endpoint_mode=mode)


def virtual_ips(service: Service) -> list[dict[str, str]]:
    """The service's virtual IPs, as docker's `service inspect` lists them under Endpoint."""
    return [
        {"NetworkID": network, "Addr": address} for network, address in service.virtual_ips.items()
    ]


def document(spec: ServiceSpec) -> dict[str, object]:
    """The task template's networks and endpoint mode, when there is any to show."""
    if not spec.networks and spec.endpoint_mode == EndpointMode.VIP:
        return {}
    mode = "dnsrr" if spec.endpoint_mode == EndpointMode.DNSRR else "vip"
    # Docker lists aliases per network; Shoal's hold on each of the service's networks.
    aliases = {"Aliases": list(spec.aliases)} if spec.aliases else {}
    return {
        "Networks": [{"Target": network, **aliases} for network in spec.networks],
        "EndpointSpec": {"Mode": mode},
    }
