"""TLS to etcd: the CA that signed etcd's serving certificate, and the client certificate and key
a member started with --client-cert-auth asks for (etcdctl's --cacert, --cert and --key).

The files are read and checked once, at start, so a wrong path or a certificate that does not
match its key stops the manager with one line instead of failing every call later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from common.errors import InvalidArgument


@dataclass(frozen=True, repr=False)
class EtcdTls:
    # None: trust the roots gRPC ships with.
    cacert: bytes | None
    # Both or neither: the client certificate and its key.
    cert: bytes | None
    key: bytes | None

    def __repr__(self) -> str:
        return "EtcdTls(<pem redacted>)"

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.cacert, self.key, self.cert)


def _read(flag: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"{flag} {path}: cannot read it ({exc.strerror})") from None


def _certificates(flag: str, path: Path, data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InvalidArgument(f"{flag} {path}: not a PEM certificate") from None


def load(cacert: Path | None, cert: Path | None, key: Path | None) -> EtcdTls:
    """The TLS settings the three files give; InvalidArgument (one line) when one is missing,
    unreadable or not what its flag says, or the certificate is not the key's."""
    if (cert is None) != (key is None):
        raise InvalidArgument("--etcd-cert and --etcd-key go together: give both or neither")
    ca_pem = None
    if cacert is not None:
        ca_pem = _read("--etcd-cacert", cacert)
        _certificates("--etcd-cacert", cacert, ca_pem)
    if cert is None or key is None:
        return EtcdTls(ca_pem, None, None)
    cert_pem, key_pem = _read("--etcd-cert", cert), _read("--etcd-key", key)
    leaf = _certificates("--etcd-cert", cert, cert_pem)[0]
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        # TypeError: a key that needs a password, which a daemon has nobody to ask for.
        raise InvalidArgument(f"--etcd-key {key}: not an unencrypted PEM private key") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if private.public_key().public_bytes(der, public) != leaf.public_key().public_bytes(
        der, public
    ):
        raise InvalidArgument(f"--etcd-cert {cert} is not the certificate of --etcd-key {key}")
    return EtcdTls(ca_pem, cert_pem, key_pem)
