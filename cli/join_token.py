"""`shoal join-token [--rotate] worker|manager`: how to add a node to the cluster."""

from __future__ import annotations

import argparse

from cli.client import Client
from common.model import NodeRole


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="Only display the token")
    parser.add_argument("--rotate", action="store_true", help="Rotate the join token")
    parser.add_argument("role", choices=[role.name.lower() for role in NodeRole])
    parser.set_defaults(run=_join_token)


def _join_token(args: argparse.Namespace, client: Client) -> int:
    role: str = args.role
    details = client.join_token(NodeRole[role.upper()], rotate=args.rotate)
    if args.rotate and not args.quiet:
        print(f"Successfully rotated {role} join token.\n")
    # A manager runs its own daemon: the host joins with it rather than with an agent.
    command = "manager join" if role == "manager" else "agent join"
    if args.quiet:
        print(details.token)
    else:
        print(
            f"To add a {role} to this cluster, run the following command:\n\n"
            f"    {command} {details.token} {details.manager_addr}"
        )
    return 0
