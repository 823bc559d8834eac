"""common.taskstate: observed task states only move forward."""

from __future__ import annotations

import itertools

import pytest

from common.model import TaskState, TaskStatus
from common.taskstate import advance, is_live
from tests.unit.builders import at, task

STATES = list(TaskState)
TERMINAL = [s for s in STATES if s.terminal]
PAIRS = list(itertools.product(STATES, STATES))


def pair_id(pair: tuple[TaskState, TaskState]) -> str:
    return f"{pair[0].name}->{pair[1].name}"


def test_terminal_states() -> None:
    """COMPLETE, FAILED, SHUTDOWN, REJECTED and ORPHANED are the terminal states."""
    assert {s.name for s in TERMINAL} == {"COMPLETE", "FAILED", "SHUTDOWN", "REJECTED", "ORPHANED"}


def test_states_are_in_lifecycle_order() -> None:
    """The enum order is the lifecycle order DESIGN.md gives."""
    assert [s.name for s in STATES] == [
        "NEW",
        "PENDING",
        "ASSIGNED",
        "ACCEPTED",
        "PREPARING",
        "STARTING",
        "RUNNING",
        "COMPLETE",
        "FAILED",
        "SHUTDOWN",
        "REJECTED",
        "ORPHANED",
    ]


class TestAdvanceExhaustive:
    @pytest.mark.parametrize("pair", PAIRS, ids=[pair_id(p) for p in PAIRS])
    def test_transition(self, pair: tuple[TaskState, TaskState]) -> None:
        """Every (current, reported) pair: accepted only forward and never out of a terminal state.

        The report carries a fresh timestamp but no new facts, so a repeat is refused too.
        """
        current, reported = pair
        before = task("t1", state=current, status_at=at(0), container_id="c1")
        status = TaskStatus(state=reported, timestamp=at(5), container_id="c1")
        result = advance(before, status)
        should_accept = reported > current and not current.terminal
        if should_accept:
            assert result is not None
            assert result.status == status
            assert result.id == before.id
            assert result.meta == before.meta
            assert result.desired_state == before.desired_state
        else:
            assert result is None


class TestAdvanceSameState:
    @pytest.mark.parametrize("state", STATES, ids=[s.name for s in STATES])
    def test_repeat_without_new_facts_is_refused(self, state: TaskState) -> None:
        """The same state with the same container, error and message is no change."""
        before = task("t1", state=state, container_id="c1", err="boom")
        status = TaskStatus(
            state=state,
            timestamp=at(60),
            message=before.status.message,
            err="boom",
            container_id="c1",
        )
        assert advance(before, status) is None

    @pytest.mark.parametrize("state", STATES, ids=[s.name for s in STATES])
    def test_repeat_with_a_new_container_id_is_accepted(self, state: TaskState) -> None:
        """An agent that adopted a container after a restart may report its ID in the same state."""
        before = task("t1", state=state)
        status = TaskStatus(state=state, timestamp=at(1), container_id="c2")
        result = advance(before, status)
        assert result is not None
        assert result.status.container_id == "c2"

    @pytest.mark.parametrize("state", STATES, ids=[s.name for s in STATES])
    def test_repeat_with_a_new_error_is_accepted(self, state: TaskState) -> None:
        """The same state with an error the task did not have yet is accepted."""
        before = task("t1", state=state, container_id="c1")
        status = TaskStatus(state=state, timestamp=at(1), container_id="c1", err="disk full")
        result = advance(before, status)
        assert result is not None
        assert result.status.err == "disk full"

    def test_input_task_is_not_modified(self) -> None:
        """advance returns a new task; the one passed in keeps its status."""
        before = task("t1", state=TaskState.ASSIGNED)
        result = advance(before, TaskStatus(state=TaskState.RUNNING, timestamp=at(1)))
        assert result is not None
        assert before.status.state == TaskState.ASSIGNED
        assert result.status.state == TaskState.RUNNING


class TestIsLive:
    @pytest.mark.parametrize("state", STATES, ids=[s.name for s in STATES])
    def test_desired_running(self, state: TaskState) -> None:
        """Wanted running: live until its observed state is terminal."""
        assert is_live(task("t1", state=state)) is (not state.terminal)

    @pytest.mark.parametrize("desired", [s for s in STATES if s != TaskState.RUNNING])
    def test_not_desired_running(self, desired: TaskState) -> None:
        """A task not wanted running is never live, even while it still runs."""
        assert not is_live(task("t1", state=TaskState.RUNNING, desired=desired))
