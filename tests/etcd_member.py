"""One etcd member on loopback for tests and benchmarks: private data dir, free ports."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.etcd_certs import EtcdCerts
from tests.integration.cluster import free_port
from tests.waiting import wait_for

# Debian's etcd-server package (scripts/deps.sh etcd-server).
ETCD = "etcd"
# Shoal commits a placement pass in one Txn, a put per task: etcd's default of 128 operations
# would refuse a service of a few hundred replicas.
MAX_TXN_OPS = 10_000
MAX_REQUEST_BYTES = 16 * 1024 * 1024


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def etcd_member(
    data_dir: Path | None = None,
    max_txn_ops: int = MAX_TXN_OPS,
    port: int | None = None,
    tls: EtcdCerts | None = None,
) -> Iterator[str]:
    """Run one member until the block ends, however it ends; yields its HOST:PORT. The same
    data_dir and port again restart that member. With tls, clients must speak TLS and show a
    certificate of tls.ca (--client-cert-auth)."""
    binary = shutil.which(ETCD)
    if binary is None:
        raise RuntimeError("etcd is not installed: scripts/deps.sh etcd-server")
    with tempfile.TemporaryDirectory(prefix="shoal-etcd-") as tmp:
        port = port or free_port()
        scheme = "https" if tls else "http"
        client, peer = f"{scheme}://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
        secure = []
        if tls is not None:
            secure = [
                f"--cert-file={tls.server.cert}",
                f"--key-file={tls.server.key}",
                f"--trusted-ca-file={tls.ca}",
                "--client-cert-auth",
            ]
        log = (Path(tmp) / "etcd.log").open("wb")
        process = subprocess.Popen(
            [
                binary,
                "--name=default",
                f"--data-dir={data_dir or Path(tmp) / 'data'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                f"--max-txn-ops={max_txn_ops}",
                f"--max-request-bytes={MAX_REQUEST_BYTES}",
                *secure,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                lambda: process.poll() is not None or _answers(port),
                "etcd to listen",
                timeout=20,
            )
            if process.poll() is not None:
                raise RuntimeError(f"etcd exited: {(Path(tmp) / 'etcd.log').read_text()[-2000:]}")
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
