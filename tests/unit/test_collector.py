"""The daemons collect garbage at their own pace: the young every 50,000 allocations, not 700."""

from __future__ import annotations

import subprocess
import sys

import pytest

from common.collector import THRESHOLDS

PROBE = """
import gc
from {module} import main
gc.set_threshold(700, 10, 10)
try:
    main(["--help"])
except SystemExit:
    pass
print(gc.get_threshold())
"""


@pytest.mark.parametrize("module", ["manager.main", "agent.main"])
def test_each_daemon_sets_the_collectors_pace_before_anything_else(module: str) -> None:
    # In a process of its own: the test runner's collector stays as it was.
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.splitlines()[-1] == str(THRESHOLDS)
