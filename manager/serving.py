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
from manager.ca import ClusterCA, bundle_needs_renewal

log = structlog.get_logger("manager.tls")


class ServingCertificate:
    """Server credentials that require a client certificate from the cluster CA.

    gRPC asks the fetcher for a new configuration at each handshake, so a renewed certificate
    takes effect for new connections without restarting the server or dropping sessions.
    """

    def __init__(
        self,
        ca: ClusterCA,
        directory: Path,
        node_id: str,
        cluster_id: str,
        hosts: list[str],
        lifetime: timedelta,
    ) -> None:
        self._ca = ca
        self._dir = directory
        self._node_id = node_id
        self._cluster_id = cluster_id
        self._hosts = hosts
        self._lifetime = lifetime
        if bundle_needs_renewal(directory, ca, hosts):
            self._issue()
        self._bundle = Bundle.load(directory)
        self._pending: grpc.ServerCertificateConfiguration | None = None
        # Called after each renewal, once the new pair is in directory: other servers that
        # serve it (the Docker API) take it up.
        self.on_renewal: list[Callable[[], None]] = []

    def _issue(self) -> Bundle:
        issued = self._ca.issue_with_key(
            self._node_id, pki.ROLE_MANAGER, self._cluster_id, self._lifetime, self._hosts
        )
        bundle = issued.bundle(self._ca)
        bundle.save(self._dir)
        return bundle

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
            self._bundle = self._issue()
            self._pending = self._configuration()
            for renewed in self.on_renewal:
                renewed()
            log.info("serving certificate renewed")
