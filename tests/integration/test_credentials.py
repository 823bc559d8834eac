"""Credentials with real processes: no token left in a command line, damaged pairs refused at
start, and admin certificates that a rotation revokes."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import docker

from common import pki
from common.tls import Bundle
from tests.integration.cluster import BIN, Cluster, free_port
from tests.waiting import wait_for


def _status(cluster: Cluster, hostname: str) -> str | None:
    return next((n["Status"] for n in cluster.nodes() if n["Hostname"] == hostname), None)


def _mismatch(directory: Path) -> None:
    """Put the bundle in directory back as plain files, with a key that is not the cert's."""
    bundle = Bundle.load(directory)
    Bundle.remove(directory)
    (directory / "ca.pem").write_bytes(bundle.ca_pem)
    (directory / "cert.pem").write_bytes(bundle.cert_pem)
    (directory / "key.pem").write_bytes(pki.key_pem(pki.new_key()))


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def test_after_join_no_process_shows_the_token(cluster: Cluster) -> None:
    """`agent join TOKEN ADDR` goes on as `agent run` in the same process: once the node is
    Ready, neither its command line nor any other process's holds the token."""
    token = cluster.ok("join-token", "worker", "-q").out.strip()
    agent = cluster.add_agent(40)
    wait_for(lambda: _status(cluster, "it-agent-40") == "Ready", "the new agent ready")
    assert agent.proc is not None
    argv = Path(f"/proc/{agent.proc.pid}/cmdline").read_bytes().split(b"\0")
    assert b"run" in argv
    assert b"it-agent-40" in argv  # its flags are kept
    secret = token.split("-")[-1].encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert secret not in cmdline.read_bytes(), cmdline
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue


def test_an_agent_with_a_mismatched_pair_stops_with_one_line(
    cluster: Cluster, tmp_path: Path
) -> None:
    """A node's certificate beside another key: `agent run` exits 1 with one line at start."""
    state = tmp_path / "agent"
    shutil.copytree(cluster.root / "agent-1", state, symlinks=True)
    _mismatch(state)
    done = subprocess.run(
        [str(BIN / "agent"), "run", "--state-dir", str(state)],
        capture_output=True, text=True, timeout=20, env=cluster.env,
    )  # fmt: skip
    assert done.returncode == 1
    lines = _error_lines(done.stderr)
    assert len(lines) == 1
    assert "do not match" in lines[0]


def test_a_manager_with_a_mismatched_pair_stops_with_one_line(
    engine: docker.APIClient, tmp_path: Path
) -> None:
    """The manager's serving pair damaged while it was stopped: `manager serve` exits 1 with
    one line naming the directory, rather than serving a pair no client can verify."""
    c = Cluster(root=tmp_path, port=free_port(), engine=engine)
    try:
        c.start_manager()
        c.manager.kill(signal.SIGTERM)
    finally:
        c.stop()
    _mismatch(tmp_path / "manager" / "tls")
    done = subprocess.run(c.manager.argv, capture_output=True, text=True, timeout=20, env=c.env)
    assert done.returncode == 1
    lines = _error_lines(done.stderr)
    assert len(lines) == 1
    assert "do not match" in lines[0]
    assert str(tmp_path / "manager" / "tls") in lines[0]


def test_admin_cert_rotation_revokes_older_admin_certificates(
    engine: docker.APIClient, tmp_path: Path
) -> None:
    """`shoal admin-cert --rotate --out DIR` writes a working bundle and the older one is then
    refused in one line; a rotation without --out replaces the bundle in use; and a manager
    restart gives its own admin/ a current certificate again."""
    c = Cluster(root=tmp_path, port=free_port(), engine=engine)
    try:
        c.start_manager()
        admin = c.root / "manager" / "admin"
        old = tmp_path / "old"
        shutil.copytree(admin, old, symlinks=True)
        new = tmp_path / "new"
        rotated = c.ok("admin-cert", "--rotate", "--out", str(new))
        assert str(new) in rotated.out
        assert c.ok("--config", str(new), "node", "ls", "-q").out.strip()
        for revoked in (old, admin):
            refused = c.shoal("--config", str(revoked), "node", "ls")
            assert refused.code == 1
            lines = _error_lines(refused.err)
            assert len(lines) == 1
            assert "revoked" in lines[0]
        kept = tmp_path / "kept"
        shutil.copytree(new, kept, symlinks=True)
        c.ok("--config", str(new), "admin-cert", "--rotate")
        assert c.ok("--config", str(new), "node", "ls", "-q").out.strip()
        assert c.shoal("--config", str(kept), "node", "ls").code == 1
        c.manager.kill(signal.SIGTERM)
        c.start_manager()
        assert c.ok("node", "ls", "-q").out.strip()
        assert c.ok("--config", str(new), "node", "ls", "-q").out.strip()
    finally:
        c.stop()
