"""Which agents this manager serves: those whose session protocol it speaks (MIN_AGENT_PROTOCOL
up to its own), refused otherwise with both versions named, so a mixed-version cluster fails
at the hello and says why rather than later and obscurely."""

from __future__ import annotations

from common.errors import FailedPrecondition, InvalidArgument
from common.model import NodeDescription
from common.version import MIN_AGENT_PROTOCOL, PROTOCOL, UNVERSIONED, VERSION

# A release string, bounded like any other field a node sends.
MAX_VERSION_LENGTH = 64


def check_agent(description: NodeDescription) -> None:
    version = description.version
    if len(version) > MAX_VERSION_LENGTH or not version.isprintable():
        raise InvalidArgument(f"invalid agent version: at most {MAX_VERSION_LENGTH} characters")
    protocol = description.protocol or UNVERSIONED
    agent = f"agent {version or '(before 0.2.0)'} speaks protocol {protocol}"
    manager = f"this manager ({VERSION}) speaks {PROTOCOL}"
    if protocol > PROTOCOL:
        raise FailedPrecondition(f"{agent}, {manager}: upgrade the managers first")
    if protocol < MIN_AGENT_PROTOCOL:
        raise FailedPrecondition(
            f"{agent}, {manager} and serves agents from protocol {MIN_AGENT_PROTOCOL}:"
            " upgrade the agent"
        )
