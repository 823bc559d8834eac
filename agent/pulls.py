"""One pull per image and credentials on this node at a time, however many of its tasks start
at once: the first task to need an image starts its pull, the others with the same credentials
wait for the same one, and every task waiting hears how far it came. A task with other
credentials (or none) pulls with its own: it must not be handed an image its service could not
have pulled, nor fail for another service's credentials."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from agent.runtime.base import ContainerRuntime, PullProgress
from common.model import RegistryAuth


@dataclass
class _Pull:
    done: asyncio.Future[None]
    listeners: list[PullProgress] = field(default_factory=list)
    percent: int = 0

    def told(self, percent: int) -> None:
        self.percent = percent
        for listener in list(self.listeners):
            listener(percent)


class Pulls:
    def __init__(self, runtime: ContainerRuntime) -> None:
        self._runtime = runtime
        # (image, credentials) -> the pull under way with them.
        self._running: dict[tuple[str, RegistryAuth | None], _Pull] = {}

    async def ensure(
        self, image: str, auth: RegistryAuth | None, progress: PullProgress | None = None
    ) -> None:
        """image present on the engine. A task that joins a pull under way (same image, same
        credentials) shares its outcome."""
        while (pull := self._running.get((image, auth))) is not None:
            if progress is not None:
                if pull.percent:
                    progress(pull.percent)
                pull.listeners.append(progress)
            try:
                # Shielded: this waiter giving up (its task removed) ends no one else's wait.
                await asyncio.shield(pull.done)
                return
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not pull.done.cancelled() or (current is not None and current.cancelling()):
                    raise
                # The task that pulled was removed mid-pull: the pull is this one's to make.
            finally:
                if progress is not None:
                    pull.listeners.remove(progress)
        await self._pull(image, auth, progress)

    async def _pull(
        self, image: str, auth: RegistryAuth | None, progress: PullProgress | None
    ) -> None:
        # Made in the first task's own coroutine, not a task of its own: an image already
        # present costs no turn of the event loop.
        pull = _Pull(asyncio.get_running_loop().create_future())
        if progress is not None:
            pull.listeners.append(progress)
        self._running[(image, auth)] = pull
        try:
            await self._runtime.ensure_image(image, auth, pull.told)
        except asyncio.CancelledError:
            pull.done.cancel()
            raise
        except Exception as exc:
            pull.done.set_exception(exc)
            # Retrieved here too, so a failure no other task waited for is not reported unseen.
            pull.done.exception()
            raise
        else:
            pull.done.set_result(None)
        finally:
            del self._running[(image, auth)]
