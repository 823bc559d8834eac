"""How fast each StateStore backend commits: SQLite (a file in a temporary dir, fsync on every
commit) and etcd (one member of its own on loopback, its own fsync), side by side.

Two loads, one after the other, each on a fresh store: N commits of one object each (a task's
status, the commonest write), then N / 10 commits of 100 objects each (a placement pass). A
commit is timed from the call to its return, when it is durable and back in memory.

Run: `make bench-store` (BENCH_ARGS="--commits 2000"), or .venv/bin/python -m bench.store
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from common.model import ContainerSpec, Meta, Task, TaskState, TaskStatus, now
from manager.store import EtcdStore, Put, SqliteStore, StateStore
from tests.etcd_member import etcd_member

BATCH = 100


@dataclass(frozen=True)
class Figures:
    commits_per_s: float
    p50_ms: float
    p99_ms: float
    batch_objects_per_s: float


def _task(task_id: str) -> Task:
    spec = ContainerSpec(image="local/busybox:latest", args=("sleep", "1000"))
    return Task(
        id=task_id, service_id="bench", service_name="bench", slot=1, spec=spec, meta=Meta()
    )


async def _measure(store: StateStore, commits: int) -> Figures:
    [task] = await store.commit([Put(_task("single"))])
    assert isinstance(task, Task)
    latencies: list[float] = []
    started = time.perf_counter()
    for i in range(commits):
        status = TaskStatus(state=TaskState.RUNNING, timestamp=now(), message=str(i))
        begun = time.perf_counter()
        [stored] = await store.commit([Put(replace(task, status=status))])
        latencies.append(time.perf_counter() - begun)
        assert isinstance(stored, Task)
        task = stored
    single = time.perf_counter() - started
    batches = max(1, commits // 10)
    started = time.perf_counter()
    for b in range(batches):
        await store.commit([Put(_task(f"b{b}-{i}")) for i in range(BATCH)])
    batched = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return Figures(
        commits_per_s=commits / single,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        batch_objects_per_s=batches * BATCH / batched,
    )


async def _run(open_store: Callable[[], Awaitable[StateStore]], commits: int) -> Figures:
    store = await open_store()
    try:
        return await _measure(store, commits)
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=500, help="one-object commits per backend")
    args = parser.parse_args(argv)
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory(prefix="shoal-bench-store-") as tmp:
        path = Path(tmp) / "state.db"
        results["sqlite"] = asyncio.run(_run(lambda: SqliteStore.open(path), args.commits))
        with etcd_member(Path(tmp) / "etcd") as endpoint:
            results["etcd"] = asyncio.run(
                _run(lambda: EtcdStore.open([endpoint], "/bench"), args.commits)
            )
    print(f"{args.commits} one-object commits, then {max(1, args.commits // 10)} of {BATCH}:")
    print(f"{'':22}{'sqlite':>12}{'etcd':>12}")
    rows = [
        ("commits/s (1 object)", "commits_per_s", "{:12.0f}"),
        ("commit p50 (ms)", "p50_ms", "{:12.2f}"),
        ("commit p99 (ms)", "p99_ms", "{:12.2f}"),
        (f"objects/s ({BATCH}/commit)", "batch_objects_per_s", "{:12.0f}"),
    ]
    for label, attr, fmt in rows:
        cells = "".join(fmt.format(getattr(results[b], attr)) for b in ("sqlite", "etcd"))
        print(f"{label:22}{cells}")


if __name__ == "__main__":
    main()
