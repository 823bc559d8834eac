"""The Docker API presents the manager's serving certificate as renewed, without a restart."""

from __future__ import annotations

import asyncio
import ssl
from datetime import timedelta
from pathlib import Path

from tests.unit.harness import Harness
from tests.waiting import eventually


async def presented(port: int, admin: Path) -> bytes:
    """The certificate the server shows on a new connection (DER)."""
    context = ssl.create_default_context(cafile=str(admin / "ca.pem"))
    context.load_cert_chain(admin / "cert.pem", admin / "key.pem")
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        der: bytes = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return der
    finally:
        writer.close()


async def test_a_renewed_serving_certificate_is_presented(tmp_path: Path) -> None:
    h = Harness(tmp_path / "manager", docker_api=True, cert_lifetime=timedelta(seconds=4))
    await h.start()
    try:
        admin = h.state_dir / "admin"
        first = await presented(h.docker_api_port, admin)

        async def renewed() -> bool:
            return await presented(h.docker_api_port, admin) != first

        # Renewal comes at 50-80 % of the 4 s life.
        await eventually(renewed, "a renewed certificate on a new connection", within=30)
    finally:
        await h.halt()
