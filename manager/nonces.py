"""Join nonces the manager checks without remembering them.

A nonce is its issue time, random bytes and an HMAC of both under a key only this process
holds: checking one is a hash and a clock read, whatever the number of nonces handed out, so a
flood of GetCA calls costs no memory and cannot push a real joiner's nonce out of a table.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable

from common.errors import Unauthenticated

NONCE_TTL = 60.0
_STAMP = 8
_RANDOM = 16
_MAC = 16
SIZE = _STAMP + _RANDOM + _MAC
_EXPIRED = "the join request expired or is not this manager's: try again"


class Nonces:
    """Issue and check nonces. The key is made per process: a manager restart only makes joins
    in progress ask for a new nonce. The clock is monotonic, so wall-clock steps change nothing."""

    def __init__(
        self, ttl: float = NONCE_TTL, clock: Callable[[], int] = time.monotonic_ns
    ) -> None:
        self._key = os.urandom(32)
        self._ttl_ns = int(ttl * 1e9)
        self._clock = clock

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, b"shoal-join-nonce\0" + body, hashlib.sha256).digest()[:_MAC]

    def issue(self) -> bytes:
        body = self._clock().to_bytes(_STAMP, "big") + os.urandom(_RANDOM)
        return body + self._mac(body)

    def check(self, nonce: bytes) -> None:
        """Raise Unauthenticated unless this process issued nonce within the last TTL."""
        if len(nonce) != SIZE:
            raise Unauthenticated(_EXPIRED)
        body, mac = nonce[: _STAMP + _RANDOM], nonce[_STAMP + _RANDOM :]
        if not hmac.compare_digest(mac, self._mac(body)):
            raise Unauthenticated(_EXPIRED)
        age = self._clock() - int.from_bytes(body[:_STAMP], "big")
        if not 0 <= age <= self._ttl_ns:
            raise Unauthenticated(_EXPIRED)
