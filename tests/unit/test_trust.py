"""Trust: who may join, who may call what, rotation, renewal and removal, over real mTLS."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from agent.runtime.fake import FakeRuntime
from common import pki, tokens
from common.api import control_pb2 as pb
from common.api import control_pb2_grpc, types_pb2
from common.errors import FailedPrecondition, PermissionDenied, Unauthenticated
from common.join_client import join
from common.model import NodeDescription, NodeState
from common.ports import join_addr
from common.tls import Bundle
from manager.ca import ClusterCA
from tests.unit.harness import Harness, running, wait_state
from tests.waiting import eventually

DESC = NodeDescription(hostname="x")


async def _token(h: Harness, *, rotate: bool = False) -> str:
    answer = await h.control.GetJoinToken(pb.GetJoinTokenRequest(rotate=rotate))
    return answer.token


async def _list_nodes_with(h: Harness, credentials: grpc.ChannelCredentials | None) -> None:
    channel = (
        grpc.aio.insecure_channel(h.addr)
        if credentials is None
        else grpc.aio.secure_channel(h.addr, credentials)
    )
    async with channel:
        await control_pb2_grpc.ControlStub(channel).ListNodes(pb.ListNodesRequest(), timeout=5)


class TestJoin:
    async def test_token_of_another_cluster_is_refused_before_sending_anything(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        """A token naming another CA: the agent stops at the CA check with a clear message."""
        other = ClusterCA.load_or_create(tmp_path / "other-ca", "other")
        token = tokens.parse(await _token(harness))
        foreign = str(tokens.JoinToken(digest=other.digest, secret=token.secret))
        with pytest.raises(Unauthenticated, match="is not the one this token names"):
            await join(foreign, join_addr(harness.addr), DESC)
        assert set(await harness.node_states()) == {"mgr"}

    async def test_manager_token_with_agent_join_points_to_manager_join(
        self, harness: Harness
    ) -> None:
        """A worker join given the manager token is refused, naming `manager join`; no node is
        added."""
        answer = await harness.control.GetJoinToken(
            pb.GetJoinTokenRequest(role=types_pb2.NODE_ROLE_MANAGER)
        )
        with pytest.raises(PermissionDenied, match=r"`manager join TOKEN ADDR`"):
            await join(answer.token, join_addr(harness.addr), DESC)
        assert set(await harness.node_states()) == {"mgr"}

    async def test_manager_join_of_a_sqlite_cluster_says_to_move_it_onto_etcd(
        self, harness: Harness
    ) -> None:
        answer = await harness.control.GetJoinToken(
            pb.GetJoinTokenRequest(role=types_pb2.NODE_ROLE_MANAGER)
        )
        with pytest.raises(FailedPrecondition, match=r"move it onto etcd first"):
            await join(answer.token, join_addr(harness.addr), DESC, pki.ROLE_MANAGER)
        assert set(await harness.node_states()) == {"mgr"}

    async def test_worker_token_with_manager_join_is_refused(self, harness: Harness) -> None:
        with pytest.raises(PermissionDenied, match=r"needs the manager token"):
            await join(await _token(harness), join_addr(harness.addr), DESC, pki.ROLE_MANAGER)
        assert set(await harness.node_states()) == {"mgr"}

    async def test_join_issues_a_node_certificate_for_the_agents_own_key(
        self, harness: Harness
    ) -> None:
        """The certificate names the node (CN), its role (OU) and the cluster (O)."""
        joined, bundle = await join(await _token(harness), join_addr(harness.addr), DESC)
        subject = bundle.subject
        assert subject.node_id == joined.node_id
        assert subject.role == pki.ROLE_WORKER
        assert subject.cluster_id == joined.cluster_id
        cert = pki.load_cert(bundle.cert_pem)
        assert pki.matches_key(cert, pki.load_key(bundle.key_pem))
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert timedelta(days=89) < lifetime <= timedelta(days=90, minutes=5)

    async def test_old_token_after_rotation_no_longer_joins(self, harness: Harness) -> None:
        """Rotation: the old token fails, the new one joins, nodes already joined stay."""
        rt = FakeRuntime()
        await harness.join("a1", rt)
        await wait_state(harness, "a1", NodeState.READY)
        old = await _token(harness)
        new = await _token(harness, rotate=True)
        assert new != old
        assert tokens.parse(new).digest == tokens.parse(old).digest
        with pytest.raises(Unauthenticated, match="invalid join token"):
            await join(old, join_addr(harness.addr), DESC)
        await join(new, join_addr(harness.addr), DESC)
        assert (await harness.node_states())["a1"] == NodeState.READY


class TestMutualTLS:
    async def test_plaintext_client_is_refused(self, harness: Harness) -> None:
        """No TLS at all: the call never reaches the control API."""
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _list_nodes_with(harness, None)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

    async def test_certificate_from_another_ca_is_refused(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        """A client certificate this cluster's CA did not sign fails the handshake."""
        other = ClusterCA.load_or_create(tmp_path / "other-ca", "other")
        issued = other.issue_with_key("admin", pki.ROLE_ADMIN, "other", timedelta(days=1))
        ours = Bundle.load(harness.state_dir / "admin")
        forged = Bundle(ours.ca_pem, pki.cert_pem(issued.cert), pki.key_pem(issued.key))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _list_nodes_with(harness, forged.channel_credentials())
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

    async def test_worker_certificate_cannot_call_control(self, harness: Harness) -> None:
        """A node's worker certificate is for sessions only."""
        await harness.join("a1", FakeRuntime())
        worker = Bundle.load(harness.state_dir.parent / "a1")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _list_nodes_with(harness, worker.channel_credentials())
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "worker certificate cannot use the control API" in str(caught.value.details())


class TestRemoval:
    async def test_a_node_that_is_up_needs_force(self, harness: Harness) -> None:
        """node rm of a ready node is refused without force, and changes nothing."""
        await harness.join("a1", FakeRuntime())
        await wait_state(harness, "a1", NodeState.READY)
        with pytest.raises(grpc.aio.AioRpcError, match="is not down"):
            await harness.control.RemoveNode(pb.RemoveNodeRequest(ref="a1"))
        assert (await harness.node_states())["a1"] == NodeState.READY

    async def test_the_managers_own_node_cannot_be_removed(self, harness: Harness) -> None:
        """Even with force, the manager keeps its own node."""
        with pytest.raises(grpc.aio.AioRpcError, match="own node cannot be removed"):
            await harness.control.RemoveNode(pb.RemoveNodeRequest(ref="mgr", force=True))

    async def test_removed_node_is_cut_off_and_refused(self, harness: Harness) -> None:
        """Forced removal closes the session; the node's certificate no longer gets in, and
        its tasks move to the nodes that remain."""
        rt = FakeRuntime()
        node_id = await harness.join("a1", rt)
        await wait_state(harness, "a1", NodeState.READY)
        await harness.create("web", 2)
        await eventually(lambda: len(running(rt)) == 1, "a task on a1")
        await harness.control.RemoveNode(pb.RemoveNodeRequest(ref="a1", force=True))
        agent = harness.agents[node_id]
        with pytest.raises(PermissionDenied, match="was removed"):
            await asyncio.wait_for(agent, 10)
        del harness.agents[node_id]
        assert "a1" not in await harness.node_states()
        await eventually(lambda: len(running(harness.manager_runtime)) == 2, "both tasks on mgr")

    async def test_down_node_is_removed_without_force(self, harness: Harness) -> None:
        """A node that is down goes with a plain node rm."""
        node_id = await harness.join("a1", FakeRuntime())
        await wait_state(harness, "a1", NodeState.READY)
        await harness.drop_agent(node_id)
        await wait_state(harness, "a1", NodeState.DOWN)
        answer = await harness.control.RemoveNode(pb.RemoveNodeRequest(ref="a1"))
        assert answer.id == node_id


async def test_certificates_renew_without_touching_the_session_or_containers(
    tmp_path: Path,
) -> None:
    """With a 3 s certificate life, agent and manager certificates renew several times while a
    service runs: the node stays ready, its containers are never stopped or replaced, and new
    connections keep working."""
    h = Harness(tmp_path / "manager", cert_lifetime=timedelta(seconds=3))
    await h.start()
    try:
        rt = FakeRuntime()
        await h.join("a1", rt)
        await wait_state(h, "a1", NodeState.READY)
        await h.create("web", 2)
        await eventually(lambda: len(running(rt)) == 1, "a task on a1")
        containers = set(rt.containers_by_id)
        cert_file = h.state_dir.parent / "a1" / "cert.pem"
        seen = {cert_file.read_bytes()}

        def renewed_twice() -> bool:
            seen.add(cert_file.read_bytes())
            return len(seen) >= 3

        await eventually(renewed_twice, "two renewals of a1's certificate", within=15)
        assert (await h.node_states())["a1"] == NodeState.READY
        assert set(rt.containers_by_id) == containers
        assert not [c for c in rt.calls if c.startswith(("stop", "remove"))]
        # The manager's own serving certificate renewed too: a new connection still verifies.
        await _list_nodes_with(h, Bundle.load(h.state_dir / "admin").channel_credentials())
    finally:
        await h.halt()
