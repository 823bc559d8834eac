"""What a manager that joined receives once it holds a manager certificate: the store's URL and
the keys managers share (the CA's certificate and key, the cluster data key).

The join port is plaintext and answers anyone, so none of this goes there: the joining manager
asks here, on the mutual-TLS port, presenting the manager certificate its join gave it. Only a
manager certificate whose node the store still holds as a manager is answered; a demoted or
removed node is refused. Nothing handed over is logged.
"""

from __future__ import annotations

from typing import Any

import structlog

from common import pki
from common.api import membership_pb2 as pb
from common.api import membership_pb2_grpc
from common.errors import FailedPrecondition, PermissionDenied
from common.grpc_errors import unary_errors
from common.model import NodeRole
from common.tls import peer_subject
from manager.auth import Authenticator
from manager.data_key import DataKey
from manager.trust import ClusterTrust

log = structlog.get_logger("membership")


class Membership(membership_pb2_grpc.MembershipServicer):
    def __init__(
        self, auth: Authenticator, trust: ClusterTrust, data_key: DataKey, store_url: str | None
    ) -> None:
        self._auth = auth
        self._trust = trust
        self._data_key = data_key
        self._store_url = store_url

    @unary_errors
    async def ManagerKeys(
        self, request: pb.ManagerKeysRequest, context: Any
    ) -> pb.ManagerKeysResponse:
        node = self._auth.node(context)
        if peer_subject(context).role != pki.ROLE_MANAGER or node.role != NodeRole.MANAGER:
            raise PermissionDenied("only a manager may have the keys managers share")
        if self._store_url is None:
            raise FailedPrecondition(
                "this cluster keeps its state in SQLite on one manager: it has no store to share"
            )
        log.info("manager keys handed over", node_id=node.id)
        # The root that signs now, the one the joining manager's token named; during a CA
        # rotation the store holds both roots (sealed), where the new manager reads them.
        signer = self._trust.signer
        return pb.ManagerKeysResponse(
            store_url=self._store_url,
            ca_cert_pem=signer.pem,
            ca_key_pem=signer.key_pem,
            data_key=self._data_key.material,
        )
