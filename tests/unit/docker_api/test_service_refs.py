"""Service specs over the Docker API with what docker's clients put beside the container:
secrets and configs as files (kept by `docker service update`), the job modes, and registry
credentials from X-Registry-Auth, sealed and never shown."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from common.model import RegistryAuth
from tests.unit.docker_api.test_files import b64
from tests.unit.docker_api.test_requests import V, allocated, create, stored_services, web_spec
from tests.unit.harness import Harness, running
from tests.waiting import eventually

PRIVATE = "127.0.0.1:5000/team/app:v1@sha256:" + "c" * 64
AUTH = RegistryAuth(username="deploy", password="pw-7c1d2e3f", server_address="127.0.0.1:5000")


def auth_header(fields: dict[str, str]) -> dict[str, str]:
    return {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()}


AUTH_HEADER = auth_header(
    {"username": "deploy", "password": AUTH.password, "serveraddress": "127.0.0.1:5000"}
)


async def make_files(api: httpx.AsyncClient) -> tuple[str, str]:
    secret = await api.post(f"{V}/secrets/create", json={"Name": "db_pw", "Data": b64(b"pw")})
    config = await api.post(f"{V}/configs/create", json={"Name": "app_conf", "Data": b64(b"x")})
    assert secret.status_code == config.status_code == 201
    return secret.json()["ID"], config.json()["ID"]


FILES = {
    "Secrets": [
        {
            "SecretName": "db_pw",
            "File": {"Name": "db_password", "UID": "0", "GID": "0", "Mode": 0o400},
        }
    ],
    "Configs": [
        {
            "ConfigName": "app_conf",
            "File": {"Name": "/etc/app.conf", "UID": "33", "GID": "33", "Mode": 0o444},
            "Runtime": {},
        }
    ],
}


async def test_secrets_and_configs_go_both_ways_and_survive_a_docker_style_update(
    api: httpx.AsyncClient, dharness: Harness
) -> None:
    secret_id, config_id = await make_files(api)
    service_id = await create(api, web_spec("web", **FILES))
    got = await allocated(api, service_id)
    container = got["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert container["Secrets"] == [
        {
            "SecretID": secret_id,
            "SecretName": "db_pw",
            "File": {"Name": "db_password", "UID": "0", "GID": "0", "Mode": 0o400},
        }
    ]
    assert container["Configs"] == [
        {
            "ConfigID": config_id,
            "ConfigName": "app_conf",
            "File": {"Name": "/etc/app.conf", "UID": "33", "GID": "33", "Mode": 0o444},
        }
    ]

    # `docker service update --label-add`: the spec as read, one change, sent back.
    spec = got["Spec"] | {"Labels": {"team": "b"}}
    url = f"{V}/services/{service_id}/update?version={got['Version']['Index']}"
    answer = await api.post(url, json=spec)
    assert answer.status_code == 200, answer.text
    after = (await api.get(f"{V}/services/{service_id}")).json()
    assert after["Spec"]["Labels"] == {"team": "b"}
    assert after["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"] == container["Secrets"]
    assert after["Spec"]["TaskTemplate"]["ContainerSpec"]["Configs"] == container["Configs"]

    in_use = await api.delete(f"{V}/secrets/db_pw")
    assert in_use.status_code == 409
    assert "in use by the following service: web" in in_use.json()["message"]


@pytest.mark.parametrize(
    ("files", "status", "words"),
    [
        ({"Secrets": [{"SecretName": "nope", "File": {"Name": "x"}}]}, 404, "nope"),
        ({"Secrets": [{"File": {"Name": "x"}}]}, 400, "SecretName or SecretID is required"),
        ({"Secrets": [{"SecretName": "db_pw", "File": {"UID": "root"}}]}, 400, "numeric"),
        ({"Secrets": [{"SecretName": "db_pw", "File": {"Name": "/etc/x"}}]}, 400, "target"),
        ({"Configs": [{"ConfigName": "app_conf", "Runtime": {"x": 1}}]}, 400, "Runtime.x"),
    ],
)
async def test_bad_references_are_refused_and_store_nothing(
    api: httpx.AsyncClient, dharness: Harness, files: dict[str, Any], status: int, words: str
) -> None:
    await make_files(api)
    answer = await api.post(f"{V}/services/create", json=web_spec("web", **files))
    assert answer.status_code == status, answer.text
    assert words in answer.json()["message"]
    assert await stored_services(dharness) == {}


@pytest.mark.parametrize(
    ("mode", "shown"),
    [
        (
            {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 5}},
            {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 5}},
        ),
        ({"ReplicatedJob": {}}, {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}),
        ({"GlobalJob": {}}, {"GlobalJob": {}}),
    ],
)
async def test_job_modes_are_created_and_updated(
    api: httpx.AsyncClient, dharness: Harness, mode: dict[str, Any], shown: dict[str, Any]
) -> None:
    spec = web_spec("job") | {"Mode": mode, "EndpointSpec": {}}
    spec["TaskTemplate"]["RestartPolicy"] = {"Condition": "none"}
    service_id = await create(api, spec)
    got = (await api.get(f"{V}/services/{service_id}")).json()
    assert got["Spec"]["Mode"] == shown
    update = got["Spec"] | {"Labels": {"run": "2"}}
    url = f"{V}/services/{service_id}/update?version={got['Version']['Index']}"
    answer = await api.post(url, json=update)
    assert answer.status_code == 200, answer.text
    after = (await api.get(f"{V}/services/{service_id}")).json()
    assert after["Spec"]["Mode"] == shown
    assert after["Spec"]["Labels"] == {"run": "2"}
    listed = await api.get(f"{V}/services", params={"filters": '{"mode":["replicated-job"]}'})
    assert [s["ID"] for s in listed.json()] == ([service_id] if "ReplicatedJob" in mode else [])


async def test_registry_auth_is_used_for_the_pull_and_never_shown(
    api: httpx.AsyncClient, dharness: Harness
) -> None:
    runtime = dharness.manager_runtime
    runtime.pullable.add(PRIVATE)
    runtime.private[PRIVATE] = AUTH
    spec = web_spec("priv", Image=PRIVATE) | {"Mode": {"Replicated": {"Replicas": 1}}}
    spec["TaskTemplate"]["Placement"] = {"Constraints": ["node.role==manager"]}
    spec["EndpointSpec"] = {}
    answer = await api.post(f"{V}/services/create", json=spec, headers=AUTH_HEADER)
    assert answer.status_code == 201, answer.text
    await eventually(lambda: running(runtime) == ["1"], "the task running")
    assert runtime.pull_auths == [AUTH]
    for path in ("/services/priv", "/services", "/tasks"):
        shown = await api.get(f"{V}{path}")
        assert AUTH.password not in shown.text
    for stored in dharness.state_dir.rglob("*"):
        if stored.is_file():
            assert AUTH.password.encode() not in stored.read_bytes(), stored


@pytest.mark.parametrize(
    "header",
    [
        {"X-Registry-Auth": "%%%not-base64"},
        {"X-Registry-Auth": base64.urlsafe_b64encode(b"[1, 2]").decode()},
        auth_header({"username": "u", "registrytoken": "t"}),
    ],
)
async def test_a_bad_registry_auth_header_is_refused_and_stores_nothing(
    api: httpx.AsyncClient, dharness: Harness, header: dict[str, str]
) -> None:
    answer = await api.post(f"{V}/services/create", json=web_spec("web"), headers=header)
    assert answer.status_code == 400
    assert "X-Registry-Auth" in answer.json()["message"]
    assert await stored_services(dharness) == {}


@pytest.mark.parametrize(
    ("platforms", "stored"),
    [
        ([{"Architecture": "amd64", "OS": "linux"}, {"Architecture": "arm64", "OS": "linux"}], 1),
        ([{"Architecture": "arm64", "OS": "linux"}], 0),
    ],
)
async def test_the_image_platforms_docker_s_cli_adds_are_taken_where_every_node_runs_one(
    api: httpx.AsyncClient, dharness: Harness, platforms: list[dict[str, str]], stored: int
) -> None:
    spec = web_spec("web")
    spec["TaskTemplate"]["Placement"] = {"Platforms": platforms}
    answer = await api.post(f"{V}/services/create", json=spec)
    if stored:
        assert answer.status_code == 201, answer.text
    else:
        assert answer.status_code == 400
        assert "unsupported field TaskTemplate.Placement.Platforms" in answer.json()["message"]
    assert len(await stored_services(dharness)) == stored


async def test_distribution_without_an_engine_is_a_docker_shaped_503(
    api: httpx.AsyncClient,
) -> None:
    answer = await api.get(f"{V}/distribution/127.0.0.1:5000/team/app:v1/json")
    assert answer.status_code == 503
    assert answer.json() == {"message": "this manager has no engine to ask the registry with"}


async def test_an_update_with_registry_auth_replaces_the_credentials(
    api: httpx.AsyncClient, dharness: Harness
) -> None:
    runtime = dharness.manager_runtime
    other = RegistryAuth(username="deploy", password="pw-9e8d", server_address="127.0.0.1:5000")
    runtime.pullable.add(PRIVATE)
    runtime.private[PRIVATE] = other
    spec = web_spec("priv", Image=PRIVATE) | {"Mode": {"Replicated": {"Replicas": 1}}}
    spec["TaskTemplate"]["Placement"] = {"Constraints": ["node.role==manager"]}
    spec["EndpointSpec"] = {}
    created = await api.post(f"{V}/services/create", json=spec, headers=AUTH_HEADER)
    assert created.status_code == 201, created.text
    await eventually(lambda: runtime.pull_auths == [AUTH], "a pull with the first credentials")
    got = (await api.get(f"{V}/services/priv")).json()
    forced = got["Spec"]
    forced["TaskTemplate"]["ForceUpdate"] = 1
    header = auth_header(
        {"username": "deploy", "password": other.password, "serveraddress": "127.0.0.1:5000"}
    )
    url = f"{V}/services/priv/update?version={got['Version']['Index']}"
    answer = await api.post(url, json=forced, headers=header)
    assert answer.status_code == 200, answer.text
    await eventually(lambda: running(runtime) == ["1"], "the task running on new credentials")
    assert runtime.pull_auths[-1] == other
    assert other.password not in (await api.get(f"{V}/services/priv")).text
