"""The etcd store's URL: `etcd://` or `etcds://`, its endpoints and key prefix."""

from __future__ import annotations

DEFAULT_PREFIX = "/shoal"


def parse_url(url: str) -> tuple[list[str], str]:
    """`etcd://HOST:PORT[,HOST:PORT...][/PREFIX]` (`etcds://` for TLS): the endpoints and the
    key prefix."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("etcd", "etcds") or not sep:
        raise ValueError(f"{url!r} is not etcd://HOST:PORT[,HOST:PORT...] (or etcds://)")
    hosts, slash, path = rest.partition("/")
    endpoints = [h.strip() for h in hosts.split(",")]
    for endpoint in endpoints:
        host, colon, port = endpoint.rpartition(":")
        if not host or not colon or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{endpoint!r} in {url!r} is not HOST:PORT")
    prefix = "/" + path.strip("/") if slash and path.strip("/") else DEFAULT_PREFIX
    return endpoints, prefix


def uses_tls(url: str) -> bool:
    """Whether url's scheme is etcds://: TLS even without --etcd-cacert (the system's roots)."""
    return url.startswith("etcds://")
