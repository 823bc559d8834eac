"""`shoal service logs` on a real engine: a manager and two agents, busybox tasks that print."""

from __future__ import annotations

import signal
import subprocess
import threading
from typing import Any

from tests.integration.cluster import BIN, DEADLINE, Cluster
from tests.waiting import wait_for

# Prints its lines at once, then waits quietly; stops at once on SIGTERM.
PRINTER = 'for i in 1 2 3 4 5; do echo "line $i"; done; echo oops >&2; {rest}'
QUIET = "trap 'exit 0' TERM; sleep 100000 & wait"


def _create(cluster: Cluster, name: str, replicas: int, script: str) -> None:
    argv = ["service", "create", "-d", "--name", name, "--replicas", str(replicas)]
    cluster.ok(*argv, "local/busybox:latest", "sh", "-c", script)
    wait_for(lambda: cluster.running(name, replicas), f"{replicas} running containers of {name}")


def _remove(cluster: Cluster, name: str) -> None:
    cluster.ok("service", "rm", name)
    wait_for(lambda: not cluster.containers(name, running=False), f"{name}'s containers to go")


def _prefixes(cluster: Cluster, name: str) -> dict[str, str]:
    """Task ID -> the prefix of its lines, from what `service ps` says of it."""
    return {
        t["ID"]: f"{t['Name']}.{t['ID'][:12]}@{t['Node']}    | "
        for t in cluster.tasks(name)
        if t["CurrentState"].startswith("Running")
    }


def _complete(prefixes: dict[str, str], count: int) -> dict[str, str] | None:
    return prefixes if len(prefixes) == count else None


def _other(containers: list[dict[str, Any]], container_id: str) -> dict[str, Any] | None:
    return next((c for c in containers if c["Id"] != container_id), None)


def _lines_of(out: str, prefix: str) -> list[str]:
    return [line.removeprefix(prefix) for line in out.splitlines() if line.startswith(prefix)]


class Follower:
    """`shoal service logs -f` as a process, its stdout read on a thread as it comes."""

    def __init__(self, cluster: Cluster, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(BIN / "shoal"), "service", "logs", "-f", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cluster.env,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def line_ending(self, text: str) -> str:
        return wait_for(
            lambda: next((line for line in self.lines if line.endswith(text)), None),
            f"a followed line ending {text!r}",
            timeout=DEADLINE,
        )

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C, as a user stops following; the exit code and what went to stderr."""
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=DEADLINE)
        return self.proc.returncode, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=DEADLINE)


class TestServiceLogs:
    def test_lines_of_tasks_on_every_node_with_their_prefixes(self, cluster: Cluster) -> None:
        """3 tasks, one per node: each task's 5 stdout lines in order after its prefix, and
        its stderr line on stderr."""
        _create(cluster, "talk", 3, PRINTER.format(rest=QUIET))
        prefixes = wait_for(
            lambda: p if len(p := _prefixes(cluster, "talk")) == 3 else None, "3 tasks"
        )
        assert {p.split("@")[1] for p in prefixes.values()} == {
            "it-manager    | ",
            "it-agent-1    | ",
            "it-agent-2    | ",
        }

        seen: list[Any] = []

        def complete() -> Any:
            result = cluster.shoal("service", "logs", "talk")
            seen.append(result)
            # The engine copies stderr on a thread of its own: it may log oops after the rest.
            oops = sum(1 for line in result.err.splitlines() if line.endswith("| oops"))
            return result if len(result.out.splitlines()) == 15 and oops == 3 else None

        try:
            result = wait_for(complete, "all 18 lines")
        except AssertionError as exc:
            # What the last try printed says which node's lines were missing, and why.
            last = seen[-1] if seen else None
            raise AssertionError(f"{exc}; last try: {last!r}") from None
        assert result.code == 0, result.err
        for prefix in prefixes.values():
            assert _lines_of(result.out, prefix) == [f"line {i}" for i in range(1, 6)]
            assert _lines_of(result.err, prefix) == ["oops"]

        tail = cluster.ok("service", "logs", "--tail", "3", "talk")
        for prefix in prefixes.values():
            # The last 3 lines of both streams together. The engine copies stdout and stderr
            # on two threads, so where oops falls among the lines varies from run to run.
            out, err = _lines_of(tail.out, prefix), _lines_of(tail.err, prefix)
            assert len(out) + len(err) == 3
            assert out == [f"line {i}" for i in range(6 - len(out), 6)]
        _remove(cluster, "talk")

    def test_unknown_service_is_one_line_and_exit_1(self, cluster: Cluster) -> None:
        result = cluster.shoal("service", "logs", "nope")
        assert (result.code, result.err) == (1, "Error: no such service or task: nope\n")

    def test_follow_sees_the_replacement_of_a_killed_task(self, cluster: Cluster) -> None:
        """-f shows a task's lines, then, once its container is killed, the lines of the task
        that replaces it; Ctrl-C ends the command cleanly."""
        # A container's hostname is its short ID: each incarnation says which it is.
        _create(cluster, "phoenix", 1, 'echo "up in $(hostname)"; ' + QUIET)
        [first] = cluster.containers("phoenix")
        follower = Follower(cluster, "phoenix")
        try:
            line = follower.line_ending(f"| up in {first['Id'][:12]}")
            assert line.startswith("phoenix.1.")
            cluster.engine.kill(first["Id"])
            replacement = wait_for(
                lambda: next(
                    (c for c in cluster.containers("phoenix") if c["Id"] != first["Id"]), None
                ),
                "a replacement container",
            )
            follower.line_ending(f"| up in {replacement['Id'][:12]}")
            code, err = follower.interrupt()
            assert code == 0, err
            assert "Traceback" not in err
        finally:
            follower.kill()
        _remove(cluster, "phoenix")
