"""The open join port: stateless nonces, per-peer limits, and the proof checked first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from agent import main as agent_main
from common import pki, tokens
from common.api import control_pb2, join_pb2, join_pb2_grpc, types_pb2
from common.errors import Unauthenticated
from common.join_client import join
from common.model import Cluster, NodeDescription, NodeRole
from common.ports import join_addr
from manager import join_secrets
from manager import main as manager_main
from manager.bootstrap import bootstrap
from manager.ca import ClusterCA
from manager.join import PEER_BURST, PEER_RATE, JoinService
from manager.nonces import Nonces
from manager.rate_limit import MAX_PEERS, PeerRateLimit
from manager.store import SqliteStore
from tests.unit.harness import Harness


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


@dataclass
class Context:
    """What the join handlers use of a gRPC call: who called, and how to refuse."""

    address: str = "192.0.2.10"

    def peer(self) -> str:
        return f"ipv4:{self.address}:40000"

    async def abort(
        self, code: grpc.StatusCode, details: str, trailing_metadata: object = ()
    ) -> None:
        raise Aborted(code, details)


@dataclass
class Port:
    service: JoinService
    cluster: Cluster
    worker_secret: str

    async def get_ca(self, address: str = "192.0.2.10") -> bytes:
        answer = await self.service.GetCA(join_pb2.GetCARequest(), Context(address))
        return bytes(answer.nonce)

    def request(self, nonce: bytes, secret: str, csr: bytes | None = None) -> join_pb2.JoinRequest:
        csr = pki.new_csr(pki.new_key()) if csr is None else csr
        return join_pb2.JoinRequest(
            csr_pem=csr,
            nonce=nonce,
            proof=pki.join_proof(secret, csr, nonce),
            description=types_pb2.NodeDescription(hostname="n1"),
        )

    async def join(self, request: join_pb2.JoinRequest) -> join_pb2.JoinResponse:
        return await self.service.Join(request, Context())


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[Port]:
    store = await SqliteStore.open(tmp_path / "state.db")
    boot = await bootstrap(store, tmp_path, "127.0.0.1:7462", "mgr", None, timedelta(days=90))
    service = JoinService(store, boot.trust, boot.data_key, timedelta(days=90))
    secret = join_secrets.secret(boot.data_key, boot.cluster, NodeRole.WORKER)
    try:
        yield Port(service, boot.cluster, secret)
    finally:
        service.close()
        await store.close()


class TestNonces:
    def test_a_nonce_this_process_issued_checks(self) -> None:
        """A fresh nonce passes, however many were issued since."""
        nonces = Nonces()
        first = nonces.issue()
        for _ in range(20_000):
            nonces.issue()
        nonces.check(first)

    def test_a_nonce_older_than_its_ttl_is_refused(self) -> None:
        """Past the TTL on the manager's monotonic clock, the nonce is refused."""
        now = [0]
        nonces = Nonces(ttl=60, clock=lambda: now[0])
        nonce = nonces.issue()
        now[0] = 60 * 10**9
        nonces.check(nonce)
        now[0] += 1
        with pytest.raises(Unauthenticated, match="expired"):
            nonces.check(nonce)

    @pytest.mark.parametrize(
        "mangle",
        [
            lambda n: n[:-1],
            lambda n: n + b"\0",
            lambda n: b"",
            lambda n: bytes([n[0] ^ 1]) + n[1:],
            lambda n: n[:-1] + bytes([n[-1] ^ 1]),
        ],
        ids=["short", "long", "empty", "stamp changed", "mac changed"],
    )
    def test_a_forged_nonce_is_refused(self, mangle: object) -> None:
        """A nonce changed in any byte, or of another length, does not check."""
        nonces = Nonces()
        assert callable(mangle)
        with pytest.raises(Unauthenticated):
            nonces.check(mangle(nonces.issue()))

    def test_another_processs_nonce_is_refused(self) -> None:
        """The key is per process: a nonce from another manager (or before a restart) fails."""
        with pytest.raises(Unauthenticated):
            Nonces().check(Nonces().issue())


class TestPeerRateLimit:
    def test_a_burst_then_the_steady_rate(self) -> None:
        """burst calls at once pass, the next is refused, and one more passes per 1/rate s."""
        now = [0.0]
        limit = PeerRateLimit(rate=20, burst=40, clock=lambda: now[0])
        assert all(limit.allow("a") for _ in range(40))
        assert not limit.allow("a")
        now[0] += 0.05
        assert limit.allow("a")
        assert not limit.allow("a")

    def test_peers_have_buckets_of_their_own(self) -> None:
        """One peer's empty bucket refuses nobody else."""
        limit = PeerRateLimit(rate=1, burst=2, clock=lambda: 0.0)
        assert [limit.allow("a") for _ in range(3)] == [True, True, False]
        assert limit.allow("b")

    def test_one_address_joins_1000_nodes_within_two_minutes(self) -> None:
        """The join port's own figures: 1,000 joins (a GetCA and a Join each) from one address,
        asked for at 10 a second, are all allowed."""
        now = [0.0]
        get_ca = PeerRateLimit(PEER_RATE, PEER_BURST, clock=lambda: now[0])
        joins = PeerRateLimit(PEER_RATE, PEER_BURST, clock=lambda: now[0])
        for i in range(1000):
            now[0] = i / 10
            assert get_ca.allow("bench"), i
            assert joins.allow("bench"), i
        assert now[0] < 120

    def test_memory_is_bounded_however_many_peers_call(self) -> None:
        """Buckets past max_peers are dropped, least recently used first."""
        limit = PeerRateLimit(rate=1, burst=1)
        for i in range(MAX_PEERS * 3):
            limit.allow(f"2001:db8::{i:x}")
        assert len(limit) == MAX_PEERS


class TestJoinService:
    async def test_a_nonce_survives_a_getca_flood_from_many_addresses(self, port: Port) -> None:
        """GetCA from 10,001 other addresses after ours: our nonce still joins (a table of
        nonces with FIFO eviction would have pushed it out)."""
        nonce = await port.get_ca()
        for i in range(10_001):
            await port.get_ca(f"2001:db8::{i:x}")
        answer = await port.join(port.request(nonce, port.worker_secret))
        assert answer.node_id

    async def test_getca_is_limited_per_address(self, port: Port) -> None:
        """Past its burst an address is refused with RESOURCE_EXHAUSTED in one line; another
        address is still served."""
        for _ in range(int(PEER_BURST)):
            await port.get_ca()
        with pytest.raises(Aborted) as refused:
            await port.get_ca()
        assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "\n" not in refused.value.details
        assert "too many join calls" in refused.value.details
        await port.get_ca("192.0.2.11")

    async def test_the_proof_is_checked_before_the_csr_is_parsed(self, port: Port) -> None:
        """Garbage in place of a CSR with a wrong proof: refused for the token, not the CSR."""
        nonce = await port.get_ca()
        garbage = b"-----BEGIN CERTIFICATE REQUEST-----\n" + b"A" * 4000
        with pytest.raises(Aborted) as refused:
            await port.join(port.request(nonce, "0" * tokens.SECRET_LEN, garbage))
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert refused.value.details == "invalid join token"
        with pytest.raises(Aborted) as malformed:
            await port.join(port.request(nonce, port.worker_secret, garbage))
        assert malformed.value.code == grpc.StatusCode.INVALID_ARGUMENT

    async def test_a_forged_nonce_is_refused(self, port: Port) -> None:
        """A nonce the manager never issued: refused before anything else is looked at."""
        with pytest.raises(Aborted) as refused:
            await port.join(port.request(b"\0" * 40, port.worker_secret))
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED


async def test_agent_join_waits_out_the_limit(harness: Harness) -> None:
    """The agent's join retries with backoff when the join port says RESOURCE_EXHAUSTED."""
    token = (await harness.control.GetJoinToken(control_pb2.GetJoinTokenRequest())).token
    target = join_addr(harness.addr)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = join_pb2_grpc.JoinStub(channel)

        async def code() -> grpc.StatusCode:
            try:
                await stub.GetCA(join_pb2.GetCARequest(), timeout=5)
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

        codes = await asyncio.gather(*(code() for _ in range(4 * int(PEER_BURST))))
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    joined, bundle = await join(token, target, NodeDescription(hostname="patient"))
    assert bundle.subject.node_id == joined.node_id


class _LyingJoin(join_pb2_grpc.JoinServicer):
    """A join port that signs the caller's key for node "real" but says "forged" in plaintext."""

    def __init__(self, ca: ClusterCA) -> None:
        self._ca = ca

    async def GetCA(self, request: join_pb2.GetCARequest, context: Any) -> join_pb2.GetCAResponse:
        return join_pb2.GetCAResponse(ca_pem=self._ca.pem, nonce=b"n")

    async def Join(self, request: join_pb2.JoinRequest, context: Any) -> join_pb2.JoinResponse:
        key = pki.public_key_of_csr(request.csr_pem)
        cert = self._ca.issue(key, "real", pki.ROLE_WORKER, "real-cluster", timedelta(days=1))
        return join_pb2.JoinResponse(
            node_id="forged", cluster_id="forged-cluster", cert_pem=pki.cert_pem(cert)
        )


async def test_identity_comes_from_the_verified_certificate(tmp_path: Path) -> None:
    """The node ID and cluster ID the agent keeps are those its certificate names, whatever
    the answer's plaintext fields say."""
    ca = ClusterCA.load_or_create(tmp_path / "ca", "real-cluster")
    server = grpc.aio.server()
    join_pb2_grpc.add_JoinServicer_to_server(_LyingJoin(ca), server)
    bound = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        token = str(tokens.JoinToken(digest=ca.digest, secret=tokens.new_secret()))
        subject, _ = await join(token, f"127.0.0.1:{bound}", NodeDescription(hostname="n"))
    finally:
        await server.stop(None)
    assert (subject.node_id, subject.cluster_id) == ("real", "real-cluster")


def test_agent_join_goes_on_as_agent_run_with_its_flags_but_the_token() -> None:
    """The argv `agent join` execs into parses as `agent run` with the same options, and holds
    neither the token nor the address."""
    token = f"SHOAL-1-{'a' * tokens.DIGEST_LEN}-{'b' * tokens.SECRET_LEN}"
    flags = ["--state-dir", "/s", "--docker-host", "unix:///d.sock", "--hostname", "h1"]
    flags += ["--log-level", "debug", "--no-routing-mesh"]
    joined = agent_main.build_parser().parse_args(["join", token, "192.0.2.1:7462", *flags])
    argv = agent_main.run_argv(joined)
    assert token not in argv
    assert "192.0.2.1:7462" not in argv
    resumed = agent_main.build_parser().parse_args(argv)
    assert resumed.command == "run"
    expected = {k: v for k, v in vars(joined).items() if k not in ("command", "token", "addr")}
    assert {k: v for k, v in vars(resumed).items() if k != "command"} == expected


def test_a_promoted_agent_goes_on_as_manager_take_over_with_its_flags() -> None:
    """The argv a promoted agent execs into parses as `manager take-over` with the manager's
    listen, advertise and state dir it was given, and the engine, name and logging it ran
    with."""
    flags = ["--state-dir", "/s", "--docker-host", "unix:///d.sock", "--hostname", "h1"]
    flags += ["--log-level", "debug", "--no-routing-mesh", "--manager-listen", "127.0.0.1:7000"]
    flags += ["--manager-advertise", "192.0.2.7", "--manager-state-dir", "/m"]
    ran = agent_main.build_parser().parse_args(["run", *flags])
    taking = manager_main.build_parser().parse_args(agent_main.take_over_argv(ran))
    assert taking.command == "take-over"
    assert (taking.agent_state_dir, taking.state_dir) == (Path("/s"), Path("/m"))
    assert (taking.listen, taking.advertise) == ("127.0.0.1:7000", "192.0.2.7")
    assert (taking.docker_host, taking.hostname, taking.log_level) == (
        "unix:///d.sock",
        "h1",
        "debug",
    )
    assert taking.no_routing_mesh


def test_manager_join_goes_on_as_manager_serve_with_its_flags_but_the_token() -> None:
    token = f"SHOAL-1-{'a' * tokens.DIGEST_LEN}-{'b' * tokens.SECRET_LEN}"
    flags = ["--state-dir", "/m", "--listen", "127.0.0.1:7000", "--advertise", "192.0.2.7"]
    flags += ["--hostname", "h2", "--heartbeat-period", "500ms", "--availability", "drain"]
    flags += ["--leader-lease", "3s", "--etcd-cacert", "/e/ca.pem", "--etcd-cert", "/e/c.pem"]
    flags += ["--etcd-key", "/e/k.pem"]
    joined = manager_main.build_parser().parse_args(["join", token, "192.0.2.1:7462", *flags])
    argv = manager_main.serve_argv(joined)
    assert token not in argv
    assert "192.0.2.1:7462" not in argv
    served = manager_main.build_parser().parse_args(argv)
    assert served.command == "serve"
    expected = {k: v for k, v in vars(joined).items() if k not in ("command", "token", "addr")}
    # --store and --autolock are serve's alone: a joined manager follows the cluster's setting.
    only_serve = ("command", "store", "autolock")
    assert {k: v for k, v in vars(served).items() if k not in only_serve} == expected
    assert served.store is None
    assert not served.autolock
