"""common.convert: domain -> protobuf -> domain gives back an equal object."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from common import convert
from common.api import types_pb2 as pb
from common.model import (
    EPOCH,
    HEALTH_NONE,
    HEALTH_SHELL,
    Availability,
    Cluster,
    ContainerSpec,
    HealthCheck,
    Meta,
    Mount,
    MountType,
    Node,
    NodeDescription,
    NodeRole,
    NodeState,
    Resources,
    Service,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskState,
    TaskStatus,
)

CREATED = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
UPDATED = CREATED + timedelta(minutes=3, microseconds=1)
META = Meta(version=42, created_at=CREATED, updated_at=UPDATED)


def wire(message: pb.Node | pb.Service | pb.Task | pb.Cluster) -> bytes:
    """Serialize, as the store and the network do, so the round trip crosses real bytes."""
    return message.SerializeToString()


def spec(name: str = "web", replicas: int = 3) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        container=ContainerSpec(
            image="nginx:1.25",
            args=("nginx", "-g", "daemon off;"),
            env=("A=1", "B=two words"),
            labels={"tier": "front"},
        ),
        labels={"team": "blue", "empty": ""},
        mode=ServiceMode.GLOBAL,
        replicas=replicas,
        aliases=("www", "front"),
    )


class TestNode:
    def test_round_trip_all_fields(self) -> None:
        """A node with every field set, non-default enums included, survives the round trip."""
        node = Node(
            id="n1",
            meta=META,
            role=NodeRole.MANAGER,
            availability=Availability.DRAIN,
            state=NodeState.DISCONNECTED,
            message="heartbeat missed",
            description=NodeDescription(
                hostname="host-a",
                engine_version="27.1.0",
                resources=Resources(nano_cpus=4_000_000_000, memory_bytes=8 << 30),
                os="linux",
                arch="aarch64",
            ),
            addr="10.0.0.5",
            labels={"zone": "a", "ssd": "true"},
        )
        msg = pb.Node.FromString(wire(convert.node_to_pb(node)))
        back = convert.node_from_pb(msg)
        assert back == node
        assert type(back.role) is NodeRole
        assert type(back.availability) is Availability
        assert type(back.state) is NodeState

    def test_round_trip_defaults(self) -> None:
        """A node with only an ID comes back equal, with EPOCH timestamps and empty labels."""
        node = Node(id="n2")
        assert convert.node_from_pb(pb.Node.FromString(wire(convert.node_to_pb(node)))) == node

    @pytest.mark.parametrize("availability", list(Availability))
    def test_every_availability(self, availability: Availability) -> None:
        """Each availability maps to itself."""
        node = Node(id="n", availability=availability)
        assert convert.node_from_pb(convert.node_to_pb(node)).availability is availability

    @pytest.mark.parametrize("state", list(NodeState))
    def test_every_node_state(self, state: NodeState) -> None:
        """Each node state maps to itself."""
        node = Node(id="n", state=state)
        assert convert.node_from_pb(convert.node_to_pb(node)).state is state


class TestService:
    def test_round_trip_without_previous_spec(self) -> None:
        """A service with no previous spec comes back equal, previous_spec still None."""
        service = Service(id="s1", spec=spec(), meta=META)
        msg = pb.Service.FromString(wire(convert.service_to_pb(service)))
        assert not msg.HasField("previous_spec")
        back = convert.service_from_pb(msg)
        assert back == service
        assert back.previous_spec is None

    def test_round_trip_with_previous_spec(self) -> None:
        """A service keeps its previous spec (for rollback) through the round trip."""
        service = Service(id="s1", spec=spec(replicas=5), meta=META, previous_spec=spec())
        back = convert.service_from_pb(pb.Service.FromString(wire(convert.service_to_pb(service))))
        assert back == service
        assert back.previous_spec == spec()

    def test_previous_spec_with_default_fields_is_kept(self) -> None:
        """A previous spec whose fields are all defaults is still a previous spec, not None."""
        minimal = ServiceSpec(name="", container=ContainerSpec(image=""), replicas=0)
        service = Service(id="s1", spec=spec(), previous_spec=minimal)
        back = convert.service_from_pb(pb.Service.FromString(wire(convert.service_to_pb(service))))
        assert back.previous_spec == minimal

    def test_tuples_stay_tuples(self) -> None:
        """args and env come back as tuples (the domain type), not protobuf containers."""
        back = convert.service_from_pb(convert.service_to_pb(Service(id="s", spec=spec())))
        assert type(back.spec.container.args) is tuple
        assert type(back.spec.container.env) is tuple
        assert type(back.spec.labels) is dict
        assert type(back.spec.mode) is ServiceMode
        assert type(back.spec.aliases) is tuple


class TestTask:
    def test_round_trip_all_fields(self) -> None:
        """A task with every field set and non-default enums survives the round trip."""
        task = Task(
            id="t1",
            service_id="s1",
            service_name="web",
            slot=7,
            spec=spec().container,
            meta=META,
            node_id="n1",
            desired_state=TaskState.SHUTDOWN,
            status=TaskStatus(
                state=TaskState.FAILED,
                timestamp=UPDATED,
                message="started",
                err="task: non-zero exit (3)",
                container_id="c" * 64,
                exit_code=3,
            ),
        )
        back = convert.task_from_pb(pb.Task.FromString(wire(convert.task_to_pb(task))))
        assert back == task
        assert type(back.desired_state) is TaskState
        assert type(back.status.state) is TaskState

    def test_negative_exit_code(self) -> None:
        """A negative exit code (a signal on some engines) is kept."""
        task = Task(
            id="t",
            service_id="s",
            service_name="w",
            slot=1,
            spec=ContainerSpec(image="i"),
            status=TaskStatus(state=TaskState.FAILED, exit_code=-1),
        )
        assert convert.task_from_pb(convert.task_to_pb(task)).status.exit_code == -1

    @pytest.mark.parametrize("state", list(TaskState))
    def test_every_task_state(self, state: TaskState) -> None:
        """Each task state maps to itself, both as observed and as desired state."""
        task = Task(
            id="t",
            service_id="s",
            service_name="w",
            slot=1,
            spec=ContainerSpec(image="i"),
            desired_state=state,
            status=TaskStatus(state=state),
        )
        back = convert.task_from_pb(convert.task_to_pb(task))
        assert back.status.state is state
        assert back.desired_state is state


class TestCluster:
    def test_round_trip(self) -> None:
        """A cluster's ID, digest, secrets and meta survive the round trip."""
        cluster = Cluster(
            id="c1",
            digest="d" * 50,
            sealed_worker_secret=b"w" * 25,
            sealed_manager_secret=b"m" * 25,
            meta=META,
            clear_worker_secret="x" * 25,
        )
        back = convert.cluster_from_pb(pb.Cluster.FromString(wire(convert.cluster_to_pb(cluster))))
        assert back == cluster


class TestTimestamps:
    def test_utc_with_microseconds_is_preserved(self) -> None:
        """A status timestamp comes back equal, timezone-aware, in UTC, to the microsecond."""
        status = TaskStatus(state=TaskState.RUNNING, timestamp=CREATED)
        back = convert.status_from_pb(convert.status_to_pb(status))
        assert back.timestamp == CREATED
        assert back.timestamp.tzinfo is not None
        assert back.timestamp.utcoffset() == timedelta(0)
        assert back.timestamp.microsecond == 123456

    def test_other_zone_comes_back_as_the_same_instant_in_utc(self) -> None:
        """A timestamp in another zone is the same instant after the trip, expressed in UTC."""
        local = datetime(2030, 5, 6, 9, 0, tzinfo=timezone(timedelta(hours=2)))
        back = convert.status_from_pb(convert.status_to_pb(TaskStatus(timestamp=local)))
        assert back.timestamp == local
        assert back.timestamp.utcoffset() == timedelta(0)
        assert back.timestamp.hour == 7

    def test_epoch_default(self) -> None:
        """The default timestamp (EPOCH) comes back as EPOCH, timezone-aware."""
        back = convert.status_from_pb(convert.status_to_pb(TaskStatus()))
        assert back.timestamp == EPOCH
        assert back.timestamp.tzinfo is not None

    def test_meta_timestamps(self) -> None:
        """Meta's created and updated times and version survive the round trip, aware in UTC."""
        back = convert.meta_from_pb(convert.meta_to_pb(META))
        assert back == META
        assert back.created_at.utcoffset() == timedelta(0)
        assert back.updated_at.utcoffset() == timedelta(0)


class TestContainerSpec:
    def test_round_trip_every_container_field(self) -> None:
        """Hostname template, entrypoint, user, workdir, mounts of each type, stop signal and
        grace period, init, read-only and a full health check survive the round trip."""
        container = ContainerSpec(
            image="busybox",
            hostname="{{.Service.Name}}-{{.Task.Slot}}",
            entrypoint=("sh", "-c"),
            user="1000:1000",
            workdir="/srv",
            mounts=(
                Mount(MountType.BIND, "/data", source="/srv/data", read_only=True),
                Mount(MountType.VOLUME, "/cache", source="cache"),
                Mount(MountType.TMPFS, "/tmp"),
            ),
            stop_grace_period=timedelta(seconds=3, milliseconds=500),
            stop_signal="SIGINT",
            init=True,
            read_only=True,
            healthcheck=HealthCheck(
                test=(HEALTH_SHELL, "test -f /tmp/ok"),
                interval=timedelta(milliseconds=200),
                timeout=timedelta(seconds=1),
                retries=2,
                start_period=timedelta(seconds=5),
            ),
        )
        msg = pb.ContainerSpec.FromString(convert.container_to_pb(container).SerializeToString())
        back = convert.container_from_pb(msg)
        assert back == container
        assert type(back.mounts) is tuple
        assert type(back.mounts[0].type) is MountType

    def test_unset_stays_unset(self) -> None:
        """No grace period and no health check come back as None, not as zero values; a health
        check with only a test keeps its durations None."""
        plain = convert.container_from_pb(convert.container_to_pb(ContainerSpec(image="i")))
        assert (plain.stop_grace_period, plain.healthcheck) == (None, None)
        disabled = ContainerSpec(image="i", healthcheck=HealthCheck(test=HEALTH_NONE))
        back = convert.container_from_pb(convert.container_to_pb(disabled))
        assert back.healthcheck == HealthCheck(test=("NONE",))
        assert back.healthcheck.disabled

    def test_an_empty_health_check_is_still_one(self) -> None:
        """A health check that keeps the image's test (test empty) is not dropped."""
        inherit = ContainerSpec(image="i", healthcheck=HealthCheck())
        assert convert.container_from_pb(convert.container_to_pb(inherit)) == inherit


class TestConversionShortcuts:
    """The hot path's shortcuts give exactly what the plain conversions give."""

    @pytest.mark.parametrize(
        "moment",
        [
            CREATED,
            datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
            datetime(2001, 1, 1),  # naive: UTC, as protobuf takes it
            datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=5))),
            EPOCH,
        ],
    )
    def test_timestamps_are_protobufs_own(self, moment: datetime) -> None:
        from google.protobuf.timestamp_pb2 import Timestamp

        expected = Timestamp()
        expected.FromDatetime(moment)
        assert convert.ts_to_pb(moment) == expected

    def test_tasks_sharing_a_spec_each_get_it_and_a_new_spec_is_seen(self) -> None:
        shared = spec().container
        first = Task(id="t1", service_id="s", service_name="s", slot=1, spec=shared)
        second = Task(id="t2", service_id="s", service_name="s", slot=2, spec=shared)
        one, two = convert.task_to_pb(first), convert.task_to_pb(second)
        assert one.spec == two.spec == convert.container_to_pb(shared)
        # Each task's message holds its own copy: changing one changes nothing else.
        one.spec.image = "changed"
        assert convert.task_to_pb(second).spec.image == "nginx:1.25"
        updated = Task(
            id="t1",
            service_id="s",
            service_name="s",
            slot=1,
            spec=ContainerSpec(image="nginx:1.27"),
        )
        assert convert.task_to_pb(updated).spec.image == "nginx:1.27"

    def test_the_spec_cache_stays_bounded(self) -> None:
        from common.convert import services

        for i in range(services.SPEC_CACHE_SIZE + 10):
            task = Task(
                id=f"t{i}",
                service_id="s",
                service_name="s",
                slot=1,
                spec=ContainerSpec(image=f"i{i}"),
            )
            assert convert.task_to_pb(task).spec.image == f"i{i}"
        assert len(services._spec_messages) <= services.SPEC_CACHE_SIZE
