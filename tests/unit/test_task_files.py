"""A node's secrets and configs: written for a task on a tmpfs the agent mounts when the
directory is not one already, with the owner and mode asked for, bind-mounted read-only, and
gone when the task ends and when the node leaves."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.hollow import hollow_node
from agent.runtime.fake import FakeRuntime
from agent.task_files import TaskFiles, files_dir, filesystem_of
from agent.teardown import Teardown
from agent.worker import Worker
from common.ids import new_id
from common.model import FileData, FileReference, MountType, Task, TaskState, TaskStatus
from tests.unit.fake_dispatchers import Fleet
from tests.unit.worker_harness import assigned
from tests.waiting import eventually

SECRET = FileReference(name="db", target="db", id="s1", version=2, uid=1000, gid=1001, mode=0o400)
CONFIG = FileReference(name="app", target="/etc/app.conf", id="c1", version=1)
DATA = [FileData(False, "s1", 2, b"pw\x00\xff"), FileData(True, "c1", 1, b"key=value\n")]


@pytest.fixture
def node_id() -> Iterator[str]:
    """A node whose files directory is under /run/shoal (on this machine's disk, not a tmpfs),
    unmounted and removed afterwards."""
    node = new_id()
    yield node
    TaskFiles(files_dir(node)).clear()
    assert not files_dir(node).exists()


def _with_files(task: Task) -> Task:
    return replace(task, spec=replace(task.spec, secrets=(SECRET,), configs=(CONFIG,)))


def _facts(path: Path) -> tuple[bytes, int, int, int, str]:
    """A file's bytes, owner, group, mode, and the type of filesystem it is on."""
    info = path.stat()
    return path.read_bytes(), info.st_uid, info.st_gid, info.st_mode & 0o7777, filesystem_of(path)


def _mounted(path: Path) -> bool:
    return subprocess.run(["findmnt", "-n", str(path)], capture_output=True).returncode == 0


def _exists(path: Path) -> bool:
    return path.exists()


def _entries(path: Path) -> list[Path]:
    return list(path.iterdir())


class Reports:
    def __init__(self) -> None:
        self.seen: list[tuple[str, TaskStatus]] = []

    def __call__(self, task_id: str, status: TaskStatus) -> None:
        self.seen.append((task_id, status))

    def states(self, task_id: str) -> list[TaskState]:
        return [s.state for tid, s in self.seen if tid == task_id]


async def test_files_on_tmpfs_with_owner_and_mode_until_the_task_ends(node_id: str) -> None:
    runtime, reports = FakeRuntime(), Reports()
    worker = Worker(node_id, runtime, reports)
    task = _with_files(assigned("t1"))
    worker.assign([task], [], full=True, files=DATA)
    await eventually(lambda: TaskState.RUNNING in reports.states("t1"), "t1 running")
    (container,) = runtime.containers_by_id.values()
    mounts = {m.target: m for m in container.spec.mounts}
    assert set(mounts) == {"/run/secrets/db", "/etc/app.conf"}
    assert all(m.type == MountType.BIND and m.read_only for m in mounts.values())
    secret_file = Path(mounts["/run/secrets/db"].source)
    assert _facts(secret_file) == (b"pw\x00\xff", 1000, 1001, 0o400, "tmpfs")
    assert _facts(Path(mounts["/etc/app.conf"].source)) == (b"key=value\n", 0, 0, 0o444, "tmpfs")
    # The machine's /run is on its disk: the agent mounted a tmpfs of its own.
    assert filesystem_of(Path("/run")) != "tmpfs"
    assert _mounted(files_dir(node_id))
    runtime.exit(container.id, 0)
    await worker.container_changed(container.id, "t1", "die")
    await eventually(lambda: not _exists(secret_file.parent), "the task's files to go")
    await worker.stop()


async def test_a_task_whose_data_never_came_fails_saying_which(node_id: str) -> None:
    runtime, reports = FakeRuntime(), Reports()
    worker = Worker(node_id, runtime, reports)
    worker.assign([_with_files(assigned("t1"))], [], full=True, files=DATA[1:])
    await eventually(lambda: any(s.terminal for s in reports.states("t1")), "t1 to end")
    ended = next(s for tid, s in reports.seen if tid == "t1" and s.state.terminal)
    assert "secret db version 2 was not received" in ended.err
    assert runtime.containers_by_id == {}
    await worker.stop()


async def test_leaving_removes_the_files_and_the_tmpfs(node_id: str, tmp_path: Path) -> None:
    runtime, reports = FakeRuntime(), Reports()
    worker = Worker(node_id, runtime, reports)
    worker.assign([_with_files(assigned("t1"))], [], full=True, files=DATA)
    await eventually(lambda: TaskState.RUNNING in reports.states("t1"), "t1 running")
    await worker.stop()
    assert _mounted(files_dir(node_id))
    failed = await Teardown(node_id, runtime, tmp_path).run()
    assert failed == []
    assert not _exists(files_dir(node_id))
    assert not _mounted(files_dir(node_id))


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of one page: a secret bigger than that fills it."""
    root = tmp_path / "files"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(root)], check=True)
    yield root
    subprocess.run(["umount", str(root)], check=True)


async def test_a_full_tmpfs_fails_the_task_with_one_line_and_leaves_no_files(
    full_tmpfs: Path,
) -> None:
    runtime, reports = FakeRuntime(), Reports()
    worker = Worker(new_id(), runtime, reports, files=TaskFiles(full_tmpfs))
    big = [FileData(False, "s1", 2, b"x" * 65536), DATA[1]]
    worker.assign([_with_files(assigned("t1"))], [], full=True, files=big)
    await eventually(lambda: any(s.terminal for s in reports.states("t1")), "t1 to end")
    ended = next(s for tid, s in reports.seen if tid == "t1" and s.state.terminal)
    assert ended.state == TaskState.FAILED
    assert ended.err == (
        f"cannot write the task's secrets and configs in {full_tmpfs}: No space left on device"
    )
    assert runtime.containers_by_id == {}
    assert _entries(full_tmpfs) == []
    await worker.stop()


async def test_a_hollow_node_writes_and_mounts_nothing(node_id: str, tmp_path: Path) -> None:
    """`agent hollow` runs thousands of nodes on one host: their tasks run with the mounts a
    real node would give them, but no file is written and no tmpfs mounted."""
    runtime = FakeRuntime(pull_any=True)
    bundle = Fleet(tmp_path).agent_bundle(node_id)
    node = hollow_node(node_id, "127.0.0.1:1", runtime, "h1", bundle, tmp_path / "node")
    node.worker.assign([_with_files(assigned("t1"))], [], full=True, files=DATA)
    await eventually(lambda: _running(runtime), "t1 running")
    (container,) = runtime.containers_by_id.values()
    sources = sorted(m.source for m in container.spec.mounts)
    assert sources == [f"{files_dir(node_id)}/t1/0", f"{files_dir(node_id)}/t1/1"]
    assert not _exists(files_dir(node_id))
    assert not _mounted(files_dir(node_id))
    await node.worker.stop()


def _running(runtime: FakeRuntime) -> bool:
    return any(c.running for c in runtime.containers_by_id.values())
