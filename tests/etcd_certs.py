"""Certificates for an etcd member served over TLS in tests: a CA, the member's serving
certificate for 127.0.0.1, and client certificates signed by that CA or by a stranger."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common import pki


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class EtcdCerts:
    ca: Path
    server: Pair
    client: Pair
    # Signed by a CA the member does not trust.
    stranger: Pair
    stranger_ca: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


class _Authority:
    def __init__(self, common: str) -> None:
        self.key = pki.new_key()
        start = datetime.now(UTC) - timedelta(minutes=5)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common))
            .issuer_name(_name(common))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, directory: Path, common: str, hosts: list[str]) -> Pair:
        key = pki.new_key()
        start = datetime.now(UTC) - timedelta(minutes=5)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=1))
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if hosts:
            names = [x509.IPAddress(ipaddress.ip_address(h)) for h in hosts]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        pair = Pair(directory / f"{common}.pem", directory / f"{common}-key.pem")
        pair.cert.write_bytes(pki.cert_pem(builder.sign(self.key, hashes.SHA256())))
        pki.write_private(pair.key, pki.key_pem(key))
        return pair

    def save(self, path: Path) -> Path:
        path.write_bytes(pki.cert_pem(self.cert))
        return path


def make_certs(directory: Path, hosts: list[str]) -> EtcdCerts:
    """A CA in directory, a serving certificate for hosts, a client certificate of that CA and
    one of another CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, other = _Authority("etcd-ca"), _Authority("stranger-ca")
    return EtcdCerts(
        ca=ca.save(directory / "ca.pem"),
        server=ca.issue(directory, "member", hosts),
        client=ca.issue(directory, "client", []),
        stranger=other.issue(directory, "stranger", []),
        stranger_ca=other.save(directory / "stranger-ca.pem"),
    )
