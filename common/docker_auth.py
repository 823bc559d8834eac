"""Registry credentials as the Docker engine takes them: the AuthConfig fields that docker-py
encodes into the X-Registry-Auth header (base64url JSON) of a pull or a distribution lookup."""

from __future__ import annotations

from common.model import RegistryAuth


def auth_config(auth: RegistryAuth | None) -> dict[str, str]:
    """auth's AuthConfig; for none, an empty one, still to be sent: given no auth_config,
    docker-py would send what this host's docker configuration holds, and Shoal hands out only
    the credentials a service came with."""
    if auth is None:
        return {}
    return {
        "username": auth.username,
        "password": auth.password,
        "serveraddress": auth.server_address,
        "identitytoken": auth.identity_token,
    }
