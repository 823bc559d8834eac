"""Secrets and configs on this node: held in memory as the manager sends them, written for a
task only when its container is made, on a tmpfs (never a disk), each as its own file with the
reference's owner and mode, and bind-mounted read-only into the container.

The files live under FILES_ROOT/NODE_ID, outside the state dir, one directory per task; they go
when the task ends, and all of them (with the tmpfs, when the agent mounted it) when the node
leaves. The agent checks the directory is on a tmpfs and mounts one there if not."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path

import structlog

from common.errors import ShoalError
from common.model import FileData, FileReference, Mount, MountType, Task

log = structlog.get_logger("agent")

FILES_ROOT = Path("/run/shoal")
SECRETS_DIR = "/run/secrets"
# The tmpfs the agent mounts: small, since Swarm's limits keep each file under 1 MB.
TMPFS_OPTIONS = "mode=0700,size=64m,noexec,nosuid,nodev"

_Key = tuple[bool, str, int]


def files_dir(node_id: str) -> Path:
    return FILES_ROOT / node_id


def _unescape(field: str) -> str:
    """/proc/mounts writes a space in a path as \\040, and so on."""
    return field.encode().decode("unicode_escape")


def filesystem_of(path: Path) -> str:
    """The type of the filesystem path is on: the longest mount point above it wins."""
    best, kind = "", ""
    resolved = str(path.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            point = _unescape(fields[1])
            above = resolved == point or resolved.startswith(point.rstrip("/") + "/")
            if above and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind


def _wanted(task: Task) -> list[tuple[bool, FileReference]]:
    return [(False, r) for r in task.spec.secrets] + [(True, r) for r in task.spec.configs]


def _mount(config: bool, ref: FileReference, path: Path) -> Mount:
    target = ref.target if config else f"{SECRETS_DIR}/{ref.target}"
    return Mount(MountType.BIND, target, str(path), read_only=True)


class TaskFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._data: dict[_Key, bytes] = {}
        # Tasks start on threads of their own: two seeing no tmpfs must not mount two, the
        # second hiding the files written on the first.
        self._mounting = threading.Lock()

    def hold(self, files: Iterable[FileData]) -> None:
        for f in files:
            self._data[(f.config, f.id, f.version)] = f.data

    def keep_for(self, tasks: Iterable[Task]) -> None:
        """Forget the data no assigned task references any more."""
        wanted = {(config, r.id, r.version) for t in tasks for config, r in _wanted(t)}
        for key in set(self._data) - wanted:
            del self._data[key]

    def _ensure_tmpfs(self) -> None:
        with self._mounting:
            self._mount_once()

    def _mount_once(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if filesystem_of(self.root) == "tmpfs":
            return
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", TMPFS_OPTIONS, "tmpfs", str(self.root)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or filesystem_of(self.root) != "tmpfs":
            raise ShoalError(
                f"cannot mount a tmpfs on {self.root} for secrets: {done.stderr.strip()}"
            )
        log.info("tmpfs mounted for secrets and configs", path=str(self.root))

    def write(self, task: Task) -> tuple[Mount, ...]:
        """The task's files written, and the read-only bind mounts that put them in its
        container; ShoalError when the manager has not sent a file's data, or when the files
        cannot be written (the half-written directory removed then)."""
        wanted = _wanted(task)
        if not wanted:
            return ()
        self._check_received(wanted)
        task_dir = self.root / task.id
        try:
            self._ensure_tmpfs()
            shutil.rmtree(task_dir, ignore_errors=True)
            task_dir.mkdir(mode=0o700)
            return tuple(self._write_one(task_dir, i, c, r) for i, (c, r) in enumerate(wanted))
        except OSError as exc:
            # Disk full, the directory gone, no permission: the task fails with the reason
            # (the OS's words name a path and a cause, never the data).
            shutil.rmtree(task_dir, ignore_errors=True)
            raise ShoalError(
                f"cannot write the task's secrets and configs in {self.root}: {exc.strerror or exc}"
            ) from exc

    def _check_received(self, wanted: list[tuple[bool, FileReference]]) -> None:
        for config, ref in wanted:
            if (config, ref.id, ref.version) not in self._data:
                what = "config" if config else "secret"
                raise ShoalError(f"{what} {ref.name} version {ref.version} was not received")

    def _write_one(self, task_dir: Path, index: int, config: bool, ref: FileReference) -> Mount:
        path = task_dir / str(index)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            data = memoryview(self._data[(config, ref.id, ref.version)])
            while data:
                # os.write may write less than asked (a full tmpfs writes what fits).
                data = data[os.write(fd, data) :]
            os.fchown(fd, ref.uid, ref.gid)
            os.fchmod(fd, ref.mode)
        finally:
            os.close(fd)
        return _mount(config, ref, path)

    def remove(self, task_id: str) -> None:
        shutil.rmtree(self.root / task_id, ignore_errors=True)

    def keep_dirs(self, task_ids: set[str]) -> None:
        """Remove the files of every task not in task_ids (after a restart, of tasks that
        ended meanwhile)."""
        if not self.root.is_dir():
            return
        for entry in self.root.iterdir():
            if entry.name not in task_ids:
                shutil.rmtree(entry, ignore_errors=True)

    def clear(self) -> None:
        """Every file gone, and the directory (unmounted first when it is a tmpfs of ours)."""
        self._data.clear()
        if not self.root.exists():
            return
        shutil.rmtree(self.root, ignore_errors=True)
        if filesystem_of(self.root) == "tmpfs" and os.path.ismount(self.root):
            subprocess.run(["umount", str(self.root)], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


class UnwrittenFiles(TaskFiles):
    """A hollow node's (agent/hollow.py): the data is held and checked as a real node's is,
    and the mounts name the files a real node would write under root, but nothing is written
    or mounted. Its containers are in memory and read no file, and a thousand simulated nodes
    on one host must not mount a thousand tmpfs, nor put secrets on its disk."""

    def write(self, task: Task) -> tuple[Mount, ...]:
        wanted = _wanted(task)
        self._check_received(wanted)
        task_dir = self.root / task.id
        return tuple(_mount(c, r, task_dir / str(i)) for i, (c, r) in enumerate(wanted))

    def remove(self, task_id: str) -> None:
        """Nothing to remove: nothing was written."""

    def keep_dirs(self, task_ids: set[str]) -> None:
        """Nothing to remove: nothing was written."""

    def clear(self) -> None:
        self._data.clear()
