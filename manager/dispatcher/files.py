"""The secret and config data a task's node needs for it: opened from the store with the cluster
data key only when the task goes down its node's session."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from common.model import Config, FileData, Secret, Task
from manager import sealed
from manager.data_key import DataKey
from manager.store import ReadView

log = structlog.get_logger("dispatcher")


class FileSource:
    def __init__(self, view: ReadView, key: DataKey) -> None:
        self._view = view
        self._key = key

    def for_task(self, task: Task) -> Sequence[FileData]:
        """The data of each secret and config version task references (asked only for a task
        still to run: chunks.still_to_run)."""
        found: list[FileData] = []
        for kind in (Secret, Config):
            for ref in sealed.references(task.spec, kind):
                obj = sealed.get(self._view, kind, ref.id)
                version = obj.sealed_for(ref.version) if obj is not None else None
                if obj is None or version is None:
                    # The agent then fails the task for want of it, naming what is missing.
                    log.warning("referenced data is gone", task_id=task.id, ref_id=ref.id)
                    continue
                data = sealed.open_version(self._key, obj, version)
                found.append(FileData(kind is Config, obj.id, version.version, data))
        return found
