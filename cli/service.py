"""`shoal service ...`: create, inspect, logs, ls, ps, rm, scale, update."""

from __future__ import annotations

import argparse
import secrets
from dataclasses import replace

from cli import (
    batch,
    container_flags,
    labels,
    network_flags,
    output,
    placement_flags,
    plans,
    progress,
    publish_flags,
    registry,
    restart_flags,
    service_pretty,
    service_update,
    table,
    tasks,
    update_flags,
)
from cli import logs as service_logs
from cli.answers import ServiceSummary
from cli.client import Client
from common.errors import InvalidArgument
from common.ids import ALPHABET
from common.model import (
    ContainerSpec,
    RestartCondition,
    RestartPolicy,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskState,
    UpdateState,
    now,
)
from common.taskstate import is_live

LS_HEADER = ("ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS")
MODES = {m.name.lower().replace("_", "-"): m for m in ServiceMode}


def register(parser: argparse.ArgumentParser) -> None:
    """create, inspect, ls, ps and rm here; the commands that change a running service (update,
    rollback, scale, rebalance) are in cli.service_update."""
    commands = parser.add_subparsers(metavar="COMMAND", required=True)

    create = commands.add_parser(
        "create",
        help="Create a new service",
        usage="%(prog)s [OPTIONS] IMAGE [COMMAND] [ARG...]",
    )
    create.add_argument("--name", help="Service name (default: the image's name and a suffix)")
    create.add_argument(
        "--mode",
        choices=tuple(MODES),
        default="replicated",
        help="Service mode: replicated (a number of tasks), global (one task on every node),"
        " replicated-job (run to --replicas completions) or global-job (run to completion on"
        " every node)",
    )
    create.add_argument(
        "--replicas",
        type=service_update.replicas,
        help="Number of tasks (default 1); of a replicated job, the completions to reach",
    )
    create.add_argument(
        "--max-concurrent",
        type=service_update.replicas,
        metavar="N",
        help="Tasks of a replicated job running at once (default: --replicas)",
    )
    create.add_argument(
        "--dry-run",
        action="store_true",
        help="Show where the tasks would go, or why not, and change nothing",
    )
    create.add_argument(
        "-e",
        "--env",
        action="append",
        type=_env,
        default=[],
        metavar="KEY=VALUE",
        help="Set environment variables",
    )
    create.add_argument(
        "-l",
        "--label",
        action="append",
        type=labels.parse,
        default=[],
        metavar="KEY[=VALUE]",
        help="Service labels",
    )
    restart_flags.add(create)
    placement_flags.add(create, update=False)
    update_flags.add(create)
    publish_flags.add(create, update=False)
    service_update.add_wait_flags(create)
    container_flags.add(create, update=False)
    network_flags.add(create, update=False)
    registry.add(create)
    create.add_argument("image", metavar="IMAGE")
    # Everything after IMAGE belongs to the container, even words that look like our flags.
    # argparse counts a REMAINDER positional as required, yet a service needs no command.
    create.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS).required = False
    create.set_defaults(run=_create)

    inspect = commands.add_parser("inspect", help="Display detailed information on services")
    inspect.add_argument(
        "--pretty", action="store_true", help="Print the information in a human friendly format"
    )
    inspect.add_argument("services", nargs="+", metavar="SERVICE")
    inspect.set_defaults(run=_inspect)

    service_logs.register(commands.add_parser("logs", help="Fetch the logs of a service or task"))

    ls = commands.add_parser("ls", help="List services")
    output.add_listing_options(ls)
    ls.set_defaults(run=_ls)

    ps = commands.add_parser("ps", help="List the tasks of a service")
    output.add_listing_options(ps)
    ps.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    ps.add_argument("service", metavar="SERVICE")
    ps.set_defaults(run=_ps)

    rm = commands.add_parser("rm", help="Remove services")
    rm.add_argument("services", nargs="+", metavar="SERVICE")
    rm.set_defaults(run=_rm)

    service_update.register(commands)


def _create(args: argparse.Namespace, client: Client) -> int:
    image: str = args.image
    mode = MODES[args.mode]
    # A job's task that completes is not run again: on-failure unless told otherwise.
    restart = RestartPolicy(
        condition=RestartCondition.ON_FAILURE if mode.is_job else RestartCondition.ANY
    )
    if args.max_concurrent is not None and mode is not ServiceMode.REPLICATED_JOB:
        raise InvalidArgument("--max-concurrent can only be used with replicated-job mode")
    spec = ServiceSpec(
        name=_generated_name(image) if args.name is None else args.name,
        container=container_flags.apply(
            ContainerSpec(image=image, args=tuple(args.args), env=tuple(args.env)), args
        ),
        labels=dict(args.label),
        mode=mode,
        replicas=_initial_replicas(mode, args.replicas),
        restart=restart_flags.apply(restart, args),
        max_concurrent=args.max_concurrent or 0,
    )
    spec = update_flags.apply(placement_flags.apply(spec, args), args)
    spec = publish_flags.apply(spec, args)
    spec = network_flags.apply(spec, args)
    if args.dry_run:
        return plans.show(spec, client.plan_service(spec))
    # Once the flags are known good: a bad one fails before any registry is asked.
    auth = registry.credentials(image) if args.with_registry_auth else None
    if not args.no_resolve_image:
        spec = replace(spec, container=replace(spec.container, image=registry.pinned(image, auth)))
    service = client.create_service(spec, auth)
    print(service.id)
    return service_update.follow(args, client, service, progress.Goal.CONVERGE)


def _initial_replicas(mode: ServiceMode, replicas: int | None) -> int:
    if not mode.is_global:
        return 1 if replicas is None else replicas
    if replicas is not None:
        raise InvalidArgument("--replicas can only be used with replicated mode")
    return 0


def _inspect(args: argparse.Namespace, client: Client) -> int:
    found = []
    for ref in args.services:
        service = client.get_service(ref)
        found.append((service, client.list_tasks(service.id).tasks))
    if args.pretty:
        print("\n\n".join("\n".join(service_pretty.pretty(s, t)) for s, t in found))
    else:
        output.json_document([_document(s, t) for s, t in found])
    return 0


def _ls(args: argparse.Namespace, client: Client) -> int:
    summaries = sorted(client.list_services(), key=lambda summary: summary.service.spec.name)
    if args.quiet:
        for summary in summaries:
            print(summary.service.id)
    elif args.format == "json":
        output.json_lines(ls_record(summary) for summary in summaries)
    else:
        rows = [list(ls_record(summary).values()) for summary in summaries]
        print(table.render(LS_HEADER, rows))
    return 0


def _ps(args: argparse.Namespace, client: Client) -> int:
    records = tasks.records(client.list_tasks(args.service), trunc=not args.no_trunc, now=now())
    if args.quiet:
        for record in records:
            print(record["ID"])
    elif args.format == "json":
        output.json_lines(records)
    else:
        print(table.render(tasks.header(records), tasks.rows(records)))
    return 0


def _rm(args: argparse.Namespace, client: Client) -> int:
    def remove(ref: str) -> None:
        client.remove_service(ref)
        print(ref)

    return batch.each(args.services, remove)


def ls_record(summary: ServiceSummary) -> dict[str, str]:
    service = summary.service
    return {
        "ID": output.short_id(service.id),
        "Name": service.spec.name,
        "Mode": service.spec.mode.name.lower(),
        "Replicas": f"{summary.running}/{summary.desired}"
        + (f" ({summary.completed}/{summary.total} completed)" if service.spec.mode.is_job else ""),
        "Image": registry.shown(service.spec.container.image),
        "Ports": publish_flags.service_column(service),
    }


def _document(service: Service, service_tasks: list[Task]) -> dict[str, object]:
    """`service inspect` output, shaped like docker's so the same jq filters work, with the
    tasks still waiting for a node and why."""
    document: dict[str, object] = {
        "ID": service.id,
        "Version": {"Index": service.meta.version},
        "CreatedAt": output.rfc3339(service.meta.created_at),
        "UpdatedAt": output.rfc3339(service.meta.updated_at),
        "Spec": _spec_document(service.spec),
        "Endpoint": publish_flags.endpoint_document(service),
        "ServiceStatus": _status_document(service, service_tasks),
    }
    if service.virtual_ips:
        document["Endpoint"] = {"VirtualIPs": network_flags.virtual_ips(service)}
    if service.previous_spec is not None:
        document["PreviousSpec"] = _spec_document(service.previous_spec)
    status = service.update_status
    if status.state is not UpdateState.NONE:
        document["UpdateStatus"] = {
            "State": status.state.name.lower(),
            "StartedAt": output.rfc3339(status.started_at),
            "CompletedAt": output.rfc3339(status.completed_at),
            "Message": status.message,
        }
    return document


def _status_document(service: Service, service_tasks: list[Task]) -> dict[str, object]:
    live = [t for t in service_tasks if is_live(t)]
    pending = [t for t in tasks.ordered(live) if t.status.state == TaskState.PENDING]
    return {
        "RunningTasks": sum(1 for t in live if t.status.state == TaskState.RUNNING),
        # A global service wants a task on each node that can take one: those it has.
        "DesiredTasks": len(live) if service.spec.mode.is_global else service.spec.replicas,
        "PendingTasks": [
            {"ID": t.id, "Name": tasks.slot_name(t), "Reason": t.status.err or t.status.message}
            for t in pending
        ],
    }


def _spec_document(spec: ServiceSpec) -> dict[str, object]:
    modes: dict[ServiceMode, dict[str, object]] = {
        ServiceMode.REPLICATED: {"Replicated": {"Replicas": spec.replicas}},
        ServiceMode.GLOBAL: {"Global": {}},
        ServiceMode.REPLICATED_JOB: {
            "ReplicatedJob": {"MaxConcurrent": spec.concurrency, "TotalCompletions": spec.replicas}
        },
        ServiceMode.GLOBAL_JOB: {"GlobalJob": {}},
    }
    mode = modes[spec.mode]
    return {
        "Name": spec.name,
        "Labels": spec.labels,
        "TaskTemplate": {
            "ContainerSpec": container_flags.document(spec.container),
            "RestartPolicy": restart_flags.document(spec.restart),
            **placement_flags.document(spec),
            "ForceUpdate": spec.force_update,
            **network_flags.document(spec),
        },
        "Mode": mode,
        **update_flags.document(spec),
        **publish_flags.spec_document(spec),
    }


def _generated_name(image: str) -> str:
    """Docker names a service when the user doesn't; `<image name>-<6 base36 chars>` says which
    image it runs, e.g. `registry:5000/team/web:1.2@sha256:...` -> `web-k3x9q2`."""
    repository = image.split("@", 1)[0].rsplit("/", 1)[-1]
    suffix = "".join(secrets.choice(ALPHABET) for _ in range(6))
    return f"{repository.split(':', 1)[0]}-{suffix}"


def _env(text: str) -> str:
    key, sep, _ = text.partition("=")
    if not key or not sep:
        raise argparse.ArgumentTypeError(f"invalid env {text!r}: expected KEY=VALUE")
    return text
