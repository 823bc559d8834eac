"""Ask a URL some number of times, each a new connection, and count the answers (a server
answering with its container's hostname: busybox httpd in the tests, bench/replica_server.c in
bench.mesh). Run as a module inside a lab host's network namespace:
`nsenter --net=/run/netns/NS python -m tests.http_probe URL COUNT` prints the counts as JSON."""

from __future__ import annotations

import http.client
import json
import sys
from collections import Counter
from urllib.parse import urlsplit

FAILED = "!failed"


def fetch(url: str, timeout: float = 2.0) -> str:
    """The body, stripped; FAILED when there is no answer. http.client, not urllib: a proxy
    configured in the environment must never see lab traffic."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/")
        return connection.getresponse().read().decode(errors="replace").strip()
    except (OSError, http.client.HTTPException):
        return FAILED
    finally:
        connection.close()


def hits(url: str, count: int, timeout: float = 2.0) -> Counter[str]:
    return Counter(fetch(url, timeout) for _ in range(count))


def main() -> None:
    url, count = sys.argv[1], int(sys.argv[2])
    print(json.dumps(hits(url, count)))


if __name__ == "__main__":
    main()
