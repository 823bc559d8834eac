"""`shoal node promote NODE...` and `shoal node demote NODE...`: a node's role, as docker's.

The manager refuses to demote the last manager, and to promote on a cluster whose state is in
SQLite (one manager only). A node already in the role asked for is reported and left alone.
"""

from __future__ import annotations

import argparse

from cli import batch, cas
from cli.client import Client
from common.model import Node, NodeRole


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    promote = commands.add_parser("promote", help="Promote one or more nodes to manager")
    promote.add_argument("nodes", nargs="+", metavar="NODE")
    promote.set_defaults(run=_promote)
    demote = commands.add_parser("demote", help="Demote one or more nodes from manager")
    demote.add_argument("nodes", nargs="+", metavar="NODE")
    demote.set_defaults(run=_demote)


def _promote(args: argparse.Namespace, client: Client) -> int:
    return batch.each(
        args.nodes,
        lambda ref: _change(
            client,
            ref,
            NodeRole.MANAGER,
            f"Node {ref} is already a manager.",
            f"Node {ref} promoted to a manager in the swarm.",
        ),
    )


def _demote(args: argparse.Namespace, client: Client) -> int:
    return batch.each(
        args.nodes,
        lambda ref: _change(
            client,
            ref,
            NodeRole.WORKER,
            f"Node {ref} is already a worker.",
            f"Manager {ref} demoted in the swarm.",
        ),
    )


def _change(client: Client, ref: str, role: NodeRole, already: str, done: str) -> None:
    outcome: list[str] = []

    def write(node: Node) -> None:
        if node.role == role:
            outcome.append(already)
            return
        client.update_node(node, role=role)
        outcome.append(done)

    cas.update(lambda: client.get_node(ref), write)
    print(outcome[-1])
