"""The root CA's files in a manager's state dir (ca/ca.pem, ca/ca-key.pem): the one place they
are read and written. The key is sealed at rest under autolock's key (common/key_files): written
through write_private, read through key_files.read_key."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from common import key_files, pki
from common.errors import InvalidArgument
from common.private_file import write_private

CERT_FILE = "ca.pem"
KEY_FILE = "ca-key.pem"


def load(ca_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    """The CA's key and certificate in ca_dir, checked to match; None when absent."""
    cert_path, key_path = ca_dir / CERT_FILE, ca_dir / KEY_FILE
    if not (cert_path.exists() and key_path.exists()):
        return None
    key = pki.load_key(key_files.read_key(key_path))
    cert = pki.load_cert(cert_path.read_bytes())
    if not pki.matches_key(cert, key):
        raise InvalidArgument(f"the CA certificate and key in {ca_dir} do not match")
    return key, cert


def save(ca_dir: Path, key_pem: bytes, cert_pem: bytes) -> None:
    """Key first: a certificate beside a key of another CA would not load."""
    write_private(ca_dir / KEY_FILE, key_pem)
    write_private(ca_dir / CERT_FILE, cert_pem)


def holds(ca_dir: Path, cert_pem: bytes) -> bool:
    """Whether ca_dir holds exactly this CA certificate."""
    path = ca_dir / CERT_FILE
    return path.exists() and path.read_bytes() == cert_pem
