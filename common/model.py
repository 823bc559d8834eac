"""Domain types. Plain frozen dataclasses, independent of protobuf (common.convert maps them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


def now() -> datetime:
    return datetime.now(UTC)


EPOCH = datetime.fromtimestamp(0, UTC)


class NodeRole(enum.IntEnum):
    WORKER = 0
    MANAGER = 1


class Availability(enum.IntEnum):
    ACTIVE = 0
    PAUSE = 1
    DRAIN = 2


class NodeState(enum.IntEnum):
    UNKNOWN = 0
    DOWN = 1
    READY = 2
    DISCONNECTED = 3


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


class TaskState(enum.IntEnum):
    """Ordered: an observed state only ever moves to a higher value."""

    NEW = 0
    PENDING = 1
    ASSIGNED = 2
    ACCEPTED = 3
    PREPARING = 4
    STARTING = 5
    RUNNING = 6
    COMPLETE = 7
    FAILED = 8
    SHUTDOWN = 9
    REJECTED = 10
    ORPHANED = 11

    @property
    def terminal(self) -> bool:
        return self >= TaskState.COMPLETE


@dataclass(frozen=True)
class Meta:
    """Store bookkeeping: version 0 means never stored; each write increments it."""

    version: int = 0
    created_at: datetime = EPOCH
    updated_at: datetime = EPOCH


@dataclass(frozen=True)
class Resources:
    nano_cpus: int = 0
    memory_bytes: int = 0


@dataclass(frozen=True)
class NodeDescription:
    hostname: str = ""
    engine_version: str = ""
    resources: Resources = Resources()
    os: str = ""
    arch: str = ""
    # The agent's Shoal release and session protocol; 0: an agent from before they were said.
    version: str = ""
    protocol: int = 0
    # The Docker engine's ID ("" unknown): two nodes on one engine are told apart by it.
    engine_id: str = ""
    # Where other nodes send this node's overlay traffic; empty: Node.addr.
    data_addr: str = ""


@dataclass(frozen=True)
class Node:
    id: str
    meta: Meta = Meta()
    role: NodeRole = NodeRole.WORKER
    availability: Availability = Availability.ACTIVE
    state: NodeState = NodeState.UNKNOWN
    message: str = ""
    description: NodeDescription = NodeDescription()
    addr: str = ""
    labels: dict[str, str] = field(default_factory=dict)


class Reachability(enum.IntEnum):
    UNKNOWN = 0
    UNREACHABLE = 1
    REACHABLE = 2


@dataclass(frozen=True)
class ManagerStatus:
    """A manager node's place among the managers as the answering manager sees it now; never
    stored: it comes from the managers' leases. addr: its dispatcher's HOST:PORT."""

    leader: bool
    reachability: Reachability
    addr: str


@dataclass(frozen=True)
class ManagerList:
    """The managers' dispatcher addresses (HOST:PORT), the leader first, as an agent gets them."""

    addrs: tuple[str, ...]


class MountType(enum.IntEnum):
    BIND = 0
    VOLUME = 1
    TMPFS = 2


@dataclass(frozen=True)
class Mount:
    """source: a host path (bind), a volume name (volume; empty: anonymous), nothing (tmpfs)."""

    type: MountType
    target: str
    source: str = ""
    read_only: bool = False


@dataclass(frozen=True)
class FileReference:
    """A secret or config a task's container gets as a file. id empty or version 0 (as a client
    gives it): the manager fills in the object's ID and current version. target: a file name
    under /run/secrets for a secret, an absolute path for a config."""

    name: str
    target: str
    id: str = ""
    version: int = 0
    uid: int = 0
    gid: int = 0
    mode: int = 0o444


DEFAULT_STOP_GRACE = timedelta(seconds=10)

# HealthCheck.test values with a meaning of their own, as docker gives them.
HEALTH_NONE = ("NONE",)
HEALTH_SHELL = "CMD-SHELL"


@dataclass(frozen=True)
class HealthCheck:
    """Docker's health check. test () keeps the image's test, HEALTH_NONE disables any, else
    (HEALTH_SHELL, command). None and 0 leave the engine's defaults."""

    test: tuple[str, ...] = ()
    interval: timedelta | None = None
    timeout: timedelta | None = None
    retries: int = 0
    start_period: timedelta | None = None

    @property
    def disabled(self) -> bool:
        return self.test == HEALTH_NONE


@dataclass(frozen=True)
class ContainerSpec:
    """hostname may hold docker's templates ({{.Task.Slot}} ...); the agent renders them."""

    image: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    limits: Resources = Resources()
    hostname: str = ""
    # Replaces the image's entrypoint when not empty (docker's ContainerSpec.Command).
    entrypoint: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    mounts: tuple[Mount, ...] = ()
    # None: DEFAULT_STOP_GRACE.
    stop_grace_period: timedelta | None = None
    stop_signal: str = ""
    init: bool = False
    read_only: bool = False
    healthcheck: HealthCheck | None = None
    secrets: tuple[FileReference, ...] = ()
    configs: tuple[FileReference, ...] = ()


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


@dataclass(frozen=True, repr=False)
class RegistryAuth:
    """A user's credentials for one registry, from docker's client configuration."""

    username: str = ""
    password: str = ""
    server_address: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:
        return f"RegistryAuth(server_address={self.server_address!r}, <credentials redacted>)"


@dataclass(frozen=True)
class TaskStatus:
    state: TaskState = TaskState.NEW
    timestamp: datetime = EPOCH
    message: str = ""
    err: str = ""
    container_id: str = ""
    exit_code: int = 0
    # Where the container's published ports ended up on its node.
    ports: tuple[PortBinding, ...] = ()
    # network ID -> the container's address on it.
    addresses: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    id: str
    service_id: str
    service_name: str
    slot: int
    spec: ContainerSpec
    meta: Meta = Meta()
    node_id: str = ""
    desired_state: TaskState = TaskState.RUNNING
    status: TaskStatus = TaskStatus()
    restart_streak: int = 0
    restart_times: tuple[datetime, ...] = ()
    finished: bool = False
    reservations: Resources = Resources()
    # The service's force_update when the task was made.
    force_update: int = 0
    # What the container publishes on its node (common.publish.task_ports of the service's).
    ports: tuple[PortConfig, ...] = ()
    # The service's networks when the task was made.
    networks: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.service_name}.{self.slot}"


@dataclass(frozen=True, repr=False)
class Cluster:
    id: str
    digest: str
    # The join tokens' secrets, sealed with the cluster data key (manager/join_secrets.py).
    sealed_worker_secret: bytes = b""
    sealed_manager_secret: bytes = b""
    meta: Meta = Meta()
    # Admin certificates carry the generation they were issued in; older ones are refused.
    admin_generation: int = 0
    # A state written before the secrets were sealed holds them here, in the clear: a manager's
    # start seals them and empties these.
    clear_worker_secret: str = ""
    clear_manager_secret: str = ""

    def __repr__(self) -> str:
        return f"Cluster(id={self.id!r}, <secrets redacted>)"


@dataclass(frozen=True)
class Network:
    """A cluster network. Each node that runs a task on it gets a slice of subnet (slices:
    node ID -> slice index) for its containers' addresses."""

    id: str
    name: str
    subnet: str
    vni: int
    meta: Meta = Meta()
    labels: dict[str, str] = field(default_factory=dict)
    slices: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, repr=False)
class SealedVersion:
    """One version of a secret's or config's data, sealed with the cluster data key."""

    version: int
    sealed: bytes
    created_at: datetime = EPOCH

    def __repr__(self) -> str:
        return f"SealedVersion({self.version})"


@dataclass(frozen=True)
class SealedObject:
    """What secrets and configs share: versions still in use, the newest (current) last."""

    id: str
    name: str
    versions: tuple[SealedVersion, ...]
    meta: Meta = Meta()
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def current(self) -> SealedVersion:
        return self.versions[-1]

    def sealed_for(self, version: int) -> SealedVersion | None:
        return next((v for v in self.versions if v.version == version), None)


@dataclass(frozen=True)
class Secret(SealedObject):
    pass


@dataclass(frozen=True)
class Config(SealedObject):
    pass


@dataclass(frozen=True, repr=False)
class DataInfo:
    """A secret or config as a client sees it: data is a config's current data, never a
    secret's."""

    config: bool
    id: str
    name: str
    versions: tuple[int, ...]
    meta: Meta = Meta()
    labels: dict[str, str] = field(default_factory=dict)
    data: bytes = b""

    def __repr__(self) -> str:
        return f"DataInfo({self.name!r}, versions={self.versions})"


@dataclass(frozen=True, repr=False)
class FileData:
    """One version of a secret's or config's data in the clear, as a node receives it."""

    config: bool
    id: str
    version: int
    data: bytes

    def __repr__(self) -> str:
        return f"FileData({self.id!r}, version={self.version})"


StoredObject = Node | Service | Task | Cluster | Network | Secret | Config
