"""manager.orchestrator.restart: whether and when an ended task's slot gets its next task."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from common.model import RestartCondition, RestartPolicy, Task, TaskState
from manager.orchestrator.restart import MAX_DELAY, RestartSupervisor, decide
from tests.unit.builders import SERVICE_ID, at, task

DEFAULT = RestartPolicy()
YEAR_1 = datetime(1, 1, 1, tzinfo=UTC)
YEAR_9999 = datetime(9999, 12, 31, tzinfo=UTC)
SELF_ENDED = [TaskState.COMPLETE, TaskState.FAILED, TaskState.REJECTED]
MANAGER_ENDED = [TaskState.SHUTDOWN, TaskState.ORPHANED]


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def ended(
    state: TaskState = TaskState.FAILED,
    *,
    streak: int = 0,
    times: tuple[datetime, ...] = (),
    created: float = 0,
    end: float = 1,
    task_id: str = "t1",
    slot: int = 1,
    service_id: str = SERVICE_ID,
) -> Task:
    """A task created at `created` and ended in `state` at `end` (seconds after T0), carrying
    its slot's restart record."""
    base = task(
        task_id,
        slot,
        service_id=service_id,
        node_id="n1",
        state=state,
        created=at(created),
        status_at=at(end),
    )
    return replace(base, restart_streak=streak, restart_times=times)


class TestDefaultPolicy:
    @pytest.mark.parametrize("state", SELF_ENDED + MANAGER_ENDED)
    def test_a_task_that_ends_is_restarted(self, state: TaskState) -> None:
        """Under the default policy (condition ANY), every way of ending leads to a restart."""
        assert decide(ended(state), DEFAULT).restart

    def test_first_restart_is_immediate(self) -> None:
        """A slot with no restart streak restarts at once."""
        decision = decide(ended(streak=0), DEFAULT)
        assert decision.restart
        assert decision.delay == timedelta(0)
        assert decision.reason == ""

    @pytest.mark.parametrize(
        ("streak", "delay"),
        [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (7, 30), (50, 30)],
    )
    def test_quick_failures_double_the_delay_up_to_30_s(self, streak: int, delay: float) -> None:
        """Each quick failure in a row doubles the delay from 1 s, capped at 30 s."""
        assert decide(ended(streak=streak), DEFAULT).delay == seconds(delay)

    @pytest.mark.parametrize("streak", [10_000, 2**62])
    def test_huge_streak_does_not_overflow(self, streak: int) -> None:
        """A slot failing all night still gets the 30 s cap, and deciding it never raises."""
        decision = decide(ended(streak=streak), DEFAULT)
        assert decision.delay == MAX_DELAY
        assert decision.streak == streak + 1

    def test_decision_carries_the_slots_record_forward(self) -> None:
        """The decision's streak is the task's plus one; its times are the task's plus its end."""
        prior = (at(-30), at(-10))
        decision = decide(
            ended(streak=2, times=prior, created=0, end=5), RestartPolicy(max_attempts=5)
        )
        assert decision.streak == 3
        assert decision.times == (at(-30), at(-10), at(5))

    def test_times_are_kept_only_as_far_as_max_attempts_needs(self) -> None:
        """With no limit no time is kept; with a limit of 2 only the last two."""
        prior = (at(-30), at(-20), at(-10))
        assert decide(ended(times=prior, end=5), DEFAULT).times == ()
        assert decide(ended(times=(at(-10),), end=5), RestartPolicy(max_attempts=2)).times == (
            at(-10),
            at(5),
        )

    def test_a_restart_the_manager_caused_is_not_counted(self) -> None:
        """An orphaned or stopped task is replaced at once, and neither its streak nor its
        restart times grow: losing a node is no failure of the task."""
        for state in (TaskState.ORPHANED, TaskState.SHUTDOWN):
            decision = decide(
                ended(state=state, streak=3, times=(at(1),)), RestartPolicy(max_attempts=2)
            )
            assert (decision.restart, decision.delay) == (True, timedelta(0))
            assert (decision.streak, decision.times) == (3, (at(1),))

    def test_a_long_run_resets_the_streak(self) -> None:
        """A task that lived 60 s restarts at once, and its slot's streak starts again at 1."""
        decision = decide(ended(streak=5, created=100, end=160), DEFAULT)
        assert decision.restart
        assert decision.delay == timedelta(0)
        assert decision.streak == 1

    def test_just_under_a_minute_does_not_reset(self) -> None:
        """A task that lived 59.999 s is still a quick failure: the streak goes on."""
        decision = decide(ended(streak=5, created=100, end=159.999), DEFAULT)
        assert decision.delay == seconds(16)
        assert decision.streak == 6

    def test_a_reset_keeps_the_restart_times(self) -> None:
        """Resetting the streak does not forget the restart times (max_attempts still sees them)."""
        policy = RestartPolicy(max_attempts=5)
        decision = decide(ended(streak=5, times=(at(10),), created=100, end=200), policy)
        assert decision.times == (at(10), at(200))


class TestPolicyDelay:
    @pytest.mark.parametrize(
        ("streak", "delay"), [(0, 0), (1, 3), (2, 6), (3, 12), (4, 24), (5, 30), (9, 30)]
    )
    def test_delay_sets_the_first_step(self, streak: int, delay: float) -> None:
        """A delay of 3 s gives steps of 3, 6, 12, 24 s, then the 30 s cap; the first is at once."""
        policy = RestartPolicy(delay=seconds(3))
        assert decide(ended(streak=streak), policy).delay == seconds(delay)

    @pytest.mark.parametrize("streak", [1, 2, 3, 10_000])
    def test_delay_above_the_cap_is_the_cap(self, streak: int) -> None:
        """A delay longer than 30 s is used as it is, every time: the cap is max(30 s, delay)."""
        policy = RestartPolicy(delay=seconds(45))
        assert decide(ended(streak=streak), policy).delay == seconds(45)

    @pytest.mark.parametrize("streak", [1, 5, 10_000])
    def test_zero_delay_always_restarts_at_once(self, streak: int) -> None:
        """A delay of 0 means no backoff at all."""
        policy = RestartPolicy(delay=timedelta(0))
        decision = decide(ended(streak=streak), policy)
        assert decision.delay == timedelta(0)
        assert decision.streak == streak + 1


class TestCondition:
    @pytest.mark.parametrize("state", SELF_ENDED)
    def test_none_does_not_restart_what_ended_by_itself(self, state: TaskState) -> None:
        """Condition NONE: a task that completed, failed or was rejected stays ended."""
        policy = RestartPolicy(condition=RestartCondition.NONE)
        assert not decide(ended(state), policy).restart

    @pytest.mark.parametrize("state", MANAGER_ENDED)
    def test_none_still_restarts_what_the_manager_ended(self, state: TaskState) -> None:
        """Condition NONE: an orphaned or shut-down task is replaced, as the manager ended it."""
        policy = RestartPolicy(condition=RestartCondition.NONE)
        assert decide(ended(state), policy).restart

    def test_on_failure_does_not_restart_a_completed_task(self) -> None:
        """Condition ON_FAILURE: a task that exited 0 stays ended."""
        policy = RestartPolicy(condition=RestartCondition.ON_FAILURE)
        assert not decide(ended(TaskState.COMPLETE), policy).restart

    @pytest.mark.parametrize("state", [TaskState.FAILED, TaskState.REJECTED, *MANAGER_ENDED])
    def test_on_failure_restarts_everything_else(self, state: TaskState) -> None:
        """Condition ON_FAILURE: failed, rejected, orphaned and shut-down tasks are restarted."""
        policy = RestartPolicy(condition=RestartCondition.ON_FAILURE)
        assert decide(ended(state), policy).restart


class TestMaxAttempts:
    def test_gives_up_at_the_limit(self) -> None:
        """A slot already restarted max_attempts times is not restarted again, and says why."""
        times = (at(1), at(2), at(3))
        decision = decide(ended(times=times, end=4), RestartPolicy(max_attempts=3))
        assert not decision.restart
        assert "gave up after 3 restarts" in decision.reason

    def test_restarts_below_the_limit(self) -> None:
        """One restart short of the limit, the slot is restarted and the new restart recorded."""
        times = (at(1), at(2))
        decision = decide(ended(times=times, end=4), RestartPolicy(max_attempts=3))
        assert decision.restart
        assert decision.times == (at(1), at(2), at(4))

    def test_zero_means_no_limit(self) -> None:
        """max_attempts 0: however many restarts came before, the slot restarts."""
        times = tuple(at(i) for i in range(100))
        assert decide(ended(times=times, end=200), RestartPolicy(max_attempts=0)).restart

    def test_restarts_outside_the_window_do_not_count(self) -> None:
        """Restarts older than the window before the task's end are dropped from the count."""
        policy = RestartPolicy(max_attempts=3, window=seconds(60))
        times = (at(0), at(10), at(50))
        decision = decide(ended(times=times, created=90, end=100), policy)
        assert decision.restart
        assert decision.times == (at(50), at(100))

    def test_a_restart_at_the_window_edge_counts(self) -> None:
        """A restart exactly `window` before the end is still inside the window."""
        policy = RestartPolicy(max_attempts=3, window=seconds(60))
        times = (at(40), at(45), at(50))
        assert not decide(ended(times=times, created=90, end=100), policy).restart

    def test_without_a_window_every_restart_counts(self) -> None:
        """Without a window, restarts long ago still count toward max_attempts."""
        policy = RestartPolicy(max_attempts=3)
        times = (at(0), at(10), at(50))
        decision = decide(ended(times=times, created=990, end=1000), policy)
        assert not decision.restart
        assert "gave up after 3 restarts" in decision.reason

    def test_an_end_in_year_1_does_not_overflow(self) -> None:
        """A task status stamped in year 1 (a hostile or broken agent's) once overflowed the
        window arithmetic and crashed the manager on every start; now it is just a restart."""
        policy = RestartPolicy(max_attempts=3, window=seconds(60))
        poisoned = replace(ended(times=(at(0),)), status=replace(ended().status, timestamp=YEAR_1))
        decision = decide(poisoned, policy)
        assert decision.restart
        assert decision.times == (YEAR_1,)

    def test_a_restart_recorded_in_year_9999_does_not_count_for_ever(self) -> None:
        """A restart time after the task's end is bogus: it never trips max_attempts."""
        policy = RestartPolicy(max_attempts=1)
        decision = decide(ended(times=(YEAR_9999,), end=100), policy)
        assert decision.restart
        assert decision.times == (at(100),)

    @pytest.mark.parametrize("state", MANAGER_ENDED)
    def test_the_manager_ending_a_task_is_not_limited(self, state: TaskState) -> None:
        """An orphaned or shut-down task is replaced even when the limit is reached."""
        times = (at(1), at(2), at(3))
        decision = decide(ended(state, times=times, end=4), RestartPolicy(max_attempts=3))
        assert decision.restart


class TestSupervisor:
    def test_holds_the_slot_for_the_delay(self) -> None:
        """exited(task, delay, at) holds the task's slot from at until at + delay, then frees it."""
        sup = RestartSupervisor()
        sup.exited(ended(slot=2), seconds(4), at(10))
        assert sup.held_slots(SERVICE_ID, at(10)) == {2}
        assert sup.held_slots(SERVICE_ID, at(13.999)) == {2}
        assert sup.held_slots(SERVICE_ID, at(14)) == set()
        assert sup.next_release(at(10)) == at(14)

    def test_zero_delay_holds_nothing(self) -> None:
        """A restart without delay holds no slot and sets nothing to wake for."""
        sup = RestartSupervisor()
        sup.exited(ended(), timedelta(0), at(10))
        assert sup.held_slots(SERVICE_ID, at(10)) == set()
        assert sup.next_release(at(10)) is None

    def test_same_task_twice_counts_once(self) -> None:
        """Seeing the same exited task again (a later pass) does not extend its hold."""
        sup = RestartSupervisor()
        dead = ended()
        sup.exited(dead, seconds(5), at(0))
        sup.exited(dead, seconds(5), at(3))
        sup.exited(dead, seconds(30), at(4))
        assert sup.next_release(at(0)) == at(5)
        assert sup.held_slots(SERVICE_ID, at(5)) == set()

    def test_slots_and_services_are_independent(self) -> None:
        """A hold names one slot of one service: other slots and services are free."""
        sup = RestartSupervisor()
        sup.exited(ended(slot=1), seconds(5), at(0))
        assert sup.held_slots(SERVICE_ID, at(1)) == {1}
        assert sup.held_slots("other", at(1)) == set()

    def test_nothing_recorded_nothing_to_release(self) -> None:
        """A fresh supervisor holds nothing and has no next release."""
        sup = RestartSupervisor()
        assert sup.held_slots(SERVICE_ID, at(0)) == set()
        assert sup.next_release(at(0)) is None

    def test_next_release_is_the_earliest_still_ahead(self) -> None:
        """next_release is the earliest release after the given time; passed ones are ignored."""
        sup = RestartSupervisor()
        sup.exited(ended(task_id="a", slot=1), seconds(5), at(0))
        sup.exited(ended(task_id="b", slot=2), seconds(8), at(0))
        sup.exited(ended(task_id="c", slot=1, service_id="other"), seconds(12), at(0))
        assert sup.next_release(at(0)) == at(5)
        assert sup.next_release(at(5)) == at(8)
        assert sup.next_release(at(8)) == at(12)
        assert sup.next_release(at(12)) is None

    def test_forget_service_drops_only_its_holds(self) -> None:
        """forget_service frees that service's slots and leaves other services' holds alone."""
        sup = RestartSupervisor()
        sup.exited(ended(task_id="a"), seconds(5), at(0))
        sup.exited(ended(task_id="b", service_id="other"), seconds(10), at(0))
        sup.forget_service(SERVICE_ID)
        assert sup.held_slots(SERVICE_ID, at(1)) == set()
        assert sup.held_slots("other", at(1)) == {1}
        assert sup.next_release(at(1)) == at(10)

    def test_forget_tasks_lets_a_task_be_recorded_again(self) -> None:
        """After forget_tasks, the same task's exit holds its slot anew."""
        sup = RestartSupervisor()
        dead = ended()
        sup.exited(dead, seconds(1), at(0))
        sup.forget_tasks({dead.id})
        sup.exited(dead, seconds(10), at(5))
        assert sup.held_slots(SERVICE_ID, at(14)) == {1}
        assert sup.next_release(at(5)) == at(15)

    def test_forget_tasks_leaves_other_tasks_recorded(self) -> None:
        """forget_tasks only forgets the tasks it names."""
        sup = RestartSupervisor()
        first, second = ended(task_id="a"), ended(task_id="b", slot=2)
        sup.exited(first, seconds(1), at(0))
        sup.exited(second, seconds(1), at(0))
        sup.forget_tasks({first.id})
        sup.exited(second, seconds(10), at(5))
        assert sup.held_slots(SERVICE_ID, at(5)) == set()


class TestPoisonedTimes:
    """Times a node once sent (stored before reports were stamped by the manager)."""

    def test_an_end_in_year_1_does_not_overflow_the_window(self) -> None:
        task = replace(
            ended(times=(at(0),)),
            status=replace(ended().status, timestamp=datetime(1, 1, 1, tzinfo=UTC)),
        )
        decision = decide(task, RestartPolicy(max_attempts=3, window=seconds(60)))
        assert decision.restart

    def test_restarts_dated_after_the_end_do_not_count(self) -> None:
        """Three restarts in year 9999 would trip max attempts for ever."""
        future = datetime(9999, 1, 1, tzinfo=UTC)
        task = ended(times=(future, future, future), end=100)
        decision = decide(task, RestartPolicy(max_attempts=3, window=seconds(60)))
        assert decision.restart
        assert decision.times == (at(100),)
