"""Everyday use, as a new user meets it (issue 23): startup failures are Shoal's one line, and a
service whose tasks finish does not leave `service create` waiting for its timeout."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from tests.integration.cluster import BIN, Cluster


def test_manager_on_a_port_in_use_says_one_line(tmp_path: Path) -> None:
    """No line of gRPC's own logger before Shoal's error, and exit code 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                str(BIN / "manager"), "serve", "--listen", f"127.0.0.1:{port}",
                "--state-dir", str(tmp_path / "state"), "--no-routing-mesh",
            ],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: the address is in use or not on this host"
        " (--log-level debug shows gRPC's detail)"
    ]


def test_create_stops_waiting_once_every_task_completed(cluster: Cluster) -> None:
    """Two tasks that exit 0 under on-failure: create shows them complete and exits 3 at once
    with the reason, well before its timeout."""
    started = time.monotonic()
    result = cluster.shoal(
        "service", "create", "--name", "done", "--replicas", "2",
        "--restart-condition", "on-failure", "--timeout", "60s",
        "local/busybox:latest", "true",
        timeout=90,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    try:
        assert result.code == 3, result.err
        assert result.err.splitlines() == [
            "Error: service done's tasks have all ended, and its restart condition (on-failure)"
            " starts none again: for run-to-completion work use --mode replicated-job"
        ]
        assert "complete" in result.out
        assert elapsed < 50, f"waited {elapsed:.0f} s"
        states = {t["CurrentState"].split()[0] for t in cluster.ok(
            "service", "ps", "done", "--format", "json"
        ).json_lines()}  # fmt: skip
        assert states == {"Complete"}
    finally:
        cluster.shoal("service", "rm", "done")
