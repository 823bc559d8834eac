"""Mutual TLS for gRPC: a bundle of PEM files on disk, and who the peer of a call is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from common import pki
from common.errors import InvalidArgument, Unauthenticated

CA_FILE = "ca.pem"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"


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
        try:
            return cls(
                ca_pem=(directory / CA_FILE).read_bytes(),
                cert_pem=(directory / CERT_FILE).read_bytes(),
                key_pem=(directory / KEY_FILE).read_bytes(),
            )
        except OSError as exc:
            raise InvalidArgument(
                f"incomplete certificate bundle in {directory}: {exc.strerror}"
            ) from None

    @staticmethod
    def present(directory: Path) -> bool:
        return all((directory / f).is_file() for f in (CA_FILE, CERT_FILE, KEY_FILE))

    def save(self, directory: Path) -> None:
        # The key last: a bundle that has its key is complete.
        pki.write_private(directory / CA_FILE, self.ca_pem)
        pki.write_private(directory / CERT_FILE, self.cert_pem)
        pki.write_private(directory / KEY_FILE, self.key_pem)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=self.key_pem,
            certificate_chain=self.cert_pem,
        )

    @property
    def subject(self) -> pki.Subject:
        return pki.subject_of(pki.load_cert(self.cert_pem))


def peer_subject(context: Any) -> pki.Subject:
    """The subject of the client certificate the TLS layer verified for this call."""
    pems = context.auth_context().get("x509_pem_cert")
    if not pems:
        raise Unauthenticated("a client certificate of this cluster is required")
    return pki.subject_of(pki.load_cert(pems[0]))
