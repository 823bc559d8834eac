"""The client's tests in-process: `shoal` run by cli.main against a gRPC server over mutual
TLS (the fake Control), with bundles made once per session."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from cli.main import main
from common.api import control_pb2_grpc
from common.tls import Bundle
from tests.unit.cli.fake_control import FakeControl


@dataclass(frozen=True)
class Certificates:
    """Bundle directories, made once per session: ECDSA keys are cheap, but not free."""

    server: Bundle
    admin: Path
    worker: Path
    foreign: Path
    """An admin bundle of another cluster, with that cluster's CA."""
    stranger: Path
    """This cluster's CA, but a certificate and key another cluster's CA issued."""
    localhost_only: Bundle
    """A server bundle that names localhost but not 127.0.0.1."""


@dataclass(frozen=True)
class Places:
    """Where the client looks for a bundle when no directory is named, all under tmp_path."""

    home_config: Path
    manager_admin: Path


@contextmanager
def serving(fake: FakeControl, server_bundle: Bundle) -> Iterator[None]:
    """The fake on a free port of 127.0.0.1, demanding a client certificate from the CA."""
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    control_pb2_grpc.add_ControlServicer_to_server(fake, server)
    credentials = grpc.ssl_server_credentials(
        [(server_bundle.key_pem, server_bundle.cert_pem)],
        root_certificates=server_bundle.ca_pem,
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    fake.address = f"127.0.0.1:{port}"
    try:
        yield
    finally:
        fake.release.set()
        server.stop(None)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


class Shoal:
    """Runs `shoal [--host HOST] [--config DIR] ARGS...` in-process and captures what it
    printed."""

    def __init__(
        self, capsys: pytest.CaptureFixture[str], host: str = "", config: Path | None = None
    ) -> None:
        self._capsys = capsys
        self._flags = ["--host", host] if host else []
        if config is not None:
            self._flags += ["--config", str(config)]

    def __call__(self, *argv: str) -> Result:
        code: int | str | None
        try:
            code = main([*self._flags, *argv])
        except SystemExit as exc:  # usage errors leave through argparse
            code = exc.code
        assert isinstance(code, int)
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)


def one_error_line(result: Result) -> str:
    """The failure was reported as exactly one line on stderr with exit code 1."""
    assert result.code == 1
    [line] = result.err.splitlines()
    return line
