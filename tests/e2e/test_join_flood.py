"""The open join port flooded from another lab host (issue 12): 32 clients on h2 call GetCA in a
loop for 20 s at the manager on h1. No node leaves Ready, and h3, joining again meanwhile from
its own address, is Ready within 10 s of starting."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from common import identity
from tests.lab import Lab
from tests.lab_host import PORT, REPO
from tests.waiting import wait_for

CLIENTS = 32
FLOOD_SECONDS = 20.0
JOIN_WITHIN = 10.0


def test_a_flood_from_one_host_downs_no_node_and_a_join_still_succeeds(lab: Lab) -> None:
    h1, h2, h3 = lab.hosts
    join_port = f"{h1.addr}:{PORT + 1}"
    flood = subprocess.Popen(
        h2.inside(sys.executable, "-m", "tests.integration.flood", join_port,
                  str(FLOOD_SECONDS), str(CLIENTS)),
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    seen: dict[str, set[str]] = {}

    def look() -> dict[str, str]:
        states = {name: node["Status"] for name, node in lab.nodes().items()}
        for name, state in states.items():
            seen.setdefault(name, set()).add(state)
        return states

    try:
        started = time.monotonic()
        # The flood at full speed first; then h3 leaves and joins again as a new node.
        while time.monotonic() - started < 3:
            look()
        lab.kill_daemon(h3)
        assert lab.shoal("node", "rm", "--force", h3.name).returncode == 0
        identity.forget(h3.state_dir)
        joining = time.monotonic()
        lab.start_agent(h3)
        wait_for(lambda: look().get(h3.name) == "Ready", "h3 Ready again", JOIN_WITHIN)
        assert time.monotonic() - joining <= JOIN_WITHIN
        while flood.poll() is None:
            look()
        out, _ = flood.communicate(timeout=30)
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
        wait_for(lambda: lab.ready_nodes() == lab.size, "the lab whole again", 60)
    counts = json.loads(out)
    assert counts.get("RESOURCE_EXHAUSTED", 0) > counts.get("OK", 0), counts
    assert seen[h1.name] == seen[h2.name] == {"Ready"}, f"{seen} (flood: {counts})"
