"""The cluster the fake Control is seeded with: two nodes, two services and their tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common import model as m
from tests.unit.cli.fake_control import FakeControl

WEB_ID = "a1b2c3d4e5f6g7h8i9j0k1l2m"


MONITOR_ID = "z9y8x7w6v5u4t3s2r1q0p9o8n"


MANAGER_NODE = "node1manager0000000000000"


WORKER_NODE = "node2worker00000000000000"


MONITOR_ON_MANAGER = "taskmon1000000000000000ee"


MONITOR_ON_WORKER = "taskmon2000000000000000ff"


JOINED = datetime(2024, 5, 16, 22, 52, 44, 991066, tzinfo=UTC)


CLUSTER_ID = "cluster1"


LIFETIME = timedelta(days=1)


def seed(fake: FakeControl) -> None:
    """Two services (web: replicated, 3 slots with history; monitor: global, one task on each
    node) on two nodes (manager-1, the one that answers, with labels and resources; worker-1,
    down, without)."""
    now = m.now()

    def ago(delta: timedelta) -> m.Meta:
        return m.Meta(version=1, created_at=now - delta, updated_at=now - delta)

    web = m.Service(
        id=WEB_ID,
        spec=m.ServiceSpec(
            name="web",
            container=m.ContainerSpec(image="nginx:1.25", args=("nginx", "-g", "daemon off;")),
            labels={"tier": "front"},
            replicas=3,
        ),
        meta=m.Meta(version=7, created_at=now - timedelta(days=1), updated_at=now),
        previous_spec=m.ServiceSpec(name="web", container=m.ContainerSpec(image="nginx:1.24")),
    )
    monitor = m.Service(
        id=MONITOR_ID,
        spec=m.ServiceSpec(
            name="monitor",
            container=m.ContainerSpec(image="prom/node-exporter"),
            mode=m.ServiceMode.GLOBAL,
        ),
        meta=m.Meta(version=2),
    )
    fake.services = {web.id: web, monitor.id: monitor}
    fake.counts = {web.id: (2, 3), monitor.id: (2, 2)}

    def web_task(
        task_id: str, slot: int, age: timedelta, node_id: str, state: m.TaskState, err: str = ""
    ) -> m.Task:
        desired = m.TaskState.RUNNING if state <= m.TaskState.RUNNING else m.TaskState.SHUTDOWN
        return m.Task(
            id=task_id,
            service_id=WEB_ID,
            service_name="web",
            slot=slot,
            spec=web.spec.container,
            meta=ago(age),
            node_id=node_id,
            desired_state=desired,
            status=m.TaskStatus(state=state, timestamp=now - age, err=err),
        )

    def monitor_task(task_id: str, node_id: str) -> m.Task:
        return m.Task(
            id=task_id,
            service_id=MONITOR_ID,
            service_name="monitor",
            slot=0,
            spec=monitor.spec.container,
            meta=ago(timedelta(hours=2)),
            node_id=node_id,
            status=m.TaskStatus(state=m.TaskState.RUNNING, timestamp=now - timedelta(hours=2)),
        )

    fake.tasks = [
        web_task("task1old0000000000000000a", 1, timedelta(minutes=40.5), WORKER_NODE,
                 m.TaskState.FAILED, "task: non-zero exit (137): killed by the kernel"),
        web_task("task1new0000000000000000b", 1, timedelta(minutes=3.5), MANAGER_NODE,
                 m.TaskState.RUNNING),
        web_task("task2000000000000000000cc", 2, timedelta(minutes=3.5), "vanished",
                 m.TaskState.RUNNING),
        web_task("task3000000000000000000dd", 3, timedelta(minutes=3.5), "",
                 m.TaskState.PENDING, "no suitable node (insufficient memory on 2 nodes)"),
        monitor_task(MONITOR_ON_MANAGER, MANAGER_NODE),
        monitor_task(MONITOR_ON_WORKER, WORKER_NODE),
    ]  # fmt: skip
    fake.nodes = [
        m.Node(
            id=WORKER_NODE,
            meta=m.Meta(version=4, created_at=JOINED, updated_at=JOINED),
            role=m.NodeRole.WORKER,
            availability=m.Availability.DRAIN,
            state=m.NodeState.DOWN,
            message="heartbeat failure",
            description=m.NodeDescription(hostname="worker-1", engine_version="27.3.1"),
        ),
        m.Node(
            id=MANAGER_NODE,
            meta=m.Meta(version=12, created_at=JOINED, updated_at=now),
            role=m.NodeRole.MANAGER,
            availability=m.Availability.ACTIVE,
            state=m.NodeState.READY,
            description=m.NodeDescription(
                hostname="manager-1",
                engine_version="28.0.0",
                resources=m.Resources(nano_cpus=4_000_000_000, memory_bytes=8_271_880_192),
                os="linux",
                arch="x86_64",
                version="0.2.0",
                protocol=2,
            ),
            addr="10.0.0.1",
            labels={"zone": "eu-1", "ssd": ""},
        ),
    ]
    fake.self_node_id = MANAGER_NODE
    fake.manager_status = {
        MANAGER_NODE: m.ManagerStatus(
            leader=True, reachability=m.Reachability.REACHABLE, addr="10.0.0.1:7462"
        )
    }
