"""Carrying a plan out: the services no longer in the file (--prune), the stack's networks, its
secrets and configs (those whose file changed rotated: their services roll to the new data),
then its services in depends_on order, each created once what it depends on has converged
(running, healthy where it has a health check, complete for a job). Waits as `service create`
does, with its progress for each service and its exit codes, unless detached."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TextIO

from cli import progress
from cli.client import Client
from cli.stack.model import Stack, StackFile
from cli.stack.plan import Plan
from common.errors import Conflict, InvalidArgument, NotFound
from common.model import DataInfo, Service, UpdateState


@dataclass
class Waiting:
    """How a deploy waits: not at all (detach), silently (quiet), or drawing progress; one
    deadline for the whole stack."""

    detach: bool
    quiet: bool
    timeout: timedelta
    clock: Callable[[], float] = time.monotonic
    started: float = 0.0
    # Service name -> how to wait for it (its update, or its convergence), until waited for.
    pending: dict[str, tuple[str, progress.Goal]] = field(default_factory=dict)

    def start(self) -> None:
        self.started = self.clock()

    def settle(self, client: Client, name: str, out: TextIO) -> int:
        """Wait for the service name once; the exit code service create would give."""
        entry = self.pending.pop(name, None)
        if entry is None or self.detach:
            return progress.CONVERGED
        service_id, goal = entry
        if not self.quiet:
            out.write(f"{name}\n")
            out.flush()
        # The wait's clock reads the time since the deploy started, so the stack's timeout
        # bounds all the waits together, and a failure names it.
        started = self.started
        return progress.wait(
            client,
            service_id,
            goal,
            self.timeout,
            quiet=self.quiet,
            out=out,
            clock=lambda: self.clock() - started,
        )


def run(
    client: Client, stack: Stack, plan: Plan, waiting: Waiting, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    _check(client, plan)
    waiting.start()
    # Pruned first, as docker does: what they held (published ports) is free for the rest.
    for removed in plan.to_remove:
        out.write(f"Removing service {removed.spec.name}\n")
        client.remove_service(removed.id)
    for network in plan.networks_to_create:
        out.write(f"Creating network {network.name}\n")
        client.create_network(network.name, network.subnet, network.labels)
    for file in plan.files_to_create:
        out.write(f"Creating {file.kind} {file.name}\n")
        client.create_data(file.config, file.name, file.labels, file.data or b"")
    keys = {s.key: s.spec.name for s in stack.services}
    for same in plan.unchanged:
        # What already runs as the file says may still be converging: dependents wait for it.
        waiting.pending[same.spec.name] = (same.id, progress.Goal.CONVERGE)
    code, rolled = _rotate(client, plan, waiting, out)
    if code != progress.CONVERGED:
        return code
    for service, stored in plan.services:
        for dependency in sorted(service.depends_on):
            code = waiting.settle(client, keys[dependency], out)
            if code != progress.CONVERGED:
                return code
        name = service.spec.name
        if stored is None:
            out.write(f"Creating service {name}\n")
            done = client.create_service(service.spec)
        else:
            out.write(f"Updating service {name} (id: {stored.id})\n")
            if name in rolled:
                # The rotation wrote it since the plan read it.
                stored = client.get_service(stored.id)
            done = client.update_service(stored, service.spec)
        waiting.pending[name] = (done.id, _goal(done))
    changed = [s.spec.name for s, _ in plan.services]
    changed += sorted(name for name in rolled if name not in changed)
    for name in changed:
        code = waiting.settle(client, name, out)
        if code != progress.CONVERGED:
            return code
    return progress.CONVERGED


def _check(client: Client, plan: Plan) -> None:
    """Each spec the deploy creates or updates checked by the manager's dry runs, before the
    first write: a spec it refuses changes nothing. The dry runs read no network, secret or
    config reference, so those the stack has yet to create do not fail them."""
    for service, stored in plan.services:
        try:
            if stored is None:
                client.plan_service(service.spec)
            else:
                client.plan_service_update(stored, service.spec)
        except (InvalidArgument, Conflict, NotFound) as exc:
            raise type(exc)(f"service {service.spec.name}: {exc}") from exc


def _rotate(client: Client, plan: Plan, waiting: Waiting, out: TextIO) -> tuple[int, set[str]]:
    """The stack's secrets and configs brought to the file's data: a new version where it
    differs (the manager compares: a secret's data never comes back to be compared here). The
    services rolling to a new version are waited for as updates; the exit code so far, and
    their names."""
    rolled: set[str] = set()
    for file, stored in plan.files_to_sync:
        try:
            info, services = _rotate_one(client, file, stored)
        except Conflict:
            # The manager rotates nothing a service rolling from an earlier rotation uses:
            # that roll ends first (without waiting, the refusal stands).
            for name in sorted(rolled):
                code = waiting.settle(client, name, out)
                if code != progress.CONVERGED:
                    return code, rolled
            info, services = _rotate_one(client, file, stored)
        if info.versions[-1] == stored.versions[-1]:
            continue
        out.write(f"Rotating {file.kind} {file.name} to version {info.versions[-1]}\n")
        for name in services:
            waiting.pending[name] = (client.get_service(name).id, progress.Goal.UPDATE)
            rolled.add(name)
    return progress.CONVERGED, rolled


def _rotate_one(client: Client, file: StackFile, stored: DataInfo) -> tuple[DataInfo, list[str]]:
    return client.rotate_data(file.config, stored.id, file.data or b"", if_changed=True)


def _goal(service: Service) -> progress.Goal:
    # An update that replaces tasks is followed as one (a failure pauses or rolls it back);
    # any other change only has to converge.
    if service.update_status.state == UpdateState.UPDATING:
        return progress.Goal.UPDATE
    return progress.Goal.CONVERGE
