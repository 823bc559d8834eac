"""What a service's containers are made of, beyond image, command and env: docker's flags on
`service create` and `service update` (hostname, entrypoint, user, workdir, stop signal and
grace period, init, read-only root, container labels, env files), with mounts and health."""

from __future__ import annotations

import argparse
import itertools
import shlex
from dataclasses import replace
from datetime import timedelta
from typing import TypeVar

from cli import env_file, file_flags, health_flags, labels, mount_flags
from common import durations, templates
from common.errors import InvalidArgument, ShoalError
from common.model import ContainerSpec

T = TypeVar("T")


def _hostname(text: str) -> str:
    try:
        templates.check(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _command(text: str) -> tuple[str, ...]:
    """Split as a shell would, as docker does for --entrypoint; "" clears it."""
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid command {text!r}: {exc}") from None


def _duration(text: str) -> timedelta:
    try:
        return durations.parse(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _switch(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    """A boolean flag as docker spells it: `--init`, `--init=true` or `--init=false`. The
    spelled-out forms are option strings of their own: argparse matches them whole."""
    dest = flag.lstrip("-").replace("-", "_")
    parser.add_argument(
        flag,
        f"{flag}=true",
        dest=dest,
        action="store_const",
        const=True,
        help=f"{help} ({flag}=false: off)",
    )
    parser.add_argument(
        f"{flag}=false", dest=dest, action="store_const", const=False, help=argparse.SUPPRESS
    )


def add(parser: argparse.ArgumentParser, *, update: bool) -> None:
    """Every flag defaults to None (or empty): `create` starts from a plain container, `update`
    from the service's own."""
    parser.add_argument(
        "--hostname",
        type=_hostname,
        help="Container hostname; may use {{.Service.Name}}, {{.Task.Slot}}, {{.Node.Hostname}}",
    )
    parser.add_argument(
        "--entrypoint", type=_command, metavar="CMD", help="Overwrite the image's ENTRYPOINT"
    )
    parser.add_argument("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    parser.add_argument("-w", "--workdir", help="Working directory inside the container")
    parser.add_argument(
        "--stop-grace-period",
        type=_duration,
        metavar="DURATION",
        help="Time to wait before force killing a container (default 10s)",
    )
    parser.add_argument("--stop-signal", metavar="SIGNAL", help="Signal to stop the container")
    _switch(parser, "--init", "Run an init inside each container to forward signals and reap")
    _switch(parser, "--read-only", "Mount the container's root filesystem as read only")
    if update:
        parser.add_argument(
            "--container-label-add",
            action="append",
            type=labels.parse,
            default=[],
            metavar="KEY[=VALUE]",
            help="Add or update a container label",
        )
        parser.add_argument(
            "--container-label-rm",
            action="append",
            default=[],
            metavar="KEY",
            help="Remove a container label",
        )
    else:
        parser.add_argument(
            "--container-label",
            action="append",
            type=labels.parse,
            default=[],
            metavar="KEY[=VALUE]",
            help="Container labels",
        )
        parser.add_argument(
            "--env-file",
            action="append",
            type=env_file.read,
            default=[],
            metavar="FILE",
            help="Read in a file of environment variables",
        )
    mount_flags.add(parser, update=update)
    file_flags.add(parser, update=update)
    health_flags.add(parser)


def apply(container: ContainerSpec, args: argparse.Namespace) -> ContainerSpec:
    container_labels = dict(container.labels)
    for key in getattr(args, "container_label_rm", []):
        if container_labels.pop(key, None) is None:
            raise InvalidArgument(f"container label {key!r} is not set on the service")
    container_labels.update(getattr(args, "container_label", []))
    container_labels.update(getattr(args, "container_label_add", []))
    # Docker's order: the files' entries first, so that --env overrides them.
    from_files = itertools.chain.from_iterable(getattr(args, "env_file", []))
    return replace(
        file_flags.apply(container, args),
        env=(*from_files, *container.env),
        labels=container_labels,
        hostname=_pick(args.hostname, container.hostname),
        entrypoint=_pick(args.entrypoint, container.entrypoint),
        user=_pick(args.user, container.user),
        workdir=_pick(args.workdir, container.workdir),
        stop_grace_period=_pick(args.stop_grace_period, container.stop_grace_period),
        stop_signal=_pick(args.stop_signal, container.stop_signal),
        init=_pick(args.init, container.init),
        read_only=_pick(args.read_only, container.read_only),
        mounts=mount_flags.apply(container.mounts, args),
        healthcheck=health_flags.apply(container.healthcheck, args),
    )


def _pick(given: T | None, current: T) -> T:
    return current if given is None else given


def document(container: ContainerSpec) -> dict[str, object]:
    """TaskTemplate.ContainerSpec as `docker service inspect` shows it: durations in
    nanoseconds; what is unset is left out, as docker leaves it out."""
    doc: dict[str, object] = {"Image": container.image, "Labels": container.labels}
    if container.entrypoint:
        doc["Command"] = list(container.entrypoint)
    doc["Args"] = list(container.args)
    if container.hostname:
        doc["Hostname"] = container.hostname
    doc["Env"] = list(container.env)
    if container.workdir:
        doc["Dir"] = container.workdir
    if container.user:
        doc["User"] = container.user
    if container.init:
        doc["Init"] = True
    if container.mounts:
        doc["Mounts"] = mount_flags.document(container.mounts)
    if container.secrets:
        doc["Secrets"] = file_flags.document(container.secrets, config=False)
    if container.configs:
        doc["Configs"] = file_flags.document(container.configs, config=True)
    if container.stop_signal:
        doc["StopSignal"] = container.stop_signal
    if container.stop_grace_period is not None:
        doc["StopGracePeriod"] = round(container.stop_grace_period.total_seconds() * 1e9)
    if container.healthcheck is not None:
        doc["Healthcheck"] = health_flags.document(container.healthcheck)
    if container.read_only:
        doc["ReadOnly"] = True
    return doc
