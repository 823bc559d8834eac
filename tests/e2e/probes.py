"""What the e2e tests ask of the lab's hosts and containers: requests through the routing mesh
(from outside a host or from inside its namespace) and requests and name lookups from inside a
service's container. Replicas are busybox httpd serving their container's hostname, docker's
default: the container ID's first 12 characters."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

from tests.container_exec import run_in
from tests.lab import Lab
from tests.lab_host import REPO, Host

IMAGE = "local/busybox:latest"
# httpd as PID 1 would ignore SIGTERM and hold every stop for the 10 s grace period.
HTTPD = [
    "sh",
    "-c",
    "trap 'exit 0' TERM; mkdir -p /www && hostname > /www/index.html"
    " && httpd -f -p 80 -h /www & wait",
]
ADDRESS = re.compile(r"(\d+\.\d+\.\d+\.\d+)")


def url(host: Host, port: int = 8080) -> str:
    return f"http://{host.addr}:{port}/"


def replicas(lab: Lab, service: str) -> set[str]:
    """The hostnames of the service's running containers."""
    return {cid[:12] for ids in lab.running(service).values() for cid in ids}


def hits_from(host: Host, target: str, count: int) -> Counter[str]:
    """tests.http_probe's hits(), run inside host's network namespace."""
    done = subprocess.run(
        host.inside(sys.executable, "-m", "tests.http_probe", target, str(count)),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return Counter(json.loads(done.stdout))


def exec_in(host: Host, service: str, command: str) -> tuple[int, str]:
    """Run `sh -c command` in the service's (first) container on host: (exit code, output)."""
    with host.engine() as api:
        [container] = api.containers(filters={"label": f"shoal.service.name={service}"})[:1]
        code, out = run_in(api, container["Id"], ["sh", "-c", command])
    return code, out.decode(errors="replace")


def lookup(host: Host, service: str, name: str) -> list[str] | None:
    """The addresses busybox's nslookup gives for name from the service's container; None when
    it cannot resolve it."""
    code, out = exec_in(host, service, f"nslookup {name}")
    if code != 0:
        return None
    # Answers are the Address lines after a Name line; the first ones give the server's.
    found: list[str] = []
    named = False
    for line in out.splitlines():
        named = named or line.startswith("Name:")
        if named and line.startswith("Address"):
            found += ADDRESS.findall(line)
    return sorted(found)


def wget_loop(host: Host, service: str, target: str, count: int) -> list[str]:
    """count requests to target from the service's container on host, one answer (or
    "failed") each. busybox-static's wget crashes (exit 139) with -T: `timeout` bounds it."""
    code, out = exec_in(
        host,
        service,
        f"for i in $(seq {count}); do timeout 5 wget -qO- {target} || echo failed; done",
    )
    assert code == 0, out
    return out.split()
