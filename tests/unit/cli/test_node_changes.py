"""`shoal node update`, `promote` and `demote` end to end against the fake Control: the
changes a node takes."""

from __future__ import annotations

import pytest

from cli import cas
from common import model as m
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Shoal, one_error_line
from tests.unit.cli.seeded import MANAGER_NODE, WORKER_NODE


class TestNodeUpdate:
    def test_availability_sends_the_version_read_and_keeps_labels(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """--availability sends the node's version as read and its labels unchanged (the
        server replaces them as a whole); NODE is printed as given."""
        result = shoal("node", "update", "--availability", "drain", "manager-1")
        assert (result.code, result.out, result.err) == (0, "manager-1\n", "")
        [update] = control.node_updates
        assert (update.node_id, update.version) == (MANAGER_NODE, 12)
        assert m.Availability(update.availability) is m.Availability.DRAIN
        assert dict(update.labels) == {"zone": "eu-1", "ssd": ""}
        [manager] = [n for n in control.nodes if n.id == MANAGER_NODE]
        assert (manager.availability, manager.meta.version) == (m.Availability.DRAIN, 13)

    def test_labels_are_added_then_removed(self, shoal: Shoal, control: FakeControl) -> None:
        """--label-add sets KEY=VALUE (KEY alone: an empty value) and overwrites an existing
        key; --label-rm removes, after the additions; the availability is kept."""
        result = shoal(
            "node", "update", "--label-add", "zone=eu-2", "--label-add", "gpu",
            "--label-add", "tmp=1", "--label-rm", "tmp", "--label-rm", "ssd", MANAGER_NODE[:6],
        )  # fmt: skip
        assert (result.code, result.out) == (0, f"{MANAGER_NODE[:6]}\n")
        [update] = control.node_updates
        assert (update.node_id, update.version) == (MANAGER_NODE, 12)
        assert dict(update.labels) == {"zone": "eu-2", "gpu": ""}
        assert m.Availability(update.availability) is m.Availability.ACTIVE
        [manager] = [n for n in control.nodes if n.id == MANAGER_NODE]
        assert manager.labels == {"zone": "eu-2", "gpu": ""}

    def test_removing_a_missing_label_is_an_error(self, shoal: Shoal, control: FakeControl) -> None:
        """--label-rm of a key the node does not have fails as docker's does, on one line, and
        nothing is written, not even the other changes asked for."""
        result = shoal(
            "node", "update", "--availability", "pause", "--label-rm", "zone",
            "--label-rm", "nope", "manager-1",
        )  # fmt: skip
        assert one_error_line(result) == "Error: key nope doesn't exist in node's labels"
        assert result.out == ""
        assert control.node_updates == []
        assert "UpdateNode" not in control.calls

    def test_at_least_one_change_is_needed(self, shoal: Shoal, control: FakeControl) -> None:
        """Without any flag there is nothing to update: a one-line usage error, no call."""
        result = shoal("node", "update", "manager-1")
        assert result.code == 1
        assert result.err.splitlines() == [
            "shoal: error: nothing to update: give --availability, --label-add or --label-rm"
            " (see 'shoal node update --help')"
        ]
        assert control.calls == []

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (("--availability", "paused"), "argument --availability: invalid choice: 'paused'"),
            (("--label-add", "=x"), "argument --label-add: invalid label '=x'"),
        ],
    )
    def test_bad_values_are_usage_errors(
        self, shoal: Shoal, control: FakeControl, argv: tuple[str, ...], message: str
    ) -> None:
        """An availability other than active, pause or drain, or a label without a key, is a
        one-line usage error; nothing is sent."""
        result = shoal("node", "update", *argv, "manager-1")
        assert result.code == 1
        (line,) = result.err.splitlines()
        assert line.startswith(f"shoal: error: {message}")
        assert control.calls == []

    def test_retries_when_another_client_wrote_in_between(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """A stale version (ABORTED) makes update read the node again and retry with the new
        version."""
        control.interlopers = 2
        result = shoal("node", "update", "--availability", "pause", "manager-1")
        assert (result.code, result.out) == (0, "manager-1\n")
        assert [u.version for u in control.node_updates] == [12, 13, 14]
        [manager] = [n for n in control.nodes if n.id == MANAGER_NODE]
        assert manager.availability is m.Availability.PAUSE

    def test_gives_up_after_a_few_conflicts(self, shoal: Shoal, control: FakeControl) -> None:
        """When every attempt is beaten by another writer, update fails with the server's one
        line and the node keeps its availability."""
        control.interlopers = cas.ATTEMPTS
        result = shoal("node", "update", "--availability", "pause", "manager-1")
        assert one_error_line(result) == (
            "Error: node manager-1 was changed meanwhile; read it and retry"
        )
        assert len(control.node_updates) == cas.ATTEMPTS
        [manager] = [n for n in control.nodes if n.id == MANAGER_NODE]
        assert manager.availability is m.Availability.ACTIVE

    def test_unknown_node(self, shoal: Shoal, control: FakeControl) -> None:
        """An unknown node fails with one line and nothing is written."""
        result = shoal("node", "update", "--availability", "drain", "nope")
        assert one_error_line(result) == "Error: no such node: nope"
        assert (result.out, control.node_updates) == ("", [])


class TestNodeRole:
    def test_promote_says_so_as_docker_does(self, shoal: Shoal, control: FakeControl) -> None:
        """The role is sent with the version read; the node is named as the user gave it."""
        result = shoal("node", "promote", "worker-1")
        assert (result.code, result.out, result.err) == (
            0,
            "Node worker-1 promoted to a manager in the swarm.\n",
            "",
        )
        [update] = control.node_updates
        assert (update.node_id, update.version) == (WORKER_NODE, 4)
        assert m.NodeRole(update.role) is m.NodeRole.MANAGER
        assert m.Availability(update.availability) is m.Availability.DRAIN

    def test_a_node_already_in_the_role_is_left_alone(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        result = shoal("node", "promote", "manager-1")
        assert (result.code, result.out) == (0, "Node manager-1 is already a manager.\n")
        result = shoal("node", "demote", "worker-1")
        assert (result.code, result.out) == (0, "Node worker-1 is already a worker.\n")
        assert control.node_updates == []

    def test_demote_and_the_last_manager(self, shoal: Shoal, control: FakeControl) -> None:
        """With two managers one may be demoted; the last one is refused with one line."""
        assert shoal("node", "promote", "worker-1").code == 0
        result = shoal("node", "demote", "manager-1", "worker-1")
        assert result.lines == ["Manager manager-1 demoted in the swarm."]
        assert one_error_line(result) == (
            "Error: attempting to demote the last manager of the cluster"
        )
        roles = {n.description.hostname: n.role for n in control.nodes}
        assert roles == {"manager-1": m.NodeRole.WORKER, "worker-1": m.NodeRole.MANAGER}

    def test_update_leaves_the_role_unset(self, shoal: Shoal, control: FakeControl) -> None:
        """`node update` sends no role, so it can never demote a manager by accident."""
        assert shoal("node", "update", "--availability", "pause", "manager-1").code == 0
        [update] = control.node_updates
        assert not update.HasField("role")

    def test_rm_of_a_manager_that_is_up_asks_for_demotion(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        control.self_node_id = ""
        result = shoal("node", "rm", "--force", "manager-1")
        assert one_error_line(result) == (
            "Error: node manager-1 is a manager that is not down:"
            " demote it to a worker first (`shoal node demote`)"
        )
        assert len(control.nodes) == 2
