"""One multi-host lab for the whole test session (see tests/lab.py)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Lab
from tests.lab_host import BRIDGE, run


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    if run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
        pytest.fail(f"a lab is already up on this machine (bridge {BRIDGE}): scripts/lab.sh down")
    # A short root: dockerd's unix sockets live below it, and their paths are limited to 108 bytes.
    the_lab = Lab(Path(tempfile.mkdtemp(prefix="shoal-lab-", dir="/tmp")), size=3)
    try:
        the_lab.up()
        yield the_lab
    finally:
        the_lab.down()
