"""Waiting for a service to converge, drawn as docker draws it, with an exit code that says how
it ended: 0 converged, 2 tasks could not be placed or the wait timed out, 3 the update failed
(paused or rolled back) or every task ended for good (its restart policy will not start it
again: the service can never converge)."""

from __future__ import annotations

import enum
import itertools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TextIO

from cli import humanize, tasks
from cli.client import Client
from common.jobs import job_counts
from common.model import Service, ServiceMode, Task, TaskState, UpdateState
from common.taskstate import ended_for_good, is_dirty, is_live

CONVERGED = 0
NOT_CONVERGED = 2
UPDATE_FAILED = 3
TASKS_ENDED = 3
INTERRUPTED = 130

POLL_SECONDS = 0.25
# Beyond this many tasks only the overall line is drawn, as docker does.
MAX_TASK_LINES = 20
BAR_WIDTH = 50
_STEPS = [TaskState.PENDING, TaskState.ASSIGNED, TaskState.PREPARING, TaskState.STARTING]


class Goal(enum.Enum):
    CONVERGE = "converge"
    UPDATE = "update"
    ROLLBACK = "rollback"
    REBALANCE = "rebalance"


# The end states of a service's job that mean the command failed, per goal.
_FAILED = {
    Goal.UPDATE: {UpdateState.PAUSED, UpdateState.ROLLBACK_COMPLETED, UpdateState.ROLLBACK_PAUSED},
    Goal.ROLLBACK: {UpdateState.ROLLBACK_PAUSED},
    Goal.REBALANCE: {UpdateState.REBALANCE_PAUSED},
}


@dataclass(frozen=True)
class Progress:
    lines: list[str]
    converged: bool
    # Why the first pending task cannot be placed, when one cannot.
    pending_reason: str
    # Every slot's task ended in a state the restart policy leaves it in.
    ended: bool = False
    # The error of the latest task of the current spec that failed or was rejected (a pull
    # that failed, say), while its slot waits for its replacement.
    failure: str = ""


def measure(service: Service, service_tasks: list[Task]) -> Progress:
    """How far service's tasks are from its spec: one entry per slot (per node for a global
    service), done when the slot's newest live task runs the current spec."""
    newest: dict[str, Task] = {}
    # Slots whose last task ended and stays so (a task done under on-failure): not new, and
    # never to be running again.
    finished: dict[str, Task] = {}
    condition = service.spec.restart.condition
    for task in sorted(service_tasks, key=lambda t: t.meta.created_at):
        name = tasks.slot_name(task)
        if is_live(task):
            newest[name] = task
            finished.pop(name, None)
        elif ended_for_good(task.status.state, condition) and not is_dirty(task, service.spec):
            finished[name] = task
            newest.pop(name, None)
    if service.spec.mode is ServiceMode.REPLICATED:
        # Slots keep their numbers, so after scaling down they may not be 1..N: the live slots
        # count, the lowest first, and numbers not yet taken stand for slots still to come.
        numbers = sorted(t.slot for t in (*newest.values(), *finished.values()))
        free = (n for n in range(1, service.spec.replicas + len(numbers) + 1) if n not in numbers)
        numbers = sorted(
            [*numbers, *itertools.islice(free, max(0, service.spec.replicas - len(numbers)))]
        )
        wanted = [f"{service.spec.name}.{slot}" for slot in numbers[: service.spec.replicas]]
    else:
        wanted = sorted({*newest, *finished})
    done = [
        name
        for name in wanted
        if (t := newest.get(name)) is not None
        and t.status.state == TaskState.RUNNING
        and not is_dirty(t, service.spec)
    ]
    extra = set(newest) - set(wanted)
    lines = [f"overall progress: {len(done)} out of {len(wanted)} tasks"]
    reasons = [t.status.err for t in newest.values() if t.status.state == TaskState.PENDING]
    reason = next((r for r in reasons if r), "")
    if len(wanted) <= MAX_TASK_LINES:
        for index, name in enumerate(wanted, start=1):
            label = f"{index}/{len(wanted)}"
            if service.spec.mode is ServiceMode.GLOBAL:
                label = name.rsplit(".", 1)[-1][:12]
            shown = newest.get(name) or finished.get(name)
            lines.append(f"{label}: {_task_line(shown, service, name in done)}")
    elif reason:
        lines.append(f"pending: {reason}")
    # A global service has no count to reach: before its first task exists, nothing is done.
    started = bool(wanted) or service.spec.mode is ServiceMode.REPLICATED
    ended = bool(wanted) and all(name in finished for name in wanted)
    failed = [
        t
        for t in service_tasks
        if t.status.state in (TaskState.FAILED, TaskState.REJECTED)
        and t.status.err
        and not is_dirty(t, service.spec)
    ]
    failure = max(failed, key=lambda t: t.status.timestamp).status.err if failed else ""
    converged = started and len(done) == len(wanted) and not extra
    return Progress(lines, converged, reason, ended, failure)


def _job_step(
    service: Service, listed: list[Task], screen: Screen, quiet: bool, out: TextIO, err: TextIO
) -> int | None:
    """Draw a job's progress; its exit code once it completed (0) or a task of it failed past
    its restart policy (3), else None."""
    counts = job_counts(service, listed)
    if not quiet:
        screen.draw(
            [
                f"job progress: {counts.completed}/{counts.total} completed",
                f"active tasks: {counts.running}/{counts.active} running",
            ]
        )
    if counts.failed:
        failed = [t for t in listed if t.finished and t.status.state != TaskState.COMPLETE]
        why = next((t.status.err for t in failed if t.status.err), "")
        err.write(
            f"Error: job {service.spec.name} failed: {counts.failed} task(s) failed past"
            f" their restart policy{': ' + why if why else ''}\n"
        )
        return TASKS_ENDED
    if counts.done:
        if not quiet:
            out.write("verify: Job complete\n")
        return CONVERGED
    return None


def _task_line(task: Task | None, service: Service, done: bool) -> str:
    if task is None:
        return f"{'new':<9} {_bar(0)}"
    if done:
        return f"{'running':<9} {_bar(len(_STEPS) + 1)}"
    state = task.status.state
    if state.terminal:
        return f"{state.name.lower():<9} {task.status.err or task.status.message}".rstrip()
    if state == TaskState.PENDING and task.status.err:
        return f"{'pending':<9} {task.status.err}"
    step = sum(1 for s in _STEPS if state >= s)
    if is_dirty(task, service.spec):
        return f"{'updating':<9} {_bar(0)}"
    return f"{state.name.lower():<9} {_bar(step)}"


def _bar(step: int) -> str:
    filled = BAR_WIDTH * step // (len(_STEPS) + 1)
    if filled == 0:
        return f"[>{' ' * (BAR_WIDTH - 1)}]"
    return f"[{'=' * (filled - 1)}>{' ' * (BAR_WIDTH - filled)}]"


class Screen:
    """Redraws in place on a terminal; elsewhere (a pipe, a CI log) prints lines that changed."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._tty = out.isatty()
        self._shown: list[str] = []

    def draw(self, lines: list[str]) -> None:
        if self._tty:
            if self._shown:
                self._out.write(f"\x1b[{len(self._shown)}A")
            for line in lines:
                self._out.write(f"\x1b[2K{line}\n")
        else:
            for index, line in enumerate(lines):
                if index >= len(self._shown) or self._shown[index] != line:
                    self._out.write(f"{line}\n")
        self._shown = lines
        self._out.flush()


@dataclass
class Verification:
    """docker's check that a converged service stays so: its tasks must keep running for the
    monitor period after they were first all seen running."""

    # When every task was first seen running, while they have stayed so.
    since: float | None = None

    def step(
        self, converged: bool, period: float, now: float, deadline: float
    ) -> tuple[bool, list[str]]:
        """Whether the service is verified as of now, and the line that says how it goes. The
        deadline bounds the period: tasks running until it passed count as converged."""
        if not converged:
            failed = self.since is not None
            self.since = None
            return False, ["verify: Detected task failure"] if failed else []
        self.since = now if self.since is None else self.since
        left = min(period, deadline - self.since) - (now - self.since)
        if left <= 0:
            return True, []
        return False, [
            f"verify: Waiting {math.ceil(left)} seconds to verify that tasks are stable..."
        ]


def wait(
    client: Client,
    service_id: str,
    goal: Goal,
    timeout: timedelta,
    *,
    quiet: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Follow service_id until it converges (and its update, rollback or rebalance ended well),
    its job fails, or timeout passes; Ctrl-C leaves the work to the manager.

    Converging, as docker does, is verified: every task must stay running for the service's
    update monitor period (5 s by default), so tasks that exit at once are seen to end rather
    than reported converged. A rolling update needs no such wait: it monitored each task."""
    out = out or sys.stdout
    err = err or sys.stderr
    screen = Screen(out)
    deadline = clock() + timeout.total_seconds()
    name = service_id
    verification = Verification()
    try:
        while True:
            service = client.get_service(service_id)
            name = service.spec.name
            listed = client.list_tasks(service.id).tasks
            if service.spec.mode.is_job:
                code = _job_step(service, listed, screen, quiet, out, err)
                if code is not None:
                    return code
                if clock() >= deadline:
                    err.write(
                        f"Error: job {name} did not complete within {humanize.duration(timeout)}\n"
                    )
                    return NOT_CONVERGED
                sleep(POLL_SECONDS)
                continue
            progress = measure(service, listed)
            stable, verify = progress.converged, list[str]()
            if goal is Goal.CONVERGE:
                period = service.spec.update.monitor.total_seconds()
                stable, verify = verification.step(progress.converged, period, clock(), deadline)
            if not quiet:
                screen.draw(progress.lines + verify)
            status = service.update_status
            job_over = goal is Goal.CONVERGE or not status.state.active
            if job_over and status.state in _FAILED.get(goal, set()):
                err.write(f"Error: {status.message}\n")
                return UPDATE_FAILED
            if job_over and progress.ended:
                condition = service.spec.restart.condition.name.lower().replace("_", "-")
                err.write(
                    f"Error: service {name}'s tasks have all ended, and its restart condition"
                    f" ({condition}) starts none again: for run-to-completion work use"
                    " --mode replicated-job\n"
                )
                return TASKS_ENDED
            if job_over and stable:
                if not quiet:
                    if goal is Goal.REBALANCE:
                        out.write(f"{status.message}\n")
                    out.write("verify: Service converged\n")
                return CONVERGED
            if clock() >= deadline:
                reason = progress.pending_reason or progress.failure
                why = f": {reason}" if reason else ""
                err.write(
                    f"Error: service {name} did not converge within"
                    f" {humanize.duration(timeout)}{why}\n"
                )
                return NOT_CONVERGED
            sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        err.write(
            "Operation continuing in background.\n"
            f"Use `shoal service ps {name}` to check progress.\n"
        )
        return INTERRUPTED
