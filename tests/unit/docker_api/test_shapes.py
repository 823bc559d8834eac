"""docker's JSON <-> the domain: what a client reads back it can send back unchanged, and
docker's zero values ask for nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from common.errors import InvalidArgument
from common.model import (
    ContainerSpec,
    EndpointMode,
    FailureAction,
    HealthCheck,
    Mount,
    MountType,
    Placement,
    PortConfig,
    PortProtocol,
    PublishMode,
    Resources,
    RestartCondition,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    UpdateConfig,
    UpdateOrder,
)
from manager.docker_api import filters
from manager.docker_api.shapes.service_spec import spec_from_json, spec_to_json

FULL = ServiceSpec(
    name="web",
    labels={"a": "b"},
    container=ContainerSpec(
        image="local/busybox:latest",
        args=("httpd", "-f"),
        env=("A=1",),
        labels={"c": "d"},
        limits=Resources(nano_cpus=500_000_000, memory_bytes=64 << 20),
        hostname="{{.Task.Slot}}",
        entrypoint=("/bin/sh", "-c"),
        user="nobody",
        workdir="/tmp",
        mounts=(
            Mount(MountType.BIND, "/data", "/srv", read_only=True),
            Mount(MountType.TMPFS, "/scratch"),
        ),
        stop_grace_period=timedelta(seconds=3),
        stop_signal="SIGINT",
        init=True,
        read_only=True,
        healthcheck=HealthCheck(("CMD-SHELL", "true"), timedelta(seconds=2), None, 3, None),
    ),
    mode=ServiceMode.REPLICATED,
    replicas=3,
    restart=RestartPolicy(RestartCondition.ON_FAILURE, timedelta(seconds=2), 4, None),
    placement=Placement(("node.role==worker",), 2, ("node.labels.zone",)),
    reservations=Resources(nano_cpus=100_000_000),
    update=UpdateConfig(
        2,
        timedelta(seconds=1),
        timedelta(seconds=7),
        FailureAction.ROLLBACK,
        0.5,
        UpdateOrder.START_FIRST,
    ),
    rollback=UpdateConfig(failure_action=FailureAction.CONTINUE),
    force_update=2,
    ports=(PortConfig(80, 8080), PortConfig(53, 0, PortProtocol.UDP, PublishMode.HOST)),
    networks=("n1", "n2"),
    endpoint_mode=EndpointMode.DNSRR,
)


@pytest.mark.parametrize(
    "spec",
    [
        FULL,
        ServiceSpec(
            name="g", container=ContainerSpec(image="i"), mode=ServiceMode.GLOBAL, replicas=0
        ),
        ServiceSpec(name="plain", container=ContainerSpec(image="i")),
    ],
    ids=["full", "global", "plain"],
)
def test_a_spec_read_back_is_the_same_spec(spec: ServiceSpec) -> None:
    assert spec_from_json(spec_to_json(spec)) == spec


def test_the_docker_clis_zero_values_ask_for_nothing() -> None:
    """A service as `docker service create IMAGE` sends it."""
    body = {
        "Name": "x",
        "Labels": {},
        "TaskTemplate": {
            "ContainerSpec": {"Image": "i", "Init": False, "DNSConfig": {}, "Isolation": "default"},
            "Resources": {"Limits": {}, "Reservations": {}},
            "RestartPolicy": {"Condition": "any", "MaxAttempts": 0},
            "Placement": {},
            "ForceUpdate": 0,
            "Runtime": "container",
        },
        "Mode": {"Replicated": {"Replicas": 1}},
        "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000,
                         "MaxFailureRatio": 0, "Order": "stop-first"},
        "EndpointSpec": {"Mode": "vip"},
    }  # fmt: skip
    assert spec_from_json(body) == ServiceSpec(name="x", container=ContainerSpec(image="i"))


def test_a_stack_alias_is_its_short_name_only() -> None:
    labels = {"com.docker.stack.namespace": "st"}
    attachment = {"Target": "st_back", "Aliases": ["web"]}
    template = {"ContainerSpec": {"Image": "i"}, "Networks": [attachment]}
    body = {"Name": "st_web", "Labels": labels, "TaskTemplate": template}
    assert spec_from_json(body).networks == ("st_back",)
    attachment["Aliases"] = ["other"]
    with pytest.raises(InvalidArgument, match=r"TaskTemplate.Networks\[0\].Aliases"):
        spec_from_json(body)


@pytest.mark.parametrize(
    ("template", "rest", "field"),
    [
        ({"LogDriver": {"Name": "syslog"}}, {}, "TaskTemplate.LogDriver"),
        ({"Resources": {"Limits": {"Pids": 5}}}, {}, "TaskTemplate.Resources.Limits.Pids"),
        ({"Placement": {"Platforms": [{"OS": "linux"}]}}, {}, "TaskTemplate.Placement.Platforms"),
        ({}, {"EndpointSpec": {"Ports": [{"Name": "http"}]}}, "EndpointSpec.Ports[0].Name"),
        ({}, {"Networks": [{"Target": "n", "DriverOpts": {"a": "b"}}]}, "Networks[0].DriverOpts"),
    ],
)
def test_unsupported_fields_are_named(
    template: dict[str, object], rest: dict[str, object], field: str
) -> None:
    spec = rest | {"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": "i"}} | template}
    with pytest.raises(InvalidArgument) as refused:
        spec_from_json(spec)
    assert str(refused.value) == f"unsupported field {field}: Shoal does not support it"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('{"label": {"a=b": true}}', {"label": ("a=b",)}),
        ('{"label": ["a=b", "c"]}', {"label": ("a=b", "c")}),
        ("", {}),
    ],
)
def test_both_filter_encodings(text: str, found: dict[str, tuple[str, ...]]) -> None:
    assert filters.parse(text, ("label",)) == found


@pytest.mark.parametrize(
    "text", ['{"label": "a=b"}', '{"label": {"a": false}}', "[1]", '{"x": []}']
)
def test_malformed_filters(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid filter"):
        filters.parse(text, ("label",))


def test_field_names_in_any_case_as_docker_takes_them() -> None:
    """docker-py's ServiceMode writes {"replicated": {"Replicas": 2}}."""
    body = {"name": "x", "TaskTemplate": {"containerSpec": {"Image": "i"}},
            "Mode": {"replicated": {"Replicas": 2}}}  # fmt: skip
    assert spec_from_json(body) == ServiceSpec(
        name="x", container=ContainerSpec(image="i"), replicas=2
    )
