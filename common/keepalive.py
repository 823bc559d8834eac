"""Keepalive on the long-lived channels from Shoal's daemons to a manager: a dead connection (a
cut cable, a host gone) is found within seconds rather than the kernel's minutes. The manager's
server permits pings this often (manager/server.py).

gRPC also sets TCP_USER_TIMEOUT to the keepalive timeout on such a channel (gRPC proposal A18):
data the peer has not acknowledged within it closes the connection. A channel that sends on
its own every few seconds, as an agent's session does with its heartbeats, learns of a dead link
that way, so its pings only need to find a peer that is up but silent."""

from __future__ import annotations

_COMMON = [
    ("grpc.keepalive_timeout_ms", 2000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]

# A call that waits for an answer (a write forwarded to the leader) has nothing of its own in
# flight to time out: pings every 2 s fail it within about 4 s of a cut.
OPTIONS = [("grpc.keepalive_time_ms", 2000), *_COMMON]

# An agent's session: its heartbeats (every period, at most 3 s) find a cut link within the
# period and 2 s (tests/integration/test_session_link.py). Pings every 2 s were a quarter of an
# idle agent's CPU (bench.scale, 1,000 hollow nodes), and the manager answers every one.
SESSION_OPTIONS = [("grpc.keepalive_time_ms", 10_000), *_COMMON]
