"""`service create` and `service update` container flags end to end: cli.main against the fake
Control server of tests/unit/cli, over mutual TLS."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from common import model as m
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Shoal, one_error_line
from tests.unit.cli.seeded import WEB_ID

HEALTH = m.HealthCheck(
    test=("CMD-SHELL", "test -f /tmp/ok"),
    interval=timedelta(milliseconds=200),
    timeout=timedelta(seconds=1),
    retries=2,
    start_period=timedelta(seconds=5),
)


def created(control: FakeControl, name: str) -> m.ContainerSpec:
    [service] = [s for s in control.services.values() if s.spec.name == name]
    return service.spec.container


def web(control: FakeControl) -> m.ContainerSpec:
    return control.services[WEB_ID].spec.container


class TestCreate:
    def test_every_flag_reaches_the_spec(
        self, shoal: Shoal, control: FakeControl, tmp_path: Path
    ) -> None:
        """Mounts, hostname template, entrypoint, user, workdir, stop signal and grace period,
        container labels, init, read-only and the health check all become the container spec."""
        result = shoal(
            "service", "create", "-d", "--name", "full",
            "--mount", "type=bind,src=/srv/data,dst=/data,ro",
            "--mount", "type=tmpfs,destination=/scratch",
            "--mount", "source=cache,target=/cache,readonly=false",
            "--hostname", "{{.Service.Name}}-{{.Task.Slot}}",
            "--entrypoint", "sh -c 'exec \"$0\"'",
            "-u", "1000:1000", "--workdir", "/srv",
            "--stop-grace-period", "3s", "--stop-signal", "SIGINT",
            "--container-label", "a=1", "--container-label", "flag",
            "--init", "--read-only",
            "--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms",
            "--health-timeout", "1s", "--health-retries", "2", "--health-start-period", "5s",
            "busybox", "sleep", "9",
        )  # fmt: skip
        assert result.code == 0, result.err
        assert created(control, "full") == m.ContainerSpec(
            image="busybox",
            args=("sleep", "9"),
            labels={"a": "1", "flag": ""},
            hostname="{{.Service.Name}}-{{.Task.Slot}}",
            entrypoint=("sh", "-c", 'exec "$0"'),
            user="1000:1000",
            workdir="/srv",
            mounts=(
                m.Mount(m.MountType.BIND, "/data", source="/srv/data", read_only=True),
                m.Mount(m.MountType.TMPFS, "/scratch"),
                m.Mount(m.MountType.VOLUME, "/cache", source="cache"),
            ),
            stop_grace_period=timedelta(seconds=3),
            stop_signal="SIGINT",
            init=True,
            read_only=True,
            healthcheck=HEALTH,
        )

    def test_without_flags_the_container_is_plain(self, shoal: Shoal, control: FakeControl) -> None:
        """No container flag: nothing beyond the image is set, no health check of our own."""
        assert shoal("service", "create", "-d", "--name", "plain", "busybox").code == 0
        assert created(control, "plain") == m.ContainerSpec(image="busybox")

    def test_switches_take_docker_spelled_values(self, shoal: Shoal, control: FakeControl) -> None:
        """`--init=true` and `--read-only=false` are read as docker reads them."""
        argv = ("--init=true", "--read-only=false", "busybox")
        assert shoal("service", "create", "-d", "--name", "sw", *argv).code == 0
        container = created(control, "sw")
        assert (container.init, container.read_only) == (True, False)

    def test_no_healthcheck_disables_the_images(self, shoal: Shoal, control: FakeControl) -> None:
        """--no-healthcheck sends docker's ["NONE"] test."""
        assert (
            shoal("service", "create", "-d", "--name", "nh", "--no-healthcheck", "busybox").code
            == 0
        )
        assert created(control, "nh").healthcheck == m.HealthCheck(test=("NONE",))

    def test_health_tuning_alone_keeps_the_images_test(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """--health-interval without --health-cmd tunes the image's own check (empty test)."""
        argv = ("--health-interval", "1s", "busybox")
        assert shoal("service", "create", "-d", "--name", "tuned", *argv).code == 0
        assert created(control, "tuned").healthcheck == m.HealthCheck(interval=timedelta(seconds=1))

    def test_env_file_in_docker_format(
        self, shoal: Shoal, control: FakeControl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Comments and blank lines are skipped, values kept verbatim, a bare KEY takes the
        client's value (or is left out), and -e comes after the files."""
        monkeypatch.setenv("FROM_SHELL", "shell value")
        monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
        env = tmp_path / "app.env"
        env.write_text(
            "\ufeff# settings\n\nA=1\n  B= spaced value \nFROM_SHELL\nNOT_SET_ANYWHERE\nC=x=y\n"
        )
        second = tmp_path / "more.env"
        second.write_text("D=4\n")
        argv = ("--env-file", str(env), "--env-file", str(second), "-e", "A=override")
        assert shoal("service", "create", "-d", "--name", "envy", *argv, "busybox").code == 0
        assert created(control, "envy").env == (
            "A=1", "B= spaced value ", "FROM_SHELL=shell value", "C=x=y", "D=4", "A=override",
        )  # fmt: skip

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (("--mount", "type=bind,src=srv,dst=/data"), "must be an absolute path on the host"),
            (("--mount", "src=/srv"), "target is required"),
            (("--mount", "type=nfs,dst=/x"), "invalid mount type 'nfs'"),
            (("--mount", "dst=/x,tmpfs-size=1m"), "'tmpfs-size' is not supported"),
            (("--mount", "dst=/x,wat=1"), "unexpected key 'wat'"),
            (("--mount", "type=tmpfs,src=x,dst=/x"), "a tmpfs takes no source"),
            (("--hostname", "{{.Task.Nope}}"), "unknown {{.Task.Nope}}"),
            (("--entrypoint", "'unclosed"), "invalid command"),
            (("--stop-grace-period", "soon"), "invalid duration 'soon'"),
            (("--health-interval", "x"), "invalid duration 'x'"),
            (("--health-retries", "-1"), "invalid count '-1'"),
            (("--init=maybe",), "ignored explicit argument 'maybe'"),
            (("--env-file", "/nonexistent/app.env"), "cannot read /nonexistent/app.env"),
        ],
    )
    def test_bad_flags_send_nothing(
        self, shoal: Shoal, control: FakeControl, argv: tuple[str, ...], message: str
    ) -> None:
        """A malformed container flag is a usage error: one line, exit 1, no call made."""
        result = shoal("service", "create", "-d", *argv, "busybox")
        line = one_error_line(result)
        assert line.startswith("shoal: error: argument ")
        assert message in line
        assert control.calls == []

    def test_bad_env_file_line_names_file_and_line(
        self, shoal: Shoal, control: FakeControl, tmp_path: Path
    ) -> None:
        """A variable name with whitespace: one line naming the file and line number."""
        env = tmp_path / "bad.env"
        env.write_text("OK=1\nBAD KEY=2\n")
        line = one_error_line(shoal("service", "create", "-d", "--env-file", str(env), "busybox"))
        assert f"{env}:2: variable 'BAD KEY' has whitespace" in line
        assert control.calls == []

    @pytest.mark.parametrize(
        "argv",
        [
            ("--no-healthcheck", "--health-cmd", "true"),
            ("--no-healthcheck", "--health-retries", "1"),
        ],
    )
    def test_no_healthcheck_conflicts_with_health_flags(
        self, shoal: Shoal, control: FakeControl, argv: tuple[str, ...]
    ) -> None:
        """As in docker, --no-healthcheck with a --health-* flag is refused before any call."""
        result = shoal("service", "create", "-d", *argv, "busybox")
        assert one_error_line(result) == (
            "Error: --no-healthcheck conflicts with --health-* options"
        )
        assert control.calls == []

    def test_duplicate_mount_targets_are_refused(self, shoal: Shoal, control: FakeControl) -> None:
        """Two --mount on one target: one line, nothing sent."""
        argv = ("--mount", "type=tmpfs,dst=/x", "--mount", "dst=/x")
        result = shoal("service", "create", "-d", *argv, "busybox")
        assert one_error_line(result) == "Error: duplicate mount point /x"
        assert control.calls == []


class TestUpdate:
    def test_scalars_are_replaced_and_the_rest_kept(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """Each container flag on update replaces its setting; image, args and the rest stay."""
        result = shoal(
            "service", "update", "-d", "--hostname", "web-{{.Task.Slot}}", "--entrypoint", "/init",
            "--user", "nobody", "-w", "/app", "--stop-grace-period", "1m",
            "--stop-signal", "SIGQUIT", "--init", "--read-only", "web",
        )  # fmt: skip
        assert result.code == 0, result.err
        container = web(control)
        assert container == m.ContainerSpec(
            image="nginx:1.25",
            args=("nginx", "-g", "daemon off;"),
            hostname="web-{{.Task.Slot}}",
            entrypoint=("/init",),
            user="nobody",
            workdir="/app",
            stop_grace_period=timedelta(minutes=1),
            stop_signal="SIGQUIT",
            init=True,
            read_only=True,
        )
        argv = ("--init=false", "--read-only=false", "--entrypoint", "", "--hostname", "")
        assert shoal("service", "update", "-d", *argv, "web").code == 0
        container = web(control)
        assert (container.init, container.read_only) == (False, False)
        assert (container.entrypoint, container.hostname, container.user) == ((), "", "nobody")

    def test_mounts_are_added_replaced_and_removed(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """--mount-add adds, or replaces the mount on the same target; --mount-rm TARGET removes."""
        argv = ("--mount-add", "type=tmpfs,dst=/a", "--mount-add", "src=vol,dst=/b")
        assert shoal("service", "update", "-d", *argv, "web").code == 0
        assert [mt.target for mt in web(control).mounts] == ["/a", "/b"]
        argv = ("--mount-rm", "/a", "--mount-add", "type=bind,src=/srv,dst=/b,ro")
        assert shoal("service", "update", "-d", *argv, "web").code == 0
        assert web(control).mounts == (
            m.Mount(m.MountType.BIND, "/b", source="/srv", read_only=True),
        )

    def test_removing_a_mount_the_service_lacks_changes_nothing(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """--mount-rm of a target without a mount: one line, exit 1, no update sent."""
        result = shoal("service", "update", "-d", "--mount-rm", "/nowhere", "web")
        assert one_error_line(result) == "Error: no mount on /nowhere in the service"
        assert control.updates == []

    def test_container_labels_are_added_and_removed(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """--container-label-add sets, --container-label-rm KEY removes; a missing key fails."""
        argv = ("--container-label-add", "a=1", "--container-label-add", "b=2")
        assert shoal("service", "update", "-d", *argv, "web").code == 0
        argv = ("--container-label-rm", "a", "--container-label-add", "b=3")
        assert shoal("service", "update", "-d", *argv, "web").code == 0
        assert web(control).labels == {"b": "3"}
        result = shoal("service", "update", "-d", "--container-label-rm", "zzz", "web")
        assert one_error_line(result) == "Error: container label 'zzz' is not set on the service"

    def test_health_flags_change_only_what_they_name(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """--health-cmd sets the test, a later --health-retries keeps it; --no-healthcheck
        disables; a --health-cmd after that brings a check back with default tuning."""
        argv = ("--health-cmd", "true", "--health-interval", "2s")
        assert shoal("service", "update", "-d", *argv, "web").code == 0
        assert shoal("service", "update", "-d", "--health-retries", "5", "web").code == 0
        assert web(control).healthcheck == m.HealthCheck(
            test=("CMD-SHELL", "true"), interval=timedelta(seconds=2), retries=5
        )
        assert shoal("service", "update", "-d", "--no-healthcheck", "web").code == 0
        assert web(control).healthcheck == m.HealthCheck(test=("NONE",))
        assert shoal("service", "update", "-d", "--health-cmd", "false", "web").code == 0
        assert web(control).healthcheck == m.HealthCheck(test=("CMD-SHELL", "false"))

    def test_update_has_no_create_only_flags(self, shoal: Shoal, control: FakeControl) -> None:
        """--mount, --container-label and --env-file are create's; update refuses them."""
        for flag, value in (("--mount", "dst=/x"), ("--container-label", "a"), ("--env-file", "f")):
            result = shoal("service", "update", "-d", flag, value, "web")
            assert result.code == 1
            assert len(result.err.splitlines()) == 1
        assert control.calls == []


class TestInspect:
    def test_container_spec_in_dockers_layout(self, shoal: Shoal, control: FakeControl) -> None:
        """TaskTemplate.ContainerSpec shows Command (the entrypoint), Hostname, Dir, User,
        Mounts, StopSignal, StopGracePeriod and Healthcheck durations in ns, Init and ReadOnly."""
        result = shoal(
            "service", "create", "-d", "--name", "shown", "--entrypoint", "sh -c",
            "--hostname", "{{.Node.Hostname}}", "-w", "/srv", "-u", "app",
            "--mount", "type=bind,src=/srv,dst=/data,ro", "--stop-signal", "SIGINT",
            "--stop-grace-period", "1.5s", "--init", "--read-only",
            "--health-cmd", "true", "--health-interval", "250ms", "--health-retries", "2",
            "busybox", "echo hi",
        )  # fmt: skip
        assert result.code == 0, result.err
        [doc] = json.loads(shoal("service", "inspect", "shown").out)
        assert doc["Spec"]["TaskTemplate"]["ContainerSpec"] == {
            "Image": "busybox",
            "Labels": {},
            "Command": ["sh", "-c"],
            "Args": ["echo hi"],
            "Hostname": "{{.Node.Hostname}}",
            "Env": [],
            "Dir": "/srv",
            "User": "app",
            "Init": True,
            "Mounts": [{"Type": "bind", "Source": "/srv", "Target": "/data", "ReadOnly": True}],
            "StopSignal": "SIGINT",
            "StopGracePeriod": 1_500_000_000,
            "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 250_000_000, "Retries": 2},
            "ReadOnly": True,
        }
