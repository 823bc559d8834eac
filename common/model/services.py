"""Services: their spec (mode, ports, placement, restart and update policies) and the state of
their rolling updates."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from common.model.containers import ContainerSpec
from common.model.meta import EPOCH, Meta
from common.model.nodes import Resources


class ServiceMode(enum.IntEnum):
    REPLICATED = 0
    GLOBAL = 1
    # Run to completion: replicas completions (a replicated job), or one per node (global).
    REPLICATED_JOB = 2
    GLOBAL_JOB = 3

    @property
    def is_global(self) -> bool:
        """One task per eligible node."""
        return self in (ServiceMode.GLOBAL, ServiceMode.GLOBAL_JOB)

    @property
    def is_job(self) -> bool:
        return self in (ServiceMode.REPLICATED_JOB, ServiceMode.GLOBAL_JOB)


class PortProtocol(enum.IntEnum):
    TCP = 0
    UDP = 1


class PublishMode(enum.IntEnum):
    """INGRESS: the published port answers on every node and balances over all tasks; HOST: it
    is bound only on the nodes running a task, straight to that task."""

    INGRESS = 0
    HOST = 1


@dataclass(frozen=True)
class PortConfig:
    """A published port, docker's PortConfig. published 0: the manager allocates one (ingress),
    the engine picks one on each node (host)."""

    target: int
    published: int = 0
    protocol: PortProtocol = PortProtocol.TCP
    mode: PublishMode = PublishMode.INGRESS


@dataclass(frozen=True)
class PortBinding:
    """Where a task's container port is reachable on its node: host_port on the node's address,
    and target on container_ip, an address that only means something on that node."""

    target: int
    host_port: int
    protocol: PortProtocol = PortProtocol.TCP
    container_ip: str = ""


@dataclass(frozen=True)
class Placement:
    constraints: tuple[str, ...] = ()
    max_replicas_per_node: int = 0
    # Label keys (node.labels.KEY) to spread over, outermost first.
    spread: tuple[str, ...] = ()


class RestartCondition(enum.IntEnum):
    ANY = 0
    ON_FAILURE = 1
    NONE = 2


@dataclass(frozen=True)
class RestartPolicy:
    """When a task that ended gets a replacement. delay None: the default first step (1 s);
    max_attempts 0: no limit; window None: restarts count forever."""

    condition: RestartCondition = RestartCondition.ANY
    delay: timedelta | None = None
    max_attempts: int = 0
    window: timedelta | None = None


class EndpointMode(enum.IntEnum):
    VIP = 0
    DNSRR = 1


class UpdateOrder(enum.IntEnum):
    STOP_FIRST = 0
    START_FIRST = 1


class FailureAction(enum.IntEnum):
    PAUSE = 0
    CONTINUE = 1
    ROLLBACK = 2


@dataclass(frozen=True)
class UpdateConfig:
    """How a rolling update (or a rollback) replaces tasks. parallelism 0: all at once."""

    parallelism: int = 1
    delay: timedelta = timedelta(0)
    monitor: timedelta = timedelta(seconds=5)
    failure_action: FailureAction = FailureAction.PAUSE
    max_failure_ratio: float = 0.0
    order: UpdateOrder = UpdateOrder.STOP_FIRST


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    container: ContainerSpec
    labels: dict[str, str] = field(default_factory=dict)
    mode: ServiceMode = ServiceMode.REPLICATED
    replicas: int = 1
    restart: RestartPolicy = RestartPolicy()
    placement: Placement = Placement()
    reservations: Resources = Resources()
    update: UpdateConfig = UpdateConfig()
    rollback: UpdateConfig = UpdateConfig()
    # Raised by `service update --force`: tasks made before it are replaced though unchanged.
    force_update: int = 0
    ports: tuple[PortConfig, ...] = ()
    # IDs of the cluster networks the tasks join, in order.
    networks: tuple[str, ...] = ()
    endpoint_mode: EndpointMode = EndpointMode.VIP
    # A replicated job's tasks at most running at once; 0: replicas.
    max_concurrent: int = 0
    # Other names the service answers to on each of its networks (a stack's short names).
    aliases: tuple[str, ...] = ()

    @property
    def concurrency(self) -> int:
        """How many of a replicated job's tasks may run at once."""
        return min(self.max_concurrent or self.replicas, self.replicas)


class UpdateState(enum.IntEnum):
    NONE = 0
    UPDATING = 1
    PAUSED = 2
    COMPLETED = 3
    ROLLBACK_STARTED = 4
    ROLLBACK_PAUSED = 5
    ROLLBACK_COMPLETED = 6
    REBALANCING = 7
    REBALANCED = 8
    REBALANCE_PAUSED = 9

    @property
    def active(self) -> bool:
        return self in (UpdateState.UPDATING, UpdateState.ROLLBACK_STARTED, UpdateState.REBALANCING)


@dataclass(frozen=True)
class UpdateStatus:
    """Where the last update, rollback or rebalance of a service stands; stored, so a manager
    restart resumes it."""

    state: UpdateState = UpdateState.NONE
    started_at: datetime = EPOCH
    completed_at: datetime = EPOCH
    message: str = ""


@dataclass(frozen=True)
class Service:
    id: str
    spec: ServiceSpec
    meta: Meta = Meta()
    previous_spec: ServiceSpec | None = None
    update_status: UpdateStatus = UpdateStatus()
    # spec.ports with every ingress port's published port filled in (docker's Endpoint.Ports).
    endpoint_ports: tuple[PortConfig, ...] = ()
    # network ID -> the service's virtual IP on it (vip mode).
    virtual_ips: dict[str, str] = field(default_factory=dict)
    # --with-registry-auth's credentials sealed with the cluster's data key (manager.registry_auth);
    # empty: the nodes pull without any.
    sealed_registry_auth: bytes = b""
