"""Compose's normalized model (what cli.stack.loader returns) as a Stack of Shoal service specs,
named STACK_NAME and labelled with the stack's namespace, as `docker stack deploy` converts it.

Keys Shoal ignores are warned of, one line each; what cannot be deployed as written (a network
driver other than overlay, a secret's file that cannot be read) is refused before anything is
created.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cli.stack import deploy_section, fields, files_section
from cli.stack.fields import Reader
from cli.stack.model import (
    HEALTHY,
    NAMESPACE_LABEL,
    Stack,
    StackFile,
    StackNetwork,
    StackService,
    scoped,
)
from common.errors import InvalidArgument
from common.model import (
    HEALTH_NONE,
    ContainerSpec,
    HealthCheck,
    Mount,
    MountType,
    PortConfig,
    PortProtocol,
    PublishMode,
    ServiceSpec,
)

_TOP = ("name", "services", "networks", "volumes", "secrets", "configs")
_SERVICE = (
    "image",
    "command",
    "entrypoint",
    "environment",
    "labels",
    "ports",
    "networks",
    "healthcheck",
    "user",
    "working_dir",
    "hostname",
    "stop_grace_period",
    "stop_signal",
    "init",
    "read_only",
    "tmpfs",
    "volumes",
    "deploy",
    "depends_on",
    "secrets",
    "configs",
)
_PROTOCOLS = {p.name.lower(): p for p in PortProtocol}
_PUBLISH_MODES = {m.name.lower(): m for m in PublishMode}
_MOUNT_TYPES = {t.name.lower(): t for t in MountType}
DEFAULT_NETWORK = "default"
STARTED = "service_started"
COMPLETED = "service_completed_successfully"
"""A depends_on condition only a job meets: deploy waits for it to complete."""


def stack(model: dict[str, Any], name: str) -> Stack:
    reader = Reader()
    top = reader.keys(model, "", _TOP)
    networks = _networks(top.get("networks", {}), name, reader)
    volumes = _volume_names(top.get("volumes", {}), reader)
    files = {
        **files_section.objects(top.get("secrets", {}), "secrets", name, reader),
        **files_section.objects(top.get("configs", {}), "configs", name, reader),
    }
    services = tuple(
        _service(
            key, fields.mapping(body, f"services.{key}"), name, networks, volumes, files, reader
        )
        for key, body in sorted(fields.mapping(top.get("services", {}), "services").items())
    )
    if not services:
        raise InvalidArgument("services: the file defines no service")
    _check_completions(services)
    used = {network for s in services for network in s.spec.networks}
    kept = tuple(n for n in networks.values() if n.name in used)
    refs = {
        (config, r.name)
        for s in services
        for config, group in ((False, s.spec.container.secrets), (True, s.spec.container.configs))
        for r in group
    }
    used_files = tuple(f for f in files.values() if (f.config, f.name) in refs)
    # The top level's keys were warned of with an empty path: say where they were.
    warnings = tuple(w.replace("option: .", "option: ") for w in reader.warnings)
    return Stack(name=name, services=services, networks=kept, files=used_files, warnings=warnings)


def _check_completions(services: tuple[StackService, ...]) -> None:
    """Only a job completes: waiting for any other service to would never end."""
    modes = {s.key: s.spec.mode for s in services}
    for service in services:
        for dependency, condition in sorted(service.depends_on.items()):
            if condition == COMPLETED and not modes[dependency].is_job:
                raise InvalidArgument(
                    f"services.{service.key}.depends_on.{dependency}.condition: {COMPLETED}"
                    f" needs {dependency} to be a job (deploy.mode replicated-job or global-job)"
                )


def _networks(section: Any, stack_name: str, reader: Reader) -> dict[str, StackNetwork]:
    found = {}
    for key, body in fields.mapping(section, "networks").items():
        path = f"networks.{key}"
        network = reader.keys(
            fields.mapping(body or {}, path), path, ("name", "driver", "ipam", "external", "labels")
        )
        external = fields.flag(network.get("external", False), f"{path}.external")
        driver = fields.text(network.get("driver", "overlay"), f"{path}.driver")
        if driver != "overlay":
            raise InvalidArgument(f"{path}.driver: {driver!r} is not supported: only overlay")
        default_name = key if external else scoped(stack_name, key)
        found[key] = StackNetwork(
            key=key,
            name=fields.text(network.get("name", default_name), f"{path}.name"),
            external=external,
            subnet=_subnet(network.get("ipam"), f"{path}.ipam", reader),
            labels={
                **fields.labels(network.get("labels", {}), f"{path}.labels"),
                NAMESPACE_LABEL: stack_name,
            },
        )
    return found


def _subnet(section: Any, path: str, reader: Reader) -> str:
    if section is None:
        return ""
    ipam = reader.keys(fields.mapping(section, path), path, ("config",))
    configs = fields.items(ipam.get("config", []), f"{path}.config")
    if len(configs) > 1:
        raise InvalidArgument(f"{path}.config: only one subnet per network is supported")
    if not configs:
        return ""
    where = f"{path}.config[0]"
    config = reader.keys(fields.mapping(configs[0], where), where, ("subnet",))
    return fields.text(config.get("subnet", ""), f"{where}.subnet")


def _volume_names(section: Any, reader: Reader) -> dict[str, str]:
    """The engine volume each top-level volume key names (compose has named them already)."""
    names = {}
    for key, body in fields.mapping(section, "volumes").items():
        path = f"volumes.{key}"
        volume = reader.keys(fields.mapping(body or {}, path), path, ("name", "external"))
        names[key] = fields.text(volume.get("name", key), f"{path}.name")
    return names


def _service(
    key: str,
    body: dict[str, Any],
    stack_name: str,
    networks: dict[str, StackNetwork],
    volumes: dict[str, str],
    files: dict[str, StackFile],
    reader: Reader,
) -> StackService:
    path = f"services.{key}"
    service = reader.keys(body, path, _SERVICE)
    image = fields.text(service.get("image", ""), f"{path}.image")
    if not image.strip():
        raise InvalidArgument(f"{path}.image: a service needs an image")
    namespace = {NAMESPACE_LABEL: stack_name}
    attached, aliases = _service_networks(
        service.get("networks"), f"{path}.networks", networks, reader
    )
    container = ContainerSpec(
        image=image,
        args=fields.words(service.get("command", []), f"{path}.command"),
        entrypoint=fields.words(service.get("entrypoint", []), f"{path}.entrypoint"),
        env=_environment(service.get("environment", {}), f"{path}.environment"),
        labels={**fields.labels(service.get("labels", {}), f"{path}.labels"), **namespace},
        hostname=fields.text(service.get("hostname", ""), f"{path}.hostname"),
        user=fields.text(service.get("user", ""), f"{path}.user"),
        workdir=fields.text(service.get("working_dir", ""), f"{path}.working_dir"),
        stop_signal=fields.text(service.get("stop_signal", ""), f"{path}.stop_signal"),
        init=fields.flag(service.get("init", False), f"{path}.init"),
        read_only=fields.flag(service.get("read_only", False), f"{path}.read_only"),
        mounts=(
            *_volumes(service.get("volumes", []), f"{path}.volumes", volumes, reader),
            *_tmpfs(service.get("tmpfs", []), f"{path}.tmpfs"),
        ),
        secrets=files_section.references(
            service.get("secrets", []), f"{path}.secrets", files, reader
        ),
        configs=files_section.references(
            service.get("configs", []), f"{path}.configs", files, reader
        ),
    )
    if "stop_grace_period" in service:
        grace = fields.duration(service["stop_grace_period"], f"{path}.stop_grace_period")
        container = replace(container, stop_grace_period=grace)
    if "healthcheck" in service:
        check = _healthcheck(service["healthcheck"], f"{path}.healthcheck", reader)
        container = replace(container, healthcheck=check)
    spec = ServiceSpec(
        name=scoped(stack_name, key),
        container=container,
        labels=dict(namespace),
        ports=_ports(service.get("ports", []), f"{path}.ports", reader),
        networks=attached,
        # Docker gives a stack's service its name in the file as an alias on its networks, so
        # the file's names (`db:5432`) work; Shoal's aliases hold on all the service's networks.
        aliases=(key, *(a for a in aliases if a != key)),
    )
    if "deploy" in service:
        spec = deploy_section.apply(spec, service["deploy"], f"{path}.deploy", reader)
    return StackService(
        key=key,
        spec=spec,
        depends_on=_depends_on(service.get("depends_on", {}), f"{path}.depends_on", reader),
    )


def _environment(section: Any, path: str) -> tuple[str, ...]:
    # A variable compose found no value for (`- KEY` with KEY unset) is left out, as docker does.
    return tuple(
        f"{key}={fields.text(value, f'{path}.{key}')}"
        for key, value in sorted(fields.mapping(section, path).items())
        if value is not None
    )


def _ports(section: Any, path: str, reader: Reader) -> tuple[PortConfig, ...]:
    ports = []
    for index, item in enumerate(fields.items(section, path)):
        where = f"{path}[{index}]"
        port = reader.keys(
            fields.mapping(item, where), where, ("target", "published", "protocol", "mode")
        )
        published = port.get("published", "") or "0"
        protocol = fields.choice(port.get("protocol", "tcp"), f"{where}.protocol", _PROTOCOLS)
        mode = fields.choice(port.get("mode", "ingress"), f"{where}.mode", _PUBLISH_MODES)
        ports.append(
            PortConfig(
                target=fields.count(port.get("target"), f"{where}.target"),
                published=fields.count(published, f"{where}.published"),
                protocol=_PROTOCOLS[protocol],
                mode=_PUBLISH_MODES[mode],
            )
        )
    return tuple(ports)


def _volumes(section: Any, path: str, named: dict[str, str], reader: Reader) -> tuple[Mount, ...]:
    mounts = []
    for index, item in enumerate(fields.items(section, path)):
        where = f"{path}[{index}]"
        # Bind sources that compose creates when missing are what the engine does anyway.
        volume = reader.keys(
            fields.mapping(item, where), where, ("type", "source", "target", "read_only", "bind")
        )
        if "bind" in volume:
            bind = fields.mapping(volume["bind"], f"{where}.bind")
            reader.keys(bind, f"{where}.bind", ("create_host_path",))
        kind = _MOUNT_TYPES[fields.choice(volume.get("type"), f"{where}.type", _MOUNT_TYPES)]
        source = fields.text(volume.get("source", ""), f"{where}.source")
        if kind is MountType.VOLUME and source:
            source = named.get(source, source)
        mounts.append(
            Mount(
                type=kind,
                target=fields.text(volume.get("target"), f"{where}.target"),
                source="" if kind is MountType.TMPFS else source,
                read_only=fields.flag(volume.get("read_only", False), f"{where}.read_only"),
            )
        )
    return tuple(mounts)


def _tmpfs(section: Any, path: str) -> tuple[Mount, ...]:
    # `tmpfs: /run` or a list; options after a colon are the engine's mount options.
    paths = [section] if isinstance(section, str) else fields.words(section, path)
    return tuple(Mount(type=MountType.TMPFS, target=p.split(":", 1)[0]) for p in paths)


def _healthcheck(section: Any, path: str, reader: Reader) -> HealthCheck:
    check = reader.keys(
        fields.mapping(section, path),
        path,
        ("test", "interval", "timeout", "retries", "start_period", "disable"),
    )
    if fields.flag(check.get("disable", False), f"{path}.disable"):
        return HealthCheck(test=HEALTH_NONE)
    return HealthCheck(
        test=fields.words(check.get("test", []), f"{path}.test"),
        interval=_maybe_duration(check, "interval", path),
        timeout=_maybe_duration(check, "timeout", path),
        retries=fields.count(check.get("retries", 0), f"{path}.retries"),
        start_period=_maybe_duration(check, "start_period", path),
    )


def _maybe_duration(section: dict[str, Any], key: str, path: str) -> Any:
    return fields.duration(section[key], f"{path}.{key}") if key in section else None


def _service_networks(
    section: Any, path: str, networks: dict[str, StackNetwork], reader: Reader
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The cluster names of the service's networks, and its aliases on them."""
    # Compose attaches a service that names no network to `default` (STACK_default).
    attached = fields.mapping(section or {DEFAULT_NETWORK: None}, path)
    names: list[str] = []
    aliases: list[str] = []
    for key, options in attached.items():
        if options is not None:
            where = f"{path}.{key}"
            option = reader.keys(fields.mapping(options, where), where, ("aliases",))
            found = fields.words(option.get("aliases", []), f"{where}.aliases")
            aliases += [alias for alias in found if alias not in aliases]
        network = networks.get(key)
        if network is None:
            raise InvalidArgument(f"{path}: undefined network {key}")
        names.append(network.name)
    return tuple(names), tuple(aliases)


def _depends_on(section: Any, path: str, reader: Reader) -> dict[str, str]:
    found = {}
    for key, options in fields.mapping(section, path).items():
        where = f"{path}.{key}"
        # `required` (compose adds it) and `restart` are about compose's own restarts.
        option = reader.keys(
            fields.mapping(options or {}, where), where, ("condition", "required", "restart")
        )
        condition = option.get("condition", STARTED)
        found[key] = fields.choice(condition, f"{where}.condition", (STARTED, HEALTHY, COMPLETED))
    return found
