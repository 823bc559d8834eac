"""A command run in a container, its output read back whole.

The engine now and then loses a fast command's output on the exec's attach: an empty answer
with exit code 0 (moby/moby#27289, docker/docker-py#2042). A routing test once took that for a
replica that answered nothing. Here the output goes to a file at the container's root, read
back through the archive API, which has no such race: for containers whose root is writable
(the archive API does not reach /dev/shm)."""

from __future__ import annotations

import io
import tarfile
import time
import uuid

import docker

# How long an exec may still show as running once its start call returned.
_EXIT_WAIT = 10.0


def run_in(api: docker.APIClient, container_id: str, command: list[str]) -> tuple[int, bytes]:
    """command's exit code and its output (stdout and stderr together)."""
    out = f"/.shoal-exec-{uuid.uuid4().hex}"
    script = f'"$@" > {out} 2>&1'
    run = api.exec_create(container_id, ["sh", "-c", script, "sh", *command])
    api.exec_start(run["Id"])
    until = time.monotonic() + _EXIT_WAIT
    while (inspected := api.exec_inspect(run["Id"]))["Running"]:
        if time.monotonic() > until:
            raise TimeoutError(f"{command[0]} still running in {container_id[:12]}")
        time.sleep(0.05)
    chunks, _ = api.get_archive(container_id, out)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
        member = archive.extractfile(archive.getmembers()[0])
        assert member is not None
        output = member.read()
    api.exec_start(api.exec_create(container_id, ["rm", "-f", out])["Id"])
    return int(inspected["ExitCode"]), output
