"""The mesh's netfilter side on the real kernel, in a network namespace of its own: the rules
iptables-restore accepts, foreign rules left as they were, connections really redirected, and
nothing left once removed. No Docker engine involved."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.mesh.netfilter import Netfilter
from agent.mesh.rules import INGRESS_CHAIN, SERVICE_PREFIX
from agent.mesh.sync import MeshSync
from common.mesh_view import IngressBackend, IngressPort
from common.model import PortProtocol
from tests.http_probe import FAILED
from tests.waiting import wait_for

ADDR = "10.250.0.1"
FOREIGN = ["-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "9", "-j", "ACCEPT"]


def run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"
    return done.stdout


@pytest.fixture
def netns() -> Iterator[str]:
    """A namespace with one local address, and a rule and a chain of someone
    else's in its nat table."""
    name = f"shoal-it-mesh-{os.getpid()}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        # A veth pair kept inside: this kernel has no dummy links.
        run("ip", "-n", name, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        run("ip", "-n", name, "addr", "add", f"{ADDR}/24", "dev", "d0")
        run("ip", "-n", name, "link", "set", "d0", "up")
        run("ip", "-n", name, "link", "set", "d1", "up")
        inside = ("nsenter", f"--net=/run/netns/{name}")
        run(*inside, "iptables", *FOREIGN)
        run(*inside, "iptables", "-t", "nat", "-N", "USER-CHAIN")
        run(*inside, "iptables", "-t", "nat", "-A", "USER-CHAIN", "-j", "RETURN")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


def save(netns: str) -> list[str]:
    out = run("nsenter", f"--net=/run/netns/{netns}", "iptables-save")
    return [line for line in out.splitlines() if not line.startswith("#")]


def port(
    published: int, *host_ports: int, protocol: PortProtocol = PortProtocol.TCP
) -> IngressPort:
    """A port whose backends are "remote" tasks at ADDR (this namespace's own address)."""
    return IngressPort(
        "svc",
        published,
        protocol,
        tuple(IngressBackend(f"t{p}", "elsewhere", ADDR, p, "", 80) for p in host_ports),
    )


async def write(ingress: MeshSync, *ports: IngressPort) -> None:
    ingress.apply(ports, (), full=True)
    before = ingress.writes
    runner = asyncio.create_task(ingress.run())
    try:
        while ingress.writes == before:
            assert not runner.done(), runner
            await asyncio.sleep(0.01)
    finally:
        runner.cancel()


async def test_rules_are_accepted_and_foreign_ones_kept(netns: str) -> None:
    ingress = MeshSync("n1", Netfilter(["nsenter", f"--net=/run/netns/{netns}"]))
    udp = port(5353, 9002, protocol=PortProtocol.UDP)
    await asyncio.wait_for(write(ingress, port(8080, 9000, 9001), udp), 30)
    rules = save(netns)
    assert "-A PREROUTING -p tcp -m tcp --dport 9 -j ACCEPT" in rules
    assert "-A USER-CHAIN -j RETURN" in rules
    first = next(r for r in rules if r.startswith("-A PREROUTING"))
    assert first.endswith(f"-j {INGRESS_CHAIN}")
    assert sum(SERVICE_PREFIX in r and "DNAT" in r for r in rules) == 3
    assert any("-p udp -m udp --dport 5353" in r for r in rules)

    # The UDP port goes: its chain is deleted, the rest rewritten in place.
    await asyncio.wait_for(write(ingress, port(8080, 9000)), 30)
    rules = save(netns)
    assert not any("5353" in r for r in rules)
    assert sum(SERVICE_PREFIX in r and "DNAT" in r for r in rules) == 1

    await asyncio.wait_for(ingress.remove(), 30)
    rules = save(netns)
    assert not any("SHOAL" in r for r in rules)
    assert "-A PREROUTING -p tcp -m tcp --dport 9 -j ACCEPT" in rules
    assert "-A USER-CHAIN -j RETURN" in rules


async def test_a_restart_finds_and_drops_what_an_earlier_run_left(netns: str) -> None:
    tables = Netfilter(["nsenter", f"--net=/run/netns/{netns}"])
    await asyncio.wait_for(write(MeshSync("n1", tables), port(8080, 9000), port(8081, 9001)), 30)
    await asyncio.wait_for(write(MeshSync("n1", tables), port(8081, 9001)), 30)
    rules = save(netns)
    assert not any("8080" in r for r in rules)
    assert sum(SERVICE_PREFIX in r and "DNAT" in r for r in rules) == 1


def test_connections_are_redirected(netns: str, tmp_path: Path) -> None:
    """A connection to the published port reaches the server on the backend's port."""
    (tmp_path / "index.html").write_text("backend\n")
    server = subprocess.Popen(
        [
            "nsenter", f"--net=/run/netns/{netns}", sys.executable, "-m", "http.server",
            "--bind", ADDR, "--directory", str(tmp_path), "9000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        ingress = MeshSync("n1", Netfilter(["nsenter", f"--net=/run/netns/{netns}"]))
        asyncio.run(asyncio.wait_for(write(ingress, port(8080, 9000)), 30))
        probe = [
            "nsenter", f"--net=/run/netns/{netns}", sys.executable, "-c",
            "from tests.http_probe import fetch; print(fetch('http://" + ADDR + ":8080/'))",
        ]  # fmt: skip
        repo = Path(__file__).resolve().parents[2]

        def answer() -> str:
            done = subprocess.run(probe, capture_output=True, text=True, timeout=30, cwd=repo)
            return done.stdout.strip()

        assert wait_for(lambda: answer() == "backend", "the redirected answer", 10)
        asyncio.run(asyncio.wait_for(ingress.remove(), 30))
        assert answer() == FAILED
    finally:
        server.kill()
        server.wait(timeout=30)


async def test_the_kernel_reports_a_flush_of_our_rules(netns: str) -> None:
    """`iptables -t nat -F` by someone else reaches the agent as a change event (and the guard
    checks at once), not only at its next period."""
    inside = ("ip", "netns", "exec", netns, "iptables", "-t", "nat")
    tables = Netfilter(("nsenter", f"--net=/run/netns/{netns}"))
    changes = tables.changes()
    first = asyncio.ensure_future(anext(changes))
    try:
        # The monitor subscribes once started: a rule added and flushed again until it has
        # seen a change, within a bound.
        for _ in range(50):
            await asyncio.to_thread(run, *inside, "-A", "USER-CHAIN", "-j", "RETURN")
            await asyncio.to_thread(run, *inside, "-F")
            done, _ = await asyncio.wait({first}, timeout=0.2)
            if done:
                break
        assert first.done(), "no change event for a flush"
        assert first.result() is None
    finally:
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_the_change_monitor_dies_with_a_killed_agent(netns: str) -> None:
    """kill -9 of the agent takes its xtables-monitor with it: an orphan would wait for events
    forever, in a namespace that may be gone."""
    script = (
        "import asyncio\n"
        "from agent.mesh.netfilter import Netfilter\n"
        "async def main():\n"
        f"    changes = Netfilter(('nsenter', '--net=/run/netns/{netns}')).changes()\n"
        "    await anext(changes)\n"
        "asyncio.run(main())\n"
    )
    agent = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[2])
    try:
        monitor = wait_for(
            lambda: subprocess.run(
                ["pgrep", "-P", str(agent.pid)], capture_output=True, text=True
            ).stdout.split(),
            "the monitor to start",
        )
        agent.kill()
        agent.wait(timeout=30)
        wait_for(lambda: not _alive(int(monitor[0])), "the monitor to die with the agent", 10)
    finally:
        agent.kill()
        agent.wait(timeout=30)
