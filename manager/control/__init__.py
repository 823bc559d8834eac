"""The Control API servicer: validate, then read or write the store; nothing else. One module per
resource (services and tasks, nodes, networks, the cluster, the streams); validation, resolving
references and authorization (a server interceptor) each in one place."""

from __future__ import annotations

from common.api import control_pb2_grpc
from common.model import PortProtocol
from manager.control.authorization import AdminOnly
from manager.control.cluster import ClusterCalls
from manager.control.files import FileCalls
from manager.control.networks import NetworkCalls
from manager.control.nodes import NodeCalls
from manager.control.services import ServiceCalls
from manager.control.streams import StreamCalls
from manager.data_key import DataKey
from manager.leadership import ManagerSet
from manager.logbroker import LogBroker
from manager.service_counts import ServiceCounts
from manager.store import StateStore

__all__ = ["AdminOnly", "Control"]


class Control(
    ServiceCalls,
    NodeCalls,
    NetworkCalls,
    FileCalls,
    ClusterCalls,
    StreamCalls,
    control_pb2_grpc.ControlServicer,
):
    """Serve it with AdminOnly among the server's interceptors: it checks no caller itself."""

    def __init__(
        self,
        store: StateStore,
        manager_addr: str,
        self_node_id: str,
        logs: LogBroker,
        reserved: frozenset[tuple[int, PortProtocol]],
        data_key: DataKey,
        managers: ManagerSet,
        counts: ServiceCounts,
        shared_store: bool = False,
    ) -> None:
        """reserved: the cluster's own ports (common.ports.reserved_ports); data_key: what
        secrets and configs are sealed with; managers: who leads and who is reachable, for the
        nodes' manager status; counts: each service's tasks, for `service ls`; shared_store:
        the state is in etcd, where managers can be added (SQLite keeps one)."""
        self._data_key = data_key
        self._shared_store = shared_store
        self._store = store
        self._managers = managers
        self._counts = counts
        self._manager_addr = manager_addr
        self._reserved = reserved
        self._self_node_id = self_node_id
        self._logs = logs
