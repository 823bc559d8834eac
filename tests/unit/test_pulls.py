"""Pulling images on a node: one pull per image however many tasks need it, its progress in each
task's status, the credentials the manager sent, and the engine's progress stream measured."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from agent.pulls import Pulls
from agent.runtime.fake import FakeRuntime
from agent.runtime.pull_progress import PullMeter
from common.model import RegistryAuth, TaskState
from tests.unit.builders import SERVICE_ID
from tests.unit.worker_harness import Harness, assigned, settle
from tests.waiting import eventually

PRIVATE = "127.0.0.1:5000/team/app:v1@sha256:" + "a" * 64
AUTH = RegistryAuth(username="deploy", password="s3cret-pw", server_address="127.0.0.1:5000")


class TestOnePullPerImage:
    async def test_tasks_starting_together_share_one_pull_and_all_run(self) -> None:
        """Three tasks of one image arrive at once: the engine is asked to pull it once."""
        gate = asyncio.Event()
        h = Harness(runtime=FakeRuntime(pullable={PRIVATE}, pull_gate=gate))
        tasks = [assigned(f"t{i}", slot=i, image=PRIVATE) for i in (1, 2, 3)]
        h.worker.assign(tasks, [], full=True)

        def all_at_half() -> bool:
            return all(
                "pulling image (50%)" in [s.message for s in h.statuses(t.id)] for t in tasks
            )

        await eventually(all_at_half, "each task pulling at 50 %")
        assert {h.last(t.id).state for t in tasks} == {TaskState.PREPARING}
        gate.set()
        for t in tasks:
            await h.reported(t.id, TaskState.RUNNING)
        assert h.engine_calls("pull") == [f"pull {PRIVATE}"]

    async def test_a_failed_pull_rejects_every_task_waiting_for_it_and_is_tried_anew(
        self,
    ) -> None:
        """The one pull's failure is each waiting task's; a later task pulls again."""
        gate = asyncio.Event()
        runtime = FakeRuntime(pullable={PRIVATE}, private={PRIVATE: AUTH}, pull_gate=gate)
        h = Harness(runtime=runtime)
        h.worker.assign([assigned(f"t{i}", slot=i, image=PRIVATE) for i in (1, 2)], [], full=True)

        def both_waiting() -> bool:
            return all(
                h.statuses(t) and h.last(t).message.startswith("pulling") for t in ("t1", "t2")
            )

        await eventually(both_waiting, "both tasks waiting for the pull")
        gate.set()
        for task_id in ("t1", "t2"):
            rejected = await h.reported(task_id, TaskState.REJECTED)
            assert rejected.err.endswith("unauthorized: authentication required")
        h.worker.assign([assigned("t3", slot=3, image=PRIVATE)], [], full=False)
        await h.reported("t3", TaskState.REJECTED)
        assert h.engine_calls("pull") == [f"pull {PRIVATE}"] * 2

    async def test_a_waiting_task_pulls_itself_when_the_pulling_one_is_cancelled(self) -> None:
        gate = asyncio.Event()
        runtime = FakeRuntime(pullable={PRIVATE}, pull_gate=gate)
        pulls = Pulls(runtime)
        first = asyncio.create_task(pulls.ensure(PRIVATE, None))
        await eventually(lambda: runtime.calls == [f"pull {PRIVATE}"], "the first pull")
        second = asyncio.create_task(pulls.ensure(PRIVATE, None))
        await settle()
        first.cancel()
        await eventually(lambda: len(runtime.calls) == 2, "the second task's own pull")
        gate.set()
        await asyncio.wait_for(second, 10)
        assert PRIVATE in runtime.images


class TestCredentials:
    async def test_the_pull_uses_the_credentials_sent_with_the_assignment(self) -> None:
        h = Harness(runtime=FakeRuntime(pullable={PRIVATE}, private={PRIVATE: AUTH}))
        h.worker.assign([assigned("t1", image=PRIVATE)], [], full=True, auths={SERVICE_ID: AUTH})
        await h.reported("t1", TaskState.RUNNING)
        assert h.runtime.pull_auths == [AUTH]

    async def test_credentials_are_kept_for_later_tasks_of_the_service(self) -> None:
        """Sent once with the service's first task, they serve its replacements too."""
        h = Harness(runtime=FakeRuntime(pullable={PRIVATE}, private={PRIVATE: AUTH}))
        h.worker.assign([], [], full=True, auths={SERVICE_ID: AUTH})
        h.worker.assign([assigned("t1", image=PRIVATE)], [], full=False)
        await h.reported("t1", TaskState.RUNNING)

    async def test_without_credentials_the_pull_has_none(self) -> None:
        h = Harness(runtime=FakeRuntime(pullable={PRIVATE}, private={PRIVATE: AUTH}))
        h.worker.assign([assigned("t1", image=PRIVATE)], [], full=True)
        await h.reported("t1", TaskState.REJECTED)
        assert h.runtime.pull_auths == [None]

    async def test_a_new_session_forgets_the_credentials_of_the_last(self) -> None:
        h = Harness(runtime=FakeRuntime(pullable={PRIVATE}, private={PRIVATE: AUTH}))
        h.worker.assign([], [], full=True, auths={SERVICE_ID: AUTH})
        h.worker.assign([assigned("t1", image=PRIVATE)], [], full=True)
        await h.reported("t1", TaskState.REJECTED)
        await settle()
        assert h.runtime.pull_auths == [None]

    def test_credentials_do_not_show_in_their_repr(self) -> None:
        assert "s3cret-pw" not in repr(AUTH)
        assert "deploy" not in repr(AUTH)


def _downloading(layer: str, current: int, total: int) -> dict[str, object]:
    return {
        "status": "Downloading",
        "id": layer,
        "progressDetail": {"current": current, "total": total},
    }


class TestPullMeter:
    def test_percent_of_the_bytes_of_the_layers_known(self) -> None:
        meter = PullMeter()
        assert meter.feed({"status": "Pulling fs layer", "id": "a"}) is None
        assert meter.feed(_downloading("a", 45, 100)) == 45
        assert meter.feed(_downloading("b", 0, 100)) is None  # 45 of 200: never backwards
        assert meter.feed(_downloading("b", 100, 100)) == 72
        assert meter.feed({"status": "Download complete", "id": "a"}) == 100

    def test_lines_without_progress_change_nothing(self) -> None:
        meter = PullMeter()
        assert meter.feed({"status": "Digest: sha256:abc"}) is None
        assert meter.feed({"status": "Extracting", "id": "a", "progressDetail": {}}) is None


async def test_tasks_with_other_credentials_pull_with_their_own() -> None:
    """Two services of one private image start together, one with wrong credentials: each
    task's pull is made with its own service's (the second no longer waits for the first's
    pull and fails with it), and a task of the first service shares its service's pull."""
    gate = asyncio.Event()
    runtime = FakeRuntime(pullable={PRIVATE}, private={PRIVATE: AUTH}, pull_gate=gate)
    h = Harness(runtime=runtime)
    wrong = RegistryAuth(username="deploy", password="wrong-pw", server_address="127.0.0.1:5000")
    other = [replace(assigned(f"o{i}", slot=i, image=PRIVATE), service_id="svc-o") for i in (1, 2)]
    h.worker.assign(other, [], full=True, auths={"svc-o": wrong})
    await eventually(lambda: runtime.pull_auths == [wrong], "the first service's pull under way")
    h.worker.assign([assigned("t1", image=PRIVATE)], [], full=False, auths={SERVICE_ID: AUTH})
    await eventually(lambda: runtime.pull_auths == [wrong, AUTH], "a pull of the second's own")
    gate.set()
    await h.reported("t1", TaskState.RUNNING)
    for task_id in ("o1", "o2"):
        rejected = await h.reported(task_id, TaskState.REJECTED)
        assert rejected.err.endswith("unauthorized: authentication required")
    assert runtime.pull_auths == [wrong, AUTH]
