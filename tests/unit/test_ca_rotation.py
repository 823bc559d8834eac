"""CA rotation's pure parts: the cross-signed chain as OpenSSL verifies it, and the rotation's
steps on the cluster object (manager/ca_rotation.py)."""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from common import cert_file, pki
from common.errors import FailedPrecondition
from common.model import Cluster, Node, NodeDescription, NodeRole, NodeState
from manager import ca_rotation, join_secrets
from manager.ca import ClusterCA
from manager.data_key import DataKey


def _handshake(tmp_path: Path, server_chain: bytes, server_key: bytes, client_roots: bytes) -> None:
    """A TLS handshake in memory: raises ssl.SSLError when the client refuses the server."""
    (tmp_path / "chain.pem").write_bytes(server_chain)
    (tmp_path / "key.pem").write_bytes(server_key)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(cadata=client_roots.decode())
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="manager.test")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side, out, other_in in ((client, c_out, s_in), (server, s_out, c_in)):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
            other_in.write(out.read())
    client.do_handshake()


def _server_cert(ca: ClusterCA) -> tuple[bytes, bytes]:
    issued = ca.issue_with_key("m1", pki.ROLE_MANAGER, "c1", timedelta(days=1), ["manager.test"])
    return pki.cert_pem(issued.cert), pki.key_pem(issued.key)


class TestCrossSigning:
    def test_a_certificate_of_the_new_root_chains_to_the_old_one_through_the_cross_sign(
        self, tmp_path: Path
    ) -> None:
        """A peer that trusts only the old root accepts a new certificate sent with the
        cross-signed root, and refuses it sent alone."""
        old = ClusterCA.create("c1")
        new = ClusterCA.create("c1", generation=1)
        cross = pki.cert_pem(old.cross_sign(new.cert))
        cert, key = _server_cert(new)
        _handshake(tmp_path, cert + cross, key, old.pem)
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            _handshake(tmp_path, cert, key, old.pem)

    def test_a_peer_that_trusts_the_new_root_alone_accepts_the_same_chain(
        self, tmp_path: Path
    ) -> None:
        old = ClusterCA.create("c1")
        new = ClusterCA.create("c1", generation=1)
        cert, key = _server_cert(new)
        _handshake(tmp_path, cert + pki.cert_pem(old.cross_sign(new.cert)), key, new.pem)

    def test_a_foreign_root_is_refused(self, tmp_path: Path) -> None:
        old = ClusterCA.create("c1")
        foreign = ClusterCA.create("c1", generation=1)
        cert, key = _server_cert(foreign)
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            _handshake(tmp_path, cert, key, old.pem)

    def test_the_issuing_root_of_a_new_certificate_is_the_new_root(self) -> None:
        old, new = ClusterCA.create("c1"), ClusterCA.create("c1", generation=1)
        cert = pki.load_cert(_server_cert(new)[0])
        assert pki.issuing_root(cert, [old.cert, new.cert]) == new.cert
        assert pki.issuing_root(cert, [old.cert]) is None


def _cluster(ca: ClusterCA, key: DataKey) -> Cluster:
    return join_secrets.new_cluster(key, "c1", ca.digest)


def _node(name: str, state: NodeState, root: str) -> Node:
    return Node(id=name, state=state, description=NodeDescription(hostname=name), cert_root=root)


class TestRotationSteps:
    def test_begin_names_the_new_root_in_the_tokens_and_seals_its_key(self) -> None:
        old, key = ClusterCA.create("c1"), DataKey.generate()
        cluster = _cluster(old, key)
        rotating = ca_rotation.begin(cluster, old, key, timedelta(hours=1))
        assert rotating.rotation is not None
        new = ca_rotation.open_key(
            rotating.rotation.ca_cert_pem, rotating.rotation.ca_key_sealed, key
        )
        assert rotating.digest == new.digest != old.digest
        for role in NodeRole:
            secret = join_secrets.secret(key, rotating, role)
            assert secret != join_secrets.secret(key, cluster, role)
            assert secret.encode() not in rotating.sealed_worker_secret
            assert secret.encode() not in rotating.sealed_manager_secret
        assert new.key_pem not in rotating.rotation.ca_key_sealed
        assert rotating.node_cert_expiry == timedelta(hours=1)
        assert ca_rotation.token_refused(rotating, old.digest)
        assert not ca_rotation.token_refused(rotating, new.digest)

    def test_a_second_rotation_is_refused_while_one_is_in_progress(self) -> None:
        old, key = ClusterCA.create("c1"), DataKey.generate()
        rotating = ca_rotation.begin(_cluster(old, key), old, key, None)
        with pytest.raises(FailedPrecondition, match="already in progress"):
            ca_rotation.begin(rotating, old, key, None)

    def test_progress_counts_live_nodes_and_the_end_retires_the_old_root(self) -> None:
        old, key = ClusterCA.create("c1"), DataKey.generate()
        rotating = ca_rotation.begin(_cluster(old, key), old, key, None)
        new_digest = rotating.digest
        nodes = [
            _node("a", NodeState.READY, new_digest),
            _node("b", NodeState.READY, old.digest),
            _node("away", NodeState.DOWN, old.digest),
        ]
        progress = ca_rotation.progress(rotating, nodes)
        assert (progress.moved, progress.total, progress.pending) == (1, 2, ("b",))
        assert not progress.done
        assert ca_rotation.tls_status(nodes[1], rotating) == ca_rotation.NEEDS_ROTATION
        nodes[1] = replace(nodes[1], cert_root=new_digest)
        assert ca_rotation.progress(rotating, nodes).done
        done = ca_rotation.finish(rotating)
        assert done.rotation is None
        assert done.digest == new_digest
        assert old.digest in done.retired_digests
        assert ca_rotation.tls_status(nodes[0], done) == ca_rotation.READY
        assert ca_rotation.tls_status(nodes[2], done) == ca_rotation.NEEDS_REJOIN


def test_a_certificate_followed_by_its_chain_is_read_by_its_own_validity() -> None:
    """What a node renewed during a rotation holds: its certificate, then the cross-signed
    root; the renewal schedule reads the certificate's own dates."""
    old, new = ClusterCA.create("c1"), ClusterCA.create("c1", generation=1)
    leaf = new.issue_with_key("n1", pki.ROLE_WORKER, "c1", timedelta(hours=1)).cert
    chain = pki.cert_pem(leaf) + pki.cert_pem(old.cross_sign(new.cert))
    start, end = cert_file.validity(chain)
    assert (start, end) == (leaf.not_valid_before_utc, leaf.not_valid_after_utc)
