"""What an agent reads of its certificate without the cryptography package, checked against what
that package reads; and an agent that only runs does not load it (about 9 MB resident)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from common import cert_file, pki
from common.errors import InvalidArgument
from manager.ca import ClusterCA


def test_validity_is_the_certificates_own(tmp_path: Path) -> None:
    ca = ClusterCA.load_or_create(tmp_path / "ca", "c1")
    issued = ca.issue_with_key("n1", pki.ROLE_WORKER, "c1", timedelta(days=90))
    bundle = issued.bundle(ca)
    cert = pki.load_cert(bundle.cert_pem)
    assert cert_file.validity(bundle.cert_pem) == (
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
    )
    assert cert_file.validity(bundle.ca_pem)[1] == pki.load_cert(bundle.ca_pem).not_valid_after_utc
    due = cert_file.renewal_due(bundle.cert_pem)
    assert pki.point_in_life(cert, 0.5) <= due <= pki.point_in_life(cert, 0.8)


def test_a_damaged_certificate_is_one_clear_error() -> None:
    damaged = b"-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(InvalidArgument, match="unreadable certificate"):
        cert_file.validity(damaged)


def test_pairs_are_told_apart(tmp_path: Path) -> None:
    ca = ClusterCA.load_or_create(tmp_path / "ca", "c1")
    one = ca.issue_with_key("one", pki.ROLE_WORKER, "c1", timedelta(days=1)).bundle(ca)
    other = ca.issue_with_key("other", pki.ROLE_WORKER, "c1", timedelta(days=1)).bundle(ca)
    for name, data in (("cert", one.cert_pem), ("key", one.key_pem), ("other", other.key_pem)):
        (tmp_path / f"{name}.pem").write_bytes(data)
    assert cert_file.pair_problem(tmp_path / "cert.pem", tmp_path / "key.pem") is None
    assert cert_file.pair_problem(tmp_path / "cert.pem", tmp_path / "other.pem") == "do not match"
    assert cert_file.pair_problem(tmp_path / "key.pem", tmp_path / "key.pem") == "are unreadable"


def test_the_running_agent_does_not_load_cryptography() -> None:
    """`agent run` and `agent hollow` load what they run; joining and renewing load the rest."""
    probe = "import sys, agent.main; print('cryptography' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
