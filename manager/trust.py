"""What this manager trusts and signs with now, followed from the store: the root CA, and
during a rotation the new root beside it (manager/ca_rotation.py).

Every server of the manager reads it here: the Join service (the CA it hands out, the CA that
signs), the Dispatcher (renewals, the roots it tells sessions), the serving certificate and the
Docker API (the roots they accept). The root's key reaches a manager that did not begin the
rotation through the store, sealed with the data key; the root that ends a rotation is written
to the state dir (manager/ca_files.py), so a restart finds it before it reads the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from common import pki, tokens
from common.model import Cluster
from manager import ca_files, ca_rotation
from manager.ca import ClusterCA
from manager.data_key import DataKey
from manager.store import StateStore

log = structlog.get_logger("manager.trust")

# During a rotation every node renews within a random delay: the jitter grows with the cluster
# so renewals of thousands of nodes spread out, and is short for a small one.
MIN_JITTER = timedelta(seconds=2)
MAX_JITTER = timedelta(seconds=60)
RENEWALS_PER_SECOND = 20


class ClusterTrust:
    def __init__(self, ca_dir: Path, data_key: DataKey, local: ClusterCA, cluster: Cluster) -> None:
        """local: the root CA in the state dir, the root until a rotation recorded one."""
        self._ca_dir = ca_dir
        self._data_key = data_key
        self._local = local
        self._changed = asyncio.Event()
        # Called after each change, once every attribute below is the new one.
        self.on_change: list[Callable[[], None]] = []
        self._apply(cluster)

    def _apply(self, cluster: Cluster) -> None:
        self.cluster = cluster
        if cluster.ca_cert_pem and not ca_files.holds(self._ca_dir, cluster.ca_cert_pem):
            root = ca_rotation.open_key(cluster.ca_cert_pem, cluster.ca_key_sealed, self._data_key)
            root.save(self._ca_dir)
            self._local = root
        # The root the servers present certificates of: the old one until the rotation ends,
        # since a node that has not heard of the rotation yet trusts only it.
        self.root = self._local
        rotation = cluster.rotation
        if rotation is None:
            self.signer = self._local
            self.roots_pem = self._local.pem
            self.chain_pem = b""
        else:
            self.signer = ca_rotation.open_key(
                rotation.ca_cert_pem, rotation.ca_key_sealed, self._data_key
            )
            # The new root first: its digest is the one the join tokens carry.
            self.roots_pem = rotation.ca_cert_pem + rotation.old_cert_pem
            self.chain_pem = rotation.cross_signed_pem
        self._roots = pki.load_certs(self.roots_pem)

    @property
    def rotating(self) -> bool:
        return self.cluster.rotation is not None

    def lifetime(self, default: timedelta) -> timedelta:
        return self.cluster.node_cert_expiry or default

    def renew_within(self, nodes: int) -> timedelta:
        spread = timedelta(seconds=nodes / RENEWALS_PER_SECOND)
        return max(MIN_JITTER, min(spread, MAX_JITTER))

    def issue(
        self,
        public_key: ec.EllipticCurvePublicKey,
        node_id: str,
        role: str,
        lifetime: timedelta,
    ) -> bytes:
        """A node certificate of the signing root; during a rotation followed by the
        cross-signed root, which chains it to the old root for a peer that trusts only that."""
        cert = self.signer.issue(
            public_key, node_id, role, self.cluster.id, self.lifetime(lifetime)
        )
        return pki.cert_pem(cert) + self.chain_pem

    def root_digest_of(self, cert: x509.Certificate) -> str:
        """The digest of the trusted root that issued cert; empty for none."""
        root = pki.issuing_root(cert, self._roots)
        return "" if root is None else tokens.digest_of(pki.der(root))

    async def wait_changed(self) -> None:
        await self._changed.wait()

    async def follow(self, store: StateStore) -> None:
        """Take up each change of the cluster's roots; runs until cancelled."""
        watch = store.watch()
        try:
            self._refresh(store.objects(Cluster)[0])
            while True:
                for event in await watch.next_batch():
                    if isinstance(event.obj, Cluster):
                        self._refresh(event.obj)
        finally:
            watch.close()

    def _refresh(self, cluster: Cluster) -> None:
        before = (self.cluster.ca_cert_pem, self.cluster.rotation, self.cluster.digest)
        if (cluster.ca_cert_pem, cluster.rotation, cluster.digest) == before:
            self.cluster = cluster
            return
        self._apply(cluster)
        log.info("cluster trust changed", rotating=self.rotating, digest=cluster.digest)
        self._changed.set()
        self._changed = asyncio.Event()
        for changed in self.on_change:
            changed()
