"""agent.lifecycle: the pure step function of a task on its node, and the one error rule."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.lifecycle import Step, failure, next_step, observed
from agent.runtime.base import HEALTH_STARTING, HEALTH_UNHEALTHY, ContainerInfo, EngineDown
from common.errors import InvalidArgument, NotFound, Unavailable
from common.model import TaskState
from tests.unit.builders import task

RUNNING = ContainerInfo("c1", "t1", running=True)
EXITED = ContainerInfo("c1", "t1", running=False, exit_code=3, error="")
STATES = list(TaskState)


class TestNextStep:
    def test_a_new_task_without_a_container_is_started(self) -> None:
        assert next_step(task("t1"), TaskState.ASSIGNED, None, False) is Step.START

    @pytest.mark.parametrize("reached", [s for s in STATES if not s.terminal])
    def test_a_container_is_followed_until_the_task_ended(self, reached: TaskState) -> None:
        assert next_step(task("t1"), reached, RUNNING, True) is Step.FOLLOW
        assert next_step(task("t1"), reached, EXITED, True) is Step.FOLLOW

    @pytest.mark.parametrize("reached", [s for s in STATES if s.terminal])
    def test_once_ended_the_first_reason_stands(self, reached: TaskState) -> None:
        for container in (RUNNING, EXITED, None):
            assert next_step(task("t1"), reached, container, True) is Step.NOTHING

    def test_a_container_that_vanished_is_lost_not_restarted(self) -> None:
        assert next_step(task("t1"), TaskState.RUNNING, None, True) is Step.LOST
        # One waiting to be healthy had a container while still STARTING.
        assert next_step(task("t1"), TaskState.STARTING, None, True) is Step.LOST

    def test_a_task_wanted_stopped_is_stopped_then_shut_down(self) -> None:
        stopping = task("t1", desired=TaskState.SHUTDOWN, node_id="n1")
        assert next_step(stopping, TaskState.RUNNING, RUNNING, True) is Step.STOP
        assert next_step(stopping, TaskState.RUNNING, EXITED, True) is Step.SHUT_DOWN
        assert next_step(stopping, TaskState.ASSIGNED, None, False) is Step.SHUT_DOWN

    def test_a_stopped_task_already_ended_needs_nothing(self) -> None:
        ended = task("t1", desired=TaskState.SHUTDOWN, state=TaskState.FAILED, node_id="n1")
        assert next_step(ended, TaskState.FAILED, EXITED, True) is Step.NOTHING
        assert next_step(ended, TaskState.FAILED, None, True) is Step.NOTHING
        # Its container still running (the manager gave up on it): stopped, nothing reported.
        assert next_step(ended, TaskState.FAILED, RUNNING, True) is Step.STOP


class TestObserved:
    def test_exit_codes(self) -> None:
        assert observed(replace(EXITED, exit_code=0)).state is TaskState.COMPLETE
        failed = observed(EXITED)
        assert (failed.state, failed.err, failed.exit_code) == (
            TaskState.FAILED,
            "task: non-zero exit (3)",
            3,
        )

    def test_health(self) -> None:
        assert observed(replace(RUNNING, health=HEALTH_STARTING)).state is TaskState.STARTING
        unhealthy = observed(replace(RUNNING, health=HEALTH_UNHEALTHY))
        assert (unhealthy.state, unhealthy.err) == (TaskState.FAILED, "container unhealthy")
        assert observed(RUNNING).state is TaskState.RUNNING


class TestFailure:
    @pytest.mark.parametrize("reached", [s for s in STATES if s < TaskState.STARTING])
    def test_before_starting_an_error_rejects(self, reached: TaskState) -> None:
        status = failure(reached, NotFound("pull access denied"), "preparing")
        assert status is not None
        assert (status.state, status.message, status.err) == (
            TaskState.REJECTED,
            "preparing failed",
            "pull access denied",
        )

    @pytest.mark.parametrize("reached", [TaskState.STARTING, TaskState.RUNNING])
    def test_from_starting_on_an_error_fails(self, reached: TaskState) -> None:
        status = failure(reached, InvalidArgument("no such file"), "starting")
        assert status is not None
        assert status.state is TaskState.FAILED

    def test_an_engine_error_answer_is_an_error(self) -> None:
        status = failure(TaskState.PREPARING, Unavailable("registry unreachable"), "preparing")
        assert status is not None
        assert status.state is TaskState.REJECTED

    @pytest.mark.parametrize("reached", [TaskState.PREPARING, TaskState.STARTING])
    def test_an_engine_that_does_not_answer_changes_nothing(self, reached: TaskState) -> None:
        assert failure(reached, EngineDown("connection refused"), "starting") is None
