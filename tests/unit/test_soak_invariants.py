"""The soak's invariants (bench/soak.py), judged on engines' counts given here: more containers
than desired plus the update's overlap is a violation; a scale-down may run the larger count
until it converges; a host under fault is left out until the cluster converges after it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import cast

from bench.soak import OVERLAP, Service, Soak
from tests.managers_lab import Managers


@dataclass
class FakeLab:
    # service -> host -> running container IDs, as the engines list them
    engines: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    managers: list[object] = field(default_factory=list)

    def running_services(self) -> dict[str, dict[str, list[str]]]:
        return self.engines


@dataclass
class FakeManagers:
    lab: FakeLab
    # What `service ls` shows: name -> REPLICAS
    listed: dict[str, str] = field(default_factory=dict)
    calm: bool = True
    answers: list[int] = field(default_factory=list)

    def services(self) -> list[dict[str, str]]:
        return [{"Name": n, "Replicas": r} for n, r in self.listed.items()]

    def unsettled(self) -> list[str]:
        return [] if self.calm else ["node h4 Down"]

    def shoal(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, self.answers.pop(0), "", "failed")


def soak_of(lab: FakeLab, listed: dict[str, str]) -> tuple[Soak, FakeManagers]:
    managers = FakeManagers(lab, listed)
    return Soak(cast(Managers, managers), seed=1), managers


def containers(count: int) -> list[str]:
    return [f"c{i}" for i in range(count)]


def test_more_than_desired_plus_the_overlap_is_a_violation() -> None:
    lab = FakeLab({"web": {"h4": containers(2), "h5": containers(2)}})
    soak, _ = soak_of(lab, {"web": "2/2"})
    soak.services["web"] = Service(2, {2}, 2)
    assert not soak.check()
    [violation] = soak.report.violations
    assert f"web: 4 running (h4 2, h5 2; unseen: none), at most 2 + {OVERLAP} allowed" in violation


def test_the_overlap_is_allowed_and_a_converged_service_counts_as_such() -> None:
    lab = FakeLab({"web": {"h4": containers(2), "h5": containers(1)}})
    soak, _ = soak_of(lab, {"web": "2/2"})
    soak.services["web"] = Service(2, {2}, 2)
    assert not soak.check()
    lab.engines["web"] = {"h4": containers(1), "h5": containers(1)}
    assert soak.check()
    assert soak.report.violations == []


def test_a_scale_down_may_run_the_larger_count_until_it_converges() -> None:
    lab = FakeLab({"web": {"h4": containers(5)}})
    soak, managers = soak_of(lab, {"web": "5/5"})
    soak.services["web"] = Service(5, {5}, 5)
    managers.answers = [0]
    soak.send("web", 1, "service", "scale", "web=1")
    managers.listed["web"] = "1/1"
    assert not soak.check()
    lab.engines["web"] = {"h4": containers(1)}
    assert soak.check()
    # Converged at 1: five again would be a violation.
    lab.engines["web"] = {"h4": containers(5)}
    soak.check()
    assert len(soak.report.violations) == 1


def test_a_host_under_fault_is_left_out_until_the_cluster_converges() -> None:
    lab = FakeLab({"web": {"h4": containers(2), "h5": containers(2)}})
    soak, managers = soak_of(lab, {"web": "2/2"})
    soak.services["web"] = Service(2, {2}, 2)
    soak.unseen.add("h4")
    managers.calm = False
    assert not soak.check()
    assert soak.report.violations == []
    # The agent back, its orphans stopped, everything settled: h4 is counted again.
    lab.engines["web"] = {"h4": [], "h5": containers(2)}
    managers.calm = True
    assert soak.check()
    assert soak.unseen == set()


def test_a_failed_write_may_or_may_not_have_been_done() -> None:
    lab = FakeLab({"web": {"h4": containers(3)}})
    soak, managers = soak_of(lab, {"web": "3/3"})
    soak.services["web"] = Service(2, {2}, 2)
    managers.answers = [1]
    soak.send("web", 3, "service", "scale", "web=3")
    assert soak.check()
    assert soak.report.violations == []
    assert soak.report.acknowledged == 0


def test_a_failed_scale_up_keeps_its_room_after_a_convergence_below_it() -> None:
    """A write that failed may still be done after the service converged at the old count."""
    lab = FakeLab({"web": {"h4": containers(1)}})
    soak, managers = soak_of(lab, {"web": "1/1"})
    soak.services["web"] = Service(1, {1}, 1)
    managers.answers = [1]
    soak.send("web", 5, "service", "scale", "web=5")
    assert soak.check()
    lab.engines["web"] = {"h4": containers(5)}
    soak.check()
    assert soak.report.violations == []


def test_a_look_says_what_has_not_converged() -> None:
    """What the final wait prints while it lasts: a slow convergence says where it went."""
    lab = FakeLab({"web": {"h4": containers(1)}})
    soak, managers = soak_of(lab, {"web": "1/2"})
    managers.calm = False
    soak.services["web"] = Service(2, {2}, 2)
    assert not soak.check()
    assert soak.waiting_on == ["node h4 Down", "web 1/2, 1 running (desired [2])"]
    managers.calm = True
    managers.listed["web"] = "2/2"
    lab.engines["web"]["h4"] = containers(2)
    assert soak.check()
    assert soak.waiting_on == []
