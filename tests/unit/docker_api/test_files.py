"""/secrets and /configs over the Docker API: docker's shapes and filters, labels-only updates,
a secret's data never in an answer, and refused requests that store nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from common.api import control_pb2 as pb
from tests.unit.harness import Harness

V = "/v1.41"
SECRET_DATA = b"s3cr3t-0f9a8e7d"
CONFIG_DATA = b"listen 80;\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def create(api: httpx.AsyncClient, plural: str, name: str, data: bytes, **labels: str) -> str:
    answer = await api.post(
        f"{V}/{plural}/create", json={"Name": name, "Labels": labels, "Data": b64(data)}
    )
    assert answer.status_code == 201, answer.text
    object_id: str = answer.json()["ID"]
    return object_id


async def stored(h: Harness, kind: pb.DataKind.ValueType) -> dict[str, Any]:
    """Name -> (labels, versions) as the gRPC Control API reports them."""
    answer = await h.control.ListData(pb.ListDataRequest(kind=kind))
    return {i.name: (dict(i.labels), list(i.versions), i.meta.version) for i in answer.items}


async def test_a_secret_from_create_to_remove_never_shows_its_data(
    api: httpx.AsyncClient, dharness: Harness
) -> None:
    secret_id = await create(api, "secrets", "db_pw", SECRET_DATA, team="a")
    got = await api.get(f"{V}/secrets/db_pw")
    assert got.status_code == 200
    body = got.json()
    assert body["ID"] == secret_id
    assert body["Spec"] == {"Name": "db_pw", "Labels": {"team": "a"}}
    assert body["Version"]["Index"] > 0
    listed = await api.get(f"{V}/secrets")
    assert [s["ID"] for s in listed.json()] == [secret_id]
    for answer in (got, listed):
        assert SECRET_DATA.decode() not in answer.text
        assert b64(SECRET_DATA) not in answer.text

    version = body["Version"]["Index"]
    relabel = {"Name": "db_pw", "Labels": {"team": "b"}}
    updated = await api.post(f"{V}/secrets/{secret_id}/update?version={version}", json=relabel)
    assert updated.status_code == 200, updated.text
    assert (await api.get(f"{V}/secrets/{secret_id}")).json()["Spec"]["Labels"] == {"team": "b"}
    stale = await api.post(f"{V}/secrets/{secret_id}/update?version={version}", json=relabel)
    assert stale.status_code == 409
    assert "update out of sequence" in stale.json()["message"]

    removed = await api.delete(f"{V}/secrets/{secret_id}")
    assert removed.status_code == 204
    gone = await api.get(f"{V}/secrets/{secret_id}")
    assert gone.status_code == 404
    assert set(gone.json()) == {"message"}
    assert await stored(dharness, pb.DATA_KIND_SECRET) == {}


async def test_a_config_shows_its_data_and_takes_it_back_unchanged_on_update(
    api: httpx.AsyncClient, dharness: Harness
) -> None:
    config_id = await create(api, "configs", "nginx_conf", CONFIG_DATA)
    body = (await api.get(f"{V}/configs/nginx_conf")).json()
    assert body["Spec"] == {"Name": "nginx_conf", "Labels": {}, "Data": b64(CONFIG_DATA)}
    assert (await api.get(f"{V}/configs")).json()[0]["Spec"]["Data"] == b64(CONFIG_DATA)

    # What docker's clients do: the spec as read, with new labels.
    spec = body["Spec"] | {"Labels": {"env": "prod"}}
    url = f"{V}/configs/{config_id}/update?version={body['Version']['Index']}"
    assert (await api.post(url, json=spec)).status_code == 200
    after = (await api.get(f"{V}/configs/{config_id}")).json()
    assert after["Spec"]["Labels"] == {"env": "prod"}
    assert after["Spec"]["Data"] == b64(CONFIG_DATA)


@pytest.mark.parametrize(
    ("plural", "change"),
    [
        ("configs", {"Data": b64(b"other")}),
        ("secrets", {"Data": b64(b"other")}),
        ("secrets", {"Name": "renamed"}),
    ],
)
async def test_an_update_of_more_than_labels_is_refused_as_docker_does(
    api: httpx.AsyncClient, dharness: Harness, plural: str, change: dict[str, Any]
) -> None:
    kind = pb.DATA_KIND_CONFIG if plural == "configs" else pb.DATA_KIND_SECRET
    object_id = await create(api, plural, "one", SECRET_DATA)
    before = await stored(dharness, kind)
    version = before["one"][2]
    spec = {"Name": "one", "Labels": {"x": "y"}} | change
    answer = await api.post(f"{V}/{plural}/{object_id}/update?version={version}", json=spec)
    assert answer.status_code == 400
    assert "only updates to Labels are allowed" in answer.json()["message"]
    assert await stored(dharness, kind) == before


async def test_a_secret_s_own_data_sent_back_with_new_labels_is_taken(
    api: httpx.AsyncClient, dharness: Harness
) -> None:
    """What `docker stack deploy` does to a stack's existing secret."""
    secret_id = await create(api, "secrets", "same", SECRET_DATA)
    version = (await api.get(f"{V}/secrets/{secret_id}")).json()["Version"]["Index"]
    spec = {"Name": "same", "Labels": {"x": "y"}, "Data": b64(SECRET_DATA)}
    answer = await api.post(f"{V}/secrets/{secret_id}/update?version={version}", json=spec)
    assert answer.status_code == 200, answer.text
    labels, versions, _ = (await stored(dharness, pb.DATA_KIND_SECRET))["same"]
    assert (labels, versions) == ({"x": "y"}, [1])


@pytest.mark.parametrize("query", ["", "?version=x", "?version=-1"])
async def test_an_update_without_a_valid_version_is_refused(
    api: httpx.AsyncClient, dharness: Harness, query: str
) -> None:
    config_id = await create(api, "configs", "c", CONFIG_DATA)
    before = await stored(dharness, pb.DATA_KIND_CONFIG)
    answer = await api.post(
        f"{V}/configs/{config_id}/update{query}", json={"Name": "c", "Labels": {"a": "b"}}
    )
    assert answer.status_code == 400
    assert "invalid config version" in answer.json()["message"]
    assert await stored(dharness, pb.DATA_KIND_CONFIG) == before


async def test_docker_s_list_filters(api: httpx.AsyncClient) -> None:
    a = await create(api, "secrets", "app_db", b"1", stack="app")
    b = await create(api, "secrets", "app_db_ro", b"2", stack="app", ro="1")
    c = await create(api, "secrets", "other", b"3")

    async def ids(filters: dict[str, Any]) -> set[str]:
        answer = await api.get(f"{V}/secrets", params={"filters": json.dumps(filters)})
        assert answer.status_code == 200, answer.text
        return {s["ID"] for s in answer.json()}

    assert await ids({"name": {"app_db": True}}) == {a, b}
    assert await ids({"names": ["app_db"]}) == {a}
    assert await ids({"label": ["stack=app"]}) == {a, b}
    assert await ids({"label": {"ro": True}}) == {b}
    assert await ids({"id": [c[:6]]}) == {c}
    assert await ids({"names": ["app_db", "other"], "label": ["stack"]}) == {a}


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/v1.41/secrets?filters=%7Bnot-json", 400, "invalid filter"),
        ('/v1.41/configs?filters={"driver":["x"]}', 400, "invalid filter 'driver'"),
        ('/v1.41/secrets?filters={"name":"x"}', 400, "invalid filter 'name'"),
        ("/v1.50/secrets", 400, "too new"),
        ("/v1.41/secrets/nope", 404, "nope"),
    ],
)
async def test_bad_reads_get_docker_shaped_errors(
    api: httpx.AsyncClient, path: str, status: int, words: str
) -> None:
    answer = await api.get(path)
    assert answer.status_code == status
    assert words in answer.json()["message"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"Name": "x", "Data": b64(b"1"), "Driver": {"Name": "vault"}}, 400, "Driver.Name"),
        ({"Name": "x", "Data": b64(b"1"), "Templating": {"Name": "golang"}}, 400, "Templating"),
        ({"Name": "x", "Data": b64(b"1"), "Extra": 1}, 400, "unsupported field Extra"),
        ({"Name": "x", "Data": "not base64!"}, 400, "base64"),
        ({"Name": "x"}, 400, "data is empty"),
        ({"Name": "bad name!", "Data": b64(b"1")}, 400, "name"),
        ({"Name": "taken", "Data": b64(b"1")}, 409, "already exists"),
    ],
)
async def test_bad_creates_are_refused_and_store_nothing(
    api: httpx.AsyncClient,
    dharness: Harness,
    body: dict[str, Any],
    status: int,
    words: str,
) -> None:
    await create(api, "secrets", "taken", b"0")
    before = await stored(dharness, pb.DATA_KIND_SECRET)
    answer = await api.post(f"{V}/secrets/create", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["message"]
    assert await stored(dharness, pb.DATA_KIND_SECRET) == before


async def test_a_body_over_the_limit_is_refused_before_it_is_read_whole(
    api: httpx.AsyncClient, dharness: Harness
) -> None:
    big = {"Name": "big", "Data": "A" * (3 * 1024 * 1024)}
    answer = await api.post(f"{V}/configs/create", json=big)
    assert answer.status_code == 413
    assert "limit" in answer.json()["message"]

    async def chunks() -> Any:
        # No Content-Length: the size shows only as the body is read.
        yield b'{"Name": "big", "Labels": {}, "Data": "'
        for _ in range(64):
            yield b"A" * (64 * 1024)
        yield b'"}'

    streamed = await api.post(f"{V}/services/create", content=chunks())
    assert streamed.status_code == 413
    assert await stored(dharness, pb.DATA_KIND_CONFIG) == {}
    assert (await dharness.control.ListServices(pb.ListServicesRequest())).services == []
