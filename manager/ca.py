"""The cluster CA: the root of trust, the certificates it issues, and where they are kept.

State dir layout (directories 0700, keys 0600):
  ca/ca.pem, ca/ca-key.pem        the root CA
  tls/server.pem, tls/server-key.pem   this manager's serving certificate
  admin/ca.pem, cert.pem, key.pem      the client bundle for `shoal`
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from common import pki, tokens
from common.errors import InvalidArgument
from common.model import now
from common.tls import Bundle
from manager import ca_files

CA_LIFETIME = timedelta(days=3650)
ADMIN_LIFETIME = timedelta(days=365)
# Certificates are back-dated a little so a peer whose clock runs behind still accepts them.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def bundle(self, ca: ClusterCA) -> Bundle:
        return Bundle(
            ca_pem=ca.pem, cert_pem=pki.cert_pem(self.cert), key_pem=pki.key_pem(self.key)
        )


class ClusterCA:
    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self._key = key
        self.cert = cert

    @property
    def pem(self) -> bytes:
        return pki.cert_pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        """The CA's private key, for handing to a joining manager over its mTLS join only."""
        return pki.key_pem(self._key)

    @property
    def digest(self) -> str:
        """What join tokens carry: SHA-256 of the CA certificate, in base36."""
        return tokens.digest_of(pki.der(self.cert))

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes) -> ClusterCA:
        """The cluster's CA as a joining manager receives it, checked."""
        try:
            key = pki.load_key(key_pem)
        except ValueError:
            raise InvalidArgument("the CA key received does not parse") from None
        cert = pki.load_cert(cert_pem)
        if not pki.matches_key(cert, key):
            raise InvalidArgument("the CA certificate and key received do not match")
        return cls(key, cert)

    def save(self, ca_dir: Path) -> None:
        ca_files.save(ca_dir, self.key_pem, self.pem)

    @classmethod
    def load_or_create(cls, ca_dir: Path, cluster_id: str) -> ClusterCA:
        found = ca_files.load(ca_dir)
        if found is not None:
            return cls(*found)
        ca = cls.create(cluster_id)
        ca.save(ca_dir)
        return ca

    @classmethod
    def create(cls, cluster_id: str, generation: int | None = None) -> ClusterCA:
        """A new self-signed root; a rotation's carries its generation, so that its name
        differs from the old root's (a chain is built by names)."""
        key = pki.new_key()
        subject = pki.name("shoal-root-ca", "ca", cluster_id, generation)
        start = now() - CLOCK_SKEW
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + CA_LIFETIME)
        )
        # Path length 1: a later rotation's cross-signed root sits between this one and leaves.
        return cls(key, _as_ca(builder, 1).sign(key, hashes.SHA256()))

    def cross_sign(self, other: x509.Certificate) -> x509.Certificate:
        """other's name and key, vouched for by this CA: a certificate other issues chains
        through this one to this CA, for whoever trusts only this CA (swarmkit's rotation)."""
        builder = (
            x509.CertificateBuilder()
            .subject_name(other.subject)
            .issuer_name(self.cert.subject)
            .public_key(other.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(other.not_valid_before_utc)
            .not_valid_after(min(other.not_valid_after_utc, self.cert.not_valid_after_utc))
        )
        return _as_ca(builder, 0).sign(self._key, hashes.SHA256())

    def issue(
        self,
        public_key: ec.EllipticCurvePublicKey,
        common_name: str,
        role: str,
        cluster_id: str,
        lifetime: timedelta,
        hosts: list[str] | None = None,
        generation: int | None = None,
    ) -> x509.Certificate:
        """A leaf certificate; with hosts, one a server can present for those names; with
        generation, an admin certificate of that rotation."""
        # Back-dated by at most a tenth of its life, so renewal timing (a share of the whole
        # validity) stays close to the lifetime asked for, however short.
        skew = min(CLOCK_SKEW, lifetime / 10)
        start = now() - skew
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (
            x509.CertificateBuilder()
            .subject_name(pki.name(common_name, role, cluster_id, generation))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + skew + lifetime)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if hosts:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_san(h) for h in dict.fromkeys(hosts)]),
                critical=False,
            )
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return builder.sign(self._key, hashes.SHA256())

    def issue_with_key(
        self,
        common_name: str,
        role: str,
        cluster_id: str,
        lifetime: timedelta,
        hosts: list[str] | None = None,
        generation: int | None = None,
    ) -> Issued:
        key = pki.new_key()
        cert = self.issue(
            key.public_key(), common_name, role, cluster_id, lifetime, hosts, generation
        )
        return Issued(key, cert)


def _as_ca(builder: x509.CertificateBuilder, path_length: int) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=path_length), critical=True
    ).add_extension(
        x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def bundle_needs_renewal(directory: Path, ca: ClusterCA, hosts: list[str] | None = None) -> bool:
    """Missing, from another CA, past half its life, or (for a server) naming other hosts.
    A bundle whose certificate and key do not match raises InvalidArgument."""
    if not Bundle.present(directory):
        return True
    # A damaged pair is reported, not replaced behind the operator's back.
    cert = pki.load_cert(Bundle.load(directory).cert_pem)
    if not pki.issued_by(cert, ca.cert) or now() >= pki.point_in_life(cert, 0.5):
        return True
    if hosts is not None:
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return True
        have = {str(v) for v in names.get_values_for_type(x509.DNSName)}
        have |= {str(v) for v in names.get_values_for_type(x509.IPAddress)}
        return have != {str(_san(h).value) for h in hosts}
    return False
