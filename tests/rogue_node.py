"""A rogue node in the lab: tests/rogue.py's client as a process inside a lab host's network
namespace, so its session comes from that host's address as a real agent's would.

`nsenter --net=/run/netns/NS python -m tests.rogue_node MANAGER TOKEN HOSTNAME` joins with the
worker token, opens a session, waits for its own live task and its network slice, and prints
them as one JSON line: {"node_id", "task_id", "network_id", "slice"}. Then each line it reads
is a report to send for that task, {"container", "addresses": {network: address}, "ports":
[[host_port, container_ip]...]}, answered by {"sent": container}. It closes its session when
its input ends. It starts no container and sends nothing but its session.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from common.model import TaskState
from tests.rogue import Rogue, binding, description, status

READY_WITHIN = 60.0


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def ready(node: Rogue) -> None:
    """Until the node has a task wanted running and its part of a network."""
    deadline = time.monotonic() + READY_WITHIN
    while not (
        node.network_view is not None
        and node.network_view.networks
        and any(t.desired_state == TaskState.RUNNING for t in node.tasks.values())
    ):
        if node.ended is not None or time.monotonic() > deadline:
            raise SystemExit(f"no task and network for the rogue node (session: {node.ended})")
        await asyncio.sleep(0.05)


async def main(manager: str, token: str, hostname: str) -> None:
    node = await Rogue.join(token, manager, hostname)
    await node.open(description(hostname))
    try:
        await ready(node)
        assert node.network_view is not None
        network = node.network_view.networks[0]
        [task] = [t for t in node.tasks.values() if t.desired_state == TaskState.RUNNING]
        say(node_id=node.node_id, task_id=task.id, network_id=network.id, slice=network.slice)
        while line := await asyncio.to_thread(sys.stdin.readline):
            report = json.loads(line)
            ports = [binding(port, ip) for port, ip in report.get("ports", [])]
            crafted = status(
                container=report["container"], addresses=report.get("addresses"), ports=ports
            )
            await node.report((task.id, crafted))
            say(sent=report["container"])
    finally:
        await node.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
