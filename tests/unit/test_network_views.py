"""What each node is told about its networks, and the slices nodes are given: pure functions
of the store's objects."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar, cast

from common.convert.networks import network_view_from_pb, network_view_to_pb
from common.model import (
    EndpointMode,
    Network,
    Node,
    NodeDescription,
    Service,
    StoredObject,
    Task,
    TaskState,
)
from common.netview import Endpoint
from manager.allocator.slices import SliceGrant, release, rooms
from manager.networks.views import compute
from manager.store import Put
from tests.unit.builders import service, task

T = TypeVar("T")
NET = "net-front"
OTHER = "net-back"


class View:
    """The part of the store's ReadView these functions read."""

    def __init__(self, *objects: StoredObject) -> None:
        self.all = list(objects)

    def objects(self, kind: type[T]) -> list[T]:
        return [cast(T, o) for o in self.all if isinstance(o, kind)]

    def get(self, kind: type[T], obj_id: str) -> T | None:
        return next((o for o in self.objects(kind) if getattr(o, "id", None) == obj_id), None)

    @property
    def revision(self) -> int:
        return 1

    def tasks_of_service(self, service_id: str) -> list[Task]:
        return [t for t in self.objects(Task) if t.service_id == service_id]

    def tasks_on_node(self, node_id: str) -> list[Task]:
        return [t for t in self.objects(Task) if t.node_id == node_id]


def node(node_id: str, addr: str) -> Node:
    return Node(id=node_id, addr="127.0.0.1", description=NodeDescription(data_addr=addr))


def on_network(t: Task, address: str = "", *networks: str) -> Task:
    addresses = {n: address for n in networks} if address else {}
    return replace(t, networks=networks or (NET,), status=replace(t.status, addresses=addresses))


def api(mode: EndpointMode = EndpointMode.VIP) -> Service:
    s = service(3, name="api")
    return replace(
        s,
        spec=replace(s.spec, networks=(NET,), endpoint_mode=mode),
        virtual_ips={NET: "10.128.0.2"} if mode == EndpointMode.VIP else {},
    )


NODES = (node("n1", "10.77.0.11"), node("n2", "10.77.0.12"), node("n3", "10.77.0.13"))
FRONT = Network(
    id=NET, name="frontend", subnet="10.128.0.0/16", vni=4096, slices={"n1": 1, "n2": 2}
)
BACK = Network(id=OTHER, name="backend", subnet="10.140.0.0/16", vni=4097)


class TestViews:
    def test_nodes_with_tasks_on_the_network_get_their_slice_peers_and_services(self) -> None:
        view = View(
            *NODES,
            FRONT,
            BACK,
            api(),
            on_network(task("t1", 1, node_id="n1"), "10.128.1.2", NET),
            on_network(task("t2", 2, node_id="n2"), "10.128.2.2", NET),
        )
        views = compute(view)
        assert set(views) == {"n1", "n2"}
        [part] = views["n1"].networks
        assert (part.slice, part.gateway, part.vni) == ("10.128.1.0/24", "10.128.1.1", 4096)
        assert part.peers == ("10.77.0.12",)
        assert part.endpoints == (Endpoint("api", "10.128.0.2", ("10.128.1.2", "10.128.2.2")),)
        assert views["n1"].foreign_subnets == ("10.140.0.0/16",)

    def test_only_running_tasks_are_backends_and_ended_ones_free_their_node(self) -> None:
        starting = on_network(task("t1", 1, node_id="n1", state=TaskState.STARTING), "10.128.1.2")
        ended = on_network(task("t2", 2, node_id="n2", state=TaskState.FAILED), "10.128.2.2")
        views = compute(View(*NODES, FRONT, api(), starting, ended))
        assert set(views) == {"n1"}
        [part] = views["n1"].networks
        assert part.peers == ()
        assert part.endpoints[0].addresses == ()

    def test_dnsrr_services_have_no_virtual_ip(self) -> None:
        running = on_network(task("t1", 1, node_id="n1"), "10.128.1.2", NET)
        views = compute(View(*NODES, FRONT, api(EndpointMode.DNSRR), running))
        assert views["n1"].networks[0].endpoints == (Endpoint("api", "", ("10.128.1.2",)),)

    def test_a_services_aliases_go_with_its_endpoint_and_over_the_wire(self) -> None:
        aliased = api()
        aliased = replace(aliased, spec=replace(aliased.spec, aliases=("backend-api",)))
        running = on_network(task("t1", 1, node_id="n1"), "10.128.1.2", NET)
        views = compute(View(*NODES, FRONT, aliased, running))
        [endpoint] = views["n1"].networks[0].endpoints
        assert endpoint.aliases == ("backend-api",)
        assert network_view_from_pb(network_view_to_pb(views["n1"])) == views["n1"]

    def test_a_node_waits_for_its_slice(self) -> None:
        on_n3 = on_network(task("t1", 1, node_id="n3"))
        assert compute(View(*NODES, FRONT, api(), on_n3)) == {}

    def test_no_network_no_work(self) -> None:
        assert compute(View(*NODES, api(), task("t1", node_id="n1"))) == {}


class TestSlices:
    def test_a_node_gets_the_lowest_free_slice_with_the_task_assigned_to_it(self) -> None:
        pending = on_network(task("t3", 3, state=TaskState.PENDING))
        grant = SliceGrant(View(*NODES, FRONT, pending))
        assert grant.give(pending, "n3") == ""
        assert grant.give(pending, "n1") == ""
        [op] = grant.ops()
        assert isinstance(op, Put)
        assert isinstance(op.obj, Network)
        assert op.obj.slices == {"n1": 1, "n2": 2, "n3": 3}

    def test_a_full_subnet_gives_nothing_and_names_the_network(self) -> None:
        full = replace(FRONT, subnet="10.128.0.0/24", slices={f"x{i}": i for i in range(1, 16)})
        pending = on_network(task("t3", 3, state=TaskState.PENDING))
        grant = SliceGrant(View(*NODES, full, pending))
        assert grant.give(pending, "n3") == "network frontend: no free address slice"
        assert grant.ops() == []
        room = rooms(View(*NODES, full), [NET])[NET]
        assert (room.free, room.holders) == (0, {})

    def test_a_removed_node_frees_its_slice(self) -> None:
        [op] = release(View(*NODES[1:], FRONT), ["n1"])
        assert isinstance(op.obj, Network)
        assert op.obj.slices == {"n2": 2}

    def test_nothing_to_do_for_a_node_still_there(self) -> None:
        assert release(View(*NODES, FRONT), ["n1"]) == []
