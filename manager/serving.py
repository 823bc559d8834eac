"""The manager's own TLS identity: issued by the cluster CA, renewed while the manager serves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import grpc
import structlog

from common import cert_file, pki
from common.model import now
from common.tls import Bundle
from manager.ca import bundle_needs_renewal
from manager.trust import ClusterTrust

log = structlog.get_logger("manager.tls")


class ServingCertificate:
    """Server credentials that require a client certificate from the cluster CA.

    gRPC asks the fetcher for a new configuration at each handshake, so a renewed certificate
    takes effect for new connections without restarting the server or dropping sessions. So do
    the roots it accepts client certificates of, which a CA rotation changes.
    """

    def __init__(
        self,
        trust: ClusterTrust,
        directory: Path,
        node_id: str,
        cluster_id: str,
        hosts: list[str],
        lifetime: timedelta,
    ) -> None:
        self._trust = trust
        self._dir = directory
        self._node_id = node_id
        self._cluster_id = cluster_id
        self._hosts = hosts
        self._lifetime = lifetime
        if self._stale():
            self._issue()
        self._bundle = Bundle.load(directory)
        self._pending: grpc.ServerCertificateConfiguration | None = None
        # Called after each renewal, once the new pair is in directory: other servers that
        # serve it (the Docker API) take it up.
        self.on_renewal: list[Callable[[], None]] = []

    def _stale(self) -> bool:
        return (
            bundle_needs_renewal(self._dir, self._trust.root, self._hosts)
            or Bundle.load(self._dir).ca_pem != self._trust.roots_pem
        )

    def _issue(self) -> Bundle:
        # Of the root, not of a rotation's new one: a node that has not heard of the rotation
        # yet trusts only the old root.
        issued = self._trust.root.issue_with_key(
            self._node_id, pki.ROLE_MANAGER, self._cluster_id, self._lifetime, self._hosts
        )
        bundle = Bundle(
            ca_pem=self._trust.roots_pem,
            cert_pem=pki.cert_pem(issued.cert),
            key_pem=pki.key_pem(issued.key),
        )
        bundle.save(self._dir)
        return bundle

    def trust_changed(self) -> None:
        """A rotation began or ended: new roots to accept, maybe a new root to present."""
        if self._stale():
            self._renewed()

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(self._bundle.key_pem, self._bundle.cert_pem)], root_certificates=self._bundle.ca_pem
        )

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self._configuration(),
            self._fetch,  # type: ignore[arg-type]  # gRPC documents None as "no change"
            require_client_authentication=True,
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        pending, self._pending = self._pending, None
        return pending

    async def run(self) -> None:
        """Renew at a random point between 50 and 80 % of the certificate's life."""
        while True:
            due = cert_file.renewal_due(self._bundle.cert_pem)
            await asyncio.sleep(max(0.0, (due - now()).total_seconds()))
            self._renewed()

    def _renewed(self) -> None:
        self._bundle = self._issue()
        self._pending = self._configuration()
        for renewed in self.on_renewal:
            renewed()
        log.info("serving certificate renewed")
