"""A call that comes while the manager's event loop is held up is answered once the loop is back,
however long that took within the call's deadline. gRPC's default cancels a call left 30 s in
the server's queue, and at 10,000 nodes the burst's CreateService calls and agents' sessions
ended CANCELLED (bench.scale)."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc

from manager.server import SERVER_OPTIONS

# Past gRPC's default of 30 s in the queue.
HELD = 33
CALLS = 3


async def echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return request


async def test_calls_held_past_30_seconds_by_a_busy_loop_are_answered() -> None:
    server = grpc.aio.server(options=SERVER_OPTIONS)
    handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo)
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Held", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    answers: list[bytes | grpc.StatusCode] = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/test.Held/Echo"
            )

            def ask(n: int) -> None:
                try:
                    answers.append(call(b"%d" % n, timeout=HELD + 30))
                except grpc.RpcError as exc:
                    answers.append(exc.code())

            askers = [threading.Thread(target=ask, args=(n,)) for n in range(CALLS)]
            for asker in askers:
                asker.start()
            # The loop held up, as a burst of placements holds it: gRPC's own threads take
            # the calls in meanwhile, and the server can only ask for the next when it is back.
            time.sleep(HELD)  # noqa: ASYNC251 (the point: the loop itself held up)
            for asker in askers:
                await asyncio.to_thread(asker.join)
    finally:
        await server.stop(None)
    assert sorted(answers, key=str) == [b"%d" % n for n in range(CALLS)]
