"""`shoal events` against real daemons: a service's life as three lines, then a clean Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from datetime import UTC, datetime

from tests.integration.cluster import BIN, DEADLINE, Cluster
from tests.waiting import SLEEPER, wait_for

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


def test_service_events_until_ctrl_c(cluster: Cluster) -> None:
    """create, update and remove each print their line, in order; SIGINT ends it with 0."""
    # --since: whatever the command's start-up takes, no event before it subscribed is missed.
    since = datetime.now(UTC).isoformat()
    watcher = subprocess.Popen(
        [str(BIN / "shoal"), "events", "--filter", "type=service", "--since", since],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
    )
    lines: list[str] = []
    assert watcher.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(watcher.stdout or ()), daemon=True)
    reader.start()
    try:
        create = ["service", "create", "-d", "--name", "watched", "local/busybox:latest", *SLEEPER]
        service_id = cluster.ok(*create).out.strip()
        cluster.ok("service", "scale", "-d", "watched=2")
        cluster.ok("service", "rm", "watched")
        wait_for(lambda: len(lines) >= 3, "three service events", timeout=DEADLINE)
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=DEADLINE)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    reader.join(DEADLINE)
    assert watcher.stderr is not None
    err = watcher.stderr.read()
    expected = [
        f"service create {service_id} (name=watched)",
        f"service update {service_id} (name=watched, replicas.old=1, replicas.new=2)",
        f"service remove {service_id} (name=watched)",
    ]
    assert len(lines) == 3, lines
    for line, rest in zip(lines, expected, strict=True):
        assert re.fullmatch(f"{TIME} {re.escape(rest)}\n", line), line
    assert (watcher.returncode, err) == (0, "")
    wait_for(lambda: not cluster.containers("watched", running=False), "watched's containers to go")


def test_since_before_the_manager_started_shows_what_it_kept(cluster: Cluster) -> None:
    """`--since 1h` on a manager started minutes ago: one line on stderr says where its history
    begins, and the events it kept follow on stdout (it used to refuse outright)."""
    service_id = cluster.ok(
        "service", "create", "-d", "--name", "kept", "local/busybox:latest", *SLEEPER
    ).out.strip()  # fmt: skip
    watcher = subprocess.Popen(
        [str(BIN / "shoal"), "events", "--filter", "service=kept", "--since", "1h"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
    )
    try:
        assert watcher.stdout is not None
        assert watcher.stderr is not None
        first = watcher.stdout.readline()
        assert re.fullmatch(f"{TIME} service create {service_id} \\(name=kept\\)\n", first)
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=DEADLINE)
        err = watcher.stderr.read()
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0
    assert re.fullmatch(
        f"events before {TIME} are no longer kept \\(the manager keeps those since it started,"
        " up to a limit\\): showing the events from then on\n",
        err,
    ), err
    cluster.ok("service", "rm", "kept")
    wait_for(lambda: not cluster.containers("kept", running=False), "kept's containers to go")
