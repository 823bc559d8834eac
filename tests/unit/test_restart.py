"""manager.orchestrator.restart: when a slot whose task ended may get its next task."""

from __future__ import annotations

from datetime import datetime, timedelta

from common.model import Task, TaskState
from manager.orchestrator.restart import MAX_DELAY, RestartSupervisor
from tests.unit.builders import at, task

SVC = "svc1"


def failed(task_id: str, slot: int = 1, *, created: float, ended: float) -> Task:
    """A task of SVC created at `created` seconds and failed at `ended` seconds after T0."""
    return task(
        task_id,
        slot,
        service_id=SVC,
        node_id="n1",
        state=TaskState.FAILED,
        created=at(created),
        status_at=at(ended),
    )


def hold(sup: RestartSupervisor, slot: int, seen: datetime) -> timedelta:
    """How long after `seen` the slot is released (0 when it is not held at all)."""
    release = sup.next_release(seen)
    if slot not in sup.held_slots(SVC, seen):
        return timedelta(0)
    assert release is not None
    return release - seen


def crash_loop(sup: RestartSupervisor, count: int, *, slot: int = 1) -> list[timedelta]:
    """count quick failures in a row (each ran 1 s), each restarted as soon as it was allowed.

    Returns the hold imposed after each failure.
    """
    holds: list[timedelta] = []
    clock = 0.0
    for i in range(count):
        ended = clock + 1
        sup.exited(failed(f"t{slot}-{i}", slot, created=clock, ended=ended), at(ended))
        held = hold(sup, slot, at(ended))
        holds.append(held)
        clock = ended + held.total_seconds()
    return holds


class TestBackoff:
    def test_first_exit_is_not_held(self) -> None:
        """The first exit of a slot restarts at once."""
        sup = RestartSupervisor()
        sup.exited(failed("t1", created=0, ended=1), at(1))
        assert sup.held_slots(SVC, at(1)) == set()
        assert sup.next_release(at(1)) is None

    def test_quick_failures_double_the_hold(self) -> None:
        """Consecutive quick failures hold the slot 0, 1, 2, 4, 8, 16 s, then 30 s at most."""
        holds = crash_loop(RestartSupervisor(), 9)
        assert [h.total_seconds() for h in holds] == [0, 1, 2, 4, 8, 16, 30, 30, 30]

    def test_hold_is_capped_however_long_the_crash_loop(self) -> None:
        """A slot crash-looping for hours is held 30 s at most, and supervising it never raises."""
        holds = crash_loop(RestartSupervisor(), 300)
        assert max(holds) == MAX_DELAY
        assert holds[-1] == MAX_DELAY

    def test_slot_is_held_until_release_then_free(self) -> None:
        """A held slot is held up to its release time and free from then on."""
        sup = RestartSupervisor()
        sup.exited(failed("t1", created=0, ended=1), at(1))
        sup.exited(failed("t2", created=1, ended=2), at(2))
        assert sup.held_slots(SVC, at(2)) == {1}
        assert sup.held_slots(SVC, at(2.999)) == {1}
        assert sup.held_slots(SVC, at(3)) == set()
        assert sup.next_release(at(3)) is None

    def test_a_long_run_resets_the_count(self) -> None:
        """A task that ran 60 s or more before failing starts the slot's back-off again."""
        sup = RestartSupervisor()
        crash_loop(sup, 5)  # the slot is now on an 8 s hold
        sup.exited(failed("long", created=1000, ended=1060), at(1060))
        assert sup.held_slots(SVC, at(1060)) == set()
        # ... and the next quick failure is the second in a row again: 1 s.
        sup.exited(failed("next", created=1060, ended=1061), at(1061))
        assert hold(sup, 1, at(1061)) == timedelta(seconds=1)

    def test_just_under_a_minute_does_not_reset(self) -> None:
        """A task that ran 59 s is still a quick failure."""
        sup = RestartSupervisor()
        sup.exited(failed("t1", created=0, ended=1), at(1))
        sup.exited(failed("t2", created=1, ended=60), at(60))
        assert hold(sup, 1, at(60)) == timedelta(seconds=1)

    def test_same_task_reported_twice_counts_once(self) -> None:
        """Seeing the same exited task again (a later pass) does not add a failure."""
        sup = RestartSupervisor()
        first = failed("t1", created=0, ended=1)
        second = failed("t2", created=1, ended=2)
        sup.exited(first, at(1))
        sup.exited(second, at(2))
        sup.exited(second, at(2.5))
        sup.exited(first, at(2.5))
        assert sup.next_release(at(2)) == at(3)
        sup.exited(failed("t3", created=3, ended=4), at(4))
        assert hold(sup, 1, at(4)) == timedelta(seconds=2)

    def test_slots_are_independent(self) -> None:
        """Failures in one slot do not hold another slot of the same service."""
        sup = RestartSupervisor()
        crash_loop(sup, 3, slot=1)
        sup.exited(failed("other", 2, created=0, ended=1), at(1))
        assert 2 not in sup.held_slots(SVC, at(1))

    def test_services_are_independent(self) -> None:
        """A held slot of one service says nothing about the same slot of another."""
        sup = RestartSupervisor()
        crash_loop(sup, 3)
        assert sup.held_slots("other-service", at(0)) == set()


class TestNextRelease:
    def test_nothing_held(self) -> None:
        """With nothing recorded, there is no next release."""
        assert RestartSupervisor().next_release(at(0)) is None

    def test_earliest_of_several(self) -> None:
        """next_release is the earliest release still in the future, across slots."""
        sup = RestartSupervisor()
        # Slot 1: second quick failure seen at 2 s -> held until 3 s.
        sup.exited(failed("a1", 1, created=0, ended=1), at(1))
        sup.exited(failed("b1", 1, created=1, ended=2), at(2))
        # Slot 2: third quick failure seen at 3 s -> held 2 s, until 5 s.
        sup.exited(failed("a2", 2, created=0, ended=1), at(1))
        sup.exited(failed("b2", 2, created=1, ended=2), at(2))
        sup.exited(failed("c2", 2, created=2, ended=3), at(3))
        assert sup.next_release(at(2.5)) == at(3)
        assert sup.next_release(at(3)) == at(5)
        assert sup.held_slots(SVC, at(3)) == {2}
        assert sup.next_release(at(5)) is None

    def test_past_releases_are_ignored(self) -> None:
        """Releases already passed are not reported."""
        sup = RestartSupervisor()
        crash_loop(sup, 2)
        assert sup.next_release(at(10_000)) is None


class TestForget:
    def test_forget_service_drops_its_holds(self) -> None:
        """After forget_service, the service has no held slots and nothing to wake for."""
        sup = RestartSupervisor()
        crash_loop(sup, 4)
        assert sup.held_slots(SVC, at(0)) == {1}
        sup.forget_service(SVC)
        assert sup.held_slots(SVC, at(0)) == set()
        assert sup.next_release(at(0)) is None

    def test_forget_service_keeps_other_services(self) -> None:
        """forget_service leaves other services' holds alone."""
        sup = RestartSupervisor()
        sup.exited(task("x1", 1, service_id="other", state=TaskState.FAILED), at(0))
        sup.exited(task("x2", 1, service_id="other", state=TaskState.FAILED, created=at(0)), at(0))
        sup.forget_service(SVC)
        assert sup.held_slots("other", at(0)) == {1}

    def test_forgotten_service_starts_from_scratch(self) -> None:
        """A slot failing after forget_service is a first exit again: not held."""
        sup = RestartSupervisor()
        crash_loop(sup, 4)
        sup.forget_service(SVC)
        sup.exited(failed("fresh", created=500, ended=501), at(501))
        assert sup.held_slots(SVC, at(501)) == set()
