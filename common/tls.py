"""Mutual TLS for gRPC: a bundle of PEM files on disk, and who the peer of a call is.

A bundle directory holds ca.pem, cert.pem and key.pem. They are replaced together, the way
Kubernetes updates a mounted secret: each version goes into a directory of its own
(`..bundle-XXXX`), the symlink `..bundle` is renamed over to point at it, and the three names
are symlinks through it. A crash at any point leaves the old pair or the new one, never one of
each. Plain files (a bundle copied elsewhere, or written before this layout) load as well.
Writers take the directory's lock, readers share it: the manager refreshes its admin bundle
while `shoal ca --rotate` saves the same one, and each save removes every version but its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from common import cert_file, key_files
from common.errors import InvalidArgument, Unauthenticated
from common.private_file import write_private

if TYPE_CHECKING:
    from common import pki

CA_FILE = "ca.pem"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
_FILES = (CA_FILE, CERT_FILE, KEY_FILE)
CURRENT = "..bundle"
_VERSION_PREFIX = "..bundle-"


@dataclass(frozen=True, repr=False)
class Bundle:
    """A CA to trust, and a certificate with its key to present."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def __repr__(self) -> str:
        return "Bundle(<pem redacted>)"

    @classmethod
    def load(cls, directory: Path) -> Bundle:
        """The bundle in directory; InvalidArgument (one line) if incomplete or mismatched."""
        try:
            with _locked(directory, fcntl.LOCK_SH):
                return cls._read(directory)
        except OSError as exc:
            raise InvalidArgument(
                f"incomplete certificate bundle in {directory}: {exc.strerror}"
            ) from None

    @classmethod
    def _read(cls, directory: Path) -> Bundle:
        # Through the link once, so the three files come from one version.
        link = directory / CURRENT
        # The link's own target only: the directory's path stays as given (autolock finds a
        # key's KEK by it, and a state dir may be reached through a symlink).
        source = directory / os.readlink(link) if link.is_symlink() else directory
        bundle = cls(
            ca_pem=(source / CA_FILE).read_bytes(),
            cert_pem=(source / CERT_FILE).read_bytes(),
            key_pem=key_files.read_key(source / KEY_FILE),
        )
        with key_files.readable_path(source / KEY_FILE) as key_path:
            problem = cert_file.pair_problem(source / CERT_FILE, key_path)
        if problem is not None:
            raise InvalidArgument(
                f"the certificate and the key in {directory} {problem}: the bundle is damaged"
            )
        return bundle

    @staticmethod
    def present(directory: Path) -> bool:
        return all((directory / f).is_file() for f in _FILES)

    def save(self, directory: Path) -> None:
        """Replace the bundle in directory (0700, files 0600) in one rename."""
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        with _locked(directory, fcntl.LOCK_EX):
            version = Path(tempfile.mkdtemp(prefix=_VERSION_PREFIX, dir=directory))
            pems = (self.ca_pem, self.cert_pem, self.key_pem)
            for name, data in zip(_FILES, pems, strict=True):
                write_private(version / name, data)
            _fsync_dir(version)
            _point(directory / CURRENT, version.name)
            for name in _FILES:
                if not (directory / name).is_symlink():
                    _point(directory / name, f"{CURRENT}/{name}")
            _fsync_dir(directory)
            for old in directory.glob(f"{_VERSION_PREFIX}*"):
                if old != version:
                    shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def remove(directory: Path) -> None:
        """Delete the bundle in directory, whichever layout it has; other files stay."""
        with _locked(directory, fcntl.LOCK_EX):
            for name in (*_FILES, CURRENT):
                (directory / name).unlink(missing_ok=True)
            for version in directory.glob(f"{_VERSION_PREFIX}*"):
                shutil.rmtree(version, ignore_errors=True)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=self.key_pem,
            certificate_chain=self.cert_pem,
        )

    @property
    def subject(self) -> pki.Subject:
        from common import pki  # the cryptography package only where a subject is read

        return pki.subject_of(pki.load_cert(self.cert_pem))


@contextlib.contextmanager
def _locked(directory: Path, how: int) -> Iterator[None]:
    """One writer at a time, and no reader while one writes, across processes: an flock on
    the directory itself, so no lock file is left beside the bundle. Where a directory cannot
    be locked (missing, not readable, or on NFS, which locks only files open for writing) the
    bundle is used unlocked, as it was before locks."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        fd = -1
    try:
        if fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, how)
        yield
    finally:
        if fd >= 0:
            os.close(fd)


def _point(link: Path, target: str) -> None:
    """Make link a symlink to target by renaming a new link over it: atomic on POSIX."""
    tmp = link.with_name(link.name + ".tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def peer_subject(context: Any) -> pki.Subject:
    """The subject of the client certificate the TLS layer verified for this call."""
    pems = context.auth_context().get("x509_pem_cert")
    if not pems:
        raise Unauthenticated("a client certificate of this cluster is required")
    from common import pki  # the cryptography package only where a subject is read

    return pki.subject_of(pki.load_cert(pems[0]))
