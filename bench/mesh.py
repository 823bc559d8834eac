"""The routing mesh's cost, measured in the lab: requests a second and p99 latency through a
published ingress port versus straight to one replica's own published port, in one run.

Three busybox httpd replicas, one per lab host, published with `-p 8080:80`. wrk (from Debian)
loads from the root namespace with a bounded number of connections for a fixed time; httpd
closes each connection, so every request is a new connection and goes through NAT anew:
  mesh    http://h1:8080/  -> DNAT on h1 to any of the 3 (two of them on other hosts, SNATed)
  direct  http://h2:PORT/  -> the port docker published for h2's replica (docker's own DNAT)
Then, to see the cost of the path alone, the service is scaled to one replica and the mesh is
asked on a host without it (every connection takes the hop to the other host), beside that
replica's own port. Each pair alternates, `--repeat` times; medians are printed with ratios.

Run as root: .venv/bin/python -m bench.mesh [--repeat N] [--seconds S] [--connections C]
(make bench-mesh). Traffic stays on the lab's addresses.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tests.http_probe import hits
from tests.lab import Lab
from tests.lab_host import Host
from tests.waiting import wait_for

IMAGE = "local/busybox:latest"
HTTPD = (
    "sh",
    "-c",
    "trap 'exit 0' TERM; mkdir -p /www && hostname > /www/index.html"
    " && httpd -f -p 80 -h /www & wait",
)
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class Figures:
    rps: float
    p99_ms: float
    errors: int


def parse_wrk(output: str) -> Figures:
    """wrk --latency's summary: Requests/sec, the 99% line, and any socket errors or non-2xx."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if rps is None or p99 is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return Figures(float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)], errors)


def load(url: str, seconds: int, connections: int) -> Figures:
    done = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return parse_wrk(done.stdout)


def host_port(lab: Lab, host: Host) -> int:
    """The port docker published on that host for the service's replica there."""
    (container,) = lab.running("bench")[host.name]
    with host.engine() as api:
        ports = api.inspect_container(container)["NetworkSettings"]["Ports"]
    return int(ports["80/tcp"][0]["HostPort"])


def balanced(url: str, replicas: int) -> bool:
    return len(set(hits(url, 20))) == replicas


def compare(
    mesh: str, direct: str, repeat: int, seconds: int, connections: int
) -> tuple[list[Figures], list[Figures]]:
    for url in (mesh, direct):
        load(url, 1, connections)  # warm-up: conntrack, ARP, page cache
    through, straight = [], []
    for _ in range(repeat):
        straight.append(load(direct, seconds, connections))
        through.append(load(mesh, seconds, connections))
    return through, straight


def measure(lab: Lab, repeat: int, seconds: int, connections: int) -> dict[str, list[Figures]]:
    create = lab.shoal(
        "service", "create", "-d", "--name", "bench", "--replicas", "3", "-p", "8080:80",
        IMAGE, *HTTPD,
    )  # fmt: skip
    assert create.returncode == 0, create.stderr
    wait_for(lambda: all(len(ids) == 1 for ids in lab.running("bench").values()), "3 replicas")
    h1, h2 = lab.hosts[0], lab.hosts[1]
    mesh = f"http://{h1.addr}:8080/"
    wait_for(partial(balanced, mesh, 3), "the mesh to reach all 3 replicas")
    results: dict[str, list[Figures]] = {}
    direct = f"http://{h2.addr}:{host_port(lab, h2)}/"
    results["mesh"], results["direct"] = compare(mesh, direct, repeat, seconds, connections)

    assert lab.shoal("service", "scale", "-d", "bench=1").returncode == 0
    wait_for(lambda: sum(len(ids) for ids in lab.running("bench").values()) == 1, "1 replica")
    holder = next(h for h in lab.hosts if lab.running("bench")[h.name])
    elsewhere = next(h for h in lab.hosts if h is not holder)
    mesh = f"http://{elsewhere.addr}:8080/"
    wait_for(partial(balanced, mesh, 1), "the mesh to reach the one replica")
    direct = f"http://{holder.addr}:{host_port(lab, holder)}/"
    one = compare(mesh, direct, repeat, seconds, connections)
    results["mesh, 1 replica, via another host"], results["direct, that replica"] = one
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench.mesh needs wrk: apt-get install wrk (or scripts/deps.sh wrk)")
    lab = Lab(Path(tempfile.mkdtemp(prefix="shoal-bench-lab-", dir="/tmp")), size=3, heartbeat="1s")
    try:
        lab.up()
        results = measure(lab, args.repeat, args.seconds, args.connections)
    finally:
        lab.down()
    print(
        f"median of {args.repeat} run(s) of {args.seconds} s; wrk, {args.connections} connections,"
        " a new connection per request; 3 httpd replicas on 3 lab hosts"
    )
    print(f"{'':34} {'requests/s':>11} {'p99':>9} {'errors':>7}")
    medians = {}
    for name, runs in results.items():
        rps = statistics.median(r.rps for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        medians[name] = rps
        print(f"{name:34} {rps:11.0f} {p99:7.2f}ms {sum(r.errors for r in runs):7}")
    print(f"mesh / direct throughput: {medians['mesh'] / medians['direct']:.2f} (goal >= 0.9)")
    alone = medians["mesh, 1 replica, via another host"] / medians["direct, that replica"]
    print(f"the path alone (1 replica, one more host on the way): {alone:.2f}")


if __name__ == "__main__":
    main()
