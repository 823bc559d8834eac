"""The daemons raise their open-files limit to the hard one (a session is a connection)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RAISE = """
import resource
from common import open_files
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
given = open_files.raise_to_hard_limit()
print(given == hard, resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard))
print(open_files.raise_to_hard_limit() == hard)
"""


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    # In a process of its own: the test runner's limit stays as it was.
    done = subprocess.run(
        [sys.executable, "-c", RAISE], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["True", "True", "True"]


def test_the_manager_and_the_agent_raise_it_before_they_serve(tmp_path: Path) -> None:
    """Each daemon's main raises it before anything else: seen here through command lines
    that main refuses once it has started (so nothing is served)."""
    probe = """
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from {module} import main
try:
    main({argv!r})
except SystemExit:
    pass
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
print(soft == hard)
"""
    for module, argv in [
        ("manager.main", ["serve", "--listen", "bad:port:here", "--state-dir", str(tmp_path)]),
        ("agent.main", ["hollow", "--count", "0"]),
    ]:
        done = subprocess.run(
            [sys.executable, "-c", probe.format(module=module, argv=argv)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.stdout.strip().splitlines()[-1] == "True", (module, done.stderr[-500:])
