"""What an agent spends on retries: a session tried again goes over the channel it already
has, and an unreachable manager's join port is asked about rotated roots less and less often."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
import structlog

from agent.managers import Managers
from agent.renewal import Renewal
from common import pki
from common.api import join_pb2_grpc
from manager.ca import ClusterCA


@pytest.fixture
def ca(tmp_path: Path) -> ClusterCA:
    return ClusterCA.load_or_create(tmp_path / "ca", "c1")


def _renewal(ca: ClusterCA, tmp_path: Path, *manager: str) -> tuple[Renewal, Managers]:
    bundle = ca.issue_with_key("n1", pki.ROLE_WORKER, "c1", timedelta(days=1)).bundle(ca)
    managers = Managers(tmp_path, manager[0])
    if len(manager) > 1:
        managers.update(list(manager))
        managers.restart()
    return Renewal(bundle, tmp_path, managers, structlog.get_logger()), managers


async def test_sessions_share_a_connected_channel_until_the_manager_or_certificate_changes(
    ca: ClusterCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Which state the channels are in, as gRPC would say; nothing is sent to TEST-NET.
    state = [grpc.ChannelConnectivity.READY]
    node, managers = _renewal(ca, tmp_path, "192.0.2.1:7462", "192.0.2.2:7462")
    first = await node.session_channel()
    monkeypatch.setattr(type(first), "get_state", lambda _self, *_a: state[0])
    assert await node.session_channel() is first
    # Its connection lost: a new channel connects at once, rather than after its backoff.
    state[0] = grpc.ChannelConnectivity.TRANSIENT_FAILURE
    reconnected = await node.session_channel()
    assert reconnected is not first
    state[0] = grpc.ChannelConnectivity.READY
    assert await node.session_channel() is reconnected
    first = reconnected
    # Renewed: the next session presents the new certificate, over a new channel.
    node.bundle = ca.issue_with_key("n1", pki.ROLE_WORKER, "c1", timedelta(days=1)).bundle(ca)
    renewed = await node.session_channel()
    assert renewed is not first
    assert await node.session_channel() is renewed
    # Another manager (the first one unreachable): another channel.
    unreachable = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down"
    )
    assert managers.failed(unreachable, was_up=False)
    assert managers.target == "192.0.2.2:7462"
    other = await node.session_channel()
    assert other is not renewed
    assert await node.session_channel() is other
    await node.close()


async def test_the_join_port_is_asked_less_often_while_the_manager_stays_away(
    ca: ClusterCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, _ = _renewal(ca, tmp_path, "192.0.2.1:7462")
    asked: list[float] = []
    clock = [1000.0]

    class Join:
        def __init__(self, _channel: object) -> None:
            pass

        async def GetCA(self, _request: object, **_options: object) -> None:
            asked.append(clock[0])

    monkeypatch.setattr(join_pb2_grpc, "JoinStub", Join)
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    # A failed session every second for five minutes.
    for _ in range(300):
        await node.check_root()
        clock[0] += 1
    gaps = [later - earlier for earlier, later in itertools.pairwise(asked)]
    assert gaps == [5, 10, 20, 40, 60, 60, 60]
    # Reached again, then lost: asked again soon.
    node.reached()
    lost = clock[0]
    for _ in range(12):
        await node.check_root()
        clock[0] += 1
    assert asked[-2:] == [lost, lost + 5]
