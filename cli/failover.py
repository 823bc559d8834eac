"""Several managers behind one client: `--host A,B,C` (or SHOAL_HOST), tried in turn.

A manager that cannot be reached is passed over for the next within the call's one deadline.
One that answers that no manager leads is asked again, or the next one is, for a few seconds.
A call that may have reached a manager is not sent again elsewhere unless it only reads: a write
that timed out or lost its connection might have been done, and doing it twice is worse than
saying so. So with several managers each is first asked its version: a manager that did not
answer it was surely never sent the call, and a write moves on only then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import grpc

from cli.connection import Endpoint, open_channel
from common.api import system_pb2 as spb
from common.api.admin_pb2_grpc import AdminCertificatesStub
from common.api.control_pb2_grpc import ControlStub
from common.api.system_pb2_grpc import SystemStub
from common.errors import InvalidArgument, ShoalError, Unavailable
from common.grpc_errors import from_rpc_error
from common.no_leader import NO_LEADER, says_no_leader

Request = TypeVar("Request")
Response = TypeVar("Response")

# How long one manager may take to connect before the next is tried.
CONNECT_WAIT = 3.0
# While the managers answer that none leads: how long a call keeps asking (a lease of 2 s runs
# out, and an election follows), and the pause between rounds.
NO_LEADER_WAIT = 6.0
NO_LEADER_PAUSE = 0.5


def parse_hosts(text: str) -> list[str]:
    """`A,B,C` -> the managers' addresses, in order; blanks around commas are allowed."""
    hosts = [h.strip() for h in text.split(",")]
    if not all(hosts):
        raise InvalidArgument(f"invalid --host {text!r}: expected HOST:PORT[,HOST:PORT...]")
    return list(dict.fromkeys(hosts))


@dataclass(frozen=True)
class Stubs:
    control: ControlStub
    system: SystemStub
    admin: AdminCertificatesStub


def _connects(stubs: Stubs, wait: float) -> bool:
    """Whether the manager answers a Version call within wait: its connection and TLS handshake
    are done. A call, not a watch of the channel's connectivity: gRPC watches from a thread of
    its own, which raises and prints a traceback when the command closes the channel under it.
    Any answer but UNAVAILABLE or DEADLINE_EXCEEDED came from the manager."""
    try:
        stubs.system.Version(spb.VersionRequest(), timeout=wait)
    except grpc.RpcError as exc:
        return exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    return True


class Managers:
    """The managers one command may call, each channel opened when first needed."""

    def __init__(self, targets: Sequence[str], config: Path, deadline: float) -> None:
        self.endpoints = [Endpoint(t, config) for t in targets]
        self.deadline = deadline
        self._channels: dict[int, tuple[grpc.Channel, Stubs]] = {}
        # The manager that last answered: the next call starts there.
        self._current = 0

    def __enter__(self) -> Managers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for channel, _ in self._channels.values():
            channel.close()

    @property
    def endpoint(self) -> Endpoint:
        """The manager in use (the first before any call)."""
        return self.endpoints[self._current]

    def _open(self, index: int) -> tuple[grpc.Channel, Stubs]:
        if index not in self._channels:
            channel = open_channel(self.endpoints[index])
            stubs = Stubs(ControlStub(channel), SystemStub(channel), AdminCertificatesStub(channel))
            self._channels[index] = (channel, stubs)
        return self._channels[index]

    def _order(self) -> list[int]:
        count = len(self.endpoints)
        return [(self._current + i) % count for i in range(count)]

    def _none_answered(self) -> Unavailable:
        tried = ", ".join(e.target for e in self.endpoints)
        return Unavailable(f"cannot reach any manager at {tried} (is manager serve running?)")

    def stubs(self) -> Stubs:
        """For a stream: the first manager that connects (the only one, if one is given)."""
        if len(self.endpoints) == 1:
            return self._open(0)[1]
        for index in self._order():
            stubs = self._open(index)[1]
            if _connects(stubs, CONNECT_WAIT):
                self._current = index
                return stubs
        raise self._none_answered()

    def call(
        self,
        pick: Callable[[Stubs], grpc.UnaryUnaryMultiCallable[Request, Response]],
        request: Request,
        *,
        read: bool,
    ) -> Response:
        """One unary call within the deadline, moving on to the next manager while one is
        unavailable, as the module says. A manager that answers that no manager leads did
        nothing with the call: it goes to the next, and after a round of such answers, again
        after a pause, for as long as an election takes."""
        started = time.monotonic()
        ends = started + self.deadline
        leaderless_until = min(ends, started + NO_LEADER_WAIT)
        several = len(self.endpoints) > 1
        last: ShoalError | None = None
        while True:
            leaderless = False
            for index in self._order():
                remaining = ends - time.monotonic()
                if remaining <= 0:
                    break
                stubs = self._open(index)[1]
                if several and not _connects(stubs, min(CONNECT_WAIT, remaining)):
                    continue
                try:
                    answer = pick(stubs)(request, timeout=max(0.0, ends - time.monotonic()))
                except grpc.RpcError as exc:
                    error = from_rpc_error(exc)
                    if not isinstance(error, Unavailable):
                        raise error from exc
                    if says_no_leader(str(error)):
                        leaderless = True
                        last = Unavailable(
                            f"{NO_LEADER}: an election is under way, or the managers cannot"
                            " reach their store (etcd); try again in a few seconds"
                        )
                        continue
                    # The transport's own details ("failed to connect to all addresses ...")
                    # say little to a user; what they need is which address and bundle were
                    # tried.
                    last = self.endpoints[index].unavailable(str(error))
                    if not several or not read:
                        raise last from exc
                    continue
                self._current = index
                return answer
            if not leaderless or time.monotonic() + NO_LEADER_PAUSE >= leaderless_until:
                break
            time.sleep(NO_LEADER_PAUSE)
        raise last or self._none_answered()
