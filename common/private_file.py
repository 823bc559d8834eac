"""Files only their owner reads (keys, identities), written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

from common import key_files


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically, in a 0700 directory; a key file
    sealed under the installed KEK (autolock, common.key_files)."""
    data = key_files.for_disk(path, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
