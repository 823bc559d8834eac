"""The managers a node may hold its session with, the leader first.

The leader sends the list down the session; it is kept on disk (managers.json in the node's state
dir, replaced atomically) so that an agent restarted while the leader it knew is gone still finds
the others. A reconnect tries the leader first, then the others in turn, and goes at once to
whichever manager a follower names as the leader.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import grpc
import structlog

from common.errors import InvalidArgument
from common.netaddr import join_host_port, split_host_port
from common.private_file import write_private

log = structlog.get_logger("agent.managers")

FILE = "managers.json"
# The trailing metadata key with which a follower refusing a session names the leader.
LEADER_KEY = "shoal-leader"
# Between rounds when there are several managers: a new leader is elected within seconds of the
# old one's death, and its agents should be on it within a second or so of that.
ROUND_WAIT_CAP = 1.0
# A list is a handful of managers; anything beyond these bounds is not a list a manager sends.
MAX_MANAGERS = 16
MAX_ADDR_LEN = 262


def _checked(addr: str) -> str | None:
    """HOST:PORT with a port in range, or None."""
    if not addr or len(addr) > MAX_ADDR_LEN:
        return None
    try:
        host, port = split_host_port(addr, 0)
    except InvalidArgument:
        return None
    if not host or not 0 < port < 65536:
        return None
    return join_host_port(host, port)


def _clean(addrs: Sequence[str]) -> list[str]:
    clean = [a for a in (_checked(a) for a in addrs[:MAX_MANAGERS]) if a is not None]
    return list(dict.fromkeys(clean))


def leader_named(exc: grpc.aio.AioRpcError) -> str | None:
    """The leader a follower named when it refused a session, or None."""
    if exc.code() != grpc.StatusCode.UNAVAILABLE:
        return None
    for key, value in exc.trailing_metadata() or ():
        if key == LEADER_KEY:
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            return _checked(text)
    return None


class Managers:
    """Where the next session goes (target), and the round of managers tried since the last
    session: each manager once per round, the leader first."""

    def __init__(self, state_dir: Path, first: str) -> None:
        """first: the manager the node joined through, used while no list was received."""
        self._path = state_dir / FILE
        self._addrs = self._load() or [first]
        self._round = list(self._addrs)
        self._index = 0
        self._redirects = 0
        self.target = self._round[0]

    @property
    def addrs(self) -> list[str]:
        return list(self._addrs)

    @property
    def longest_wait(self) -> float:
        """The longest wait between two rounds."""
        return ROUND_WAIT_CAP if len(self._addrs) > 1 else float("inf")

    def _load(self) -> list[str]:
        try:
            data = json.loads(self._path.read_text())
            return _clean([a for a in data["addrs"] if isinstance(a, str)])
        except FileNotFoundError:
            return []
        except (ValueError, KeyError, TypeError, OSError) as exc:
            # The list only speeds finding the leader up; the joined manager still answers.
            log.warning("unreadable manager list ignored", path=str(self._path), error=str(exc))
            return []

    def update(self, addrs: Sequence[str]) -> None:
        """The list the leader sent: kept, and saved when it changed."""
        clean = _clean(addrs)
        if not clean or clean == self._addrs:
            return
        self._addrs = clean
        write_private(self._path, json.dumps({"addrs": clean}).encode())
        log.info("managers", addrs=clean)

    def restart(self) -> None:
        """A new round, from the leader."""
        self._round = list(self._addrs)
        self._index = 0
        self._redirects = 0
        self.target = self._round[0]

    def failed(self, exc: grpc.aio.AioRpcError, *, was_up: bool) -> bool:
        """The session with target failed (was_up: after it was established). Returns True
        when the next manager should be tried at once: the leader a follower named (a few
        times in a row at most, since two followers could name each other while a leader is
        elected), or the next one of the round. False once the whole round failed: the
        caller backs off, and the next round starts from the leader."""
        if was_up:
            # A new round, in which the manager just lost comes first and is skipped below.
            self.restart()
        leader = leader_named(exc)
        if leader is not None and self._redirects <= len(self._addrs):
            self._redirects += 1
            self.target = leader
            return True
        self._index += 1
        if self._index < len(self._round):
            self.target = self._round[self._index]
            return True
        self.restart()
        return False
