"""`shoal service scale, update, rollback` and the flags they share with create, against
the fake Control."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cli import cas
from common import model as m
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Shoal, one_error_line
from tests.unit.cli.seeded import WEB_ID


class TestServiceScale:
    def test_sends_the_replicas_with_the_version_read(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """The update carries the version just read and the whole spec with the new count."""
        result = shoal("service", "scale", "-d", "web=5")
        assert (result.code, result.out) == (0, "web scaled to 5\n")
        [update] = control.updates
        assert (update.service_id, update.version, update.spec.replicas) == (WEB_ID, 7, 5)
        assert update.spec.container.image == "nginx:1.25"
        assert control.services[WEB_ID].spec.replicas == 5

    def test_retries_when_another_client_wrote_in_between(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """A stale version (ABORTED) makes scale read again and retry with the new version."""
        control.interlopers = 2
        result = shoal("service", "scale", "-d", "web=0")
        assert (result.code, result.out) == (0, "web scaled to 0\n")
        assert [u.version for u in control.updates] == [7, 8, 9]
        assert control.services[WEB_ID].spec.replicas == 0

    def test_gives_up_after_a_few_conflicts(self, shoal: Shoal, control: FakeControl) -> None:
        """When every attempt is beaten by another writer, scale fails with one line."""
        control.interlopers = cas.ATTEMPTS
        result = shoal("service", "scale", "-d", "web=5")
        assert one_error_line(result) == (
            "Error: service web was changed by someone else; read it and retry"
        )
        assert len(control.updates) == cas.ATTEMPTS
        assert control.services[WEB_ID].spec.replicas == 3

    @pytest.mark.parametrize("target", ["web", "web=", "=3", "web=-1", "web=x", "web=1.5"])
    def test_bad_specifier_sends_nothing(
        self, shoal: Shoal, control: FakeControl, target: str
    ) -> None:
        """A malformed SERVICE=REPLICAS fails the whole command before any call is made."""
        result = shoal("service", "scale", "-d", "monitor=1", target)
        assert result.code == 1
        assert f"invalid scale specifier {target!r}" in result.err.splitlines()[0]
        assert control.calls == []

    def test_global_service_cannot_be_scaled(self, shoal: Shoal, control: FakeControl) -> None:
        """Scaling a global service is refused; the other services are still scaled."""
        result = shoal("service", "scale", "-d", "monitor=3", "web=1")
        line = one_error_line(result)
        assert line == "Error: monitor: scale can only be used with replicated mode"
        assert result.out == "web scaled to 1\n"
        assert [u.service_id for u in control.updates] == [WEB_ID]

    def test_unknown_service(self, shoal: Shoal, control: FakeControl) -> None:
        """An unknown service is reported and nothing is updated."""
        result = shoal("service", "scale", "-d", "nope=2")
        assert one_error_line(result) == "Error: no such service: nope"
        assert control.updates == []


class TestRestartFlags:
    def test_create_sends_the_policy(self, shoal: Shoal, control: FakeControl) -> None:
        """--restart-* flags on create become the service's restart policy."""
        result = shoal(
            "service", "create", "-d", "--name", "job", "--restart-condition", "on-failure",
            "--restart-delay", "2s", "--restart-max-attempts", "3", "--restart-window", "1m",
            "busybox",
        )  # fmt: skip
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "job"]
        assert created.spec.restart == m.RestartPolicy(
            m.RestartCondition.ON_FAILURE, timedelta(seconds=2), 3, timedelta(minutes=1)
        )

    def test_create_defaults(self, shoal: Shoal, control: FakeControl) -> None:
        """Without flags the policy is the default one: any, no limit, unbounded window."""
        assert shoal("service", "create", "-d", "--name", "job", "busybox").code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "job"]
        assert created.spec.restart == m.RestartPolicy()

    def test_update_changes_only_what_is_given(self, shoal: Shoal, control: FakeControl) -> None:
        """service update --restart-condition none keeps the rest of the spec as it was."""
        result = shoal("service", "update", "-d", "--restart-condition", "none", "web")
        assert (result.code, result.out) == (0, "web\n")
        [update] = control.updates
        assert update.version == 7
        spec = control.services[WEB_ID].spec
        assert spec.restart.condition == m.RestartCondition.NONE
        assert spec.replicas == 3
        assert spec.container.image == "nginx:1.25"

    def test_update_replicas(self, shoal: Shoal, control: FakeControl) -> None:
        """service update --replicas is scale by another name."""
        assert shoal("service", "update", "-d", "--replicas", "1", "web").code == 0
        assert control.services[WEB_ID].spec.replicas == 1

    @pytest.mark.parametrize(
        ("flag", "value"),
        [
            ("--restart-condition", "sometimes"),
            ("--restart-delay", "soon"),
            ("--restart-delay", "0s"),
            ("--restart-max-attempts", "-1"),
            ("--restart-window", "5x"),
        ],
    )
    def test_bad_values_send_nothing(
        self, shoal: Shoal, control: FakeControl, flag: str, value: str
    ) -> None:
        """A malformed restart flag is a one-line usage error, exit 1, and no call."""
        result = shoal("service", "update", "-d", flag, value, "web")
        assert result.code == 1
        assert len(result.err.splitlines()) == 1
        assert control.calls == []


class TestPlacementFlags:
    def test_create_sends_constraints_reservations_and_limits(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """Placement and resource flags become the spec, in docker's units."""
        result = shoal(
            "service", "create", "-d", "--name", "db", "--constraint", "node.labels.zone==b",
            "--constraint", "node.role!=manager", "--replicas-max-per-node", "1",
            "--reserve-cpu", "0.5", "--reserve-memory", "512m", "--limit-cpu", "1.5",
            "--limit-memory", "1g", "busybox",
        )  # fmt: skip
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "db"]
        spec = created.spec
        assert spec.placement == m.Placement(("node.labels.zone==b", "node.role!=manager"), 1)
        assert spec.reservations == m.Resources(nano_cpus=500_000_000, memory_bytes=512 << 20)
        assert spec.container.limits == m.Resources(nano_cpus=1_500_000_000, memory_bytes=1 << 30)

    def test_update_adds_and_removes_constraints(self, shoal: Shoal, control: FakeControl) -> None:
        """--constraint-add appends, --constraint-rm removes, the rest stays."""
        assert (
            shoal("service", "update", "-d", "--constraint-add", "node.labels.a==1", "web").code
            == 0
        )
        assert control.services[WEB_ID].spec.placement.constraints == ("node.labels.a==1",)
        assert (
            shoal("service", "update", "-d", "--constraint-rm", "node.labels.a==1", "web").code == 0
        )
        assert control.services[WEB_ID].spec.placement.constraints == ()

    @pytest.mark.parametrize(
        ("flag", "value"),
        [
            ("--constraint", "zone==b"),
            ("--reserve-memory", "lots"),
            ("--limit-cpu", "-1"),
            ("--replicas-max-per-node", "x"),
        ],
    )
    def test_bad_values_send_nothing(
        self, shoal: Shoal, control: FakeControl, flag: str, value: str
    ) -> None:
        """A malformed placement flag is a one-line usage error, exit 1, and no call."""
        result = shoal("service", "create", "-d", flag, value, "busybox")
        assert result.code == 1
        assert len(result.err.splitlines()) == 1
        assert control.calls == []


class TestServiceUpdate:
    def test_image_env_labels_args_and_force(self, shoal: Shoal, control: FakeControl) -> None:
        """The container flags change what they name; --force raises the force counter."""
        control.services[WEB_ID] = replace(
            control.services[WEB_ID],
            spec=replace(
                control.services[WEB_ID].spec,
                container=replace(control.services[WEB_ID].spec.container, env=("A=1", "B=2")),
            ),
        )
        result = shoal(
            "service", "update", "-d", "--image", "nginx:1.26", "--env-add", "B=3",
            "--env-add", "C=4", "--env-rm", "A", "--label-add", "tier=back", "--label-rm",
            "nope", "--args", "nginx -g 'daemon off;'", "--force", "web",
        )  # fmt: skip
        assert (result.code, result.out) == (0, "web\n")
        spec = control.services[WEB_ID].spec
        assert spec.container.image == "nginx:1.26"
        assert spec.container.env == ("B=3", "C=4")
        assert spec.container.args == ("nginx", "-g", "daemon off;")
        assert spec.labels == {"tier": "back"}
        assert spec.force_update == 1

    def test_update_policy_flags(self, shoal: Shoal, control: FakeControl) -> None:
        """--update-* and --rollback-* set the two configs, docker's names and units."""
        result = shoal(
            "service", "update", "-d", "--update-parallelism", "2", "--update-delay", "0s",
            "--update-monitor", "1s", "--update-failure-action", "rollback",
            "--update-max-failure-ratio", "0.25", "--update-order", "start-first",
            "--rollback-parallelism", "0", "--rollback-failure-action", "continue", "web",
        )  # fmt: skip
        assert result.code == 0
        spec = control.services[WEB_ID].spec
        assert spec.update == m.UpdateConfig(
            parallelism=2,
            delay=timedelta(0),
            monitor=timedelta(seconds=1),
            failure_action=m.FailureAction.ROLLBACK,
            max_failure_ratio=0.25,
            order=m.UpdateOrder.START_FIRST,
        )
        assert spec.rollback == m.UpdateConfig(
            parallelism=0, failure_action=m.FailureAction.CONTINUE
        )

    @pytest.mark.parametrize(
        ("flag", "value"),
        [
            ("--update-failure-action", "explode"),
            ("--rollback-failure-action", "rollback"),
            ("--update-max-failure-ratio", "2"),
            ("--update-order", "sideways"),
            ("--update-delay", "soon"),
            ("--args", "'unclosed"),
            ("--env-add", "NOEQUALS"),
        ],
    )
    def test_bad_values_are_one_line_and_write_nothing(
        self, shoal: Shoal, control: FakeControl, flag: str, value: str
    ) -> None:
        result = shoal("service", "update", "-d", flag, value, "web")
        assert result.code == 1
        assert len(result.err.splitlines()) == 1
        assert control.updates == []

    def test_dry_run_plans_and_writes_nothing(self, shoal: Shoal, control: FakeControl) -> None:
        """update --dry-run shows where the updated tasks would go; exit 2 if some would not."""
        control.plan = [(1, "h1", ""), (2, "", "no suitable node (1 node not ready)")]
        result = shoal("service", "update", "--dry-run", "--image", "nginx:2", "web")
        assert result.code == 2
        assert "web.2: no suitable node (1 node not ready)" in result.out.splitlines()
        assert "UpdateService" not in control.calls
        assert control.services[WEB_ID].spec.container.image == "nginx:1.25"

    def test_rollback_and_update_rollback(self, shoal: Shoal, control: FakeControl) -> None:
        """`service rollback` and `service update --rollback` return to the previous spec."""
        assert shoal("service", "rollback", "-d", "web").code == 0
        assert control.services[WEB_ID].spec.container.image == "nginx:1.24"
        assert shoal("service", "update", "-d", "--rollback", "web").code == 0
        assert control.services[WEB_ID].spec.container.image == "nginx:1.25"

    def test_rollback_without_a_previous_spec(self, shoal: Shoal) -> None:
        result = shoal("service", "rollback", "-d", "monitor")
        assert one_error_line(result) == "Error: no previous spec"
        assert result.code == 1

    def test_rebalance_asks_the_manager(self, shoal: Shoal, control: FakeControl) -> None:
        result = shoal("service", "rebalance", "-d", "web")
        assert (result.code, result.out) == (0, "web\n")
        assert "RebalanceService" in control.calls


class TestDryRun:
    def test_all_placed(self, shoal: Shoal, control: FakeControl) -> None:
        """--dry-run prints where each task would go, creates nothing, and exits 0."""
        control.plan = [(1, "h1", ""), (2, "h2", "")]
        result = shoal(
            "service", "create", "-d", "--dry-run", "--name", "api", "--replicas", "2", "busybox"
        )
        assert result.code == 0
        assert result.out.splitlines() == [
            "api.1: would run on h1",
            "api.2: would run on h2",
            "2 of 2 tasks would be placed; nothing was changed",
        ]
        assert "CreateService" not in control.calls

    def test_some_unplaceable(self, shoal: Shoal, control: FakeControl) -> None:
        """A task no node would take shows its reason, and the exit code is 2."""
        control.plan = [(1, "h1", ""), (2, "", "no suitable node (1 node not ready)")]
        result = shoal("service", "create", "-d", "--dry-run", "--name", "api", "busybox")
        assert result.code == 2
        assert "api.2: no suitable node (1 node not ready)" in result.out.splitlines()
        assert "CreateService" not in control.calls


class TestPlacementPreferences:
    def test_create_and_update_preferences(self, shoal: Shoal, control: FakeControl) -> None:
        """--placement-pref spread=node.labels.zone is stored; update can remove and add."""
        result = shoal(
            "service", "create", "-d", "--name", "spread",
            "--placement-pref", "spread=node.labels.zone", "busybox",
        )  # fmt: skip
        assert result.code == 0
        [created] = [s for s in control.services.values() if s.spec.name == "spread"]
        assert created.spec.placement.spread == ("node.labels.zone",)
        assert (
            shoal(
                "service", "update", "-d", "--placement-pref-add", "spread=node.labels.rack", "web"
            ).code
            == 0
        )
        assert control.services[WEB_ID].spec.placement.spread == ("node.labels.rack",)

    @pytest.mark.parametrize("value", ["binpack=node.labels.zone", "spread=zone", "spread="])
    def test_bad_preference(self, shoal: Shoal, control: FakeControl, value: str) -> None:
        """Only spread=node.labels.KEY is understood: anything else is a usage error."""
        result = shoal("service", "create", "-d", "--placement-pref", value, "busybox")
        assert result.code == 1
        assert control.calls == []
