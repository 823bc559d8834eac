"""`shoal stack rm`: the stack's services, then its own networks once no task uses them, then
its own secrets and configs (external ones are not the stack's and stay)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial

from cli.client import Client
from cli.stack.model import NAMESPACE_LABEL
from cli.stack.plan import of_stack
from common.errors import Conflict, ShoalError, Unavailable

IN_USE_WAIT_SECONDS = 60.0
"""How long a network (or a secret or config) may keep tasks that are still stopping before rm
gives up on it."""
POLL_SECONDS = 0.25


def run(
    args: argparse.Namespace,
    client: Client,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    code = 0
    for stack in args.stacks:
        code = max(code, _remove(client, stack, clock, sleep))
    return code


def _remove(
    client: Client, stack: str, clock: Callable[[], float], sleep: Callable[[float], None]
) -> int:
    services = sorted(
        (s.service for s in client.list_services() if of_stack(s.service, stack)),
        key=lambda service: service.spec.name,
    )
    networks = sorted(
        (n for n in client.list_networks() if n.labels.get(NAMESPACE_LABEL) == stack),
        key=lambda network: network.name,
    )
    # External ones carry no stack's label: they are never removed.
    files = sorted(
        (
            info
            for config in (False, True)
            for info in client.list_data(config)
            if info.labels.get(NAMESPACE_LABEL) == stack
        ),
        key=lambda info: (info.config, info.name),
    )
    if not services and not networks and not files:
        print(f"Nothing found in stack: {stack}", file=sys.stderr)
        return 0
    code = 0
    for service in services:
        print(f"Removing service {service.spec.name}")
        code = max(code, _attempt(client.remove_service, service.id))
    deadline = clock() + IN_USE_WAIT_SECONDS
    for network in networks:
        print(f"Removing network {network.name}")
        code = max(
            code, _until_unused(partial(client.remove_network, network.id), deadline, sleep, clock)
        )
    for info in files:
        print(f"Removing {'config' if info.config else 'secret'} {info.name}")
        code = max(
            code,
            _until_unused(
                partial(client.remove_data, info.config, info.id), deadline, sleep, clock
            ),
        )
    return code


def _until_unused(
    remove: Callable[[], object],
    deadline: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> int:
    """remove(), again while the object is still in use (Conflict) until deadline; 1 on an
    error, which is shown."""
    while True:
        try:
            remove()
            return 0
        except Conflict as exc:
            # The removed services' tasks are still stopping on their nodes.
            if clock() >= deadline:
                print(f"Error: {exc}", file=sys.stderr)
                return 1
            sleep(POLL_SECONDS)
        except Unavailable:
            raise
        except ShoalError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 1


def _attempt(action: Callable[[str], object], ref: str) -> int:
    try:
        action(ref)
    except Unavailable:
        raise
    except ShoalError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0
