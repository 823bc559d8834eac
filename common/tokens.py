"""Join tokens: SHOAL-1-<digest>-<secret>, both parts base36 so `-` only separates fields.

The digest names the cluster (SHA-256 of its CA certificate once the cluster has one), the secret
admits a worker or a manager. Tokens are secrets: their text never goes into logs or errors.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from common.errors import InvalidArgument
from common.ids import base36

PREFIX = "SHOAL"
VERSION = "1"
DIGEST_LEN = 50
SECRET_LEN = 25
_TOKEN = re.compile(rf"^{PREFIX}-{VERSION}-([0-9a-z]{{{DIGEST_LEN}}})-([0-9a-z]{{{SECRET_LEN}}})$")


@dataclass(frozen=True, repr=False)
class JoinToken:
    digest: str
    secret: str

    def __str__(self) -> str:
        return f"{PREFIX}-{VERSION}-{self.digest}-{self.secret}"

    def __repr__(self) -> str:
        return "JoinToken(<redacted>)"


def digest_of(data: bytes) -> str:
    return base36(int.from_bytes(hashlib.sha256(data).digest(), "big"), DIGEST_LEN)


def new_secret() -> str:
    return base36(int.from_bytes(secrets.token_bytes(16), "big"), SECRET_LEN)


def parse(text: str) -> JoinToken:
    match = _TOKEN.match(text.strip())
    if match is None:
        raise InvalidArgument(
            f"malformed join token: expected {PREFIX}-{VERSION}-<{DIGEST_LEN} base36 characters>"
            f"-<{SECRET_LEN} base36 characters>"
        )
    return JoinToken(digest=match.group(1), secret=match.group(2))
