"""Keys, certificate requests and certificates: the cryptography package, wrapped small.

Node certificates name their holder as CN = node ID, OU = role (worker, manager or admin),
O = cluster ID. Private keys are ECDSA P-256 and never leave the host that made them.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.errors import InvalidArgument, Unauthenticated

ROLE_WORKER = "worker"
ROLE_MANAGER = "manager"
ROLE_ADMIN = "admin"


@dataclass(frozen=True)
class Subject:
    """Who a certificate speaks for."""

    node_id: str
    role: str
    cluster_id: str
    # Admin certificates only: the rotation they were issued in (none: 0, the first).
    generation: int = 0


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidArgument("expected an ECDSA private key")
    return key


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise InvalidArgument(f"not a PEM certificate: {exc}") from None


def load_certs(pem: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (a trust bundle, or a certificate and its chain)."""
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise InvalidArgument(f"not a PEM certificate bundle: {exc}") from None


def issuing_root(cert: x509.Certificate, roots: list[x509.Certificate]) -> x509.Certificate | None:
    """The root of roots whose key signed cert, if any. A cross-signed root shares its key
    with the root it vouches for, so a certificate of the new root is matched by that root."""
    return next((root for root in roots if issued_by(cert, root)), None)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def name(common: str, unit: str, org: str, generation: int | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        x509.NameAttribute(NameOID.COMMON_NAME, common),
    ]
    if generation is not None:
        attributes.append(x509.NameAttribute(NameOID.GENERATION_QUALIFIER, str(generation)))
    return x509.Name(attributes)


def _single(subject: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = subject.get_attributes_for_oid(oid)
    if len(values) != 1:
        raise Unauthenticated("the certificate does not name exactly one node, role and cluster")
    value = values[0].value
    return value if isinstance(value, str) else value.decode()


def _generation(subject: x509.Name) -> int:
    values = subject.get_attributes_for_oid(NameOID.GENERATION_QUALIFIER)
    if not values:
        return 0
    value = values[0].value
    text = value if isinstance(value, str) else value.decode()
    if len(values) != 1 or not text.isdigit():
        raise Unauthenticated("the certificate's generation is not one number")
    return int(text)


def subject_of(cert: x509.Certificate) -> Subject:
    s = cert.subject
    return Subject(
        node_id=_single(s, NameOID.COMMON_NAME),
        role=_single(s, NameOID.ORGANIZATIONAL_UNIT_NAME),
        cluster_id=_single(s, NameOID.ORGANIZATION_NAME),
        generation=_generation(s),
    )


def new_csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A request that proves possession of key; the manager decides every name in the answer."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def public_key_of_csr(pem: bytes) -> ec.EllipticCurvePublicKey:
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError:
        raise InvalidArgument("malformed certificate request") from None
    if not csr.is_signature_valid:
        raise InvalidArgument("the certificate request's signature does not verify")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise InvalidArgument("certificate requests must carry an ECDSA P-256 key")
    return key


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def matches_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    return cert.public_key() == key.public_key()


def join_proof(secret: str, csr_pem: bytes, nonce: bytes) -> bytes:
    """Proof of the join token's secret, bound to one request: the secret itself never travels."""
    return hmac.new(secret.encode(), b"shoal-join\0" + nonce + b"\0" + csr_pem, "sha256").digest()


def proof_matches(given: bytes, secret: str, csr_pem: bytes, nonce: bytes) -> bool:
    return hmac.compare_digest(given, join_proof(secret, csr_pem, nonce))


def point_in_life(cert: x509.Certificate, fraction: float) -> datetime:
    """The moment fraction (0..1) of the certificate's validity has passed."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return start + (end - start) * fraction
