"""The same cases against the CLI tests' fake Control and against the real Control (a manager
served in-process), both through the real client, so the fake cannot drift from what it stands
in for."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agent.runtime.fake import FakeRuntime
from cli.client import DEADLINE, Client
from cli.failover import Managers
from common import model as m
from common.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Certificates, serving
from tests.unit.harness import Harness, wait_state
from tests.waiting import wait_for

T = TypeVar("T")

WORKER = "worker-1"


@dataclass
class Subject:
    """A Control behind a client, with a ready worker node besides the manager's own; place
    makes each node run one task of a global service, as the real orchestrator does."""

    client: Client
    worker_id: str
    place: Callable[[m.Service], None]


class LoopThread:
    """An event loop of its own for the in-process manager, so the blocking client can call it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def _fake_subject(certificates: Certificates) -> Iterator[Subject]:
    fake = FakeControl()
    manager = m.Node(
        id="mgr0000000000000000000000",
        role=m.NodeRole.MANAGER,
        state=m.NodeState.READY,
        description=m.NodeDescription(hostname="mgr"),
        meta=m.Meta(version=1),
    )
    worker = replace(
        manager,
        id="wrk0000000000000000000000",
        role=m.NodeRole.WORKER,
        description=m.NodeDescription(hostname=WORKER),
    )
    fake.nodes = [manager, worker]
    fake.self_node_id = manager.id

    def place(service: m.Service) -> None:
        fake.tasks += [
            m.Task(
                id=f"t{node.id[:3]}{service.id[:21]}",
                service_id=service.id,
                service_name=service.spec.name,
                slot=0,
                spec=service.spec.container,
                node_id=node.id,
                status=m.TaskStatus(state=m.TaskState.RUNNING),
            )
            for node in fake.nodes
        ]

    with (
        serving(fake, certificates.server),
        Managers([fake.address], certificates.admin, DEADLINE) as managers,
    ):
        yield Subject(Client(managers), worker.id, place)


def _real_subject(tmp_path: Path) -> Iterator[Subject]:
    loop = LoopThread()
    harness = Harness(tmp_path / "mgr")
    try:
        loop.run(harness.start())
        worker_id = loop.run(harness.join(WORKER, FakeRuntime()))
        loop.run(wait_state(harness, WORKER, m.NodeState.READY))
        with Managers([harness.addr], tmp_path / "mgr" / "admin", DEADLINE) as managers:
            client = Client(managers)

            def place(service: m.Service) -> None:
                wait_for(
                    lambda: len(client.list_tasks(service.id).tasks) == 2,
                    "a task of the global service on each node",
                    timeout=10,
                )

            yield Subject(client, worker_id, place)
    finally:
        loop.run(harness.halt())
        loop.close()


@pytest.fixture(params=["fake", "real"])
def subject(
    request: pytest.FixtureRequest, certificates: Certificates, tmp_path: Path
) -> Iterator[Subject]:
    if request.param == "fake":
        yield from _fake_subject(certificates)
    else:
        yield from _real_subject(tmp_path)


def _spec(name: str, mode: m.ServiceMode = m.ServiceMode.REPLICATED) -> m.ServiceSpec:
    return m.ServiceSpec(
        name=name,
        container=m.ContainerSpec(image="local/busybox:latest"),
        replicas=0,
        mode=mode,
    )


def test_services_are_found_by_id_name_and_unique_prefix(subject: Subject) -> None:
    created = subject.client.create_service(_spec("web"))
    for ref in (created.id, "web", created.id[:6]):
        assert subject.client.get_service(ref).id == created.id


def test_an_unknown_service_is_not_found(subject: Subject) -> None:
    with pytest.raises(NotFound, match=r"^no such service: nothere$"):
        subject.client.get_service("nothere")


def test_an_empty_ref_is_refused(subject: Subject) -> None:
    subject.client.create_service(_spec("web"))
    with pytest.raises(InvalidArgument, match=r"^no service given$"):
        subject.client.get_service("")


def test_an_ambiguous_prefix_is_refused(subject: Subject) -> None:
    # IDs are 128 random bits in base36, so their first digit takes one of 16 values: among
    # 17 services two share it.
    seen: dict[str, str] = {}
    for number in range(17):
        created = subject.client.create_service(_spec(f"s{number}"))
        if created.id[0] in seen:
            break
        seen[created.id[0]] = created.id
    prefix = created.id[0]
    with pytest.raises(InvalidArgument, match=rf"^service {prefix} is ambiguous"):
        subject.client.get_service(prefix)


def test_an_update_of_a_stale_version_is_refused_and_changes_nothing(subject: Subject) -> None:
    created = subject.client.create_service(_spec("web"))
    current = subject.client.update_service(created, replace(created.spec, replicas=1))
    with pytest.raises(Conflict, match=r"^service web was changed by someone else"):
        subject.client.update_service(created, replace(created.spec, replicas=2))
    assert subject.client.get_service("web") == current


def test_a_stale_node_update_is_refused_and_changes_nothing(subject: Subject) -> None:
    node = subject.client.get_node(WORKER)
    subject.client.update_node(replace(node, labels={"zone": "a"}))
    with pytest.raises(Conflict, match=rf"^node {WORKER} was changed meanwhile"):
        subject.client.update_node(replace(node, labels={"zone": "b"}))
    assert subject.client.get_node(WORKER).labels == {"zone": "a"}


def test_nodes_are_found_by_id_hostname_and_unique_prefix(subject: Subject) -> None:
    for ref in (subject.worker_id, WORKER, subject.worker_id[:6]):
        assert subject.client.get_node(ref).id == subject.worker_id
    with pytest.raises(NotFound, match=r"^no such node: nothere$"):
        subject.client.get_node("nothere")


def test_a_ready_node_is_removed_only_with_force(subject: Subject) -> None:
    with pytest.raises(Conflict, match=rf"^node {WORKER} is not down"):
        subject.client.remove_node(WORKER, force=False)
    assert subject.client.get_node(WORKER).id == subject.worker_id
    assert subject.client.remove_node(WORKER, force=True) == subject.worker_id
    with pytest.raises(NotFound):
        subject.client.get_node(WORKER)


def test_the_managers_own_node_is_not_removed(subject: Subject) -> None:
    with pytest.raises(Conflict, match=r"^the manager's own node cannot be removed$"):
        subject.client.remove_node("mgr", force=True)


def test_tasks_are_listed_by_service_and_by_node(subject: Subject) -> None:
    monitor = subject.client.create_service(_spec("monitor", m.ServiceMode.GLOBAL))
    subject.client.create_service(_spec("web"))
    subject.place(monitor)
    by_service = subject.client.list_tasks(service_ref="monitor")
    assert {t.service_id for t in by_service.tasks} == {monitor.id}
    assert len(by_service.tasks) == 2
    on_worker = subject.client.list_tasks(service_ref="monitor", node_ref=WORKER)
    assert [t.node_id for t in on_worker.tasks] == [subject.worker_id]
    assert list(on_worker.nodes) == [subject.worker_id]
    with pytest.raises(NotFound, match=r"^no such service: nothere$"):
        subject.client.list_tasks(service_ref="nothere")


def test_join_tokens_are_per_role_and_rotate_alone(subject: Subject) -> None:
    worker = subject.client.join_token(m.NodeRole.WORKER, rotate=False).token
    manager = subject.client.join_token(m.NodeRole.MANAGER, rotate=False).token
    assert worker != manager
    assert subject.client.join_token(m.NodeRole.WORKER, rotate=False).token == worker
    rotated = subject.client.join_token(m.NodeRole.WORKER, rotate=True).token
    assert rotated != worker
    assert subject.client.join_token(m.NodeRole.MANAGER, rotate=False).token == manager


def test_autolock_gives_a_key_once_shows_and_rotates_it_and_turns_off(subject: Subject) -> None:
    client = subject.client
    with pytest.raises(FailedPrecondition, match="autolock is off"):
        client.unlock_key(rotate=False)
    key = client.update_autolock(True)
    assert key.startswith("SHOALKEY-1-")
    assert client.update_autolock(True) == ""
    assert client.unlock_key(rotate=False) == key
    rotated = client.unlock_key(rotate=True)
    assert rotated not in ("", key)
    assert client.unlock_key(rotate=False) == rotated
    with pytest.raises(FailedPrecondition, match="this manager is not locked"):
        client.unlock_manager(rotated)
    assert client.update_autolock(False) == ""
    with pytest.raises(FailedPrecondition, match="autolock is off"):
        client.unlock_key(rotate=False)


def test_secrets_and_configs_are_apart_and_a_secrets_data_never_shown(subject: Subject) -> None:
    client = subject.client
    secret = client.create_data(False, "db", {"k": "v"}, b"hunter2")
    config = client.create_data(True, "db", {}, b"key=value")
    assert (secret.data, secret.versions, secret.labels) == (b"", (1,), {"k": "v"})
    assert client.get_data(True, "db").data == b"key=value"
    assert client.get_data(False, secret.id).data == b""
    assert [i.id for i in client.list_data(False)] == [secret.id]
    assert [i.data for i in client.list_data(True)] == [b""]
    with pytest.raises(Conflict):
        client.create_data(False, "db", {}, b"again")
    rotated, _ = client.rotate_data(False, "db", b"hunter3")
    assert (rotated.versions, rotated.data) == ((1, 2), b"")
    # if_changed: the same data again is no new version; other data is.
    assert client.rotate_data(False, "db", b"hunter3", if_changed=True)[0].versions[-1] == 2
    assert client.rotate_data(False, "db", b"hunter4", if_changed=True)[0].versions[-1] == 3
    assert client.remove_data(True, "db") == config.id
    with pytest.raises(NotFound, match=r"^config not found: db$"):
        client.get_data(True, "db")
