"""Running the host's network tools (ip, bridge, iptables) without blocking the event loop."""

from __future__ import annotations

import asyncio

from common.errors import Unavailable

TIMEOUT = 20.0


async def run(*argv: str, stdin: str | None = None, check: bool = True) -> tuple[int, str]:
    """(exit code, stdout); with check, a failure raises Unavailable with the tool's one line."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise Unavailable(f"cannot run {argv[0]}: {exc.strerror}") from None
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), TIMEOUT
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise Unavailable(f"{' '.join(argv[:3])} did not finish in {TIMEOUT:.0f} s") from None
    code = proc.returncode or 0
    if check and code != 0:
        why = err.decode(errors="replace").strip().splitlines()
        raise Unavailable(f"{' '.join(argv)}: {why[-1] if why else f'exit code {code}'}")
    return code, out.decode(errors="replace")
