"""Placement and resource flags: docker's names, on `service create` and `service update`."""

from __future__ import annotations

import argparse
import re
from dataclasses import replace

from common.constraints import parse as parse_constraint
from common.errors import ShoalError
from common.model import Placement, Resources, ServiceSpec

_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def memory(text: str) -> int:
    """Bytes, as docker reads them: 512m, 1g, 1024k, 100b, or a plain number."""
    match = _MEMORY.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: expected e.g. 512m or 1g")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def cpus(text: str) -> int:
    """Nano-CPUs from a decimal number of CPUs, as `--limit-cpu 0.5` means half a core."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid cpu count {text!r}: expected e.g. 0.5") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid cpu count {text!r}: it cannot be negative")
    return round(value * 1e9)


def constraint(text: str) -> str:
    try:
        parse_constraint(text)
    except ShoalError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def preference(text: str) -> str:
    """`spread=node.labels.KEY`, docker's only kind of placement preference."""
    kind, _, key = text.partition("=")
    if kind != "spread" or not key.startswith("node.labels.") or key == "node.labels.":
        raise argparse.ArgumentTypeError(
            f"invalid placement preference {text!r}: expected spread=node.labels.KEY"
        )
    return key


def count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected 0 or more")
    return int(text)


def add(parser: argparse.ArgumentParser, *, update: bool) -> None:
    """Every flag defaults to None: `create` starts from an empty placement, `update` from the
    service's own."""
    if update:
        parser.add_argument("--constraint-add", action="append", type=constraint, default=[])
        parser.add_argument("--constraint-rm", action="append", default=[])
        parser.add_argument("--placement-pref-add", action="append", type=preference, default=[])
        parser.add_argument("--placement-pref-rm", action="append", type=preference, default=[])
    else:
        parser.add_argument(
            "--constraint",
            action="append",
            type=constraint,
            default=[],
            help="Placement constraint, e.g. node.labels.zone==b (repeatable, all must hold)",
        )
        parser.add_argument(
            "--placement-pref",
            action="append",
            type=preference,
            default=[],
            help="Spread tasks over a label's values first: spread=node.labels.KEY",
        )
    parser.add_argument(
        "--replicas-max-per-node",
        type=count,
        metavar="N",
        help="Most tasks of the service on one node (default 0: no limit)",
    )
    parser.add_argument("--reserve-cpu", type=cpus, metavar="CPUS", help="CPUs to reserve")
    parser.add_argument("--reserve-memory", type=memory, metavar="BYTES", help="Memory to reserve")
    parser.add_argument("--limit-cpu", type=cpus, metavar="CPUS", help="Limit CPUs")
    parser.add_argument("--limit-memory", type=memory, metavar="BYTES", help="Limit memory")


def apply(spec: ServiceSpec, args: argparse.Namespace) -> ServiceSpec:
    constraints = list(spec.placement.constraints)
    for gone in getattr(args, "constraint_rm", []):
        if gone not in constraints:
            raise ShoalError(f"constraint {gone!r} is not set on the service")
        constraints.remove(gone)
    constraints += getattr(args, "constraint", []) + getattr(args, "constraint_add", [])
    spread = list(spec.placement.spread)
    for gone in getattr(args, "placement_pref_rm", []):
        if gone not in spread:
            raise ShoalError(f"placement preference spread={gone} is not set on the service")
        spread.remove(gone)
    spread += getattr(args, "placement_pref", []) + getattr(args, "placement_pref_add", [])
    placement = Placement(
        spread=tuple(dict.fromkeys(spread)),
        constraints=tuple(dict.fromkeys(constraints)),
        max_replicas_per_node=spec.placement.max_replicas_per_node
        if args.replicas_max_per_node is None
        else args.replicas_max_per_node,
    )
    reservations = Resources(
        nano_cpus=_pick(args.reserve_cpu, spec.reservations.nano_cpus),
        memory_bytes=_pick(args.reserve_memory, spec.reservations.memory_bytes),
    )
    limits = Resources(
        nano_cpus=_pick(args.limit_cpu, spec.container.limits.nano_cpus),
        memory_bytes=_pick(args.limit_memory, spec.container.limits.memory_bytes),
    )
    return replace(
        spec,
        placement=placement,
        reservations=reservations,
        container=replace(spec.container, limits=limits),
    )


def _pick(given: int | None, current: int) -> int:
    return current if given is None else given


def document(spec: ServiceSpec) -> dict[str, object]:
    """Resources and Placement, as `docker service inspect` shows them."""
    return {
        "Resources": {
            "Limits": {
                "NanoCPUs": spec.container.limits.nano_cpus,
                "MemoryBytes": spec.container.limits.memory_bytes,
            },
            "Reservations": {
                "NanoCPUs": spec.reservations.nano_cpus,
                "MemoryBytes": spec.reservations.memory_bytes,
            },
        },
        "Placement": {
            "Constraints": list(spec.placement.constraints),
            "Preferences": [{"Spread": {"SpreadDescriptor": k}} for k in spec.placement.spread],
            "MaxReplicas": spec.placement.max_replicas_per_node,
        },
    }
