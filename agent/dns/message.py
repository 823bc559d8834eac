"""The little of the DNS wire format (RFC 1035) the name server needs: one question in, A records
or an error code out. Pure."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

TYPE_A = 1
CLASS_IN = 1
NOERROR = 0
FORMERR = 1
SERVFAIL = 2
_HEADER = struct.Struct("!HHHHHH")
_QR = 0x8000
_AA = 0x0400
_RD = 0x0100
_RA = 0x0080
_OPCODE = 0x7800
# Short: task addresses change as replicas come and go.
TTL = 5
MAX_UDP = 512


class Malformed(ValueError):
    pass


@dataclass(frozen=True)
class Query:
    id: int
    flags: int
    name: str
    qtype: int
    qclass: int
    # The question section as received, echoed in the answer.
    question: bytes


def parse(data: bytes) -> Query:
    if len(data) < _HEADER.size:
        raise Malformed("shorter than a header")
    qid, flags, qdcount, _, _, _ = _HEADER.unpack_from(data)
    if flags & _QR or qdcount != 1:
        raise Malformed("not a query with one question")
    labels: list[str] = []
    offset = _HEADER.size
    while True:
        if offset >= len(data):
            raise Malformed("name runs past the end")
        length = data[offset]
        offset += 1
        if length == 0:
            break
        if length & 0xC0:
            raise Malformed("compressed name in a question")
        label = data[offset : offset + length]
        if len(label) != length:
            raise Malformed("label runs past the end")
        labels.append(label.decode("ascii", errors="replace"))
        offset += length
    if offset + 4 > len(data):
        raise Malformed("question without type and class")
    qtype, qclass = struct.unpack_from("!HH", data, offset)
    return Query(
        id=qid,
        flags=flags,
        name=".".join(labels).lower(),
        qtype=qtype,
        qclass=qclass,
        question=data[_HEADER.size : offset + 4],
    )


def answer(query: Query, addresses: list[str], rcode: int = NOERROR) -> bytes:
    """The reply to query: A records for addresses (as many as fit in 512 bytes; the rest are
    dropped and the truncation bit set, as RFC 1035 says)."""
    records = b"".join(
        # 0xC00C: a pointer to the name in the question, right after the header.
        struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4)
        + ipaddress.IPv4Address(address).packed
        for address in addresses
    )
    room = (MAX_UDP - _HEADER.size - len(query.question)) // 16
    truncated = len(addresses) > room
    count = min(len(addresses), room)
    flags = _QR | _AA | _RA | (query.flags & (_OPCODE | _RD)) | rcode | (0x0200 if truncated else 0)
    header = _HEADER.pack(query.id, flags, 1, count, 0, 0)
    return header + query.question + records[: count * 16]


def error(data: bytes, rcode: int) -> bytes | None:
    """An error reply to whatever query data holds, when it has at least a header."""
    if len(data) < _HEADER.size:
        return None
    qid, flags, _, _, _, _ = _HEADER.unpack_from(data)
    return _HEADER.pack(qid, _QR | _RA | (flags & (_OPCODE | _RD)) | rcode, 0, 0, 0, 0)
