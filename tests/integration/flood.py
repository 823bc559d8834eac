"""A GetCA flood: CLIENTS channels each calling the join port in a loop, answered or refused.

Run as a process of its own (`python -m tests.integration.flood TARGET SECONDS CLIENTS`) so the
flood's own CPU is not the test's; it prints one JSON line of counts by status code.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

import grpc

from common.api import join_pb2 as pb
from common.api import join_pb2_grpc


async def _client(target: str, until: float, counts: Counter[str]) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = join_pb2_grpc.JoinStub(channel)
        while time.monotonic() < until:
            try:
                await stub.GetCA(pb.GetCARequest(), timeout=5)
                counts["OK"] += 1
            except grpc.aio.AioRpcError as exc:
                counts[exc.code().name] += 1


async def flood(target: str, seconds: float, clients: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    until = time.monotonic() + seconds
    await asyncio.gather(*(_client(target, until, counts) for _ in range(clients)))
    return counts


def main() -> None:
    target, seconds, clients = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(dict(asyncio.run(flood(target, seconds, clients)))), flush=True)


if __name__ == "__main__":
    main()
