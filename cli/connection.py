"""How the client reaches the manager: which certificate bundle it presents, the mutual-TLS
channel, and what a failed connection tells the user."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import grpc

from common import message_limits
from common.errors import InvalidArgument, NotFound, Unavailable
from common.tls import Bundle

DEFAULT_HOST = "localhost:7462"
HOST_ENV = "SHOAL_HOST"
CONFIG_ENV = "SHOAL_CONFIG"
USER_CONFIG = "~/.shoal"
MANAGER_ADMIN_DIR = Path("/var/lib/shoal/manager/admin")
"""Where `manager serve` writes the admin bundle with its default --state-dir."""
LOCAL_MANAGER = "unix:///var/lib/shoal/manager/manager.sock"
"""Where a locked manager with the default --state-dir waits for `shoal cluster unlock`."""

# What gRPC's details say when the peers reached each other but TLS did not let the call through.
# TLS 1.3 checks the client's certificate after the client considers the handshake done, so a
# refused certificate reaches the client only as the server hanging up.
_HANDSHAKE_FAILED = ("handshake", "ssl", "socket closed")
_NAME_MISMATCH = "hostname verification"


@dataclass(frozen=True)
class Endpoint:
    """The manager to call and the bundle directory to call it with."""

    target: str
    config: Path

    def unavailable(self, details: str) -> Unavailable:
        """One line for a call that never reached the manager, from gRPC's details."""
        lowered = details.lower()
        if _NAME_MISMATCH in lowered:
            return Unavailable(
                f"the manager's certificate does not name {self.target}:"
                " use -H with the address or hostname the manager advertises"
            )
        if any(marker in lowered for marker in _HANDSHAKE_FAILED):
            return Unavailable(
                f"TLS handshake with the manager at {self.target} failed:"
                f" is the bundle in {self.config} from this cluster?"
            )
        return Unavailable(f"cannot reach the manager at {self.target} (is manager serve running?)")


# A stream with nothing to say for a while (`shoal events`) learns this way that the manager's
# host went away without closing the connection; the manager permits pings this often.
KEEPALIVE = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.max_pings_without_data", 0),
]


def is_local(target: str) -> bool:
    """A manager's unix socket (a locked manager's, manager.locked), reached without TLS."""
    return target.startswith("unix:")


def open_channel(endpoint: Endpoint) -> grpc.Channel:
    if is_local(endpoint.target):
        return grpc.insecure_channel(endpoint.target, options=message_limits.OPTIONS)
    bundle = Bundle.load(endpoint.config)
    return grpc.secure_channel(
        endpoint.target,
        bundle.channel_credentials(),
        options=[*KEEPALIVE, *message_limits.OPTIONS],
    )


def find_config(flag: str | None) -> Path:
    """The bundle directory: --config, else $SHOAL_CONFIG, else the first complete one of
    ~/.shoal and the manager's admin directory. A directory the user named must be complete."""
    for source, named in (("--config", flag), (f"${CONFIG_ENV}", os.environ.get(CONFIG_ENV))):
        if named:
            directory = Path(named)
            if not _complete(directory):
                raise InvalidArgument(
                    f"no complete certificate bundle (ca.pem, cert.pem, key.pem) in {directory},"
                    f" given by {source}"
                )
            return directory
    searched = [Path(USER_CONFIG).expanduser(), MANAGER_ADMIN_DIR]
    for directory in searched:
        if _complete(directory):
            return directory
    places = " or ".join(map(str, searched))
    raise NotFound(
        f"no certificate bundle in {places}: copy <manager state dir>/admin/"
        f" (default {MANAGER_ADMIN_DIR}) from the manager host to {USER_CONFIG},"
        " or pass --config DIR"
    )


def _complete(directory: Path) -> bool:
    try:
        return Bundle.present(directory)
    except PermissionError:
        # The manager's state dir is root's; a plain user would otherwise get a traceback.
        raise InvalidArgument(
            f"cannot read the certificate bundle in {directory}: permission denied"
        ) from None
