"""manager.events and common.event_filters: store writes as the events `shoal events` shows, and
the filters that choose among them. Pure functions, checked case by case."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

import pytest

from common import event_filters
from common.errors import InvalidArgument
from common.model import (
    Availability,
    Cluster,
    ContainerSpec,
    Meta,
    Node,
    NodeDescription,
    NodeRole,
    NodeState,
    Service,
    ServiceMode,
    StoredObject,
    Task,
    TaskState,
    UpdateState,
    UpdateStatus,
)
from manager.events import Change, Ref, changes, matches
from manager.store import Action
from tests.unit.builders import SERVICE_ID, at, service, task

Obj = TypeVar("Obj", Node, Service, Task, Cluster)

WEB = Ref(SERVICE_ID, "web")
H2 = Node(
    id="n2",
    meta=Meta(version=1, created_at=at(0), updated_at=at(0)),
    state=NodeState.READY,
    description=NodeDescription(hostname="h2"),
)


def hostname(node_id: str) -> str | None:
    return {"n1": "h1", "n2": "h2"}.get(node_id)


def written(obj: Obj, **fields: Any) -> Obj:
    """obj as a later write stores it: the fields given changed, and its version."""
    meta = Meta(version=obj.meta.version + 1, created_at=obj.meta.created_at, updated_at=at(60))
    return replace(obj, meta=meta, **fields)


def update(old: StoredObject, new: StoredObject) -> list[Change]:
    return changes(Action.UPDATE, old, new, hostname)


def one(found: list[Change]) -> tuple[str, str, str, tuple[tuple[str, str], ...]]:
    [change] = found
    return change.type, change.action, change.id, change.attributes


class TestServiceEvents:
    def test_create_and_remove_name_the_service(self) -> None:
        web = service(2)
        [created] = changes(Action.CREATE, None, web, hostname)
        [removed] = changes(Action.DELETE, web, None, hostname)
        assert created == Change("service", "create", SERVICE_ID, (("name", "web"),), WEB)
        assert removed == Change("service", "remove", SERVICE_ID, (("name", "web"),), WEB)

    def test_scaling_says_from_what_to_what(self) -> None:
        web = service(2)
        new = written(web, spec=replace(web.spec, replicas=3))
        assert one(update(web, new)) == (
            "service",
            "update",
            SERVICE_ID,
            (("name", "web"), ("replicas.old", "2"), ("replicas.new", "3")),
        )

    def test_a_new_image_says_which(self) -> None:
        web = service(2)
        new = written(web, spec=replace(web.spec, container=ContainerSpec(image="nginx:2")))
        assert one(update(web, new))[3] == (
            ("name", "web"),
            ("image.old", "local/busybox:latest"),
            ("image.new", "nginx:2"),
        )

    def test_an_update_state_change_says_from_what_to_what(self) -> None:
        """Like docker's updatestate.old/new: a rolling update that completes is visible."""
        web = replace(service(2), update_status=UpdateStatus(UpdateState.UPDATING))
        new = written(web, update_status=UpdateStatus(UpdateState.COMPLETED))
        assert one(update(web, new))[3] == (
            ("name", "web"),
            ("updatestate.old", "updating"),
            ("updatestate.new", "completed"),
        )

    def test_other_spec_changes_are_an_update_by_name(self) -> None:
        web = service(2)
        new = written(web, spec=replace(web.spec, labels={"tier": "front"}))
        assert one(update(web, new))[3] == (("name", "web"),)

    def test_a_global_service_has_no_replica_count(self) -> None:
        monitor = service(0)
        monitor = replace(monitor, spec=replace(monitor.spec, mode=ServiceMode.GLOBAL))
        new = written(monitor, spec=replace(monitor.spec, labels={"a": "b"}))
        assert one(update(monitor, new))[3] == (("name", "web"),)

    def test_a_write_that_changes_nothing_is_no_event(self) -> None:
        web = service(2)
        assert update(web, written(web)) == []


class TestNodeEvents:
    def test_join_and_removal_name_the_node(self) -> None:
        ref = Ref("n2", "h2")
        assert changes(Action.CREATE, None, H2, hostname) == [
            Change("node", "create", "n2", (("name", "h2"),), node=ref)
        ]
        assert changes(Action.DELETE, H2, None, hostname) == [
            Change("node", "remove", "n2", (("name", "h2"),), node=ref)
        ]

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            (NodeState.READY, NodeState.DISCONNECTED),
            (NodeState.DISCONNECTED, NodeState.DOWN),
            (NodeState.READY, NodeState.DOWN),
            (NodeState.DOWN, NodeState.READY),
            (NodeState.UNKNOWN, NodeState.READY),
        ],
    )
    def test_going_down_and_coming_back(self, old: NodeState, new: NodeState) -> None:
        before = replace(H2, state=old)
        after = written(before, state=new, message="heartbeat failure")
        assert one(update(before, after)) == (
            "node",
            "update",
            "n2",
            (("name", "h2"), ("state.old", old.name.lower()), ("state.new", new.name.lower())),
        )

    def test_availability(self) -> None:
        drained = written(H2, availability=Availability.DRAIN)
        assert one(update(H2, drained))[3] == (
            ("name", "h2"),
            ("availability.old", "active"),
            ("availability.new", "drain"),
        )

    def test_role_hostname_and_address_together(self) -> None:
        new = written(
            H2,
            role=NodeRole.MANAGER,
            description=NodeDescription(hostname="h2b"),
            addr="10.0.0.2",
        )
        assert one(update(H2, new))[3] == (
            ("name", "h2b"),
            ("role.old", "worker"),
            ("role.new", "manager"),
            ("name.old", "h2"),
            ("name.new", "h2b"),
            ("addr.old", ""),
            ("addr.new", "10.0.0.2"),
        )

    def test_labels_are_an_update_by_name(self) -> None:
        assert one(update(H2, written(H2, labels={"zone": "a"})))[3] == (("name", "h2"),)

    @pytest.mark.parametrize(
        "fields",
        [{}, {"message": "did not reconnect"}],
        ids=["version only", "status message only"],
    )
    def test_writes_without_news_are_no_event(self, fields: dict[str, object]) -> None:
        assert update(H2, written(H2, **fields)) == []


class TestTaskEvents:
    def test_create_gives_the_first_state(self) -> None:
        [created] = changes(Action.CREATE, None, task("t1", 2), hostname)
        assert created == Change(
            "task",
            "create",
            "t1",
            (("service", "web"), ("slot", "2"), ("state", "pending")),
            service=WEB,
        )

    def test_a_global_task_has_its_node_and_no_slot(self) -> None:
        global_task = task("t1", 0, node_id="n1", state=TaskState.PENDING)
        [created] = changes(Action.CREATE, None, global_task, hostname)
        assert created.attributes == (("service", "web"), ("state", "pending"), ("node", "h1"))
        assert created.node == Ref("n1", "h1")

    def test_remove(self) -> None:
        [removed] = changes(Action.DELETE, task("t1", node_id="n1"), None, hostname)
        assert (removed.action, removed.attributes) == (
            "remove",
            (("service", "web"), ("slot", "1"), ("node", "h1")),
        )

    def test_assignment_names_the_node(self) -> None:
        pending = task("t1")
        assigned = written(
            pending, node_id="n2", status=replace(pending.status, state=TaskState.ASSIGNED)
        )
        [change] = update(pending, assigned)
        assert change.attributes == (
            ("service", "web"),
            ("slot", "1"),
            ("state.old", "pending"),
            ("state.new", "assigned"),
            ("node", "h2"),
        )
        assert (change.service, change.node) == (WEB, Ref("n2", "h2"))

    def test_a_failure_says_why(self) -> None:
        running = task("t1", node_id="n1")
        failed = written(
            running,
            status=replace(running.status, state=TaskState.FAILED, err="exit code 1"),
        )
        assert one(update(running, failed))[3] == (
            ("service", "web"),
            ("slot", "1"),
            ("state.old", "running"),
            ("state.new", "failed"),
            ("error", "exit code 1"),
            ("node", "h1"),
        )

    def test_shutdown_asked_for(self) -> None:
        running = task("t1", node_id="n1")
        stopping = written(running, desired_state=TaskState.SHUTDOWN)
        assert one(update(running, stopping))[3] == (
            ("service", "web"),
            ("slot", "1"),
            ("desiredstate.old", "running"),
            ("desiredstate.new", "shutdown"),
            ("node", "h1"),
        )

    def test_a_move_between_nodes(self) -> None:
        on_one = task("t1", node_id="n1", state=TaskState.ASSIGNED)
        on_two = written(on_one, node_id="n2")
        [change] = update(on_one, on_two)
        assert change.attributes == (
            ("service", "web"),
            ("slot", "1"),
            ("node.old", "h1"),
            ("node.new", "h2"),
        )
        assert change.node == Ref("n2", "h2")

    def test_a_node_no_longer_known_is_named_by_id(self) -> None:
        [removed] = changes(Action.DELETE, task("t1", node_id="gone"), None, hostname)
        assert removed.attributes[-1] == ("node", "gone")
        assert removed.node == Ref("gone", "gone")

    @pytest.mark.parametrize(
        "fields",
        [
            {},
            {"restart_streak": 2},
            {"finished": True},
            {"status": replace(task("t1", node_id="n1").status, message="still running")},
        ],
        ids=["version only", "restart bookkeeping", "finished flag", "status message"],
    )
    def test_writes_without_a_visible_change_are_no_event(self, fields: dict[str, object]) -> None:
        running = task("t1", node_id="n1")
        assert update(running, written(running, **fields)) == []


def test_cluster_writes_are_no_event() -> None:
    cluster = Cluster(id="c", digest="d", clear_worker_secret="w", clear_manager_secret="m")
    for action, old, new in [
        (Action.CREATE, None, cluster),
        (Action.UPDATE, cluster, written(cluster, clear_worker_secret="w2")),
        (Action.DELETE, cluster, None),
    ]:
        assert changes(action, old, new, hostname) == []


SERVICE_EVENT = Change("service", "create", "svc1abc", (), service=Ref("svc1abc", "web"))
NODE_EVENT = Change("node", "update", "n2xyz", (), node=Ref("n2xyz", "h2"))
TASK_EVENT = Change(
    "task", "update", "t1", (), service=Ref("svc1abc", "web"), node=Ref("n2xyz", "h2")
)
ALL = [SERVICE_EVENT, NODE_EVENT, TASK_EVENT]


def chosen(*pairs: str) -> list[Change]:
    filters = event_filters.group(event_filters.parse(pair) for pair in pairs)
    return [change for change in ALL if matches(filters, change)]


class TestFilters:
    def test_no_filter_passes_everything(self) -> None:
        assert chosen() == ALL

    def test_values_of_one_key_are_alternatives(self) -> None:
        assert chosen("type=service") == [SERVICE_EVENT]
        assert chosen("type=service", "type=node") == [SERVICE_EVENT, NODE_EVENT]

    def test_keys_must_all_match(self) -> None:
        assert chosen("type=task", "service=web") == [TASK_EVENT]
        assert chosen("type=node", "service=web") == []
        assert chosen("event=update", "node=h2") == [NODE_EVENT, TASK_EVENT]

    @pytest.mark.parametrize("ref", ["web", "svc1abc", "svc1"])
    def test_a_service_by_name_id_or_id_prefix_with_its_tasks(self, ref: str) -> None:
        assert chosen(f"service={ref}") == [SERVICE_EVENT, TASK_EVENT]

    @pytest.mark.parametrize("ref", ["h2", "n2xyz", "n2"])
    def test_a_node_by_hostname_id_or_id_prefix_with_its_tasks(self, ref: str) -> None:
        assert chosen(f"node={ref}") == [NODE_EVENT, TASK_EVENT]

    def test_a_name_matches_whole(self) -> None:
        assert chosen("service=we") == []

    def test_event_is_the_action(self) -> None:
        assert chosen("event=create") == [SERVICE_EVENT]


class TestFilterSyntax:
    def test_key_is_normalized(self) -> None:
        assert event_filters.parse(" Type = node ") == ("type", "node")

    def test_a_value_may_hold_equals_signs(self) -> None:
        assert event_filters.parse("service=a=b") == ("service", "a=b")

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("type", "invalid filter 'type': expected KEY=VALUE"),
            ("type=", "invalid filter 'type=': expected KEY=VALUE"),
            (
                "container=web",
                "invalid filter 'container=web': the key is one of type, service, node or event",
            ),
            ("type=volume", "invalid filter 'type=volume': type is one of service, node or task"),
            (
                "event=die",
                "invalid filter 'event=die': event is one of create, update or remove",
            ),
        ],
    )
    def test_errors_say_what_is_allowed(self, text: str, message: str) -> None:
        with pytest.raises(InvalidArgument) as raised:
            event_filters.parse(text)
        assert str(raised.value) == message

    def test_pairs_from_the_wire_are_checked_too(self) -> None:
        with pytest.raises(InvalidArgument, match="the key is one of"):
            event_filters.group([("type", "node"), ("label", "a")])
