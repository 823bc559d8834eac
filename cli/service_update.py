"""`shoal service update`, `rollback`, `scale` and `rebalance`: change a service, then wait.

Like docker's, each waits until the service converges and draws the progress, unless -d; the
exit code says how it ended (see cli.progress).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from cli import (
    batch,
    cas,
    container_flags,
    labels,
    network_flags,
    placement_flags,
    plans,
    progress,
    publish_flags,
    registry,
    restart_flags,
    update_flags,
)
from cli.client import Client
from common import durations
from common.errors import InvalidArgument, ShoalError
from common.model import RegistryAuth, Service, ServiceMode, ServiceSpec, UpdateState

DEFAULT_TIMEOUT = timedelta(minutes=5)


def _timeout(text: str) -> timedelta:
    try:
        return durations.parse(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_wait_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="Exit at once instead of waiting for the service to converge",
    )
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        metavar="DURATION",
        help="Stop waiting after this long, with exit code 2 (default 5m)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="Suppress progress output while waiting"
    )


def follow(args: argparse.Namespace, client: Client, service: Service, goal: progress.Goal) -> int:
    """Wait as the flags say; -d returns at once."""
    if args.detach:
        return progress.CONVERGED
    return progress.wait(client, service.id, goal, args.timeout, quiet=args.quiet)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    update = commands.add_parser("update", help="Update a service")
    update.add_argument("--image", help="Service image tag")
    update.add_argument("--args", help="Service command args (replaces them, shell-quoted)")
    update.add_argument("--env-add", action="append", default=[], metavar="KEY=VALUE")
    update.add_argument("--env-rm", action="append", default=[], metavar="KEY")
    update.add_argument("--label-add", action="append", type=labels.parse, default=[])
    update.add_argument("--label-rm", action="append", default=[], metavar="KEY")
    update.add_argument("--replicas", type=replicas, help="Number of tasks")
    update.add_argument(
        "--force", action="store_true", help="Replace the tasks even if nothing changed"
    )
    update.add_argument(
        "--rollback", action="store_true", help="Roll back to the previous specification"
    )
    update.add_argument(
        "--dry-run",
        action="store_true",
        help="Show where the updated tasks would go, or why not, and change nothing",
    )
    restart_flags.add(update)
    placement_flags.add(update, update=True)
    container_flags.add(update, update=True)
    update_flags.add(update)
    publish_flags.add(update, update=True)
    network_flags.add(update, update=True)
    registry.add(update)
    add_wait_flags(update)
    update.add_argument("service", metavar="SERVICE")
    update.set_defaults(run=_update)

    rollback = commands.add_parser("rollback", help="Revert changes to a service's configuration")
    add_wait_flags(rollback)
    rollback.add_argument("service", metavar="SERVICE")
    rollback.set_defaults(run=_rollback)

    scale = commands.add_parser("scale", help="Scale one or more replicated services")
    add_wait_flags(scale)
    scale.add_argument("targets", nargs="+", type=_scale_target, metavar="SERVICE=REPLICAS")
    scale.set_defaults(run=_scale)

    rebalance = commands.add_parser(
        "rebalance", help="Move the fewest tasks needed to even a service's spread out"
    )
    add_wait_flags(rebalance)
    rebalance.add_argument("service", metavar="SERVICE")
    rebalance.set_defaults(run=_rebalance)


def _update(args: argparse.Namespace, client: Client) -> int:
    if args.rollback:
        return _rollback(args, client)

    def change(service: Service) -> ServiceSpec:
        spec = replace(service.spec, restart=restart_flags.apply(service.spec.restart, args))
        spec = placement_flags.apply(spec, args)
        spec = update_flags.apply(spec, args)
        spec = publish_flags.apply(spec, args)
        spec = _container_changes(spec, args)
        spec = replace(spec, container=container_flags.apply(spec.container, args))
        spec = network_flags.apply_update(spec, args, client)
        if args.replicas is not None:
            spec = replace(spec, replicas=args.replicas)
        if args.force:
            spec = replace(spec, force_update=spec.force_update + 1)
        return spec

    auth = None
    if args.with_registry_auth:
        image = args.image or client.get_service(args.service).spec.container.image
        auth = registry.credentials(image)
    if args.image is not None and args.image.strip() and not args.no_resolve_image:
        # Only an update moves the digest a service runs: scaling and restarts keep it.
        args.image = registry.pinned(args.image, auth)
    if args.dry_run:
        service = client.get_service(args.service)
        spec = change(service)
        return plans.show(spec, client.plan_service_update(service, spec))
    updated = change_spec(client, args.service, change, auth)
    print(args.service)
    # A change that replaces no task starts no update: an old update's outcome is not this one's.
    rolling = updated.update_status.state == UpdateState.UPDATING
    return follow(
        args, client, updated, progress.Goal.UPDATE if rolling else progress.Goal.CONVERGE
    )


def _container_changes(spec: ServiceSpec, args: argparse.Namespace) -> ServiceSpec:
    container = spec.container
    if args.image is not None:
        if not args.image.strip():
            raise InvalidArgument("--image cannot be empty")
        container = replace(container, image=args.image)
    if args.args is not None:
        try:
            container = replace(container, args=tuple(shlex.split(args.args)))
        except ValueError as exc:
            raise InvalidArgument(f"invalid --args {args.args!r}: {exc}") from None
    env = {entry.partition("=")[0]: entry for entry in container.env}
    for key in args.env_rm:
        env.pop(key, None)
    for entry in args.env_add:
        key, sep, _ = entry.partition("=")
        if not key or not sep:
            raise InvalidArgument(f"invalid --env-add {entry!r}: expected KEY=VALUE")
        env[key] = entry
    container = replace(container, env=tuple(env.values()))
    service_labels = dict(spec.labels)
    for key in args.label_rm:
        service_labels.pop(key, None)
    service_labels.update(dict(args.label_add))
    return replace(spec, container=container, labels=service_labels)


def _rollback(args: argparse.Namespace, client: Client) -> int:
    rolled = client.rollback_service(args.service)
    print(args.service)
    return follow(args, client, rolled, progress.Goal.ROLLBACK)


def _rebalance(args: argparse.Namespace, client: Client) -> int:
    service = client.rebalance_service(args.service)
    print(args.service)
    return follow(args, client, service, progress.Goal.REBALANCE)


def _scale(args: argparse.Namespace, client: Client) -> int:
    scaled: list[Service] = []

    def scale(target: tuple[str, int]) -> None:
        ref, count = target
        scaled.append(set_replicas(client, ref, count))
        print(f"{ref} scaled to {count}")

    code = batch.each(args.targets, scale)
    for service in scaled:
        code = max(code, follow(args, client, service, progress.Goal.CONVERGE))
    return code


def set_replicas(client: Client, ref: str, count: int) -> Service:
    def change(service: Service) -> ServiceSpec:
        if service.spec.mode is not ServiceMode.REPLICATED:
            raise InvalidArgument(f"{ref}: scale can only be used with replicated mode")
        return replace(service.spec, replicas=count)

    return change_spec(client, ref, change)


def change_spec(
    client: Client,
    ref: str,
    change: Callable[[Service], ServiceSpec],
    auth: RegistryAuth | None = None,
) -> Service:
    """Replace the spec of the service `ref` names with `change` of it, as read (and its
    registry credentials with auth, when given)."""
    stored: list[Service] = []
    cas.update(
        lambda: client.get_service(ref),
        lambda service: stored.append(client.update_service(service, change(service), auth)),
    )
    return stored[-1]


def replicas(text: str) -> int:
    if not _is_count(text):
        raise argparse.ArgumentTypeError(f"invalid replicas {text!r}: expected a count (0 or more)")
    return int(text)


def _scale_target(text: str) -> tuple[str, int]:
    ref, sep, count = text.partition("=")
    if not ref or not sep or not _is_count(count):
        raise argparse.ArgumentTypeError(
            f"invalid scale specifier {text!r}: expected SERVICE=REPLICAS, REPLICAS 0 or more"
        )
    return ref, int(count)


def _is_count(text: str) -> bool:
    return text.isascii() and text.isdigit()
