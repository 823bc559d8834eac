"""The Docker API answers docker's clients with docker's shapes; bad requests get docker-shaped
errors (400/404/409) and leave the store as it was."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from common.api import control_pb2 as pb
from common.model import Availability
from manager.docker_api.shapes.service_spec import STACK_NAMESPACE
from tests.unit.docker_api.conftest import client_for
from tests.unit.harness import Harness
from tests.waiting import eventually

V = "/v1.41"


def web_spec(name: str = "web", **template: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Labels": {"team": "a"},
        "TaskTemplate": {
            "ContainerSpec": {"Image": "local/busybox:latest", "Args": ["sleep", "60"]} | template,
            "Resources": {"Limits": {}, "Reservations": {}},
            "Placement": {},
            "ForceUpdate": 0,
            "Runtime": "container",
        },
        "Mode": {"Replicated": {"Replicas": 2}},
        "EndpointSpec": {"Mode": "vip", "Ports": [{"TargetPort": 80, "PublishedPort": 18080}]},
    }


async def create(api: httpx.AsyncClient, spec: dict[str, Any]) -> str:
    answer = await api.post(f"{V}/services/create", json=spec)
    assert answer.status_code == 201, answer.text
    service_id: str = answer.json()["ID"]
    return service_id


async def allocated(api: httpx.AsyncClient, service_id: str) -> dict[str, Any]:
    """The service once the allocator has given it its published port: that write bumps its
    version too, so a read before it races the update that sends the version back (as in
    Swarm, where a client reads the version right before updating)."""
    found: dict[str, Any] = {}

    async def ports() -> bool:
        found.update((await api.get(f"{V}/services/{service_id}")).json())
        return bool(found["Endpoint"]["Ports"])

    await eventually(ports, "the service's published port allocated")
    return found


async def stored_services(h: Harness) -> dict[str, int]:
    """Name -> version of each service, as the gRPC Control API reports them."""
    answer = await h.control.ListServices(pb.ListServicesRequest())
    return {v.service.spec.name: v.service.meta.version for v in answer.services}


def ready_worker(api: httpx.AsyncClient) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        node = (await api.get(f"{V}/nodes/worker-1")).json()
        return bool(node["Status"]["State"] == "ready")

    return check


class TestVersions:
    async def test_ping_names_the_version_newer_clients_negotiate_down_to(
        self, api: httpx.AsyncClient
    ) -> None:
        answer = await api.get("/_ping")
        assert answer.status_code == 200
        assert answer.text == "OK"
        assert answer.headers["API-Version"] == "1.41"
        assert answer.headers["Swarm"] == "active/manager"
        head = await api.head("/_ping")
        assert head.headers["API-Version"] == "1.41"

    @pytest.mark.parametrize(
        ("version", "words"),
        [("1.50", "is too new. Maximum supported API version is 1.41"), ("1.12", "is too old")],
    )
    async def test_a_version_outside_the_range_is_refused(
        self, api: httpx.AsyncClient, version: str, words: str
    ) -> None:
        answer = await api.get(f"/v{version}/services")
        assert answer.status_code == 400
        assert words in answer.json()["message"]

    async def test_info_says_an_active_swarm_manager(
        self, api: httpx.AsyncClient, dharness: Harness
    ) -> None:
        swarm = (await api.get(f"{V}/info")).json()["Swarm"]
        assert swarm["LocalNodeState"] == "active"
        assert swarm["ControlAvailable"] is True
        assert swarm["NodeID"] == dharness.node_id
        assert swarm["Nodes"] == 2

    async def test_swarm_has_join_tokens(self, api: httpx.AsyncClient) -> None:
        tokens = (await api.get(f"{V}/swarm")).json()["JoinTokens"]
        assert tokens["Worker"].startswith("SHOAL-1-")
        assert tokens["Manager"].startswith("SHOAL-1-")
        assert tokens["Worker"] != tokens["Manager"]


class TestSwarm:
    async def test_rotating_the_worker_token_with_the_spec_read(
        self, api: httpx.AsyncClient
    ) -> None:
        before = (await api.get(f"{V}/swarm")).json()
        version = before["Version"]["Index"]
        answer = await api.post(
            f"{V}/swarm/update?version={version}&rotateWorkerToken=true", json=before["Spec"]
        )
        assert answer.status_code == 200, answer.text
        after = (await api.get(f"{V}/swarm")).json()["JoinTokens"]
        assert after["Worker"] != before["JoinTokens"]["Worker"]
        assert after["Manager"] == before["JoinTokens"]["Manager"]

    async def test_a_changed_swarm_spec_is_refused_and_no_token_rotated(
        self, api: httpx.AsyncClient
    ) -> None:
        before = (await api.get(f"{V}/swarm")).json()
        spec = before["Spec"] | {"Raft": {"SnapshotInterval": 5}}
        answer = await api.post(f"{V}/swarm/update?version=1&rotateWorkerToken=1", json=spec)
        assert answer.status_code == 400
        assert answer.json()["message"].startswith("unsupported field Raft:")
        assert (await api.get(f"{V}/swarm")).json()["JoinTokens"] == before["JoinTokens"]


class TestServices:
    async def test_a_spec_read_back_updates_with_its_version(
        self, api: httpx.AsyncClient, dharness: Harness
    ) -> None:
        """What `docker service update` does: read, change, send back with Version.Index."""
        service_id = await create(api, web_spec())
        await allocated(api, service_id)
        read = (await api.get(f"{V}/services/web")).json()
        assert read["ID"] == service_id
        assert read["Spec"]["Mode"] == {"Replicated": {"Replicas": 2}}
        assert read["Spec"]["EndpointSpec"]["Ports"][0]["PublishedPort"] == 18080
        spec = read["Spec"]
        spec["Mode"]["Replicated"]["Replicas"] = 3
        version = read["Version"]["Index"]
        answer = await api.post(f"{V}/services/{service_id}/update?version={version}", json=spec)
        assert answer.status_code == 200, answer.text
        again = (await api.get(f"{V}/services/{service_id}")).json()
        assert again["Spec"]["Mode"]["Replicated"]["Replicas"] == 3
        assert again["Version"]["Index"] > version
        assert again["PreviousSpec"]["Mode"]["Replicated"]["Replicas"] == 2

    async def test_a_stale_version_is_update_out_of_sequence(
        self, api: httpx.AsyncClient, dharness: Harness
    ) -> None:
        service_id = await create(api, web_spec())
        read = await allocated(api, service_id)
        version = read["Version"]["Index"]
        spec = read["Spec"]
        spec["Labels"] = {"team": "b"}
        assert (
            await api.post(f"{V}/services/{service_id}/update?version={version}", json=spec)
        ).status_code == 200
        before = await stored_services(dharness)
        spec["Labels"] = {"team": "c"}
        stale = await api.post(f"{V}/services/{service_id}/update?version={version}", json=spec)
        assert stale.status_code == 409
        assert stale.json()["message"].startswith("update out of sequence")
        assert await stored_services(dharness) == before
        labels = (await api.get(f"{V}/services/{service_id}")).json()["Spec"]["Labels"]
        assert labels == {"team": "b"}

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"Privileges": {"NoNewPrivileges": True}}, "TaskTemplate.ContainerSpec.Privileges"),
            ({"CapabilityAdd": ["NET_ADMIN"]}, "TaskTemplate.ContainerSpec.CapabilityAdd"),
            ({"DNSConfig": {"Search": ["x"]}}, "TaskTemplate.ContainerSpec.DNSConfig"),
            ({"TTY": True}, "TaskTemplate.ContainerSpec.TTY"),
        ],
    )
    async def test_an_unsupported_field_is_refused_by_name_and_nothing_stored(
        self, api: httpx.AsyncClient, dharness: Harness, change: dict[str, Any], field: str
    ) -> None:
        answer = await api.post(f"{V}/services/create", json=web_spec(**change))
        assert answer.status_code == 400
        assert answer.json() == {"message": f"unsupported field {field}: Shoal does not support it"}
        assert await stored_services(dharness) == {}

    @pytest.mark.parametrize(
        ("spec", "words"),
        [
            (
                {"Name": "x", "Mode": {"Replicated": {}, "GlobalJob": {}}},
                "one mode only, not Replicated and GlobalJob",
            ),
            ({"Name": "x", "TaskTemplate": {"ContainerSpec": {}}}, "a service needs an image"),
            ({"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": 7}}}, "expected a string"),
            ({"Name": "x", "EndpointSpec": {"Ports": [{"Protocol": "sctp"}]}}, "'sctp'"),
            ({"Name": "bad name!", "TaskTemplate": {"ContainerSpec": {"Image": "i"}}}, "name"),
        ],
    )
    async def test_invalid_specs_are_400_and_nothing_stored(
        self, api: httpx.AsyncClient, dharness: Harness, spec: dict[str, Any], words: str
    ) -> None:
        answer = await api.post(f"{V}/services/create", json=spec)
        assert answer.status_code == 400
        assert words in answer.json()["message"]
        assert await stored_services(dharness) == {}

    async def test_a_body_that_is_not_json_is_400(self, api: httpx.AsyncClient) -> None:
        answer = await api.post(f"{V}/services/create", content=b"{nope")
        assert answer.status_code == 400
        assert answer.json()["message"].startswith("invalid JSON body")

    async def test_a_duplicate_name_is_409(self, api: httpx.AsyncClient) -> None:
        await create(api, web_spec())
        answer = await api.post(f"{V}/services/create", json=web_spec())
        assert answer.status_code == 409
        assert answer.json() == {"message": "service web already exists"}

    async def test_an_unknown_service_is_404(self, api: httpx.AsyncClient) -> None:
        for answer in (
            await api.get(f"{V}/services/nosuch"),
            await api.delete(f"{V}/services/nosuch"),
            await api.get(f"{V}/services/nosuch/logs?stdout=1"),
        ):
            assert answer.status_code == 404
            assert answer.json() == {"message": "no such service: nosuch"}

    async def test_list_filters_and_status(self, api: httpx.AsyncClient) -> None:
        await create(api, web_spec())
        db = web_spec("db") | {"Labels": {STACK_NAMESPACE: "st"}, "EndpointSpec": {}}
        await create(api, db)
        filters = json.dumps({"label": {f"{STACK_NAMESPACE}=st": True}})
        listed = (await api.get(f"{V}/services", params={"filters": filters})).json()
        assert [s["Spec"]["Name"] for s in listed] == ["db"]
        legacy = json.dumps({"name": ["we"]})
        listed = (await api.get(f"{V}/services", params={"filters": legacy, "status": 1})).json()
        assert [s["Spec"]["Name"] for s in listed] == ["web"]
        assert listed[0]["ServiceStatus"]["DesiredTasks"] == 2

    @pytest.mark.parametrize(
        ("filters", "words"),
        [("{nope", "is not JSON"), ('{"colour": ["red"]}', "invalid filter 'colour'")],
    )
    async def test_a_malformed_filter_is_400(
        self, api: httpx.AsyncClient, filters: str, words: str
    ) -> None:
        for path in ("services", "tasks", "nodes", "networks"):
            answer = await api.get(f"{V}/{path}", params={"filters": filters})
            assert answer.status_code == 400
            assert words in answer.json()["message"]

    async def test_tasks_of_a_service_up_to_date(
        self, api: httpx.AsyncClient, dharness: Harness
    ) -> None:
        service_id = await create(api, web_spec())
        filters = json.dumps({"service": {"web": True}, "_up-to-date": {"true": True}})

        async def two_running() -> bool:
            tasks = (await api.get(f"{V}/tasks", params={"filters": filters})).json()
            return [t["Status"]["State"] for t in tasks] == ["running", "running"]

        await eventually(two_running, "two running tasks")
        tasks = (await api.get(f"{V}/tasks", params={"filters": filters})).json()
        assert {t["ServiceID"] for t in tasks} == {service_id}
        assert sorted(t["Slot"] for t in tasks) == [1, 2]
        one = (await api.get(f"{V}/tasks/{tasks[0]['ID']}")).json()
        assert one["DesiredState"] == "running"


class TestNodesAndNetworks:
    async def test_drain_a_node(self, api: httpx.AsyncClient, dharness: Harness) -> None:
        # Read once its state settled: a session opening writes the node too.
        await eventually(ready_worker(api), "worker-1 ready")
        nodes = (await api.get(f"{V}/nodes")).json()
        worker = next(n for n in nodes if n["Description"]["Hostname"] == "worker-1")
        assert worker["Spec"]["Role"] == "worker"
        spec = worker["Spec"] | {"Availability": "drain"}
        version = worker["Version"]["Index"]
        answer = await api.post(f"{V}/nodes/{worker['ID']}/update?version={version}", json=spec)
        assert answer.status_code == 200, answer.text
        node = (await dharness.control.GetNode(pb.GetNodeRequest(ref="worker-1"))).node
        assert Availability(node.availability) == Availability.DRAIN
        again = await api.post(f"{V}/nodes/{worker['ID']}/update?version={version}", json=spec)
        assert again.status_code == 409

    async def test_a_role_change_is_refused(self, api: httpx.AsyncClient) -> None:
        await eventually(ready_worker(api), "worker-1 ready")
        worker = (await api.get(f"{V}/nodes/worker-1")).json()
        spec = worker["Spec"] | {"Role": "manager"}
        version = worker["Version"]["Index"]
        answer = await api.post(f"{V}/nodes/worker-1/update?version={version}", json=spec)
        assert answer.status_code == 400
        assert "field Role" in answer.json()["message"]

    async def test_overlay_networks_with_labels(self, api: httpx.AsyncClient) -> None:
        body = {"Name": "back", "Driver": "overlay", "Labels": {STACK_NAMESPACE: "st"}}
        made = await api.post(f"{V}/networks/create", json=body)
        assert made.status_code == 201, made.text
        filters = json.dumps({"label": [f"{STACK_NAMESPACE}=st"]})
        listed = (await api.get(f"{V}/networks", params={"filters": filters})).json()
        assert [(n["Name"], n["Driver"], n["Scope"]) for n in listed] == [
            ("back", "overlay", "swarm")
        ]
        one = (await api.get(f"{V}/networks/back")).json()
        assert one["Id"] == made.json()["Id"]
        assert (await api.delete(f"{V}/networks/back")).status_code == 204
        assert (await api.get(f"{V}/networks/back")).status_code == 404

    async def test_a_bridge_network_is_refused(self, api: httpx.AsyncClient) -> None:
        answer = await api.post(f"{V}/networks/create", json={"Name": "br"})
        assert answer.status_code == 400
        assert "field Driver" in answer.json()["message"]
        assert (await api.get(f"{V}/networks")).json() == []


class TestEdges:
    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/containers/json"), ("POST", "/build"), ("GET", "/images/json"),
         ("POST", "/swarm/init"), ("POST", "/services/web")],
    )  # fmt: skip
    async def test_engine_endpoints_say_so(
        self, api: httpx.AsyncClient, method: str, path: str
    ) -> None:
        answer = await api.request(method, f"{V}{path}")
        assert answer.status_code == 501
        assert "this is a Shoal manager" in answer.json()["message"]

    async def test_a_worker_certificate_is_refused(self, dharness: Harness) -> None:
        async with client_for(dharness, dharness.state_dir.parent / "worker-1") as worker:
            answer = await worker.get(f"{V}/services")
        assert answer.status_code == 403
        assert answer.json() == {"message": "a worker certificate cannot use the control API"}

    async def test_events_stream_service_events(self, api: httpx.AsyncClient) -> None:
        filters = json.dumps({"type": ["service"]})
        async with api.stream("GET", f"{V}/events", params={"filters": filters}) as events:
            assert events.status_code == 200
            await create(api, web_spec())
            line = await anext(events.aiter_lines())
        event = json.loads(line)
        assert (event["Type"], event["Action"]) == ("service", "create")
        assert event["Actor"]["Attributes"]["name"] == "web"

    async def test_a_bad_event_filter_is_400(self, api: httpx.AsyncClient) -> None:
        answer = await api.get(f"{V}/events", params={"filters": '{"type": ["volume"]}'})
        assert answer.status_code == 400
        assert "type=volume" in answer.json()["message"]
