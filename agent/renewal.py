"""This node's certificate and the roots it trusts, as its agent keeps them: renewal on the
certificate's schedule, or sooner during a CA rotation, the roots the manager tells, and the
join port asked whether this node's root was rotated out while it was away."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import grpc

from agent.manager_channel import CHANNEL_OPTIONS, FATAL
from agent.managers import Managers
from common import cert_file
from common.api import dispatcher_pb2 as dpb
from common.api import dispatcher_pb2_grpc
from common.backoff import Backoff
from common.errors import FailedPrecondition, ShoalError
from common.grpc_errors import from_rpc_error
from common.model import now
from common.ports import join_addr
from common.tls import Bundle

# Seconds between asking the join port whether this node's root CA was rotated out, doubling
# while the manager stays unreachable: thousands of nodes locked out by an overloaded manager
# would otherwise ask it a thousand times a second.
ROOT_CHECK_INTERVAL = (5.0, 60.0)


class Renewal:
    """The NodeAgent's credentials: bundle is what its sessions present, renewed in place."""

    def __init__(self, bundle: Bundle, state_dir: Path, managers: Managers, log: Any) -> None:
        self.bundle = bundle
        self._state_dir = state_dir
        self._managers = managers
        self._log = log
        # Set to renew before the certificate's schedule: a CA rotation is in progress.
        self._renew_by: float | None = None
        self._renew_soon = asyncio.Event()
        # When the join port was last asked whether this node's root was rotated out, and how
        # long until it may be asked again.
        self._root_checked = 0.0
        self._root_wait = ROOT_CHECK_INTERVAL[0]
        # The digest of the root that issued the bundle's certificate, for that bundle.
        self._root_of: tuple[Bundle, str | None] | None = None
        # The sessions' channel, and the manager and certificate it was made for.
        self._kept: tuple[tuple[str, Bundle], grpc.aio.Channel] | None = None

    def channel(self) -> grpc.aio.Channel:
        """A channel to the manager the session goes to, with this node's certificate."""
        return grpc.aio.secure_channel(
            self._managers.target, self.bundle.channel_credentials(), options=CHANNEL_OPTIONS
        )

    async def session_channel(self) -> grpc.aio.Channel:
        """The channel sessions go over: kept from one session to the next while it is
        connected and the manager and this node's certificate stay the same, so a session
        refused and tried again costs a call, not a new connection and TLS handshake on both
        sides (thousands of nodes retrying at once after a manager restart). A channel that
        lost its connection is replaced: it would answer with its last failure until its own
        reconnect backoff ran out, seconds after the manager was back."""
        made_for = (self._managers.target, self.bundle)
        if self._kept is not None:
            kept_for, kept = self._kept
            connected = kept.get_state() == grpc.ChannelConnectivity.READY
            if kept_for == made_for and connected:
                return kept
            await self.close()
        channel = self.channel()
        self._kept = (made_for, channel)
        return channel

    async def close(self) -> None:
        if self._kept is not None:
            channel, self._kept = self._kept[1], None
            await channel.close()

    def reached(self) -> None:
        """A session was established: the manager is reachable again, and the join port is
        asked at once when it is lost next."""
        self._root_checked = 0.0
        self._root_wait = ROOT_CHECK_INTERVAL[0]

    async def keep_fresh(self) -> None:
        """Renew at a random point between 50 and 80 % of the certificate's life.

        A renewal changes
        nothing that runs: the session in progress keeps its connection, and the next one
        presents the new certificate.
        """
        backoff = Backoff(1.0, 30.0)
        while True:
            due = cert_file.renewal_due(self.bundle.cert_pem)
            wait = max(0.0, (due - now()).total_seconds())
            if self._renew_by is not None:
                wait = min(wait, max(0.0, self._renew_by - time.monotonic()))
            self._renew_soon.clear()
            try:
                async with asyncio.timeout(wait):
                    await self._renew_soon.wait()
                continue
            except TimeoutError:
                pass
            while True:
                try:
                    await self._renew()
                    backoff.reset()
                    break
                except grpc.aio.AioRpcError as exc:
                    if exc.code() in FATAL:
                        raise from_rpc_error(exc) from None
                    self._log.warning("certificate renewal failed", error=exc.details())
                except ShoalError as exc:
                    self._log.warning("certificate renewal failed", error=str(exc))
                await asyncio.sleep(backoff.next_delay())

    async def _renew(self) -> None:
        # Imported here: the cryptography package is the largest part of an idle agent.
        from common import pki

        key = pki.new_key()
        request = dpb.RenewRequest(csr_pem=pki.new_csr(key))
        async with self.channel() as channel:
            answer = await dispatcher_pb2_grpc.DispatcherStub(channel).Renew(request, timeout=10)
        cert = pki.load_cert(answer.cert_pem)
        # The roots come over this mutual-TLS session with the manager of this node's cluster:
        # during a CA rotation the new one, which signed the certificate, and the old one.
        ca_pem = answer.ca_pem or self.bundle.ca_pem
        root = pki.issuing_root(cert, pki.load_certs(ca_pem))
        if root is None or not pki.matches_key(cert, key):
            raise ShoalError("the manager renewed with a certificate that does not verify")
        bundle = Bundle(ca_pem=ca_pem, cert_pem=answer.cert_pem, key_pem=pki.key_pem(key))
        bundle.save(self._state_dir)
        self.bundle = bundle
        self._renew_by = None
        self._log.info("certificate renewed", expires=cert.not_valid_after_utc.isoformat())

    def told(self, settings: dpb.Settings) -> None:
        """The cluster's roots as the manager says them: during a rotation, a node whose
        certificate is not of the new root (the first) renews within the jitter given; after
        it, the old root is dropped from what the node trusts."""
        if not settings.ca_pem or (
            settings.ca_pem == self.bundle.ca_pem and not (settings.ca_rotating)
        ):
            return
        from common import pki

        roots = pki.load_certs(settings.ca_pem)
        cert = pki.load_cert(self.bundle.cert_pem)
        if settings.ca_rotating:
            if not pki.issued_by(cert, roots[0]) and self._renew_by is None:
                delay = random.uniform(0, settings.renew_within_ms / 1000)
                self._renew_by = time.monotonic() + delay
                self._log.info("CA rotation in progress: renewing", within_s=round(delay, 1))
                self._renew_soon.set()
            return
        if pki.issuing_root(cert, roots) is not None:
            bundle = Bundle(settings.ca_pem, self.bundle.cert_pem, self.bundle.key_pem)
            bundle.save(self._state_dir)
            self.bundle = bundle
            self._log.info("cluster CA rotation complete: trusting the new root only")

    async def check_root(self) -> None:
        """Unable to reach the manager: ask its join port whether this node's root was
        rotated out while it was away (no retry helps then: it must join again)."""
        if time.monotonic() - self._root_checked < self._root_wait:
            return
        if self._root_checked:
            self._root_wait = min(self._root_wait * 2, ROOT_CHECK_INTERVAL[1])
        self._root_checked = time.monotonic()
        from common import pki, tokens
        from common.api import join_pb2, join_pb2_grpc

        if self._root_of is None or self._root_of[0] is not self.bundle:
            # Found once per certificate: a node retrying through a long outage asks again
            # and again, and the chain's check was a fifth of what 1,000 hollow nodes did.
            root = pki.issuing_root(
                pki.load_cert(self.bundle.cert_pem), pki.load_certs(self.bundle.ca_pem)
            )
            self._root_of = (self.bundle, tokens.digest_of(pki.der(root)) if root else None)
        digest = self._root_of[1]
        if digest is None:
            return
        request = join_pb2.GetCARequest(node_root_digest=digest)
        try:
            async with grpc.aio.insecure_channel(join_addr(self._managers.target)) as channel:
                await join_pb2_grpc.JoinStub(channel).GetCA(request, timeout=5)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise FailedPrecondition(
                    "the cluster CA was rotated while this node was away: join it again with"
                    " `agent join` and a new token (`shoal join-token worker`)"
                ) from None
