"""gRPC message sizes, set explicitly at both ends of every channel.

Big sets (a node's assignments, an agent's pile of reports after a long absence) go in chunks of
CHUNK_BYTES, far below the limit, so no set of any size can fail a session; the limit itself is
above gRPC's 4 MiB default only to leave room for one very large object.
"""

from __future__ import annotations

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024

OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
