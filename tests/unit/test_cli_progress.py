"""cli.progress: how far a service is from its spec, how that is drawn, and the exit codes of
waiting for it."""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from datetime import timedelta

from cli import progress
from cli.answers import TaskListing
from common.model import (
    ContainerSpec,
    RestartCondition,
    RestartPolicy,
    Service,
    ServiceMode,
    Task,
    TaskState,
    UpdateState,
    UpdateStatus,
)
from tests.unit.builders import at, service, task

NEW = "local/busybox:new"


def web(replicas: int = 3, image: str = "local/busybox:latest") -> Service:
    svc = service(replicas)
    return replace(svc, spec=replace(svc.spec, container=ContainerSpec(image=image)))


def running(slot: int, image: str = "local/busybox:latest", node: str = "n1") -> Task:
    return task(f"t{slot}{image[-3:]}", slot, node_id=node, image=image, created=at(slot))


class TestMeasure:
    def test_a_global_service_without_tasks_yet_is_not_converged(self) -> None:
        svc = web(0)
        svc = replace(svc, spec=replace(svc.spec, mode=ServiceMode.GLOBAL, replicas=0))
        assert not progress.measure(svc, []).converged

    def test_converged_when_every_slot_runs_the_spec(self) -> None:
        found = progress.measure(web(2), [running(1), running(2)])
        assert found.converged
        assert found.lines[0] == "overall progress: 2 out of 2 tasks"
        assert found.lines[1].startswith("1/2: running   [=")

    def test_a_slot_on_the_old_spec_is_not_done(self) -> None:
        """Mid-update: slot 1 runs the new image, slot 2 still the old one."""
        svc = web(2, image=NEW)
        found = progress.measure(svc, [running(1, NEW), running(2)])
        assert not found.converged
        assert found.lines[0] == "overall progress: 1 out of 2 tasks"
        assert found.lines[2].startswith("2/2: updating")

    def test_slots_left_after_scaling_down_count(self) -> None:
        """Scaled from 5 to 3, the slots left may be 1, 2 and 4: that is converged."""
        found = progress.measure(web(3), [running(1), running(2), running(4)])
        assert found.converged
        assert found.lines[0] == "overall progress: 3 out of 3 tasks"

    def test_tasks_beyond_the_count_are_not_converged(self) -> None:
        """Scaling down from 4 to 3 is not done while a fourth task still runs."""
        found = progress.measure(web(3), [running(slot) for slot in (1, 2, 3, 4)])
        assert not found.converged

    def test_a_pending_task_shows_its_reason(self) -> None:
        why = "no suitable node (insufficient memory on 3 nodes)"
        pending = task("p1", 1, err=why)
        found = progress.measure(web(1), [pending])
        assert found.pending_reason == why
        assert found.lines[1] == f"1/1: pending   {why}"

    def test_many_tasks_get_one_line_and_the_reason(self) -> None:
        why = "no suitable node (1 node not ready)"
        tasks = [running(slot) for slot in range(1, 25)] + [task("p", 25, err=why)]
        found = progress.measure(web(25), tasks)
        assert found.lines == ["overall progress: 24 out of 25 tasks", f"pending: {why}"]

    def test_a_global_service_wants_what_it_has(self) -> None:
        svc = web(0)
        svc = replace(svc, spec=replace(svc.spec, mode=ServiceMode.GLOBAL, replicas=0))
        tasks = [task(f"on-{n}", 0, node_id=n) for n in ("nodeA", "nodeB")]
        found = progress.measure(svc, tasks)
        assert found.converged
        assert found.lines[0] == "overall progress: 2 out of 2 tasks"


def restarting(svc: Service, condition: RestartCondition) -> Service:
    return replace(svc, spec=replace(svc.spec, restart=RestartPolicy(condition=condition)))


def ended(slot: int, state: TaskState = TaskState.COMPLETE, node: str = "n1") -> Task:
    return task(f"e{slot}", slot, node_id=node, state=state, created=at(slot))


class TestEndedTasks:
    def test_a_completed_task_is_shown_complete_not_new(self) -> None:
        svc = restarting(web(2), RestartCondition.ON_FAILURE)
        found = progress.measure(svc, [ended(1), running(2)])
        assert found.lines[1] == "1/2: complete"
        assert not found.ended
        assert not found.converged

    def test_every_task_done_under_on_failure_has_ended(self) -> None:
        svc = restarting(web(2), RestartCondition.ON_FAILURE)
        found = progress.measure(svc, [ended(1), ended(2)])
        assert found.ended
        assert found.lines[0] == "overall progress: 0 out of 2 tasks"

    def test_failed_tasks_under_none_have_ended_too(self) -> None:
        svc = restarting(web(2), RestartCondition.NONE)
        found = progress.measure(svc, [ended(1), ended(2, TaskState.FAILED)])
        assert found.ended

    def test_under_any_a_completed_task_comes_back(self) -> None:
        found = progress.measure(web(1), [ended(1)])
        assert not found.ended
        assert found.lines[1].startswith("1/1: new")

    def test_a_global_service_whose_tasks_completed_has_ended(self) -> None:
        svc = restarting(web(0), RestartCondition.ON_FAILURE)
        svc = replace(svc, spec=replace(svc.spec, mode=ServiceMode.GLOBAL, replicas=0))
        found = progress.measure(svc, [ended(0, node="nodeA"), ended(0, node="nodeB")])
        assert found.ended
        assert found.lines[0] == "overall progress: 0 out of 2 tasks"


@dataclass
class Scripted:
    """A client whose service and tasks change at each read, from a script of states."""

    states: list[tuple[Service, list[Task]]]
    reads: int = 0
    interrupt_at: int = -1
    asked: list[str] = field(default_factory=list)

    def _now(self) -> tuple[Service, list[Task]]:
        return self.states[min(self.reads, len(self.states) - 1)]

    def get_service(self, ref: str) -> Service:
        if self.reads == self.interrupt_at:
            raise KeyboardInterrupt
        self.asked.append(ref)
        return self._now()[0]

    def list_tasks(self, service_ref: str = "", node_ref: str = "") -> TaskListing:
        tasks = self._now()[1]
        self.reads += 1
        return TaskListing(tasks=tasks, nodes={})


def wait(client: Scripted, goal: progress.Goal, timeout: float = 60) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    code = progress.wait(
        client,  # type: ignore[arg-type]
        "svc1",
        goal,
        timedelta(seconds=timeout),
        out=out,
        err=err,
        clock=lambda: clock[0],
        sleep=sleep,
    )
    return code, out.getvalue(), err.getvalue()


def with_status(svc: Service, state: UpdateState, message: str = "") -> Service:
    return replace(svc, update_status=UpdateStatus(state, message=message))


class TestWait:
    def test_converges_and_says_so(self) -> None:
        """Pending, then running: progress lines as things change, exit 0."""
        svc = web(1)
        client = Scripted([(svc, [task("p", 1)]), (svc, [running(1)])])
        code, out, err = wait(client, progress.Goal.CONVERGE)
        assert code == progress.CONVERGED
        assert out.splitlines()[-1] == "verify: Service converged"
        assert "overall progress: 0 out of 1 tasks" in out
        assert err == ""

    def test_times_out_with_exit_2_and_the_reason(self) -> None:
        why = "no suitable node (insufficient memory on 2 nodes)"
        client = Scripted([(web(1), [task("p", 1, err=why)])])
        code, _, err = wait(client, progress.Goal.CONVERGE, timeout=5)
        assert code == progress.NOT_CONVERGED
        assert err == f"Error: service web did not converge within 5 seconds: {why}\n"

    def test_times_out_with_the_error_of_a_task_that_failed_to_pull(self) -> None:
        """A rejected task waits for its replacement: the timeout says why it was rejected."""
        why = 'Head "http://127.0.0.1:5000/v2/app/manifests/v1": no basic auth credentials'
        rejected = task("r", 1, node_id="n1", state=TaskState.REJECTED, err=why)
        replacement = task("p", 1, node_id="n1", state=TaskState.ASSIGNED)
        client = Scripted([(web(1), [rejected, replacement])])
        code, _, err = wait(client, progress.Goal.CONVERGE, timeout=5)
        assert code == progress.NOT_CONVERGED
        assert err == f"Error: service web did not converge within 5 seconds: {why}\n"

    def test_an_update_waits_for_its_job_not_only_the_tasks(self) -> None:
        """Tasks look converged while the update still monitors them: keep waiting."""
        svc = web(1, image=NEW)
        states = [
            (with_status(svc, UpdateState.UPDATING), [running(1, NEW)]),
            (with_status(svc, UpdateState.COMPLETED), [running(1, NEW)]),
        ]
        client = Scripted(states)
        code, _, _ = wait(client, progress.Goal.UPDATE)
        assert code == progress.CONVERGED
        assert client.reads == 2

    def test_a_rolled_back_update_exits_3_with_the_reason(self) -> None:
        why = "update rolled back due to failure or early termination of task x"
        svc = with_status(web(1), UpdateState.ROLLBACK_COMPLETED, why)
        code, _, err = wait(Scripted([(svc, [running(1)])]), progress.Goal.UPDATE)
        assert code == progress.UPDATE_FAILED
        assert err == f"Error: {why}\n"

    def test_a_paused_update_exits_3(self) -> None:
        svc = with_status(web(1), UpdateState.PAUSED, "update paused due to failure")
        code, _, _ = wait(Scripted([(svc, [running(1)])]), progress.Goal.UPDATE)
        assert code == progress.UPDATE_FAILED

    def test_a_requested_rollback_that_completes_exits_0(self) -> None:
        svc = with_status(web(1), UpdateState.ROLLBACK_COMPLETED, "manually requested rollback")
        code, _, _ = wait(Scripted([(svc, [running(1)])]), progress.Goal.ROLLBACK)
        assert code == progress.CONVERGED

    def test_a_rebalance_prints_what_it_moved(self) -> None:
        svc = with_status(web(1), UpdateState.REBALANCED, "rebalance completed: 2 tasks moved")
        code, out, _ = wait(Scripted([(svc, [running(1)])]), progress.Goal.REBALANCE)
        assert code == progress.CONVERGED
        assert "rebalance completed: 2 tasks moved" in out

    def test_tasks_that_all_ended_for_good_stop_the_wait_with_exit_3(self) -> None:
        """Pending, then done under on-failure: the wait ends at once, says why and what to
        use instead, rather than waiting out its timeout."""
        svc = restarting(web(1), RestartCondition.ON_FAILURE)
        client = Scripted([(svc, [task("p", 1)]), (svc, [ended(1)])])
        code, out, err = wait(client, progress.Goal.CONVERGE, timeout=300)
        assert code == progress.TASKS_ENDED == 3
        assert client.reads == 2
        assert "1/1: complete" in out
        assert err == (
            "Error: service web's tasks have all ended, and its restart condition (on-failure)"
            " starts none again: for run-to-completion work use --mode replicated-job\n"
        )

    def test_converging_is_verified_for_the_monitor_period(self) -> None:
        """As docker does: running tasks are watched for the update monitor period (5 s by
        default), counted down, before the service is said to have converged."""
        svc = web(1)
        client = Scripted([(svc, [running(1)])])
        code, out, _ = wait(client, progress.Goal.CONVERGE)
        assert code == progress.CONVERGED
        assert "verify: Waiting 5 seconds to verify that tasks are stable..." in out
        assert "verify: Waiting 1 seconds to verify that tasks are stable..." in out
        assert client.reads * progress.POLL_SECONDS > 5
        assert out.splitlines()[-1] == "verify: Service converged"

    def test_tasks_that_run_then_exit_at_once_are_not_converged(self) -> None:
        """Tasks that exit 0 under on-failure may be seen running for an instant: the
        verification sees them end, and the wait ends with exit 3, not 0."""
        svc = restarting(web(2), RestartCondition.ON_FAILURE)
        client = Scripted([(svc, [running(1), running(2)]), (svc, [ended(1), ended(2)])])
        code, out, err = wait(client, progress.Goal.CONVERGE)
        assert code == progress.TASKS_ENDED
        assert "verify: Service converged" not in out
        assert err.startswith("Error: service web's tasks have all ended")

    def test_a_task_failing_during_verification_starts_it_over(self) -> None:
        svc = web(1)
        failed = task("f", 1, node_id="n1", state=TaskState.FAILED, err="exit 1")
        replacement = running(1)
        states = [(svc, [running(1)])] * 8 + [(svc, [failed])] + [(svc, [failed, replacement])]
        client = Scripted(states)
        code, out, _ = wait(client, progress.Goal.CONVERGE)
        assert code == progress.CONVERGED
        assert "verify: Detected task failure" in out
        # A full period again after the failure.
        assert (client.reads - 9) * progress.POLL_SECONDS > 5

    def test_a_monitor_period_of_0_converges_at_the_first_look(self) -> None:
        svc = web(1)
        svc = replace(
            svc, spec=replace(svc.spec, update=replace(svc.spec.update, monitor=timedelta(0)))
        )
        client = Scripted([(svc, [running(1)])])
        code, out, _ = wait(client, progress.Goal.CONVERGE)
        assert code == progress.CONVERGED
        assert client.reads == 1
        assert "verify: Waiting" not in out

    def test_the_timeout_bounds_the_verification(self) -> None:
        """Tasks that stayed running until the timeout passed have converged (exit 0)."""
        client = Scripted([(web(1), [task("p", 1)])] * 6 + [(web(1), [running(1)])])
        code, _, err = wait(client, progress.Goal.CONVERGE, timeout=3)
        assert code == progress.CONVERGED
        assert err == ""

    def test_ctrl_c_leaves_the_work_to_the_manager(self) -> None:
        client = Scripted([(web(1), [task("p", 1)])], interrupt_at=2)
        code, _, err = wait(client, progress.Goal.CONVERGE)
        assert code == progress.INTERRUPTED
        assert err.startswith("Operation continuing in background.")
        assert "shoal service ps web" in err


class TestScreen:
    def test_elsewhere_than_a_terminal_only_changed_lines_are_printed(self) -> None:
        out = io.StringIO()
        screen = progress.Screen(out)
        screen.draw(["a", "b"])
        screen.draw(["a", "c"])
        assert out.getvalue() == "a\nb\nc\n"

    def test_on_a_terminal_the_block_is_redrawn_in_place(self) -> None:
        class Tty(io.StringIO):
            def isatty(self) -> bool:
                return True

        out = Tty()
        screen = progress.Screen(out)
        screen.draw(["a", "b"])
        screen.draw(["a", "c"])
        assert out.getvalue() == "\x1b[2Ka\n\x1b[2Kb\n\x1b[2A\x1b[2Ka\n\x1b[2Kc\n"
