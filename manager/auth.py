"""Who may call what: every authenticated call names its caller by the certificate it presented,
and that name is checked against the store on every call, so a removed node is refused at once."""

from __future__ import annotations

from typing import Any

from common import pki
from common.errors import NodeRemoved, PermissionDenied, Unauthenticated
from common.model import Cluster, Node
from common.tls import peer_subject
from manager.store import ReadView


class Authenticator:
    def __init__(self, store: ReadView, cluster_id: str) -> None:
        self._store = store
        self._cluster_id = cluster_id

    def _checked(self, subject: pki.Subject) -> pki.Subject:
        if subject.cluster_id != self._cluster_id:
            raise Unauthenticated("the certificate belongs to another cluster")
        return subject

    def node(self, context: Any) -> Node:
        """The node calling: a worker or manager certificate whose node still exists."""
        return self._node(self._checked(peer_subject(context)))

    def _node(self, subject: pki.Subject) -> Node:
        if subject.role not in (pki.ROLE_WORKER, pki.ROLE_MANAGER):
            raise PermissionDenied(f"a {subject.role} certificate cannot act as a node")
        node = self._store.get(Node, subject.node_id)
        if node is None:
            raise NodeRemoved(
                f"node {subject.node_id} was removed from the cluster: join it again with a token"
            )
        return node

    def admin(self, context: Any) -> pki.Subject:
        """The control API is for the admin bundle and for manager nodes, not for workers."""
        return self.admin_subject(peer_subject(context))

    def admin_subject(self, presented: pki.Subject) -> pki.Subject:
        """admin() for the subject of a certificate a TLS layer other than gRPC's verified (the
        Docker API's)."""
        subject = self._checked(presented)
        if subject.role == pki.ROLE_ADMIN:
            if subject.generation < self._store.objects(Cluster)[0].admin_generation:
                raise Unauthenticated(
                    "this admin certificate was revoked by `shoal admin-cert --rotate`:"
                    " use the newest admin bundle"
                )
            return subject
        if subject.role == pki.ROLE_MANAGER:
            self._node(subject)
            return subject
        raise PermissionDenied("a worker certificate cannot use the control API")
