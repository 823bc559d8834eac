"""--with-registry-auth through a real manager and agents (in-memory engines): the credentials
sealed in the store, sent only with the assignments that pull with them, used by the agent's
pull, and in no answer of the Control API."""

from __future__ import annotations

from dataclasses import replace

from common import convert
from common.api import control_pb2 as pb
from common.api import types_pb2 as tpb
from common.model import ContainerSpec, RegistryAuth, Service, ServiceSpec, Task, TaskState
from manager import registry_auth
from manager.data_key import DataKey
from manager.dispatcher import chunks
from tests.unit.builders import task
from tests.unit.harness import Harness, running
from tests.waiting import eventually

PRIVATE = "127.0.0.1:5000/team/app:v1@sha256:" + "b" * 64
AUTH = RegistryAuth(username="deploy", password="pw-0f9a8e7d", server_address="127.0.0.1:5000")
OTHER = RegistryAuth(username="deploy", password="pw-other-42", server_address="127.0.0.1:5000")


def _spec(name: str, image: str = PRIVATE, replicas: int = 1) -> tpb.ServiceSpec:
    spec = ServiceSpec(name=name, replicas=replicas, container=ContainerSpec(image=image))
    return convert.spec_to_pb(spec)


async def _create(harness: Harness, name: str, auth: RegistryAuth | None) -> tpb.Service:
    request = pb.CreateServiceRequest(spec=_spec(name))
    if auth is not None:
        request.registry_auth.CopyFrom(convert.registry_auth_to_pb(auth))
    return (await harness.control.CreateService(request)).service


async def test_the_node_pulls_with_the_credentials_and_no_answer_carries_them(
    harness: Harness,
) -> None:
    harness.manager_runtime.pullable.add(PRIVATE)
    harness.manager_runtime.private[PRIVATE] = AUTH
    created = await _create(harness, "priv", AUTH)
    await eventually(lambda: running(harness.manager_runtime) == ["1"], "the task running")
    assert harness.manager_runtime.pull_auths == [AUTH]

    got = (await harness.control.GetService(pb.GetServiceRequest(ref="priv"))).service
    listed = (await harness.control.ListServices(pb.ListServicesRequest())).services
    for answer in (created, got, listed[0].service):
        assert not answer.sealed_registry_auth
        assert AUTH.password.encode() not in answer.SerializeToString()
    for stored in harness.state_dir.rglob("*"):
        if stored.is_file():
            assert AUTH.password.encode() not in stored.read_bytes(), stored


async def test_an_update_with_credentials_replaces_them_and_one_without_keeps_them(
    harness: Harness,
) -> None:
    runtime = harness.manager_runtime
    runtime.pullable.add(PRIVATE)
    runtime.private[PRIVATE] = OTHER
    await _create(harness, "priv", AUTH)
    await eventually(lambda: runtime.pull_auths == [AUTH], "a pull with the first credentials")

    async def update(auth: RegistryAuth | None, force: int) -> None:
        got = (await harness.control.GetService(pb.GetServiceRequest(ref="priv"))).service
        spec = replace(convert.spec_from_pb(got.spec), force_update=force)
        request = pb.UpdateServiceRequest(
            service_id=got.id, version=got.meta.version, spec=convert.spec_to_pb(spec)
        )
        if auth is not None:
            request.registry_auth.CopyFrom(convert.registry_auth_to_pb(auth))
        await harness.control.UpdateService(request)

    await update(OTHER, 1)
    await eventually(lambda: running(runtime) == ["1"], "the task running on new credentials")
    runtime.images.discard(PRIVATE)
    pulls = len(runtime.pull_auths)
    await update(None, 2)
    await eventually(lambda: runtime.pull_auths[pulls:] == [OTHER], "a pull with the kept ones")


def test_assignments_carry_credentials_only_for_tasks_still_to_run() -> None:
    key = DataKey.generate()
    sealed = registry_auth.seal(key, "svc-private", AUTH)
    assert AUTH.password.encode() not in sealed
    auths = {"svc-private": AUTH}
    live = task("t1", node_id="n1", service_id="svc-private")
    ended = task("t2", node_id="n1", service_id="svc-private", state=TaskState.FAILED)
    public = task("t3", node_id="n1", service_id="svc-public")

    def carried(tasks: list[Task]) -> list[str]:
        [message] = chunks.assignments(tasks, full=True, auth_of=auths.get)
        return [given.service_id for given in message.registry_auths]

    assert carried([live, ended, public]) == ["svc-private"]
    assert carried([ended, public]) == []


def test_sealed_credentials_open_only_for_their_own_service() -> None:
    key = DataKey.generate()
    sealed = registry_auth.seal(key, "svc-a", AUTH)
    owner = Service(id="svc-a", spec=ServiceSpec("a", ContainerSpec(PRIVATE)))
    assert registry_auth.unseal(key, replace(owner, sealed_registry_auth=sealed)) == AUTH
    thief = replace(owner, id="svc-b", sealed_registry_auth=sealed)
    assert registry_auth.unseal(key, thief) is None
    assert (
        registry_auth.unseal(DataKey.generate(), replace(owner, sealed_registry_auth=sealed))
        is None
    )
