"""The X-Registry-Auth header the engine gets for a pull (agent) or a digest lookup (client):
one AuthConfig for both, and an explicit empty one for no credentials, so that docker-py never
sends what the host's docker configuration holds."""

from __future__ import annotations

import base64
import json

import docker.auth

from common.docker_auth import auth_config
from common.model import RegistryAuth


def _header(auth: RegistryAuth | None) -> object:
    encoded = docker.auth.encode_header(auth_config(auth))
    return json.loads(base64.urlsafe_b64decode(encoded))


def test_the_header_carries_the_credentials_under_docker_names() -> None:
    auth = RegistryAuth("deploy", "pw-0f9a8e7d", "127.0.0.1:5000", identity_token="tok")
    assert _header(auth) == {
        "username": "deploy",
        "password": "pw-0f9a8e7d",
        "serveraddress": "127.0.0.1:5000",
        "identitytoken": "tok",
    }


def test_no_credentials_is_an_empty_header_not_none() -> None:
    assert auth_config(None) == {}
    assert _header(None) == {}
