"""cli.tasks: how `service ps` orders, names and describes tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cli import tasks
from cli.answers import TaskListing
from common.model import (
    ContainerSpec,
    Meta,
    Node,
    NodeDescription,
    Task,
    TaskState,
    TaskStatus,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def task(
    task_id: str,
    slot: int,
    *,
    age: timedelta = timedelta(minutes=1),
    node_id: str = "",
    state: TaskState = TaskState.RUNNING,
    desired: TaskState = TaskState.RUNNING,
    err: str = "",
) -> Task:
    return Task(
        id=task_id,
        service_id="svc",
        service_name="web",
        slot=slot,
        spec=ContainerSpec(image="nginx:1.25"),
        meta=Meta(version=1, created_at=NOW - age, updated_at=NOW - age),
        node_id=node_id,
        desired_state=desired,
        status=TaskStatus(state=state, timestamp=NOW - age, err=err),
    )


def listing(*items: Task, nodes: tuple[Node, ...] = ()) -> TaskListing:
    return TaskListing(tasks=list(items), nodes={node.id: node for node in nodes})


class TestOrder:
    def test_slots_in_numeric_order_and_each_slot_newest_first(self) -> None:
        """Slots come 1, 2, 10 (not as strings), and within a slot the newest task leads."""
        ordered = tasks.ordered(
            [
                task("s10", 10),
                task("s1-old", 1, age=timedelta(hours=2)),
                task("s2", 2),
                task("s1-new", 1, age=timedelta(minutes=1)),
                task("s1-mid", 1, age=timedelta(hours=1)),
            ]
        )
        assert [t.id for t in ordered] == ["s1-new", "s1-mid", "s1-old", "s2", "s10"]

    def test_global_tasks_are_named_for_their_node(self) -> None:
        """A task without a slot (a global service's) is called service.node-id, like docker."""
        assert tasks.slot_name(task("t", 0, node_id="node9")) == "web.node9"
        assert tasks.slot_name(task("t", 3, node_id="node9")) == "web.3"


class TestRecords:
    def test_fields_of_a_running_task(self) -> None:
        """A record carries the truncated ID, slot name, image, node hostname, both states and
        the time since the last state change."""
        node = Node(id="node1", description=NodeDescription(hostname="host-a"))
        [record] = tasks.records(
            listing(task("a" * 25, 1, node_id="node1", age=timedelta(seconds=5)), nodes=(node,)),
            trunc=True,
            now=NOW,
        )
        assert record == {
            "ID": "a" * 12,
            "Name": "web.1",
            "Image": "nginx:1.25",
            "Node": "host-a",
            "DesiredState": "Running",
            "CurrentState": "Running 5 seconds ago",
            "Error": "",
            "Ports": "",
        }

    def test_node_falls_back_to_its_id_and_is_empty_when_unassigned(self) -> None:
        """An unknown node shows as its ID; a task not yet placed has an empty NODE."""
        records = tasks.records(
            listing(task("a", 1, node_id="gone"), task("b", 2)), trunc=True, now=NOW
        )
        assert [r["Node"] for r in records] == ["gone", ""]

    def test_states_are_capitalised_and_durations_lower_case(self) -> None:
        """CURRENT STATE reads like docker's: `Pending about a minute ago`."""
        [record] = tasks.records(
            listing(
                task(
                    "a",
                    1,
                    state=TaskState.PENDING,
                    desired=TaskState.SHUTDOWN,
                    age=timedelta(seconds=70),
                )
            ),
            trunc=True,
            now=NOW,
        )
        assert record["DesiredState"] == "Shutdown"
        assert record["CurrentState"] == "Pending about a minute ago"

    def test_long_error_is_cut_to_thirty_characters_and_quoted(self) -> None:
        """An error longer than 30 characters keeps 29 and an ellipsis; errors are quoted."""
        err = "task: non-zero exit (137): killed by the kernel"
        [record] = tasks.records(listing(task("a", 1, err=err)), trunc=True, now=NOW)
        assert record["Error"] == '"' + err[:29] + '…"'
        assert len(record["Error"]) == 32

    def test_short_error_is_quoted_whole(self) -> None:
        """An error of at most 30 characters is shown unchanged, in quotes."""
        [record] = tasks.records(listing(task("a", 1, err="x" * 30)), trunc=True, now=NOW)
        assert record["Error"] == '"' + "x" * 30 + '"'

    def test_no_trunc_keeps_ids_and_errors_whole(self) -> None:
        """Without truncation the full task ID and the full error are shown."""
        err = "e" * 50
        [record] = tasks.records(listing(task("a" * 25, 1, err=err)), trunc=False, now=NOW)
        assert record["ID"] == "a" * 25
        assert record["Error"] == f'"{err}"'


class TestRows:
    def test_older_tasks_of_a_slot_are_indented(self) -> None:
        """The newest task of a slot shows its name; older ones in that slot show ` \\_ name`."""
        records = tasks.records(
            listing(
                task("new", 1),
                task("old", 1, age=timedelta(hours=1)),
                task("older", 1, age=timedelta(hours=2)),
                task("two", 2),
            ),
            trunc=True,
            now=NOW,
        )
        names = [row[1] for row in tasks.rows(records)]
        assert names == ["web.1", " \\_ web.1", " \\_ web.1", "web.2"]

    def test_rows_follow_the_header(self) -> None:
        """Each row has one cell per header column, in the header's order."""
        [record] = tasks.records(listing(task("a", 1, err="boom")), trunc=True, now=NOW)
        [row] = tasks.rows([record])
        assert dict(zip(tasks.HEADER, row, strict=True)) == {
            "ID": "a",
            "NAME": "web.1",
            "IMAGE": "nginx:1.25",
            "NODE": "",
            "DESIRED STATE": "Running",
            "CURRENT STATE": "Running about a minute ago",
            "ERROR": '"boom"',
            "PORTS": "",
        }
