"""The chaos soak's minute (bench/soak.py; `make soak` runs ten): faults at random in the lab of
three managers on etcd, which it shares with test_managers_failover.py, and no invariant broken."""

from __future__ import annotations

import random

import pytest

from bench.soak import show, soak
from tests.managers_lab import Managers

pytestmark = pytest.mark.etcd

DURATION = 60.0


def test_a_minute_of_faults_breaks_no_invariant(managers: Managers) -> None:
    report = soak(managers, DURATION, random.SystemRandom().randrange(2**32))
    show(report)
    assert sum(report.faults.values()) >= 5
    assert report.acknowledged > 0
    assert report.violations == []
