"""What a manager does with a Control call by whether it leads: a read is served where it
arrives; a write on the leader is served there (with the revision that holds it, for the
follower that forwarded it); a write on a follower with no leader known, or one forwarded to a
manager that no longer leads, is refused rather than sent on again."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from common import pki
from common.api import control_pb2 as pb
from common.errors import Unavailable
from common.tls import Bundle
from manager.ca import ClusterCA
from manager.leadership import Leader, ManagerSet
from manager.leadership.forward import FORWARDED_METADATA, REVISION_METADATA, LeaderForwarding

REMOVE = "/shoal.v1.Control/RemoveNode"
LIST = "/shoal.v1.Control/ListNodes"


class Aborted(Exception):
    pass


class Context:
    def __init__(self, *metadata: tuple[str, str]) -> None:
        self._metadata = metadata
        self.trailing: tuple[tuple[str, str], ...] = ()
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def set_trailing_metadata(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.trailing = metadata

    def time_remaining(self) -> float:
        return 10.0

    async def abort(
        self, code: grpc.StatusCode, details: str, trailing_metadata: object = ()
    ) -> None:
        self.aborted = (code, details)
        raise Aborted(details)


class Revisions:
    revision = 42

    async def reached(self, revision: int) -> None:
        raise AssertionError("nothing was forwarded")


class Details:
    def __init__(self, method: str) -> None:
        self.method = method


async def _wrapped(managers: ManagerSet, method: str, served: list[Any]) -> Any:
    async def remove(request: pb.RemoveNodeRequest, context: Any) -> pb.RemoveNodeResponse:
        served.append(request)
        return pb.RemoveNodeResponse(id=request.ref)

    handler = grpc.unary_unary_rpc_method_handler(
        remove,
        request_deserializer=pb.RemoveNodeRequest.FromString,
        response_serializer=pb.RemoveNodeResponse.SerializeToString,
    )

    async def continuation(details: Any) -> Any:
        return handler

    forwarding = LeaderForwarding(managers, Revisions(), Path("/nonexistent"))
    return await forwarding.intercept_service(continuation, Details(method))  # type: ignore[arg-type]


RAW = pb.RemoveNodeRequest(ref="n9").SerializeToString()


async def test_a_read_is_served_where_it_arrives() -> None:
    served: list[Any] = []
    wrapped = await _wrapped(ManagerSet("f", "f:1"), LIST, served)
    # Left as it is: the request is decoded by gRPC, and served here.
    assert wrapped.request_deserializer == pb.RemoveNodeRequest.FromString


async def test_the_leader_serves_a_forwarded_write_and_names_its_revision() -> None:
    served: list[Any] = []
    wrapped = await _wrapped(ManagerSet.single("l", "l:1"), REMOVE, served)
    context = Context((FORWARDED_METADATA, "1"))
    answer = await wrapped.unary_unary(RAW, context)
    assert pb.RemoveNodeResponse.FromString(answer).id == "n9"
    assert [r.ref for r in served] == ["n9"]
    assert context.trailing == ((REVISION_METADATA, "42"),)


@pytest.mark.parametrize("forwarded", [True, False])
async def test_a_follower_refuses_what_it_cannot_send_to_a_leader(forwarded: bool) -> None:
    """Forwarded already (the sender took it for the leader), or no leader known: UNAVAILABLE
    at once, and the write is neither served here nor sent anywhere."""
    managers = ManagerSet("f", "f:1")
    if forwarded:
        managers.set_named(Leader("l", "l:1"), held=True)
    served: list[Any] = []
    wrapped = await _wrapped(managers, REMOVE, served)
    context = Context(*([(FORWARDED_METADATA, "1")] if forwarded else []))
    with pytest.raises(Aborted):
        await wrapped.unary_unary(RAW, context)
    assert context.aborted is not None
    assert context.aborted[0] == grpc.StatusCode.UNAVAILABLE
    assert "no manager leads" in context.aborted[1]
    assert served == []


class LeaderPort:
    """The leader's address, on which a server comes and goes; the follower's own bundle."""

    def __init__(self, root: Path) -> None:
        ca = ClusterCA.load_or_create(root / "ca", "cluster1")

        def issued(name: str) -> Bundle:
            return ca.issue_with_key(name, pki.ROLE_MANAGER, "cluster1", timedelta(hours=1),
                                     hosts=["127.0.0.1"]).bundle(ca)  # fmt: skip

        self.follower_dir = root / "follower"
        issued("follower").save(self.follower_dir)
        self.served = issued("leader")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"

    async def serve(self) -> grpc.aio.Server:
        async def remove(request: pb.RemoveNodeRequest, context: Any) -> pb.RemoveNodeResponse:
            return pb.RemoveNodeResponse(id=request.ref)

        server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(
            remove,
            request_deserializer=pb.RemoveNodeRequest.FromString,
            response_serializer=pb.RemoveNodeResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("shoal.v1.Control", {"RemoveNode": handler})]
        )
        credentials = grpc.ssl_server_credentials(
            [(self.served.key_pem, self.served.cert_pem)],
            root_certificates=self.served.ca_pem,
            require_client_auth=True,
        )
        server.add_secure_port(self.addr, credentials)
        await server.start()
        return server


async def test_a_leader_that_cannot_be_reached_is_refused_as_no_leader_then_reached_once_back(
    tmp_path: Path,
) -> None:
    """The leader died: the write surely was not sent, and the refusal says no manager leads,
    which the client sends again. Back at the same address, it is reached at once, not after the
    old connection's reconnect backoff."""
    port = LeaderPort(tmp_path)
    managers = ManagerSet("f", "f:1")
    managers.set_named(Leader("l", port.addr), held=True)
    forwarding = LeaderForwarding(managers, Revisions(), port.follower_dir)
    try:
        with pytest.raises(Unavailable, match="no manager leads"):
            await forwarding.unary_to_leader(REMOVE, RAW, 10.0)
        server = await port.serve()
        try:
            answer = await forwarding.unary_to_leader(REMOVE, RAW, 10.0)
        finally:
            await server.stop(None)
        assert pb.RemoveNodeResponse.FromString(answer).id == "n9"
    finally:
        await forwarding.close()
