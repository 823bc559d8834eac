"""`shoal service create, ls, ps, inspect, rm` end to end against the fake Control."""

from __future__ import annotations

import json
import re

import pytest

from common import model as m
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Shoal, one_error_line
from tests.unit.cli.seeded import MONITOR_ID, WEB_ID


class TestServiceCreate:
    def test_sends_the_spec_and_prints_the_new_id(self, shoal: Shoal, control: FakeControl) -> None:
        """Name, replicas, env, labels and image reach the server; the new ID is printed."""
        result = shoal(
            "service", "create", "-d", "--name", "api", "--replicas", "4", "-e", "A=1",
            "--env", "B=x=y", "-l", "team=core", "--label", "canary", "redis:7",
        )  # fmt: skip
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "api"]
        assert result.out == f"{created.id}\n"
        assert created.spec == m.ServiceSpec(
            name="api",
            container=m.ContainerSpec(image="redis:7", env=("A=1", "B=x=y")),
            labels={"team": "core", "canary": ""},
            replicas=4,
        )

    def test_words_after_the_image_are_the_command_verbatim(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """Everything after IMAGE, including words that look like shoal flags, is the command."""
        result = shoal(
            "service", "create", "-d", "--name", "job", "busybox",
            "sh", "-c", "echo hi", "--name", "other", "--replicas", "-1", "-e", "X",
        )  # fmt: skip
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "job"]
        assert created.spec.container.args == (
            "sh", "-c", "echo hi", "--name", "other", "--replicas", "-1", "-e", "X",
        )  # fmt: skip
        assert created.spec.replicas == 1

    def test_mode_global_sends_no_replica_count(self, shoal: Shoal, control: FakeControl) -> None:
        """`--mode global` creates a global service, whose spec carries no replica count."""
        result = shoal("service", "create", "-d", "--mode", "global", "--name", "agentd", "busybox")
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "agentd"]
        assert (created.spec.mode, created.spec.replicas) == (m.ServiceMode.GLOBAL, 0)

    def test_replicas_with_mode_global_is_refused(self, shoal: Shoal, control: FakeControl) -> None:
        """As in docker, --replicas goes only with replicated mode: one line, exit 1, no write."""
        before = dict(control.services)
        result = shoal("service", "create", "-d", "--mode", "global", "--replicas", "2", "busybox")
        assert one_error_line(result) == "Error: --replicas can only be used with replicated mode"
        assert result.code == 1
        assert control.services == before

    def test_name_defaults_to_the_image_name_and_a_random_suffix(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """Without --name the service is named `<image name>-<6 base36 chars>`."""
        result = shoal("service", "create", "-d", "registry.local:5000/team/web-app:1.2@sha256:ab")
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.id == result.out.strip()]
        assert re.fullmatch(r"web-app-[0-9a-z]{6}", created.spec.name)

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (("--replicas", "-1"), "invalid replicas '-1'"),
            (("--replicas", "two"), "invalid replicas 'two'"),
            (("-e", "NOVALUE"), "invalid env 'NOVALUE': expected KEY=VALUE"),
            (("-e", "=x"), "invalid env '=x': expected KEY=VALUE"),
            (("-l", "=x"), "invalid label '=x'"),
        ],
    )
    def test_bad_flags_are_refused_before_anything_is_sent(
        self, shoal: Shoal, control: FakeControl, argv: tuple[str, ...], message: str
    ) -> None:
        """A malformed flag value is a usage error: one line, a hint, exit 1, no call made."""
        result = shoal("service", "create", "-d", *argv, "nginx")
        assert result.code == 1
        (line,) = result.err.splitlines()
        assert line.startswith("shoal: error: argument ")
        assert message in line
        assert line.endswith("(see 'shoal service create --help')")
        assert control.calls == []

    def test_image_is_required(self, shoal: Shoal, control: FakeControl) -> None:
        """Without an IMAGE the usage error names only IMAGE (the command may be empty)."""
        result = shoal("service", "create", "-d", "--name", "x")
        assert result.code == 1
        assert result.err.splitlines() == [
            "shoal: error: the following arguments are required: IMAGE"
            " (see 'shoal service create --help')"
        ]
        assert control.calls == []


class TestServiceLs:
    def test_table(self, shoal: Shoal) -> None:
        """Docker's columns, sorted by name: ID cut to 12, mode, running/desired, image."""
        result = shoal("service", "ls")
        assert result.code == 0
        assert result.lines == [
            "ID             NAME      MODE         REPLICAS   IMAGE                PORTS",
            f"{MONITOR_ID[:12]}   monitor   global       2/2        prom/node-exporter",
            f"{WEB_ID[:12]}   web       replicated   2/3        nginx:1.25",
        ]

    def test_quiet_prints_full_ids(self, shoal: Shoal) -> None:
        """`-q` prints each service's full ID and nothing else."""
        assert shoal("service", "ls", "-q").lines == [MONITOR_ID, WEB_ID]

    def test_json_lines(self, shoal: Shoal) -> None:
        """`--format json` prints one JSON object per service with docker's keys."""
        records = [json.loads(line) for line in shoal("service", "ls", "--format", "json").lines]
        assert records[1] == {
            "ID": WEB_ID[:12],
            "Name": "web",
            "Mode": "replicated",
            "Replicas": "2/3",
            "Image": "nginx:1.25",
            "Ports": "",
        }
        assert [r["Name"] for r in records] == ["monitor", "web"]


class TestServicePs:
    def test_table_groups_each_slots_history(self, shoal: Shoal) -> None:
        """Slots in order, each newest first with older tasks as ` \\_ web.N`; NODE is the
        hostname, else the node ID, else empty; errors are quoted and cut to 30 characters."""
        result = shoal("service", "ps", "web")
        assert result.code == 0
        assert result.lines == [
            "ID             NAME        IMAGE        NODE        DESIRED STATE   "
            "CURRENT STATE           ERROR                              PORTS",
            "task1new0000   web.1       nginx:1.25   manager-1   Running         "
            "Running 3 minutes ago",
            "task1old0000    \\_ web.1   nginx:1.25   worker-1    Shutdown        "
            'Failed 40 minutes ago   "task: non-zero exit (137): ki…"',
            "task20000000   web.2       nginx:1.25   vanished    Running         "
            "Running 3 minutes ago",
            "task30000000   web.3       nginx:1.25               Running         "
            'Pending 3 minutes ago   "no suitable node (insufficien…"',
        ]

    def test_no_trunc(self, shoal: Shoal) -> None:
        """`--no-trunc` shows full task IDs and whole errors."""
        result = shoal("service", "ps", "--no-trunc", "web")
        assert "task1old0000000000000000a" in result.lines[2]
        assert '"task: non-zero exit (137): killed by the kernel"' in result.lines[2]

    def test_quiet(self, shoal: Shoal) -> None:
        """`-q` prints only the (truncated) task IDs, in table order."""
        assert shoal("service", "ps", "-q", "web").lines == [
            "task1new0000", "task1old0000", "task20000000", "task30000000",
        ]  # fmt: skip

    def test_json_lines_use_plain_names(self, shoal: Shoal) -> None:
        """`--format json` gives one object per task; names are not indented (as docker)."""
        lines = shoal("service", "ps", "--format", "json", "web").lines
        records = [json.loads(line) for line in lines]
        assert [r["Name"] for r in records] == ["web.1", "web.1", "web.2", "web.3"]
        assert records[1]["CurrentState"] == "Failed 40 minutes ago"
        assert set(records[0]) == {
            "ID", "Name", "Image", "Node", "DesiredState", "CurrentState", "Error", "Ports",
        }  # fmt: skip

    def test_unknown_service(self, shoal: Shoal) -> None:
        """An unknown service fails with the server's message on one line."""
        result = shoal("service", "ps", "nope")
        assert one_error_line(result) == "Error: no such service: nope"
        assert result.out == ""


DEFAULT_UPDATE_CONFIG = {
    "Parallelism": 1,
    "Delay": 0,
    "FailureAction": "pause",
    "Monitor": 5_000_000_000,
    "MaxFailureRatio": 0.0,
    "Order": "stop-first",
}


class TestServiceInspect:
    def test_document(self, shoal: Shoal) -> None:
        """A JSON array with docker's layout: ID, Version.Index, RFC 3339 times, Spec with Mode
        and TaskTemplate.ContainerSpec and RestartPolicy, and PreviousSpec once the service was
        updated."""
        result = shoal("service", "inspect", "web", MONITOR_ID[:5])
        assert result.code == 0
        web, monitor = json.loads(result.out)
        assert web["ID"] == WEB_ID
        assert web["Version"] == {"Index": 7}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", web["CreatedAt"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", web["UpdatedAt"])
        assert web["Spec"] == {
            "Name": "web",
            "Labels": {"tier": "front"},
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": "nginx:1.25",
                    "Args": ["nginx", "-g", "daemon off;"],
                    "Env": [],
                    "Labels": {},
                },
                "RestartPolicy": {"Condition": "any", "MaxAttempts": 0},
                "Resources": {
                    "Limits": {"NanoCPUs": 0, "MemoryBytes": 0},
                    "Reservations": {"NanoCPUs": 0, "MemoryBytes": 0},
                },
                "Placement": {"Constraints": [], "Preferences": [], "MaxReplicas": 0},
                "ForceUpdate": 0,
            },
            "Mode": {"Replicated": {"Replicas": 3}},
            "UpdateConfig": DEFAULT_UPDATE_CONFIG,
            "RollbackConfig": DEFAULT_UPDATE_CONFIG,
        }
        assert web["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "nginx:1.24"
        assert monitor["Spec"]["Mode"] == {"Global": {}}
        assert "PreviousSpec" not in monitor

    def test_status_names_the_pending_tasks_and_why(self, shoal: Shoal) -> None:
        """ServiceStatus counts running and desired tasks and gives each pending task's reason in
        full; a global service desires the tasks it has."""
        web, monitor = json.loads(shoal("service", "inspect", "web", "monitor").out)
        assert web["ServiceStatus"] == {
            "RunningTasks": 2,
            "DesiredTasks": 3,
            "PendingTasks": [
                {
                    "ID": "task3000000000000000000dd",
                    "Name": "web.3",
                    "Reason": "no suitable node (insufficient memory on 2 nodes)",
                }
            ],
        }
        assert monitor["ServiceStatus"] == {
            "RunningTasks": 2,
            "DesiredTasks": 2,
            "PendingTasks": [],
        }

    def test_pretty(self, shoal: Shoal) -> None:
        """--pretty: docker's layout at docker's column, with the pending task and why."""
        result = shoal("service", "inspect", "--pretty", "web")
        assert result.code == 0
        lines = result.out.splitlines()
        for expected in (
            f"ID:                     {WEB_ID}",
            "Name:                   web",
            "Service Mode:           Replicated",
            " Replicas:              3",
            " web.3:                 no suitable node (insufficient memory on 2 nodes)",
            "UpdateConfig:",
            " On failure:            pause",
            " Monitoring Period:     5s",
            " Rollback order:        stop-first",
            " Image:                 nginx:1.25",
            " Args:                  nginx -g 'daemon off;'",
        ):
            assert expected in lines
        assert lines.index("Pending Tasks:") < lines.index("UpdateConfig:")

    def test_pretty_global_separates_services(self, shoal: Shoal) -> None:
        lines = shoal("service", "inspect", "--pretty", "web", "monitor").out.splitlines()
        assert "Service Mode:           Global" in lines
        assert lines.count("") == 1

    def test_unknown_service(self, shoal: Shoal) -> None:
        """Any unknown service fails the command with one line and prints no JSON."""
        result = shoal("service", "inspect", "web", "nope")
        assert one_error_line(result) == "Error: no such service: nope"
        assert result.out == ""


class TestServiceRm:
    def test_removes_each_and_prints_its_ref(self, shoal: Shoal, control: FakeControl) -> None:
        """Each removed service is printed as the user named it."""
        result = shoal("service", "rm", "web", MONITOR_ID)
        assert (result.code, result.lines) == (0, ["web", MONITOR_ID])
        assert control.services == {}

    def test_unknown_one_is_reported_and_the_rest_removed(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """An unknown service gets an error line; the others are still removed; exit 1."""
        result = shoal("service", "rm", "web", "nope", "monitor")
        assert one_error_line(result) == "Error: no such service: nope"
        assert result.lines == ["web", "monitor"]
        assert control.services == {}
