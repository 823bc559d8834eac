"""Where the client's channel to the manager is made: the one place transport security plugs in."""

from __future__ import annotations

import grpc

DEFAULT_HOST = "localhost:7462"
HOST_ENV = "SHOAL_HOST"


def open_channel(target: str) -> grpc.Channel:
    # Plaintext until the admin bundle (mTLS, --config) arrives; callers only ever see a Channel,
    # so credentials can be added here without touching a command.
    return grpc.insecure_channel(target)
