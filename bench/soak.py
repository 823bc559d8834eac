"""A chaos soak of three managers on etcd (issue 14), in the lab: faults at random, invariants
checked all along.

The lab is the one tests/e2e/test_managers_failover.py uses (tests/managers_lab.py): etcd
members and managers on h1-h3, agents on h4-h5. For --duration seconds, one fault after another,
drawn by a RNG whose seed is printed first (--seed replays a run):
  kill -9 of the leading manager, of a follower, of an agent, of a service's container, of one
  etcd member, and a host's link cut for 5-20 s (netfilter in its namespace, every packet on
  its eth0 dropped); each killed daemon or member is started again, each cut restored.
Between faults, Control writes as a client makes them (through every manager: SHOAL_HOST):
services created, scaled, and updated start-first (the update's overlap: one task).

Invariants:
  - per service, never more containers running on the engines than its desired count plus the
    update's overlap; while a service converges from one desired count to another, the larger,
    and after a write that failed (it may still be done), the larger of the counts before and
    after it.
    A host whose agent is dead or whose link is cut runs its containers on unseen (as in
    Docker Swarm, its tasks are placed elsewhere) until its agent is back: such a host is left
    out of the count from its fault until the cluster has converged after it;
  - everything converges (one leader, every node Ready, each service's replicas running)
    within 15 s after the last fault ends;
  - every write a manager acknowledged is there at the end (a write that failed may or may
    not have been done: either outcome is accepted).
It prints the faults injected, the violations (there must be none) and the longest convergence.

Run as root: .venv/bin/python -m bench.soak [--duration 600] [--seed N]  (`make soak`).
Traffic stays on the lab's addresses.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import docker

from tests.lab_host import Host, run
from tests.managers_lab import IMAGE, Managers, lab_of_managers, managers_up
from tests.waiting import SLEEPER

CONVERGE_WITHIN = 15.0
# How long the soak waits for the final convergence before calling it a violation and giving
# up; a convergence is still timed past CONVERGE_WITHIN.
FINAL_WAIT = 120.0
OVERLAP = 1
# Pause between two faults' starts, and how long a killed daemon stays down.
GAP = (2.0, 6.0)
DOWN = (1.0, 5.0)
CUT = (5.0, 20.0)
SERVICES = 4
# Replicas a service is created with.
CREATED = 2
SAMPLE = 1.0
KINDS = (
    "kill-leader",
    "kill-follower",
    "kill-agent",
    "kill-container",
    "kill-etcd",
    "cut-link",
)


@dataclass
class Service:
    desired: int
    # Desired counts a write may have set: the last acknowledged one, then those tried since.
    possible: set[int]
    # The most containers allowed now, before the overlap (see the module's doc).
    ceiling: int
    # Desired counts of the writes under way.
    sending: list[int] = field(default_factory=list)


@dataclass
class Report:
    seed: int
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    longest: float = 0.0
    final: float | None = None
    acknowledged: int = 0


@dataclass
class Fault:
    kind: str
    host: Host | None
    ends: float
    restore: Callable[[], None]


class Soak:
    def __init__(self, managers: Managers, seed: int) -> None:
        self.managers = managers
        self.lab = managers.lab
        self.rng = random.Random(seed)
        self.report = Report(seed)
        self.services: dict[str, Service] = {}
        self.active: list[Fault] = []
        # Hosts left out of the count until the cluster converges after them.
        self.unseen: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        # When the last fault ended.
        self.restored = time.monotonic()
        # Writes begun so far: a look that began before one may not lower a ceiling it raised.
        self.begun = 0
        # Hosts made unseen so far: a look that began before one may not clear it.
        self.hidden = 0
        # What the last look found not converged yet.
        self.waiting_on: list[str] = []

    # -- writes -------------------------------------------------------------------------------

    def write(self) -> None:
        # A create that failed may or may not have been done: it is sent again until it is
        # known, so the soak's services do not stay missing for the rest of the run.
        unsure = sorted(n for n, s in self.services.items() if 0 in s.possible)
        if unsure:
            self.create(unsure[0])
            return
        if len(self.services) < SERVICES and (not self.services or self.rng.random() < 0.3):
            self.create(f"soak-{len(self.services) + 1}")
            return
        name = self.rng.choice(sorted(self.services))
        if self.rng.random() < 0.7:
            count = self.rng.randint(1, 5)
            self.send(name, count, "service", "scale", "-d", f"{name}={count}")
        else:
            value = self.rng.randint(0, 10**6)
            desired = self.services[name].desired
            self.send(name, desired, "service", "update", "-d", "--env-add", f"SOAK={value}", name)

    def create(self, name: str) -> None:
        self.send(name, CREATED, "service", "create", "-d", "--name", name, "--replicas",
                  str(CREATED), "--update-order", "start-first", "--update-parallelism",
                  str(OVERLAP), "--constraint", "node.role==worker", IMAGE, *SLEEPER)  # fmt: skip

    def send(self, name: str, count: int, *args: str) -> None:
        with self.lock:
            service = self.services.setdefault(name, Service(count, set(), count))
            service.possible.add(count)
            service.ceiling = max(service.ceiling, count)
            service.sending.append(count)
            self.begun += 1
        done = self.managers.shoal(*args)
        why = done.stderr.strip().splitlines()[-1:] or ["no message"]
        outcome = "acknowledged" if done.returncode == 0 else f"failed: {why[0]}"
        print(f"    {time.strftime('%H:%M:%S')} {args[1]} {name} ({count}): {outcome}", flush=True)
        with self.lock:
            service.sending.remove(count)
            if done.returncode == 0:
                self.report.acknowledged += 1
                service.desired, service.possible = count, {count}
            elif args[1] == "create" and "already exists" in done.stderr:
                # An earlier create went through, though its client was not told: only
                # creates are sent while a service's existence is unsure.
                service.desired, service.possible = CREATED, {CREATED}
            elif args[1] == "create":
                # The service may or may not be there; 0 says it is not.
                service.possible.add(0)

    # -- faults -------------------------------------------------------------------------------

    def inject(self) -> None:
        busy = {f.host.name for f in self.active if f.host is not None}
        kinds = list(KINDS)
        self.rng.shuffle(kinds)
        for kind in kinds:
            fault = self._fault(kind, busy)
            if fault is not None:
                self.active.append(fault)
                self.report.faults[kind] += 1
                print(f"  {time.strftime('%H:%M:%S')} {kind}"
                      f"{' on ' + fault.host.name if fault.host else ''}", flush=True)  # fmt: skip
                return

    def _fault(self, kind: str, busy: set[str]) -> Fault | None:
        lab, etcd = self.lab, self.managers.etcd
        # One manager host (manager or etcd member) under fault at a time: two would leave
        # etcd without a quorum, and the soak is about failover, not an outage.
        managers_busy = any(f.host in lab.managers for f in self.active if f.host is not None)
        agents = [h for h in self.managers.agents if h.name not in busy]
        down = self.rng.uniform(*DOWN)
        if kind in ("kill-leader", "kill-follower", "kill-etcd") and managers_busy:
            return None
        if kind == "kill-leader" or kind == "kill-follower":
            leader = self.managers.leader()
            if leader is None:
                return None
            host = leader if kind == "kill-leader" else self.rng.choice(
                [h for h in lab.managers if h is not leader])  # fmt: skip
            lab.kill_daemon(host)
            return Fault(kind, host, time.monotonic() + down, lambda: lab.start_manager(host))
        if kind == "kill-etcd":
            member = self.rng.choice(etcd.members)
            etcd.kill(member)
            host = next(h for h in lab.managers if h.addr == member.host.addr)
            return Fault(kind, host, time.monotonic() + 2 * down, lambda: etcd.start(member))
        if kind == "kill-agent" and agents:
            host = self.rng.choice(agents)
            self._hide(host)
            lab.kill_daemon(host)
            return Fault(kind, host, time.monotonic() + down, lambda: lab.start_agent(host))
        if kind == "kill-container":
            return self._kill_container()
        if kind == "cut-link":
            hosts = [h for h in lab.hosts if h.name not in busy]
            if managers_busy:
                hosts = [h for h in hosts if h not in lab.managers]
            if not hosts:
                return None
            host = self.rng.choice(hosts)
            self._hide(host)
            _netfilter(host, "-I")
            ends = time.monotonic() + self.rng.uniform(*CUT)
            return Fault(kind, host, ends, lambda: _netfilter(host, "-D"))
        return None

    def _hide(self, host: Host) -> None:
        """host's containers go uncounted until the cluster converges after its fault."""
        with self.lock:
            self.unseen.add(host.name)
            self.hidden += 1

    def _kill_container(self) -> Fault | None:
        running = [
            (h, cid)
            for h in self.managers.agents
            for name in list(self.services)
            for cid in self.lab.running(name).get(h.name, [])
        ]
        if not running:
            return None
        host, container = self.rng.choice(running)
        with host.engine() as api:
            try:
                api.kill(container)
            except docker.errors.APIError as exc:
                # Removed or stopped since the listing (its task replaced, the service scaled
                # down): no fault was made, and another kind is drawn.
                print(f"  (container {container[:12]} gone before its kill: {exc.explanation})")
                return None
        return Fault("kill-container", None, time.monotonic(), lambda: None)

    def restore_due(self, everything: bool = False) -> None:
        now = time.monotonic()
        for fault in [f for f in self.active if everything or f.ends <= now]:
            fault.restore()
            self.active.remove(fault)
            self.restored = time.monotonic()

    # -- invariants ---------------------------------------------------------------------------

    def check(self) -> bool:
        """One look at the engines; whether everything has converged (self.waiting_on says
        what had not)."""
        with self.lock:
            began, hidden = self.begun, self.hidden
        # Asked at once: a look that takes long (CLIs starting under load) times a convergence
        # late by as much.
        with ThreadPoolExecutor(2) as pool:
            listing = pool.submit(self.managers.services)
            settling = pool.submit(self.managers.unsettled)
            running = self.lab.running_services()
            listed = {s["Name"]: s["Replicas"] for s in listing.result()}
            waiting_on = settling.result()
        waiting_on += [f"{f.kind} on {f.host.name if f.host else '-'}" for f in self.active]
        if not listed:
            waiting_on.append("no service listed")
        with self.lock:
            services = dict(self.services)
            unseen = set(self.unseen)
        for name, service in services.items():
            found = running.get(name, {})
            counted = sum(len(ids) for host, ids in found.items() if host not in unseen)
            everywhere = sum(len(ids) for ids in found.values())
            if counted > service.ceiling + OVERLAP:
                hosts = ", ".join(f"{h} {len(ids)}" for h, ids in sorted(found.items()) if ids)
                self.report.violations.append(
                    f"{time.strftime('%H:%M:%S')} {name}: {counted} running ({hosts}; unseen:"
                    f" {sorted(unseen) or 'none'}), at most {service.ceiling} + {OVERLAP} allowed"
                    f" (desired {sorted(service.possible)})"
                )
            shown = listed.get(name, f"{0}/{0}")
            at = next(
                (d for d in service.possible if shown == f"{d}/{d}" and everywhere == d), None
            )
            if at is None:
                waiting_on.append(
                    f"{name} {shown}, {everywhere} running (desired {sorted(service.possible)})"
                )
            else:
                with self.lock:
                    # A write begun during this look (a scale up acknowledged meanwhile) is
                    # not in the listing this look saw: only a later look may lower the ceiling.
                    # A write that failed may still be done later (its commit was under way):
                    # every count still possible keeps its room.
                    if self.begun == began:
                        service.ceiling = max([*service.possible, *service.sending])
        self.waiting_on = waiting_on
        converged = not waiting_on
        if converged:
            with self.lock:
                # A fault begun during this look (a link cut) keeps its host unseen.
                if self.hidden == hidden and not self.active:
                    self.unseen.clear()
        return converged

    def watch(self) -> None:
        """Look every SAMPLE seconds until stopped; time each convergence from the end of the
        last fault, when no other began before it."""
        timed = False
        while not self.stop.is_set():
            converged = self.check()
            if self.active:
                timed = False
            elif converged and not timed:
                self.report.longest = max(self.report.longest, time.monotonic() - self.restored)
                timed = True
            self.stop.wait(SAMPLE)


def _netfilter(host: Host, action: str) -> None:
    """Drop (-I) or pass again (-D) every packet on the host's eth0, both ways."""
    for chain, way in (("INPUT", "-i"), ("OUTPUT", "-o")):
        run("ip", "netns", "exec", host.netns, "iptables", "-w", action, chain, way, "eth0",
            "-j", "DROP", check=action == "-I")  # fmt: skip


def soak(managers: Managers, duration: float, seed: int) -> Report:
    """Faults for duration seconds, then the final convergence; the report."""
    print(f"soak: seed {seed}, {duration:.0f} s of faults", flush=True)
    run_ = Soak(managers, seed)
    run_.write()
    watcher = threading.Thread(target=run_.watch, name="soak-invariants", daemon=True)
    watcher.start()
    ends = time.monotonic() + duration
    try:
        while time.monotonic() < ends:
            run_.restore_due()
            run_.inject()
            run_.write()
            pause = time.monotonic() + run_.rng.uniform(*GAP)
            while time.monotonic() < pause:
                run_.restore_due()
                time.sleep(0.2)
    finally:
        run_.restore_due(everything=True)
        run_.stop.set()
        watcher.join()
    last = time.monotonic()
    said: list[str] = []
    # Each change of what is still converging, timed: a slow convergence says where it went.
    while time.monotonic() - last < FINAL_WAIT and not run_.check():
        if run_.waiting_on != said:
            said = run_.waiting_on
            print(f"  +{time.monotonic() - last:4.1f} s waiting on: {'; '.join(said)}", flush=True)
        time.sleep(0.5)
    report = run_.report
    took = time.monotonic() - last
    report.final = took if took < FINAL_WAIT else None
    report.longest = max(report.longest, took)
    if took > CONVERGE_WITHIN:
        report.violations.append(f"converged {took:.1f} s after the last fault (at most 15 s)")
    missing = [n for n, s in run_.services.items() if not _present(managers, n, s)]
    report.violations += [f"acknowledged service {n} not as written at the end" for n in missing]
    return report


def _present(managers: Managers, name: str, service: Service) -> bool:
    listed = {s["Name"]: s["Replicas"] for s in managers.services()}
    return any(listed.get(name, "0/0") == f"{d}/{d}" for d in service.possible)


def show(report: Report) -> None:
    kinds = ", ".join(f"{k} {report.faults[k]}" for k in KINDS)
    print(f"faults injected: {sum(report.faults.values())} ({kinds})")
    print(f"acknowledged writes: {report.acknowledged}")
    print(f"invariant violations: {len(report.violations)}")
    for violation in report.violations:
        print(f"  {violation}")
    final = "n/a" if report.final is None else f"{report.final:.1f} s"
    print(f"longest convergence: {report.longest:.1f} s (after the last fault: {final})")
    print(f"seed: {report.seed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of faults")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    lab = lab_of_managers(Path(tempfile.mkdtemp(prefix="shoal-soak-", dir="/tmp")))
    report: Report | None = None
    try:
        report = soak(managers_up(lab), args.duration, seed)
    finally:
        if report is None or report.violations:
            keep_logs(lab.hosts, Path(f"/tmp/shoal-soak-logs-{seed}"))
        lab.down()
    show(report)
    sys.exit(1 if report.violations else 0)


def keep_logs(hosts: list[Host], kept: Path) -> None:
    """The daemons' logs of a failed run, kept past the lab's removal to find out why."""
    for host in hosts:
        if host.log.exists():
            kept.mkdir(parents=True, exist_ok=True)
            shutil.copy(host.log, kept / f"{host.name}.log")
    print(f"the hosts' logs are kept in {kept}", flush=True)


if __name__ == "__main__":
    main()
