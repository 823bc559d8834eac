"""The routing mesh's cost, measured in the lab: requests a second and p99 latency through the
published ingress port versus straight to the replicas' own published ports, in one run.

Three replicas, one per lab host, published with `-p 8080:80`, each running
bench/replica_server.c: a small HTTP server in C, built here (`gcc -O2 -static`) into an image
FROM scratch, whose few workers are forked once at start and each loop accept, read the request,
write a fixed response with `Connection: close`, close. No fork per connection, so the path, not
the server, is measured. wrk (from Debian) loads from a namespace of its own on the lab's bridge
(load_generator says why) with a bounded number of connections for a fixed time; the server
closes each connection, so every request is a new connection and goes through NAT anew. Both
paths load the same three replicas with the same connections, one wrk per target at once:
  mesh    http://hI:8080/ for each host -> DNAT on hI to any of the 3 (two on other hosts)
  direct  http://hI:PORT/ for each host -> the port docker published for hI's own replica
Then, to see the cost of the path alone, the service is scaled to one replica and the mesh is
asked on a host without it (every connection takes the hop to the other host), beside that
replica's own port.

Earlier versions used busybox httpd, which forks a process per connection. One loaded one
replica directly against all three through the mesh, so the direct figure was one replica's fork
rate and the ratio said more about the replica count than the path (0.98, 1.36, 5.77 in three
runs). With the same three httpd replicas on both paths, the direct path's p99 was 390-770 ms
against the mesh's 21-41 ms (70-481 ms against 14-21 ms when measured again beside this server);
httpd listens with a backlog of 9, and its replicas' namespaces counted listen-queue overflows
(4 to 219 each in one run), each one a request that waits for a TCP retransmission. With this
server (a backlog of 4096, no overflow counted), on an otherwise idle machine, the direct path's
p99 was 5-9 ms against the mesh's 4-15 ms, two to four times as many requests/s went through
either path, and mesh / direct fell from about 0.9 to 0.74-0.89 per pair: with the server out of
the way, the mesh's extra hop shows.

The lab's bridge traffic is kept out of the machine's own connection tracking meanwhile
(untracked_bridge says why).

Each pair runs `--repeat` times (direct, then mesh), and a pair's ratio is mesh / direct. The
machine's load moves these figures, so a ratio is reported only when the runs agree: the spread
of the pairs' ratios (max - min, over the smallest) within 10 %; otherwise the runs are shown
and no ratio is claimed.

Run as root: .venv/bin/python -m bench.mesh [--repeat N] [--seconds S] [--connections C]
(make bench-mesh; needs wrk and gcc with a static libc, libc6-dev). Traffic stays on the lab's
addresses.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tests.http_probe import hits
from tests.lab import Lab
from tests.lab_host import BRIDGE, SUBNET, Host, run
from tests.waiting import wait_for

# The replicas' server and image: no fork per connection (busybox httpd forks one), so that the
# path, not the server, is what is measured. It answers with its container's host name, which is
# how `balanced` tells the replicas apart.
SERVER = Path(__file__).resolve().parent / "replica_server.c"
IMAGE = "local/bench-replica:latest"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
# The lab host index of wrk's namespace (load_generator): past any lab's hosts.
CLIENT = 90
# Ratios of repeated runs must agree this closely for one to be reported.
AGREEMENT = 0.10


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


def build_image(lab: Lab) -> None:
    """SERVER compiled statically into an image FROM scratch, built on each lab host's engine as
    the lab builds its busybox image there (no registry to pull from)."""
    with tempfile.TemporaryDirectory(prefix="shoal-bench-replica-") as tmp:
        context = Path(tmp)
        run("gcc", "-O2", "-static", "-Wall", "-o", str(context / "replica-server"), str(SERVER))
        (context / "Dockerfile").write_text(
            'FROM scratch\nCOPY replica-server /replica-server\nCMD ["/replica-server"]\n'
        )
        for host in lab.hosts:
            done = subprocess.run(
                ["docker", "build", "-q", "-t", IMAGE, str(context)],
                env={**os.environ, "DOCKER_HOST": host.docker_host, "DOCKER_BUILDKIT": "0"},
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode != 0:
                raise RuntimeError(f"docker build on {host.name} failed: {done.stderr.strip()}")


@contextmanager
def untracked_bridge() -> Iterator[None]:
    """Lab traffic bridged between lab hosts left out of the machine's own connection tracking
    for the run. A dockerd in the root namespace loads br_netfilter, so every packet crossing the
    lab's bridge also goes through the root namespace's iptables and conntrack, a hop real hosts
    on a wire do not have. Each connection left an entry there for 2 minutes (TIME_WAIT): at
    10,000 requests/s the table (262,144 entries here) filled within a minute, the kernel logged
    "nf_conntrack: table full, dropping packet", runs fell to a few hundred requests/s, and the
    machine's other connections share that table. Only packets on the lab's bridge to a lab
    address other than the machine's own are left untracked; the hosts' own NAT is untouched."""
    rule = (
        "PREROUTING", "-i", BRIDGE, "-d", f"{SUBNET}.0/24", "-m", "addrtype", "!", "--dst-type",
        "LOCAL", "-m", "comment", "--comment", "shoal-bench-mesh", "-j", "CT", "--notrack",
    )  # fmt: skip
    # A run killed before its cleanup left its rule: one copy at most.
    while run("iptables", "-t", "raw", "-D", *rule, check=False).returncode == 0:
        pass
    run("iptables", "-t", "raw", "-I", *rule)
    try:
        yield
    finally:
        run("iptables", "-t", "raw", "-D", *rule, check=False)


@contextmanager
def load_generator(lab: Lab) -> Iterator[Host]:
    """A namespace of wrk's own on the lab's bridge, with TCP settings of its own. Every request
    is a new connection, the client's port then waits in TIME_WAIT for a minute, and connect()
    takes only the even ports of the range: from the machine's own namespace, four runs in a row
    to one replica left 14,000 ports waiting and fell from 2,290 to 254 requests/s, a figure of
    the client's ports, not of the path. Here those ports are reused (tcp_tw_reuse) and the whole
    range is open, and the machine's settings are left alone."""
    client = Host(CLIENT, lab.root / "wrk")
    lab.attach(client)
    try:
        for setting in ("net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65535"):
            run(*client.inside("sysctl", "-q", "-w", setting))
        yield client
    finally:
        lab.detach(client)


def load(client: Host, urls: list[str], seconds: int, connections: int) -> Figures:
    """Every url loaded at once by a wrk of its own in client's namespace, the connections
    shared out between them: the rates summed, the worst p99, the errors summed."""
    share = max(1, connections // len(urls))
    runs = [
        subprocess.Popen(
            client.inside(
                "wrk", "-t", "1", "-c", str(share), "-d", f"{seconds}s", "--latency", url
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    figures = []
    try:
        for wrk in runs:
            out, err = wrk.communicate(timeout=seconds + 60)
            if wrk.returncode != 0:
                raise RuntimeError(f"wrk failed: {err.strip()}")
            figures.append(parse_wrk(out))
    finally:
        for wrk in runs:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
    return Figures(
        sum(f.rps for f in figures), max(f.p99_ms for f in figures), sum(f.errors for f in figures)
    )


def agreed_ratio(through: list[Figures], straight: list[Figures]) -> tuple[float | None, float]:
    """The median of the pairs' mesh / direct ratios when they agree within AGREEMENT (None
    otherwise), and their spread."""
    ratios = [t.rps / s.rps for t, s in zip(through, straight, strict=True) if s.rps]
    if len(ratios) < len(through) or not ratios:
        return None, float("inf")
    spread = (max(ratios) - min(ratios)) / min(ratios)
    return (statistics.median(ratios) if spread <= AGREEMENT else None), spread


def host_port(lab: Lab, host: Host) -> int:
    """The port docker published on that host for the service's replica there."""
    (container,) = lab.running("bench")[host.name]
    with host.engine() as api:
        ports = api.inspect_container(container)["NetworkSettings"]["Ports"]
    return int(ports["80/tcp"][0]["HostPort"])


def balanced(url: str, replicas: int) -> bool:
    return len(set(hits(url, 20))) == replicas


def compare(
    client: Host, mesh: list[str], direct: list[str], repeat: int, seconds: int, connections: int
) -> tuple[list[Figures], list[Figures]]:
    for urls in (mesh, direct):
        load(client, urls, 1, connections)  # warm-up: conntrack, ARP, page cache
    through, straight = [], []
    for _ in range(repeat):
        straight.append(load(client, direct, seconds, connections))
        through.append(load(client, mesh, seconds, connections))
    return through, straight


def measure(
    lab: Lab, client: Host, repeat: int, seconds: int, connections: int
) -> dict[str, list[Figures]]:
    create = lab.shoal(
        "service", "create", "-d", "--name", "bench", "--replicas", "3", "-p", "8080:80", IMAGE
    )  # fmt: skip
    assert create.returncode == 0, create.stderr
    wait_for(lambda: all(len(ids) == 1 for ids in lab.running("bench").values()), "3 replicas")
    meshes = [f"http://{host.addr}:8080/" for host in lab.hosts]
    for url in meshes:
        wait_for(partial(balanced, url, 3), f"{url} to reach all 3 replicas")
    direct = [f"http://{host.addr}:{host_port(lab, host)}/" for host in lab.hosts]
    results: dict[str, list[Figures]] = {}
    results["mesh"], results["direct"] = compare(
        client, meshes, direct, repeat, seconds, connections
    )

    assert lab.shoal("service", "scale", "-d", "bench=1").returncode == 0
    wait_for(lambda: sum(len(ids) for ids in lab.running("bench").values()) == 1, "1 replica")
    holder = next(h for h in lab.hosts if lab.running("bench")[h.name])
    elsewhere = next(h for h in lab.hosts if h is not holder)
    mesh = f"http://{elsewhere.addr}:8080/"
    wait_for(partial(balanced, mesh, 1), "the mesh to reach the one replica")
    alone = f"http://{holder.addr}:{host_port(lab, holder)}/"
    one = compare(client, [mesh], [alone], repeat, seconds, connections)
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
    if shutil.which("gcc") is None or not Path("/usr/include/stdio.h").exists():
        raise SystemExit(
            "bench.mesh builds its replica server with gcc: apt-get install gcc libc6-dev"
            " (or scripts/deps.sh gcc libc6-dev)"
        )
    lab = Lab(Path(tempfile.mkdtemp(prefix="shoal-bench-lab-", dir="/tmp")), size=3, heartbeat="1s")
    try:
        lab.up()
        build_image(lab)
        with untracked_bridge(), load_generator(lab) as client:
            results = measure(lab, client, args.repeat, args.seconds, args.connections)
    finally:
        lab.down()
    print(
        f"median of {args.repeat} run(s) of {args.seconds} s; wrk, {args.connections} connections,"
        " a new connection per request, from a namespace of its own; 3 replicas"
        " (bench/replica_server.c, pre-forked, no fork per connection) on 3 lab hosts, the same"
        " for both paths"
    )
    print(f"{'':34} {'requests/s':>11} {'p99':>9} {'errors':>7}  each run (requests/s)")
    for name, runs in results.items():
        rps = statistics.median(r.rps for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        each = " ".join(f"{r.rps:.0f}" for r in runs)
        print(f"{name:34} {rps:11.0f} {p99:7.2f}ms {sum(r.errors for r in runs):7}  {each}")
    pairs = (
        ("mesh / direct throughput (goal >= 0.9)", "mesh", "direct"),
        (
            "the path alone (1 replica, one more host on the way)",
            "mesh, 1 replica, via another host",
            "direct, that replica",
        ),
    )
    for label, through, straight in pairs:
        ratio, spread = agreed_ratio(results[through], results[straight])
        if ratio is None:
            print(f"{label}: no ratio, the runs disagree (spread {spread:.0%} > {AGREEMENT:.0%})")
        else:
            print(f"{label}: {ratio:.2f} (runs within {spread:.0%})")


if __name__ == "__main__":
    main()
