"""Container to container across hosts through a cluster network, beside host to host, in the lab.

Both paths go h1 -> h3 with the same busybox tools, in one run:
  throughput  `wget -O /dev/null` of a 1 GiB file (sparse: read from memory) from busybox httpd
  latency     ping round trip (ICMP, 50 pings 20 ms apart), and a small HTTP request's round
              trip (a fresh TCP connection each, 100 in a row)
The network path: a container on h1 and one on h3, both on the network `bench`, by address (so
no NAT or name lookup is in the way: the VXLAN tunnel and the bridges are what is measured). The
host path: the same tools run in h1's and h3's own network namespaces over the lab bridge.

Run as root: .venv/bin/python -m bench.overlay (about a minute). Traffic stays on lab addresses.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.lab import Lab
from tests.lab_host import Host
from tests.waiting import SLEEPER, wait_for

IMAGE = "local/busybox:latest"
PORT = 18080
SIZE_MIB = 1024
PINGS = 50
REQUESTS = 100
# Serves /www: `big` (sparse, SIZE_MIB) and `small` (a few bytes).
SERVE = (
    f"mkdir -p /www && dd if=/dev/zero of=/www/big bs=1M count=0 seek={SIZE_MIB} 2>/dev/null"
    f" && echo ok > /www/small && exec httpd -f -p {PORT} -h /www"
)
_RTT = re.compile(r"min/avg/max = [\d.]+/([\d.]+)/")

Runner = Callable[[str], str]


def in_container(host: Host, service: str) -> Runner:
    def run(command: str) -> str:
        with host.engine() as api:
            [container] = api.containers(filters={"label": f"shoal.service.name={service}"})[:1]
            job = api.exec_create(container["Id"], ["sh", "-c", command])
            out = api.exec_start(job["Id"]).decode(errors="replace")
            if api.exec_inspect(job["Id"])["ExitCode"] != 0:
                raise RuntimeError(f"{command}: {out.strip()}")
            return str(out)

    return run


def in_host(host: Host) -> Runner:
    def run(command: str) -> str:
        done = subprocess.run(
            host.inside("busybox", "sh", "-c", command),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command}: {done.stderr.strip()}")
        return done.stdout

    return run


def timed(run: Runner, command: str) -> float:
    """Seconds the command took, less what starting a command costs on this runner."""
    began = time.perf_counter()
    run(command)
    elapsed = time.perf_counter() - began
    began = time.perf_counter()
    run("true")
    return max(elapsed - (time.perf_counter() - began), 1e-6)


def measure(client: Runner, server_addr: str) -> dict[str, float]:
    url = f"http://{server_addr}:{PORT}"
    # Once first: the ARP entries and the VXLAN forwarding entries are learned.
    client(f"wget -q -O /dev/null {url}/small")
    seconds = timed(client, f"wget -q -O /dev/null {url}/big")
    out = client(f"ping -c {PINGS} -i 0.02 -q {server_addr}")
    match = _RTT.search(out)
    if match is None:
        raise RuntimeError(f"no round trip in ping's output: {out!r}")
    loop = (
        f"i=0; while [ $i -lt {REQUESTS} ]; do wget -q -O /dev/null {url}/small; i=$((i+1)); done"
    )
    requests = timed(client, loop)
    return {
        "throughput": SIZE_MIB * 8 / 1024 / seconds,
        "ping": float(match.group(1)),
        "request": requests / REQUESTS * 1000,
    }


def network_path(lab: Lab) -> dict[str, float]:
    h1, h3 = lab.hosts[0], lab.hosts[2]

    def shoal(*args: str) -> None:
        done = lab.shoal(*args)
        if done.returncode != 0:
            raise RuntimeError(f"shoal {' '.join(args)}: {done.stderr.strip()}")

    shoal("network", "create", "bench")
    shoal(
        "service", "create", "-d", "--name", "server", "--network", "bench",
        "--constraint", "node.hostname==h3", IMAGE, "sh", "-c", SERVE,
    )  # fmt: skip
    shoal(
        "service", "create", "-d", "--name", "client", "--network", "bench",
        "--constraint", "node.hostname==h1", IMAGE, *SLEEPER,
    )  # fmt: skip
    wait_for(lambda: lab.running("server")["h3"] and lab.running("client")["h1"], "both", 60)
    with h3.engine() as api:
        [server] = api.containers(filters={"label": "shoal.service.name=server"})
        networks = api.inspect_container(server["Id"])["NetworkSettings"]["Networks"]
        address = next(iter(networks.values()))["IPAddress"]
    client = in_container(h1, "client")
    wait_for(lambda: _answers(client, address), "the server to answer", 30)
    return measure(client, address)


def host_path(lab: Lab) -> dict[str, float]:
    h1, h3 = lab.hosts[0], lab.hosts[2]
    www = lab.root / "www"
    www.mkdir()
    with (www / "big").open("wb") as big:
        big.truncate(SIZE_MIB << 20)
    (www / "small").write_text("ok\n")
    server = subprocess.Popen(
        h3.inside("busybox", "httpd", "-f", "-p", str(PORT), "-h", str(www)),
        start_new_session=True,
    )
    try:
        client = in_host(h1)
        wait_for(lambda: _answers(client, h3.addr), "the host's server to answer", 30)
        return measure(client, h3.addr)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answers(client: Runner, address: str) -> bool:
    try:
        client(f"timeout 2 wget -q -O /dev/null http://{address}:{PORT}/small")
    except RuntimeError:
        return False
    return True


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    lab = Lab(Path(tempfile.mkdtemp(prefix="shoal-bench-lab-", dir="/tmp")), size=3, heartbeat="1s")
    try:
        lab.up()
        host = host_path(lab)
        overlay = network_path(lab)
    finally:
        lab.down()
    print(f"h1 -> h3 in the lab; {SIZE_MIB} MiB by HTTP, {PINGS} pings, {REQUESTS} requests")
    print(f"{'':26} {'throughput':>12} {'ping rtt':>10} {'request rtt':>12}")
    for name, figures in (("host to host", host), ("container via network", overlay)):
        print(
            f"{name:26} {figures['throughput']:8.2f} Gb/s {figures['ping']:7.3f} ms"
            f" {figures['request']:9.3f} ms"
        )
    print(
        f"{'network / host':26} {overlay['throughput'] / host['throughput']:11.2f}x"
        f" {overlay['ping'] / host['ping']:9.2f}x {overlay['request'] / host['request']:11.2f}x"
    )


if __name__ == "__main__":
    main()
