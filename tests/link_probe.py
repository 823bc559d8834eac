"""A stream over a link that stops carrying packets, with the agent's channel options: run in a
network namespace of its own (`nsenter --net=/run/netns/NS python -m tests.link_probe`).

It serves one client-streaming method on loopback and calls it as an agent's session does,
one message every INTERVAL seconds. Once messages flow it prints `flowing PORT`; the test then
drops every packet to PORT. When the call ends it prints `ended CODE`, gRPC's status code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from agent.manager_channel import CHANNEL_OPTIONS

INTERVAL = 0.5
METHOD = "/probe.Link/Stream"
# Long enough for any deadline the test gives, short enough that a stuck probe ends alone.
GIVE_UP = 60.0


async def _drain(
    requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[bytes, bytes]
) -> bytes:
    async for _ in requests:
        pass
    return b""


async def main() -> None:
    server = grpc.aio.server()
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.stream_unary_rpc_method_handler(_drain)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("probe.Link", {"Stream": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()

    async def messages() -> AsyncIterator[bytes]:
        sent = 0
        while True:
            yield b"beat"
            sent += 1
            if sent == 3:
                print(f"flowing {port}", flush=True)
            await asyncio.sleep(INTERVAL)

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS) as channel:
        stream: grpc.aio.StreamUnaryMultiCallable[bytes, bytes] = channel.stream_unary(METHOD)
        call = stream(messages())
        try:
            await asyncio.wait_for(call, GIVE_UP)
            code = "OK"
        except grpc.aio.AioRpcError as exc:
            code = exc.code().name
        except TimeoutError:
            code = "STILL_OPEN"
    print(f"ended {code}", flush=True)
    await server.stop(None)


if __name__ == "__main__":
    asyncio.run(main())
