"""What a node reads of its own certificate without the cryptography package, which costs an
idle agent about 9 MB resident: whether the certificate matches its key (OpenSSL through the ssl
module, which the Docker client loads anyway) and when it is valid (read from its DER).
cryptography is imported only to make a key and a request, at renewal."""

from __future__ import annotations

import random
import ssl
from datetime import UTC, datetime
from pathlib import Path

from common.errors import InvalidArgument

# When a certificate is renewed, as a share of its life (Swarm's schedule): a random point
# within it spreads the renewals of nodes that joined together.
RENEW_BETWEEN = (0.5, 0.8)

_PEM_END = "-----END CERTIFICATE-----\n"
_SEQUENCE = 0x30
_VERSION = 0xA0  # [0] EXPLICIT, before the serial number
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18


def pair_problem(cert_file: Path, key_file: Path) -> str | None:
    """Why the certificate and the key do not make a pair, or None when they do."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        return "do not match" if exc.reason == "KEY_VALUES_MISMATCH" else "are unreadable"
    except OSError as exc:
        return f"are unreadable ({exc.strerror})"
    return None


def validity(cert_pem: bytes) -> tuple[datetime, datetime]:
    """notBefore and notAfter of a PEM certificate (the first, when a chain follows it, as
    during a CA rotation); InvalidArgument if it does not parse."""
    try:
        first = cert_pem.decode("ascii").split(_PEM_END)[0] + _PEM_END
        der = ssl.PEM_cert_to_DER_cert(first)
        _, cert, _ = _element(der, 0, _SEQUENCE)
        _, at, _ = _element(der, cert, _SEQUENCE)  # tbsCertificate
        tag, _, end = _element(der, at)
        if tag == _VERSION:
            at = end
        for _ in range(3):  # serialNumber, signature, issuer
            _, _, at = _element(der, at)
        _, at, _ = _element(der, at, _SEQUENCE)  # validity
        not_before, at = _time(der, at)
        not_after, _ = _time(der, at)
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"unreadable certificate: {exc}") from None
    return not_before, not_after


def renewal_due(cert_pem: bytes) -> datetime:
    """A random moment between 50 and 80 % of the certificate's life."""
    start, end = validity(cert_pem)
    return start + (end - start) * random.uniform(*RENEW_BETWEEN)


def _element(der: bytes, at: int, want: int | None = None) -> tuple[int, int, int]:
    """The DER element at offset at: its tag, where its content starts and where it ends."""
    tag, length = der[at], der[at + 1]
    start = at + 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(der[start : start + size], "big")
        start += size
    end = start + length
    if (want is not None and tag != want) or end > len(der):
        raise ValueError(f"unexpected DER element {tag:#x} at {at}")
    return tag, start, end


def _time(der: bytes, at: int) -> tuple[datetime, int]:
    tag, start, end = _element(der, at)
    text = der[start:end].decode("ascii")
    if tag == _UTC_TIME:
        # RFC 5280: two-digit years 50 to 99 are 19xx, the rest 20xx.
        year = int(text[:2])
        text = f"{19 if year >= 50 else 20}{text}"
    elif tag != _GENERALIZED_TIME:
        raise ValueError(f"unexpected time tag {tag:#x}")
    return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC), end
