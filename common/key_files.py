"""Key files at rest (autolock): sealed under a key encryption key (KEK) the operator holds.

With autolock on, a manager's private keys (its CA key, its serving and node keys, the data
key, any key file under its state dir) are stored sealed, so a stolen disk yields nothing
without the unlock key. This module is the one layer that knows it: the manager installs the
KEK for its state dir once unlocked (`install`), and every key file is read through `read_key`
and written through `common.private_file.write_private`, which seal and open on the way. A
process with no KEK installed (an agent, a manager without autolock) writes keys in the clear.

A sealed file is MAGIC, a 96-bit nonce and AES-256-GCM ciphertext whose associated data is the
file's name, so a sealed CA key copied over a node key does not open as one. The unlock key is
random (as Swarm's `SWMKEY-1-...`), so no KDF: it is the KEK itself, in base64.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from common.errors import FailedPrecondition, InvalidArgument

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"SHOAL-SEALED-1\n"
UNLOCK_PREFIX = "SHOALKEY-1-"
KEK_BYTES = 32
NONCE_BYTES = 12
# The client bundle stays readable: it is what `shoal` on this host unlocks the manager with.
CLEAR_DIRS = frozenset({"admin"})
LOCKED = "manager is locked: run shoal cluster unlock"
# 32 bytes in unpadded URL-safe base64.
_BODY = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


class Kek:
    """A key encryption key; its text form is the unlock key the operator keeps."""

    def __init__(self, key: bytes) -> None:
        # Imported here: an agent writes its files through this module and never seals, and
        # the cryptography package costs it about 9 MB (common/cert_file.py).
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != KEK_BYTES:
            raise InvalidArgument("invalid unlock key")
        self._aead: AESGCM = AESGCM(key)
        self.material = key

    def __repr__(self) -> str:
        return "Kek(<redacted>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Kek) and other.material == self.material

    def __hash__(self) -> int:
        return hash(self.material)

    @classmethod
    def generate(cls) -> Kek:
        return cls(os.urandom(KEK_BYTES))

    @classmethod
    def parse(cls, text: str) -> Kek:
        """The KEK an unlock key names; InvalidArgument (never echoing it) when malformed."""
        text = text.strip()
        if not text.startswith(UNLOCK_PREFIX):
            raise InvalidArgument(f"invalid unlock key: it starts with {UNLOCK_PREFIX}")
        body = text[len(UNLOCK_PREFIX) :]
        # Checked first: the decoder would skip characters outside its alphabet.
        if not _BODY.fullmatch(body):
            raise InvalidArgument("invalid unlock key")
        return cls(base64.urlsafe_b64decode(body + "="))

    @property
    def unlock_key(self) -> str:
        return UNLOCK_PREFIX + base64.urlsafe_b64encode(self.material).decode().rstrip("=")

    def seal(self, data: bytes, name: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + nonce + self._aead.encrypt(nonce, data, name.encode())

    def open(self, sealed: bytes, name: str) -> bytes:
        from cryptography.exceptions import InvalidTag

        body = sealed[len(MAGIC) :]
        try:
            return self._aead.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], name.encode())
        except InvalidTag:
            raise InvalidArgument("invalid unlock key") from None


def unlock_message(unlock_key: str) -> str:
    """What turning autolock on or showing the key prints (docker's words)."""
    return (
        "To unlock a shoal manager after it restarts, run the `shoal cluster unlock`\n"
        "command and provide the following key:\n\n"
        f"    {unlock_key}\n\n"
        "Please remember to store this key in a password manager, since without it you\n"
        "will not be able to restart the manager."
    )


# The KEK each state dir's key files are sealed under, by the state dir: per directory rather
# than per process, so that managers sharing a process (tests) each keep their own.
_installed: dict[Path, Kek] = {}


def install(state_dir: Path, kek: Kek | None) -> None:
    """The KEK key files under state_dir are sealed with from now on (None: in the clear)."""
    if kek is None:
        _installed.pop(state_dir.absolute(), None)
    else:
        _installed[state_dir.absolute()] = kek


def installed(state_dir: Path) -> Kek | None:
    return _installed.get(state_dir.absolute())


def _kek_for(path: Path) -> Kek | None:
    """The KEK of the state dir path is in, if path is a key file there that autolock seals."""
    absolute = path.absolute()
    for root, kek in _installed.items():
        if absolute.is_relative_to(root) and is_key_file(absolute.relative_to(root)):
            return kek
    return None


def is_key_file(path: Path) -> bool:
    """Whether autolock seals path, given relative to its state dir."""
    # A bundle's files sit in a version directory inside the bundle's own.
    clear = path.parent.name in CLEAR_DIRS or path.parent.parent.name in CLEAR_DIRS
    return (path.name.endswith("key.pem") or path.suffix == ".key") and not clear


def is_sealed(data: bytes) -> bool:
    return data.startswith(MAGIC)


def for_disk(path: Path, data: bytes) -> bytes:
    """What write_private stores: a key file sealed when a KEK is installed, else data."""
    kek = _kek_for(path)
    if kek is not None:
        return kek.seal(data, path.name)
    return data


def read_key(path: Path) -> bytes:
    """A key file's plaintext, opened with the installed KEK when it is sealed."""
    data = path.read_bytes()
    if not is_sealed(data):
        return data
    kek = _kek_for(path)
    if kek is None:
        raise FailedPrecondition(LOCKED)
    return kek.open(data, path.name)


@contextlib.contextmanager
def readable_path(path: Path) -> Iterator[Path]:
    """A path OpenSSL can load the key from: the file itself when clear, else its plaintext in
    an anonymous memory file (never on disk) for as long as the block runs."""
    if not is_sealed(path.read_bytes()):
        yield path
        return
    fd = os.memfd_create("shoal-key", os.MFD_CLOEXEC)
    try:
        os.write(fd, read_key(path))
        yield Path(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def key_files(state_dir: Path) -> list[Path]:
    """Every key file under state_dir that autolock seals (links followed to their targets)."""
    found = []
    for path in sorted(state_dir.rglob("*")):
        if path.is_file() and not path.is_symlink() and is_key_file(path.relative_to(state_dir)):
            found.append(path)
    return found


def sealed_on_disk(state_dir: Path) -> bool:
    return any(is_sealed(path.read_bytes()) for path in key_files(state_dir))


def check(state_dir: Path, kek: Kek) -> None:
    """InvalidArgument unless kek opens every sealed key file under state_dir."""
    for path in key_files(state_dir):
        data = path.read_bytes()
        if is_sealed(data):
            kek.open(data, path.name)


def reseal(state_dir: Path, old: Kek | None, new: Kek | None) -> int:
    """Rewrite every key file under state_dir from old (None: clear) to new (None: clear), each
    in one rename, and install new. Every file is opened before any is written, so a wrong old
    key changes nothing; files already under new are left alone, so a rewrite cut short is
    finished by running it again. Returns how many files changed."""
    from common.private_file import write_private

    plan = []
    for path in key_files(state_dir):
        data = path.read_bytes()
        if is_sealed(data):
            if new is not None and _opens(new, data, path.name):
                continue
            if old is None:
                raise FailedPrecondition(LOCKED)
            plan.append((path, old.open(data, path.name)))
        elif new is not None:
            plan.append((path, data))
    install(state_dir, new)
    for path, plain in plan:
        write_private(path, plain)
    return len(plan)


def _opens(kek: Kek, data: bytes, name: str) -> bool:
    try:
        kek.open(data, name)
    except InvalidArgument:
        return False
    return True
