"""The cluster data key: what secrets, configs and registry credentials are sealed with.

The key lives only on managers' disks (`STATE_DIR/keys/data.key`, 0600); the store, SQLite or
etcd, holds only sealed bytes. A manager that joins receives the key over its join, so every
manager can open what another sealed.

Sealing is AES-256-GCM with a fresh 96-bit nonce per value. The associated data binds a sealed
value to what it belongs to (an object's kind and ID): bytes copied from one object onto
another fail to open instead of decrypting as the wrong secret.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from common import key_files
from common.errors import InvalidArgument
from common.private_file import write_private

KEYS_DIR = "keys"
KEY_FILE = "data.key"
KEY_BYTES = 32
NONCE_BYTES = 12
# Sealed values start with a format byte, so a later scheme can sit beside this one.
_FORMAT = b"\x01"


class DataKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise InvalidArgument(f"a data key is {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self._key = key

    def __repr__(self) -> str:
        return "DataKey(<redacted>)"

    @property
    def material(self) -> bytes:
        """The raw key, for handing to a joining manager over its mTLS join only."""
        return self._key

    @classmethod
    def generate(cls) -> DataKey:
        return cls(AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    @classmethod
    def load_or_create(cls, state_dir: Path) -> DataKey:
        """The key in state_dir, made on first start."""
        path = state_dir / KEYS_DIR / KEY_FILE
        if path.exists():
            return cls(key_files.read_key(path))
        key = cls.generate()
        key.save(state_dir)
        return key

    def save(self, state_dir: Path) -> None:
        write_private(state_dir / KEYS_DIR / KEY_FILE, self._key)

    def seal(self, plaintext: bytes, bound_to: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return _FORMAT + nonce + self._aead.encrypt(nonce, plaintext, bound_to.encode())

    def open(self, sealed: bytes, bound_to: str) -> bytes:
        """The plaintext; InvalidArgument when sealed was not made by this key for bound_to."""
        if sealed[:1] != _FORMAT or len(sealed) < 1 + NONCE_BYTES:
            raise InvalidArgument("sealed data in an unknown format")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, bound_to.encode())
        except InvalidTag:
            # No detail: the message must not help anyone probing with altered bytes.
            raise InvalidArgument(
                "sealed data does not open with this cluster's data key"
            ) from None
