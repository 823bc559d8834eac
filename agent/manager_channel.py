"""The agent's gRPC channel to the manager: its options, the answers no retry can help, and the
calls that publish log streams on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from agent.logs import Publish
from common import convert, keepalive, message_limits
from common.api import dispatcher_pb2_grpc
from common.logs import PublishedLogs

# Fatal answers: retrying cannot help; the node must join again, or run another version.
FATAL = {
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
}
CHANNEL_OPTIONS = [
    *keepalive.SESSION_OPTIONS,
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    # Also the connect timeout (20 s by default): a connect begun while the link was down would
    # otherwise hold the node away that long after the link came back. Not shorter: when
    # thousands of nodes reconnect at once (a manager restart) a TLS handshake waits its turn
    # on the manager; abandoned after 1 s, every handshake was redone and none completed.
    ("grpc.min_reconnect_backoff_ms", 5000),
    *message_limits.OPTIONS,
]


def log_publisher(channel: grpc.aio.Channel) -> Publish:
    """The log streams' way up: each subscription's batches on a PublishLogs call of its own."""
    stub: dispatcher_pb2_grpc.DispatcherAsyncStub = dispatcher_pb2_grpc.DispatcherStub(channel)

    async def publish(batches: AsyncIterator[PublishedLogs]) -> None:
        await stub.PublishLogs(convert.published_logs_to_pb(b) async for b in batches)

    return publish
