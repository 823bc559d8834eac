"""`bench.scale` end to end at a size the suite can afford: a real manager on the test engine
and hollow processes, every phase run, and a table with a figure in every row. The figures
themselves are not judged: they are the benchmark's to print."""

from __future__ import annotations

import math
import subprocess
import sys

import docker

NODES = 20
TASKS = 200
ROWS = (
    "join + Ready",
    "idle manager CPU",
    f"burst {TASKS} tasks",
    "lose 1 nodes: down",
    "tasks running elsewhere",
    "restart the manager: all back",
    "healthy nodes marked down",
    "a hollow node",
)


def test_the_scale_benchmark_runs_every_phase_and_prints_its_table(
    engine: docker.APIClient,
) -> None:
    argv = [sys.executable, "-m", "bench.scale", "--sizes", str(NODES), "--tasks", str(TASKS)]
    argv += ["--per-process", "10", "--idle-window", "1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout.split(f"Shoal at scale, {NODES} nodes", 1)[1].splitlines()
    for row in ROWS:
        line = next((line for line in table if line.strip().startswith(row)), None)
        assert line is not None, f"no row {row!r} in:\n{done.stdout}"
        figure = line.strip().removeprefix(row).split()[0]
        assert math.isfinite(float(figure.replace(",", ""))), line
    assert "Nomad C1M" in done.stdout
