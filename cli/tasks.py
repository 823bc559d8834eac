"""How `service ps` lays out tasks: slot by slot, each slot's history newest first."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cli import humanize, output, publish_flags, registry
from cli.answers import TaskListing
from common.model import Task, TaskState

# How an agent words a pull under way: `pulling image (45%)`.
PULLING = "pulling image"

HEADER = ("ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS")
# Beyond docker: the secret and config versions each task has, shown when any task has one.
VERSIONS = "SECRETS/CONFIGS"
ERROR_WIDTH = 30


def ordered(tasks: Iterable[Task]) -> list[Task]:
    newest_first = sorted(tasks, key=lambda task: task.meta.created_at, reverse=True)
    # sorted() is stable, so each slot keeps its history newest first.
    return sorted(newest_first, key=lambda task: (task.service_name, task.slot, slot_name(task)))


def slot_name(task: Task) -> str:
    # A global service's tasks have no slot (0); like docker, they are named for their node.
    return task.name if task.slot else f"{task.service_name}.{task.node_id}"


def records(listing: TaskListing, *, trunc: bool, now: datetime) -> list[dict[str, str]]:
    """One record per task in display order, keyed like docker's `--format json`; a task with
    secrets or configs adds Versions (beyond docker)."""
    found = []
    for task in ordered(listing.tasks):
        record = {
            "ID": output.short_id(task.id) if trunc else task.id,
            "Name": slot_name(task),
            # docker's --no-trunc shows the digest the task runs, else the tag only.
            "Image": task.spec.image if not trunc else registry.shown(task.spec.image),
            "Node": _node_name(listing, task.node_id),
            "DesiredState": task.desired_state.name.capitalize(),
            "CurrentState": _current_state(task, now),
            "Error": _error(task.status.err, trunc),
            "Ports": publish_flags.task_column(task),
        }
        versions = _versions(task)
        if versions:
            record["Versions"] = versions
        found.append(record)
    return found


def header(task_records: list[dict[str, str]]) -> tuple[str, ...]:
    """HEADER, and VERSIONS when a task has a secret or config."""
    return (*HEADER, VERSIONS) if any("Versions" in r for r in task_records) else HEADER


def rows(task_records: list[dict[str, str]], versions: bool | None = None) -> list[list[str]]:
    """Table rows for `records`: a task that repeats the slot above it is indented as `\\_`.
    versions: whether rows have the VERSIONS column (default: when header() has it)."""
    result = []
    previous = None
    if versions is None:
        versions = len(header(task_records)) > len(HEADER)
    for record in task_records:
        name = record["Name"]
        result.append(
            [
                record["ID"],
                f" \\_ {name}" if name == previous else name,
                record["Image"],
                record["Node"],
                record["DesiredState"],
                record["CurrentState"],
                record["Error"],
                record["Ports"],
                *([record.get("Versions", "")] if versions else []),
            ]
        )
        previous = name
    return result


def _versions(task: Task) -> str:
    refs = [*task.spec.secrets, *task.spec.configs]
    return " ".join(f"{r.name}:v{r.version}" for r in refs)


def _node_name(listing: TaskListing, node_id: str) -> str:
    node = listing.nodes.get(node_id)
    if node is not None and node.description.hostname:
        return node.description.hostname
    return node_id


def _current_state(task: Task, now: datetime) -> str:
    status = task.status
    if status.state == TaskState.PREPARING and status.message.startswith(PULLING):
        # Each report of the pull's progress is stamped anew: how long ago says nothing.
        return f"Preparing: {status.message}"
    since = humanize.duration(now - task.status.timestamp).lower()
    return f"{task.status.state.name.capitalize()} {since} ago"


def _error(err: str, trunc: bool) -> str:
    if trunc and len(err) > ERROR_WIDTH:
        err = err[: ERROR_WIDTH - 1] + "…"
    return f'"{err}"' if err else ""
