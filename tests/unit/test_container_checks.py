"""What the manager refuses in a service's container spec, before anything is stored."""

from __future__ import annotations

from datetime import timedelta

import pytest

from common.errors import InvalidArgument
from common.model import ContainerSpec, HealthCheck, Mount, MountType, ServiceSpec
from manager.control.validation import validate_spec

MS = timedelta(milliseconds=1)


def spec(**container: object) -> ServiceSpec:
    return ServiceSpec(name="web", container=ContainerSpec(image="busybox", **container))  # type: ignore[arg-type]


def test_a_full_container_passes() -> None:
    """Every container setting at a sensible value is accepted."""
    validate_spec(
        spec(
            hostname="{{.Service.Name}}-{{.Task.Slot}}.{{ .Node.Hostname }}",
            entrypoint=("sh", "-c"),
            user="nobody",
            workdir="/srv",
            mounts=(
                Mount(MountType.BIND, "/data", source="/srv", read_only=True),
                Mount(MountType.VOLUME, "/cache", source="web-cache"),
                Mount(MountType.VOLUME, "/anon"),
                Mount(MountType.TMPFS, "/tmp"),
            ),
            stop_grace_period=timedelta(0),
            stop_signal="sigint",
            init=True,
            read_only=True,
            healthcheck=HealthCheck(
                test=("CMD-SHELL", "true"), interval=200 * MS, timeout=MS, retries=0
            ),
        )
    )


@pytest.mark.parametrize("signal", ["SIGTERM", "TERM", "usr1", "9", "SIGRTMIN+3", "RTMAX-1"])
def test_stop_signals_as_docker_reads_them(signal: str) -> None:
    """A signal by number, or by name with or without SIG in any case, is accepted."""
    validate_spec(spec(stop_signal=signal))


@pytest.mark.parametrize(
    "check",
    [HealthCheck(), HealthCheck(test=("NONE",)), HealthCheck(test=("CMD", "/bin/check", ""))],
)
def test_health_tests_docker_knows(check: HealthCheck) -> None:
    """The image's test, none, and an exec-form test are all accepted."""
    validate_spec(spec(healthcheck=check))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (spec(hostname="{{.Task.Nope}}"), r"invalid hostname: invalid template .*unknown"),
        (spec(hostname="web-{{.Task.Slot"), "unclosed"),
        (spec(mounts=(Mount(MountType.BIND, "data", source="/srv"),)), "must be an absolute"),
        (spec(mounts=(Mount(MountType.BIND, "/data", source="srv"),)), "bind mount source"),
        (spec(mounts=(Mount(MountType.BIND, "/data"),)), "bind mount source"),
        (spec(mounts=(Mount(MountType.TMPFS, "/t", source="x"),)), "a tmpfs takes no source"),
        (spec(mounts=(Mount(MountType.VOLUME, "/v", source="/srv"),)), "invalid volume name"),
        (
            spec(mounts=(Mount(MountType.TMPFS, "/t"), Mount(MountType.VOLUME, "/t"))),
            "duplicate mount point /t",
        ),
        (spec(workdir="srv"), "invalid workdir"),
        (spec(stop_grace_period=timedelta(seconds=-1)), "stop grace period"),
        (spec(stop_grace_period=timedelta(days=2)), "stop grace period"),
        (spec(stop_signal="SIGNOPE"), "invalid stop signal"),
        (spec(stop_signal="0"), "invalid stop signal"),
        (spec(healthcheck=HealthCheck(test=("CMD-SHELL",))), "invalid health check test"),
        (spec(healthcheck=HealthCheck(test=("sh", "-c", "x"))), "invalid health check test"),
        (spec(healthcheck=HealthCheck(interval=MS / 2)), "--health-interval"),
        (spec(healthcheck=HealthCheck(timeout=timedelta(0))), "--health-timeout"),
        (spec(healthcheck=HealthCheck(start_period=-MS)), "--health-start-period"),
        (spec(healthcheck=HealthCheck(retries=-1)), "--health-retries"),
        (spec(healthcheck=HealthCheck(retries=2**31)), "--health-retries"),
        (spec(healthcheck=HealthCheck(interval=timedelta(days=2))), "--health-interval"),
        (spec(healthcheck=HealthCheck(timeout=timedelta(days=400))), "--health-timeout"),
        (spec(healthcheck=HealthCheck(start_period=timedelta(hours=25))), "--health-start"),
    ],
)
def test_refused(bad: ServiceSpec, message: str) -> None:
    """Each bad setting is refused with one line that names it."""
    with pytest.raises(InvalidArgument, match=message) as caught:
        validate_spec(bad)
    assert "\n" not in str(caught.value)
