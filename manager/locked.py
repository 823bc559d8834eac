"""A locked manager (autolock): it serves nothing until it is given the unlock key.

Its key files are sealed, so it has no key to serve TLS with, to join nodes with or to open the
data key: it binds none of its ports and campaigns for nothing. Like a locked Swarm manager,
which answers only on its engine's local socket, it listens on a unix socket in its state dir
(0700, so only its host's root reaches it) where every Control call is refused with the locked
message, FAILED_PRECONDITION, but UnlockManager, which checks the key against the sealed files.
The agents' containers keep running meanwhile: nothing here touches them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import structlog

from common import key_files
from common.api import control_pb2 as pb
from common.errors import InvalidArgument
from common.key_files import LOCKED, Kek

log = structlog.get_logger("manager.locked")

SOCKET = "manager.sock"
UNLOCK_METHOD = "/shoal.v1.Control/UnlockManager"


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET


class _Gate(grpc.GenericRpcHandler):
    def __init__(self, state_dir: Path, unlocked: asyncio.Future[Kek]) -> None:
        self._state_dir = state_dir
        self._unlocked = unlocked

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = handler_call_details.method
        call: Callable[[bytes, Any], Any] = (
            self._unlock if method == UNLOCK_METHOD else self._refuse
        )
        return grpc.unary_unary_rpc_method_handler(call)

    async def _refuse(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, LOCKED)
        raise AssertionError("abort returned")

    async def _unlock(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        try:
            given = pb.UnlockManagerRequest.FromString(request).unlock_key
            kek = Kek.parse(given)
            await asyncio.to_thread(key_files.check, self._state_dir, kek)
        except InvalidArgument as exc:
            log.warning("unlock refused: invalid unlock key")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise AssertionError("abort returned") from None
        if not self._unlocked.done():
            self._unlocked.set_result(kek)
        return pb.UnlockManagerResponse().SerializeToString()


async def wait_for_unlock(state_dir: Path, stop: asyncio.Event) -> Kek | None:
    """Serve the locked socket until the right unlock key comes; None if stop came first."""
    path = socket_path(state_dir)
    path.unlink(missing_ok=True)
    unlocked: asyncio.Future[Kek] = asyncio.get_running_loop().create_future()
    server = grpc.aio.server(handlers=[_Gate(state_dir, unlocked)])
    server.add_insecure_port(f"unix:{path}")
    await server.start()
    print(f"Manager is locked: run `shoal -H unix://{path} cluster unlock`.", flush=True)
    log.warning(LOCKED, socket=str(path))
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([unlocked, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        # The unlock call is answered before the socket goes.
        await server.stop(grace=1)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    if not unlocked.done():
        return None
    log.info("manager unlocked")
    return unlocked.result()
