"""What goes with a node's tasks down its session: each message within its byte budget with
the data and credentials it carries, and those only for tasks still to run, by one rule."""

from __future__ import annotations

from collections.abc import Sequence

from common.model import FileData, RegistryAuth, Task, TaskState
from manager.dispatcher.chunks import assignments
from tests.unit.builders import task

SECRET = FileData(False, "s1", 1, b"s" * 600)
AUTH = RegistryAuth(username="deploy", password="pw-0f9a8e7d", server_address="127.0.0.1:5000")


def _secret(task: Task) -> Sequence[FileData]:
    return (SECRET,)


def test_every_message_holds_its_budget_with_the_data_it_carries() -> None:
    """Tasks sharing one secret: the message after a break carries the secret again, and its
    budget counts it (it once did not, and the message grew past its limit)."""
    limit = 1000
    tasks = [task(f"t{i}", i, node_id="n1") for i in range(20)]
    messages = list(assignments(tasks, full=True, limit=limit, files=_secret))
    assert sum(len(m.tasks) for m in messages) == 20
    for message in messages:
        assert [f.id for f in message.files] == ["s1"]
        assert message.ByteSize() <= limit or len(message.tasks) == 1


def test_credentials_count_in_the_budget() -> None:
    auth = RegistryAuth(username="u", password="p" * 900, server_address="127.0.0.1:5000")
    tasks = [task(f"t{i}", i, node_id="n1", service_id=f"svc-{i}") for i in range(4)]
    messages = list(assignments(tasks, full=True, limit=1200, auth_of=lambda _: auth))
    assert sum(len(m.tasks) for m in messages) == 4
    for message in messages:
        assert message.ByteSize() <= 1200 or len(message.tasks) == 1


def test_data_and_credentials_go_only_with_tasks_still_to_run() -> None:
    """One rule for both: a task running but told to stop, or one that ended, gets neither its
    files nor its registry credentials; a task to run gets both."""
    stopping = task("t1", node_id="n1", desired=TaskState.SHUTDOWN)
    ended = task("t2", node_id="n1", state=TaskState.FAILED)
    starting = task("t3", node_id="n1", state=TaskState.ASSIGNED)

    def carried(tasks: list[Task]) -> tuple[list[str], list[str]]:
        [message] = assignments(tasks, full=True, files=_secret, auth_of=lambda _: AUTH)
        return [f.id for f in message.files], [a.service_id for a in message.registry_auths]

    assert carried([stopping, ended]) == ([], [])
    assert carried([stopping, ended, starting]) == (["s1"], [starting.service_id])
