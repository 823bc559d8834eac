"""The container runtime on a real engine, through the agent's one EngineClient (which runs
docker-py's blocking calls on threads, bounded, and translates its errors)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, Literal, TypeVar, cast

import docker
import docker.errors

from agent.engine_client import EngineClient, one_line, translate
from agent.runtime.base import (
    NODE_LABEL,
    TASK_LABEL,
    ContainerEvent,
    ContainerInfo,
    EngineInfo,
    LogEntry,
    PullProgress,
    RunSpec,
)
from agent.runtime.docker_logs import read_logs
from agent.runtime.pull_progress import PullMeter
from common.docker_auth import auth_config
from common.errors import NotFound, Unavailable
from common.ids import new_id
from common.model import (
    HealthCheck,
    Mount,
    MountType,
    PortBinding,
    PortConfig,
    PortProtocol,
    RegistryAuth,
)

R = TypeVar("R")

ENGINE_ID_VOLUME = "shoal-engine-id"
ENGINE_ID_LABEL = "shoal.engine.id"

# "health_status: healthy" and the like arrive with the status after a colon.
_WATCHED_ACTIONS = {"start", "die", "destroy", "health_status"}


def _container_info(attrs: dict[str, Any]) -> ContainerInfo:
    state = attrs.get("State", {})
    labels = attrs.get("Config", {}).get("Labels") or {}
    settings = attrs.get("NetworkSettings") or {}
    addresses = {
        name: endpoint["IPAddress"]
        for name, endpoint in (settings.get("Networks") or {}).items()
        if endpoint and endpoint.get("IPAddress")
    }
    return ContainerInfo(
        id=attrs["Id"],
        task_id=labels.get(TASK_LABEL, ""),
        running=bool(state.get("Running")),
        exit_code=int(state.get("ExitCode", 0)),
        error=state.get("Error", ""),
        # Present whenever the container has a health check, the image's own included.
        health=(state.get("Health") or {}).get("Status", ""),
        ports=_bindings(settings.get("Ports") or {}, _local_address(settings, addresses)),
        addresses=addresses,
    )


def _local_address(settings: dict[str, Any], addresses: dict[str, str]) -> str:
    """An address this node reaches the container at, for the mesh's local backend.

    The legacy top-level IPAddress is filled only for the engine's default bridge; a container
    whose first network is a cluster network has it empty. Any of the container's addresses
    serves, though: the node holds a bridge on each of the container's networks, so a DNAT to
    any of them is delivered, whichever network the engine bound the published port through.
    The sorted choice keeps the rule stable across inspections."""
    legacy = str(settings.get("IPAddress") or "")
    return legacy or next((addresses[name] for name in sorted(addresses)), "")


def _bindings(ports: dict[str, Any], ip: str) -> tuple[PortBinding, ...]:
    """NetworkSettings.Ports ({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}, ...]}) as
    bindings to ip; the engine lists each port once per address family, with the same host
    port."""
    found = []
    for name, hosts in sorted(ports.items()):
        number, _, protocol = name.partition("/")
        host_port = next((int(h["HostPort"]) for h in hosts or () if h.get("HostPort")), 0)
        if host_port and protocol in ("tcp", "udp"):
            found.append(PortBinding(int(number), host_port, PortProtocol[protocol.upper()], ip))
    return tuple(found)


def _port_name(port: PortConfig) -> str:
    return f"{port.target}/{port.protocol.name.lower()}"


def _nanoseconds(value: timedelta | None) -> int:
    """Zero, the engine's "default", when unset."""
    return 0 if value is None else round(value.total_seconds() * 1e9)


def _healthcheck(check: HealthCheck | None) -> dict[str, Any] | None:
    if check is None:
        return None
    return {
        "test": list(check.test),
        "interval": _nanoseconds(check.interval),
        "timeout": _nanoseconds(check.timeout),
        "retries": check.retries,
        "start_period": _nanoseconds(check.start_period),
    }


_MOUNT_TYPES: dict[MountType, Literal["bind", "volume", "tmpfs"]] = {
    MountType.BIND: "bind",
    MountType.VOLUME: "volume",
    MountType.TMPFS: "tmpfs",
}


def _mount(mount: Mount) -> docker.types.Mount:
    return docker.types.Mount(
        target=mount.target,
        source=mount.source,
        type=_MOUNT_TYPES[mount.type],
        read_only=mount.read_only,
    )


class DockerRuntime:
    def __init__(self, engine: EngineClient) -> None:
        self._engine = engine
        # Images seen present: a task start then costs no inspect round trip. A stale entry
        # (image removed meanwhile) surfaces as a create error, which run() repairs.
        self._present: set[str] = set()
        # The engine's identity, read once (see _engine_id).
        self._engine_id = ""

    async def _call(self, fn: Callable[[docker.APIClient], R]) -> R:
        return await self._engine.call(fn)

    async def info(self) -> EngineInfo:
        info = await self._call(lambda api: api.info())
        if not self._engine_id:
            self._engine_id = await self._call(_engine_id)
        return EngineInfo(
            id=self._engine_id,
            version=info.get("ServerVersion", ""),
            nano_cpus=int(info.get("NCPU", 0)) * 1_000_000_000,
            memory_bytes=int(info.get("MemTotal", 0)),
            os=info.get("OSType", ""),
            arch=info.get("Architecture", ""),
        )

    async def containers(self, node_id: str) -> list[ContainerInfo]:
        def listing(api: docker.APIClient) -> list[ContainerInfo]:
            found = api.containers(all=True, filters={"label": f"{NODE_LABEL}={node_id}"})
            result = []
            for summary in found:
                with contextlib.suppress(docker.errors.NotFound):
                    result.append(_container_info(api.inspect_container(summary["Id"])))
            return result

        return await self._call(listing)

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        try:
            return await self._call(
                lambda api: _container_info(api.inspect_container(container_id))
            )
        except NotFound:
            return None

    async def ensure_image(
        self,
        image: str,
        auth: RegistryAuth | None = None,
        progress: PullProgress | None = None,
    ) -> None:
        if image in self._present:
            return
        try:
            await self._call(lambda api: api.inspect_image(image))  # type: ignore[no-untyped-call]
        except NotFound:
            loop = asyncio.get_running_loop()

            def told(percent: int) -> None:
                # Called on the pulling thread; progress belongs to the event loop.
                if progress is not None:
                    loop.call_soon_threadsafe(progress, percent)

            await self._call(lambda api: _pull(api, image, auth, told))
        self._present.add(image)

    async def run(self, spec: RunSpec) -> ContainerInfo:
        try:
            return await self._create_and_start(spec)
        except NotFound:
            if spec.image not in self._present:
                raise
            self._present.discard(spec.image)
            await self.ensure_image(spec.image)
            return await self._create_and_start(spec)

    async def _create_and_start(self, spec: RunSpec) -> ContainerInfo:
        def create_and_start(api: docker.APIClient) -> ContainerInfo:
            first, *others = spec.networks or (None,)
            # None leaves each setting to the image or the engine, as zero and empty do for us.
            created = api.create_container(
                image=spec.image,
                command=list(spec.args) or None,
                entrypoint=list(spec.entrypoint) or None,
                hostname=spec.hostname or None,
                user=spec.user or None,
                working_dir=spec.workdir or None,
                stop_signal=spec.stop_signal or None,
                healthcheck=_healthcheck(spec.healthcheck),
                environment=list(spec.env),
                labels=spec.labels,
                name=spec.name,
                detach=True,
                ports=[(p.target, p.protocol.name.lower()) for p in spec.ports] or None,
                host_config=api.create_host_config(
                    nano_cpus=spec.nano_cpus or None,
                    mem_limit=spec.memory_bytes or None,
                    mounts=[_mount(m) for m in spec.mounts] or None,
                    init=spec.init or None,
                    read_only=spec.read_only or None,
                    # None asks the engine for a free port of its own choosing.
                    port_bindings={_port_name(p): p.published or None for p in spec.ports} or None,
                    network_mode=first,
                    dns=list(spec.dns) or None,
                ),
                # docker-py's stubs type the endpoints map as one endpoint; the engine wants a map.
                networking_config=cast(
                    docker.types.NetworkingConfig, {"EndpointsConfig": {first: {}}}
                )
                if first
                else None,
            )
            container_id: str = created["Id"]
            try:
                for network in others:
                    api.connect_container_to_network(container_id, network)
                api.start(container_id)
            except Exception:
                with contextlib.suppress(Exception):
                    api.remove_container(container_id, force=True)
                raise
            # Whether it has a health check (maybe the image's) is known only once it exists.
            try:
                return _container_info(api.inspect_container(container_id))
            except docker.errors.NotFound:
                # Removed behind our back already: its destroy event will say so.
                return ContainerInfo(container_id, spec.labels.get(TASK_LABEL, ""), running=True)

        return await self._call(create_and_start)

    async def stop(self, container_id: str, grace_seconds: float) -> None:
        # The HTTP timeout must outlast the grace period, or docker-py gives up mid-stop.
        await self._call(lambda api: api.stop(container_id, timeout=int(grace_seconds)))

    async def remove(self, container_id: str) -> None:
        with contextlib.suppress(NotFound):
            await self._call(lambda api: api.remove_container(container_id, force=True))

    async def events(self, node_id: str, since: int) -> AsyncIterator[ContainerEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ContainerEvent | Exception | None] = asyncio.Queue()
        filters = {"type": "container", "label": [f"{NODE_LABEL}={node_id}"]}

        api, stream = await self._engine.stream(
            lambda api: api.events(since=since, decode=True, filters=filters)
        )

        def pump() -> None:
            try:
                for raw in stream:
                    action = str(raw.get("Action", "")).split(":")[0]
                    if action not in _WATCHED_ACTIONS:
                        continue
                    actor = raw.get("Actor", {})
                    labels = actor.get("Attributes", {})
                    event = ContainerEvent(actor.get("ID", ""), labels.get(TASK_LABEL, ""), action)
                    loop.call_soon_threadsafe(queue.put_nowait, event)
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except Exception as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        thread = threading.Thread(target=pump, name="docker-events", daemon=True)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    raise Unavailable("the docker engine closed its event stream")
                if isinstance(item, Exception):
                    raise translate(item) from item
                yield item
        finally:
            # Closing the stream's response makes the blocked read in pump() return.
            with contextlib.suppress(Exception):
                stream.close()
            api.close()

    def logs(
        self, container_id: str, *, follow: bool, tail: int | None, since_ns: int
    ) -> AsyncIterator[LogEntry]:
        return read_logs(self._engine, container_id, follow=follow, tail=tail, since_ns=since_ns)


def _engine_id(api: docker.APIClient) -> str:
    """An ID that tells engines apart, the same for every agent on one engine. docker info's own
    ID is no good: it comes from the key in /etc/docker, which every engine of one machine (the
    lab's) and every machine cloned from one image share. A volume lives in the engine's own data
    root: the first agent makes it with an ID, and creating it again hands back the first."""
    api.create_volume(ENGINE_ID_VOLUME, labels={ENGINE_ID_LABEL: new_id()})
    labels = api.inspect_volume(ENGINE_ID_VOLUME).get("Labels") or {}
    return str(labels.get(ENGINE_ID_LABEL, ""))


def _pull(
    api: docker.APIClient, image: str, auth: RegistryAuth | None, told: Callable[[int], None]
) -> None:
    repository, tag = _split_reference(image)
    meter = PullMeter()
    # The engine reports some pull failures inside the progress stream, not as an HTTP error.
    for line in api.pull(
        repository, tag=tag, stream=True, decode=True, auth_config=auth_config(auth)
    ):
        if not isinstance(line, dict):
            continue
        if line.get("error"):
            raise NotFound(one_line(str(line["error"])))
        percent = meter.feed(line)
        if percent is not None:
            told(percent)


def _split_reference(image: str) -> tuple[str, str | None]:
    """'repo:tag' -> (repo, tag); a ':' before the last '/' belongs to a registry's port."""
    if "@" in image:
        return image, None
    name, sep, tag = image.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return image, "latest"
