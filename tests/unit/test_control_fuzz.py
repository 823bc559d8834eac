"""The Control API under generated and mutated requests, over real gRPC to an in-process manager:
it never answers UNKNOWN or INTERNAL, stays up, and a refused call leaves the store as it was."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import convert
from common.api import control_pb2 as pb
from common.api import control_pb2_grpc
from common.api import types_pb2 as types_pb
from common.model import ContainerSpec, ServiceSpec
from common.tls import Bundle
from tests.unit.harness import Harness

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BAD_CODES = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
# Strings a hostile client would try: NUL, control characters, huge, template and constraint
# pathologies, and plain ones.
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "web",
            "a\0b",
            "x" * 70_000,
            " " * 20_000,
            "{{" * 20_000,
            "node.labels.a==b",
            "10.0.0.0/24",
            "127.0.0.0/8",
            "type=service",
        ]
    ),
)
_INTS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
}


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return TEXT
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return st.floats()
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.integers(-3, 12)
    low, high = _INTS[field.type]
    return st.one_of(st.integers(low, high), st.sampled_from([0, 1, low, high]))


@st.composite
def mutated(draw: st.DrawFn, base: Message, depth: int = 0) -> Message:
    """base with some fields, at any depth, replaced by drawn values."""
    msg = type(base)()
    msg.CopyFrom(base)
    _mutate(draw, msg, msg.DESCRIPTOR, depth)
    return msg


def _mutate(draw: st.DrawFn, msg: Message, descriptor: Any, depth: int) -> None:
    for field in descriptor.fields:
        # About one field in four is replaced; the others keep the base's (valid) values.
        if draw(st.integers(0, 3)) != 0:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target = getattr(msg, field.name)
            for key, value in draw(st.lists(st.tuples(TEXT, TEXT), max_size=2)):
                target[key] = value
        elif field.message_type is not None:
            if depth > 3:
                continue
            if field.is_repeated:
                for _ in range(draw(st.integers(0, 2))):
                    child = getattr(msg, field.name).add()
                    _mutate(draw, child, field.message_type, depth + 1)
            else:
                child = getattr(msg, field.name)
                child.SetInParent()
                _mutate(draw, child, field.message_type, depth + 1)
        elif field.is_repeated:
            getattr(msg, field.name).extend(draw(st.lists(_scalar(field), max_size=3)))
        else:
            setattr(msg, field.name, draw(_scalar(field)))


class Manager:
    """The in-process manager on a thread of its own, called through a blocking stub."""

    def __init__(self, state_dir: Path) -> None:
        self.harness = Harness(state_dir)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.harness.start(), self.loop).result(30)
        admin = Bundle.load(state_dir / "admin")
        self.channel = grpc.secure_channel(self.harness.addr, admin.channel_credentials())
        self.stub = control_pb2_grpc.ControlStub(self.channel)
        self.db = sqlite3.connect(state_dir / "state.db")

    def stored(self) -> list[tuple[str, str, bytes]]:
        """What a refused call must not change: every object but tasks and nodes, and of
        services all but their update status, which the manager's own loops move on their own
        (a rebalance an earlier call started ends while a later one is refused)."""
        rows = self.db.execute(
            "SELECT kind, id, data FROM objects WHERE kind NOT IN ('task', 'node') ORDER BY 1, 2"
        )
        return [(kind, obj_id, _without_status(kind, data)) for kind, obj_id, data in rows]

    def alive(self) -> bool:
        task = self.harness.task
        return task is not None and not task.done()

    def close(self) -> None:
        self.db.close()
        self.channel.close()
        asyncio.run_coroutine_threadsafe(self.harness.halt(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _without_status(kind: str, data: bytes) -> bytes:
    if kind != "service":
        return data
    service = types_pb.Service.FromString(data)
    service.ClearField("update_status")
    service.ClearField("meta")
    return service.SerializeToString(deterministic=True)


@pytest.fixture(scope="module")
def manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    m = Manager(tmp_path_factory.mktemp("fuzz") / "manager")
    spec = ServiceSpec(name="kept", replicas=0, container=ContainerSpec(image="local/busybox"))
    m.stub.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)), timeout=5)
    m.stub.CreateNetwork(pb.CreateNetworkRequest(name="kept-net"), timeout=5)
    try:
        yield m
    finally:
        m.close()


def check_call(manager: Manager, call: Callable[..., Any], request: Message) -> None:
    before = manager.stored()
    try:
        call(request, timeout=5)
    except grpc.RpcError as exc:
        code = exc.code()
        details = str(exc.details())
        assert code not in BAD_CODES, f"{code.name}: {details} for {request!r:.300}"
        assert code != grpc.StatusCode.DEADLINE_EXCEEDED, f"no answer within 5 s: {request!r:.300}"
        assert "\n" not in details
        assert manager.stored() == before, f"refused ({details}) but the store changed"
    assert manager.alive()


VALID_SPEC = convert.spec_to_pb(
    ServiceSpec(name="fuzzed", replicas=0, container=ContainerSpec(image="local/busybox"))
)
REQUESTS: dict[str, Message] = {
    "CreateService": pb.CreateServiceRequest(spec=VALID_SPEC),
    "PlanService": pb.CreateServiceRequest(spec=VALID_SPEC),
    "UpdateService": pb.UpdateServiceRequest(spec=VALID_SPEC),
    "PlanServiceUpdate": pb.UpdateServiceRequest(spec=VALID_SPEC),
    "RollbackService": pb.RollbackServiceRequest(ref="kept"),
    "RebalanceService": pb.RebalanceServiceRequest(ref="kept"),
    "GetService": pb.GetServiceRequest(ref="kept"),
    "ListServices": pb.ListServicesRequest(),
    "RemoveService": pb.RemoveServiceRequest(),
    "ListTasks": pb.ListTasksRequest(),
    "ListNodes": pb.ListNodesRequest(),
    "GetNode": pb.GetNodeRequest(ref="mgr"),
    "UpdateNode": pb.UpdateNodeRequest(),
    "RemoveNode": pb.RemoveNodeRequest(),
    "GetJoinToken": pb.GetJoinTokenRequest(),
    "CreateNetwork": pb.CreateNetworkRequest(name="fuzz-net"),
    "GetNetwork": pb.GetNetworkRequest(ref="kept-net"),
    "ListNetworks": pb.ListNetworksRequest(),
    "RemoveNetwork": pb.RemoveNetworkRequest(),
}


@pytest.mark.parametrize("method", sorted(REQUESTS))
def test_unary_methods_survive_fuzzed_requests(manager: Manager, method: str) -> None:
    @FUZZ
    @given(request=mutated(REQUESTS[method]))
    def run(request: Message) -> None:
        check_call(manager, getattr(manager.stub, method), request)

    run()


@FUZZ
@given(request=mutated(pb.EventsRequest()))
def test_events_survive_fuzzed_requests(manager: Manager, request: pb.EventsRequest) -> None:
    """A stream answers its headers, or a refusal, never UNKNOWN; cancelled once it answered."""
    call = manager.stub.Events(request, timeout=5)
    # Headers come once the subscription is in place, or with the refusal.
    call.initial_metadata()
    call.cancel()
    code = call.code()
    assert code not in BAD_CODES, call.details()
    assert code != grpc.StatusCode.DEADLINE_EXCEEDED
    assert manager.alive()
