"""TLS to etcd: a member that serves TLS and asks for client certificates turns away a manager
without a valid one, and `manager serve` stops with one line on TLS files it cannot use.
(The store's contract over TLS runs with the other backends: the `etcd-tls` backend.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import Unavailable
from manager.store import EtcdStore
from manager.store.etcd_tls import load as load_tls
from tests.etcd_certs import EtcdCerts

pytestmark = pytest.mark.etcd

MANAGER = str(Path(sys.executable).parent / "manager")


def serve(state_dir: Path, url: str, *flags: str) -> subprocess.CompletedProcess[str]:
    argv = ["serve", "--state-dir", str(state_dir), "--listen", "127.0.0.1:0", "--store", url]
    return subprocess.run(
        [MANAGER, *argv, *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestRefusals:
    @pytest.mark.parametrize("who", ["no certificate", "a stranger's certificate"])
    async def test_a_client_without_a_valid_certificate_is_refused_in_one_line(
        self, etcd_tls: tuple[str, EtcdCerts], who: str
    ) -> None:
        """etcd's --client-cert-auth refuses a client with no certificate, or one its CA did not
        sign; the error says so in one line and names the flags to fix."""
        endpoint, certs = etcd_tls
        if who == "no certificate":
            tls = load_tls(certs.ca, None, None)
        else:
            tls = load_tls(certs.ca, certs.stranger.cert, certs.stranger.key)
        with pytest.raises(Unavailable) as caught:
            await EtcdStore.open([endpoint], "/refused", tls)
        message = str(caught.value)
        assert "\n" not in message
        assert "refused this manager's TLS client certificate" in message
        assert "--etcd-cert" in message

    async def test_an_etcd_certificate_the_cacert_did_not_sign_is_not_trusted(
        self, etcd_tls: tuple[str, EtcdCerts]
    ) -> None:
        endpoint, certs = etcd_tls
        tls = load_tls(certs.stranger_ca, certs.client.cert, certs.client.key)
        with pytest.raises(Unavailable, match="not signed by --etcd-cacert"):
            await EtcdStore.open([endpoint], "/untrusted", tls)

    async def test_plaintext_to_a_tls_member_points_at_etcds(
        self, etcd_tls: tuple[str, EtcdCerts]
    ) -> None:
        endpoint, _ = etcd_tls
        with pytest.raises(Unavailable, match=r"etcds:// and --etcd-cacert"):
            await EtcdStore.open([endpoint], "/plain")


class TestServeFlags:
    def test_a_manager_with_a_valid_certificate_serves_over_tls(
        self, etcd_tls: tuple[str, EtcdCerts], tmp_path: Path
    ) -> None:
        """A refused manager exits 1 with one line; the same one with the client pair gets past
        the store (it fails later, on purpose, on a port it cannot bind)."""
        endpoint, certs = etcd_tls
        url = f"etcds://{endpoint}/serve-tls"
        refused = serve(tmp_path / "a", url, "--etcd-cacert", str(certs.ca))
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1
        assert refused.stderr.startswith("Error: the state store (etcd at")
        pair = ["--etcd-cert", str(certs.client.cert), "--etcd-key", str(certs.client.key)]
        accepted = serve(
            tmp_path / "b", url, "--etcd-cacert", str(certs.ca), *pair, "--listen", "192.0.2.1:1"
        )
        assert accepted.returncode == 1
        assert "cannot listen on 192.0.2.1:1" in accepted.stderr

    @pytest.mark.parametrize(
        ("flags", "says"),
        [
            (
                ["--etcd-cacert", "{dir}/missing.pem"],
                "--etcd-cacert {dir}/missing.pem: cannot read",
            ),
            (["--etcd-cert", "{client}"], "--etcd-cert and --etcd-key go together"),
            (["--etcd-cert", "{key}", "--etcd-key", "{key}"], "not a PEM certificate"),
            (["--etcd-cert", "{client}", "--etcd-key", "{client}"], "not an unencrypted PEM"),
            (["--etcd-cert", "{stranger}", "--etcd-key", "{key}"], "is not the certificate of"),
            (["--etcd-cacert", "{key}"], "--etcd-cacert {key}: not a PEM certificate"),
        ],
    )
    def test_tls_files_it_cannot_use_stop_it_in_one_line(
        self,
        etcd_tls: tuple[str, EtcdCerts],
        tmp_path: Path,
        flags: list[str],
        says: str,
    ) -> None:
        """Before anything is opened or created: the state dir stays absent."""
        _, certs = etcd_tls
        names = {
            "dir": str(tmp_path),
            "client": str(certs.client.cert),
            "key": str(certs.client.key),
            "stranger": str(certs.stranger.cert),
        }
        argv = [f.format(**names) for f in flags]
        done = serve(tmp_path / "state", "etcd://127.0.0.1:1", *argv)
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1
        assert says.format(**names) in done.stderr
        assert not (tmp_path / "state").exists()

    def test_tls_flags_without_an_etcd_store_are_refused(self, tmp_path: Path) -> None:
        done = subprocess.run(
            [MANAGER, "serve", "--state-dir", str(tmp_path / "s"), "--etcd-cacert", "x.pem"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1
        assert (
            done.stderr
            == "Error: --etcd-cacert, --etcd-cert and --etcd-key need --store etcd://...\n"
        )
