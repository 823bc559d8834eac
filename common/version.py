"""Which release this is, and which session protocol it speaks.

The protocol version counts changes to what agents and managers say to each other; releases
that keep it can be mixed freely. A manager serves agents from MIN_AGENT_PROTOCOL up to its
own PROTOCOL, so during an upgrade the managers go first and the agents follow (as Swarm
advises). Protocol 1 is the releases before agents announced a version at all: their hello
carries 0.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from importlib import metadata

import grpc

PROTOCOL = 2
MIN_AGENT_PROTOCOL = 1
# What an agent that announces nothing speaks.
UNVERSIONED = 1


def _release() -> str:
    try:
        return metadata.version("shoal")
    except metadata.PackageNotFoundError:
        # Run from a source tree that was never installed.
        return "unknown"


VERSION = _release()


@dataclass(frozen=True)
class Build:
    """One side's `version` section, as `docker version` shows it."""

    version: str
    protocol: int
    min_agent_protocol: int
    python: str
    grpc: str
    os: str
    arch: str


def this_build() -> Build:
    return Build(
        version=VERSION,
        protocol=PROTOCOL,
        min_agent_protocol=MIN_AGENT_PROTOCOL,
        python=platform.python_version(),
        grpc=grpc.__version__,
        os=sys.platform,
        arch=platform.machine(),
    )


def banner(program: str) -> str:
    """What `PROGRAM --version` prints."""
    return f"{program} version {VERSION}, protocol {PROTOCOL}"
