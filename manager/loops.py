"""How a background loop survives a failed pass: it logs why and tries again, so that one store
write that fails (a full disk) or one object that makes the code raise never ends the manager."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from common.errors import ShoalError

log = structlog.get_logger("loops")

# Seconds before a failed pass is tried again when nothing else wakes the loop.
RETRY_DELAY = 1.0


async def attempt(what: str, step: Awaitable[object], **context: Any) -> bool:
    """Await step; False when it failed, after logging it with context (the object's IDs).

    A ShoalError is a condition of the cluster (the store cannot write, a subnet is full): a
    warning. Anything else is a bug: logged with its traceback. Cancellation goes through.
    """
    try:
        await step
    except ShoalError as exc:
        log.warning(f"{what} failed; will retry", error=str(exc), **context)
        return False
    except Exception:
        log.exception(f"{what} failed unexpectedly; will retry", **context)
        return False
    return True


@contextmanager
def skipping(what: str, **context: Any) -> Iterator[None]:
    """Around one object's part of a pass: an error is logged with context, the rest goes on."""
    try:
        yield
    except ShoalError as exc:
        log.warning(f"{what} failed; skipped", error=str(exc), **context)
    except Exception:
        log.exception(f"{what} failed unexpectedly; skipped", **context)
