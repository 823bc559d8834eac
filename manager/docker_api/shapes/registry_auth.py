"""docker's X-Registry-Auth header (`--with-registry-auth`): a base64url JSON AuthConfig."""

from __future__ import annotations

import base64
import binascii
import json

from common.errors import InvalidArgument
from common.model import RegistryAuth
from manager.docker_api.shapes.fields import Fields

HEADER = "X-Registry-Auth"
# The header is a few credentials; past this it is not one.
MAX_HEADER = 16 * 1024


def registry_auth_from_header(value: str | None) -> RegistryAuth | None:
    """The credentials the header carries; None when it carries none: absent, {} or only a
    server address, as docker's clients send it for a registry they hold nothing for. Never
    echoes the value in an error."""
    if not value or not value.strip():
        return None
    if len(value) > MAX_HEADER:
        raise InvalidArgument(f"invalid {HEADER} header: over {MAX_HEADER} characters")
    text = value.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"invalid {HEADER} header: expected base64url JSON") from None
    fields = Fields(body, HEADER)
    username = fields.text("username")
    password = fields.text("password")
    encoded = fields.text("auth")
    if encoded and not username:
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"invalid {HEADER} header: its auth is not base64") from None
    auth = RegistryAuth(
        username=username,
        password=password,
        server_address=fields.text("serveraddress"),
        identity_token=fields.text("identitytoken"),
    )
    # docker's clients fill these in; they ask nothing of a pull.
    fields.take("email")
    fields.done()
    return auth if username or password or auth.identity_token else None
