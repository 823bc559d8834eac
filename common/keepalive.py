"""Keepalive pings on a long-lived channel from one of Shoal's daemons to a manager: a dead
connection (a cut cable, a host gone) that would otherwise look idle is found within about four
seconds. The manager's server permits pings this often (manager/server.py)."""

from __future__ import annotations

OPTIONS = [
    ("grpc.keepalive_time_ms", 2000),
    ("grpc.keepalive_timeout_ms", 2000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
