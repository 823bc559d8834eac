"""One pull per image on this node at a time, however many of its tasks start at once: the
first task to need an image starts its pull, the others wait for the same one, and every task
waiting hears how far it came."""

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
        self._running: dict[str, _Pull] = {}
        # Pull tasks alive while they run: the loop keeps only weak references to tasks.
        self._tasks: set[asyncio.Task[None]] = set()

    async def ensure(
        self, image: str, auth: RegistryAuth | None, progress: PullProgress | None = None
    ) -> None:
        """image present on the engine. A task that joins a pull under way shares its outcome,
        and the credentials of the task that started it."""
        pull = self._running.get(image)
        if pull is None:
            pull = _Pull(asyncio.get_running_loop().create_future())
            self._running[image] = pull
            task = asyncio.create_task(self._pull(image, auth, pull))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif progress is not None and pull.percent:
            progress(pull.percent)
        if progress is not None:
            pull.listeners.append(progress)
        try:
            # Shielded: one waiter that gives up (its task removed) ends no one else's pull.
            await asyncio.shield(pull.done)
        finally:
            if progress is not None:
                pull.listeners.remove(progress)

    async def _pull(self, image: str, auth: RegistryAuth | None, pull: _Pull) -> None:
        try:
            await self._runtime.ensure_image(image, auth, pull.told)
        except asyncio.CancelledError:
            pull.done.cancel()
            raise
        except Exception as exc:
            pull.done.set_exception(exc)
            # Retrieved here too, so a pull no one waits for any more is not reported unseen.
            pull.done.exception()
        else:
            pull.done.set_result(None)
        finally:
            del self._running[image]
