"""`shoal node ls`, `rm`, `inspect` and `ps` end to end against the fake Control (what
changes a node: test_node_changes.py)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from common import model as m
from tests.unit.cli.fake_control import FakeControl
from tests.unit.cli.harness import Shoal, one_error_line
from tests.unit.cli.seeded import MANAGER_NODE, MONITOR_ON_WORKER, WORKER_NODE


class TestNodeLs:
    def test_table(self, shoal: Shoal) -> None:
        """Full node IDs, ` *` on the node the manager runs on, states and availability
        capitalised, `Leader` for the manager, the manager's TLS STATUS; sorted by hostname."""
        result = shoal("node", "ls")
        assert result.code == 0
        assert result.lines == [
            "ID                            HOSTNAME    STATUS   AVAILABILITY   MANAGER STATUS   "
            "TLS STATUS    ENGINE VERSION   SHOAL VERSION",
            f"{MANAGER_NODE} *   manager-1   Ready    Active         Leader           Ready"
            "         28.0.0           0.2.0",
            f"{WORKER_NODE}     worker-1    Down     Drain                           NeedsRejoin"
            "   27.3.1",
        ]

    def test_quiet(self, shoal: Shoal) -> None:
        """`-q` prints the node IDs alone, without the ` *` marker."""
        assert shoal("node", "ls", "-q").lines == [MANAGER_NODE, WORKER_NODE]

    def test_json_lines(self, shoal: Shoal) -> None:
        """`--format json` keeps the ID clean and says which node answered in `Self`."""
        lines = shoal("node", "ls", "--format", "json").lines
        manager, worker = (json.loads(line) for line in lines)
        assert manager == {
            "ID": MANAGER_NODE,
            "Self": True,
            "Hostname": "manager-1",
            "Status": "Ready",
            "Availability": "Active",
            "ManagerStatus": "Leader",
            "TLSStatus": "Ready",
            "EngineVersion": "28.0.0",
            "ShoalVersion": "0.2.0",
        }
        assert (worker["Self"], worker["ManagerStatus"]) == (False, "")

    def test_manager_status_of_several_managers(self, shoal: Shoal, control: FakeControl) -> None:
        """MANAGER STATUS as docker shows it: `Leader`, `Reachable` for a manager holding its
        lease, `Unreachable` for one that does not, nothing for a worker; `node inspect` says
        the same in docker's ManagerStatus, without Leader for one that does not lead."""
        control.nodes += [
            m.Node(id="node2manager0000000000000", role=m.NodeRole.MANAGER,
                   description=m.NodeDescription(hostname="manager-2")),
            m.Node(id="node3manager0000000000000", role=m.NodeRole.MANAGER,
                   description=m.NodeDescription(hostname="manager-3")),
        ]  # fmt: skip
        control.manager_status |= {
            "node2manager0000000000000": m.ManagerStatus(
                leader=False, reachability=m.Reachability.REACHABLE, addr="10.0.0.2:7462"
            ),
            "node3manager0000000000000": m.ManagerStatus(
                leader=False, reachability=m.Reachability.UNREACHABLE, addr="10.0.0.3:7462"
            ),
        }
        records = [json.loads(line) for line in shoal("node", "ls", "--format", "json").lines]
        assert {r["Hostname"]: r["ManagerStatus"] for r in records} == {
            "manager-1": "Leader",
            "manager-2": "Reachable",
            "manager-3": "Unreachable",
            "worker-1": "",
        }
        table = shoal("node", "ls").lines
        assert "Unreachable" in next(line for line in table if "manager-3" in line)
        (inspected,) = json.loads(shoal("node", "inspect", "manager-3").out)
        assert inspected["ManagerStatus"] == {
            "Reachability": "unreachable",
            "Addr": "10.0.0.3:7462",
        }
        pretty = shoal("node", "inspect", "--pretty", "manager-2").lines
        assert pretty_field(" Raft Status:", "Reachable") in pretty
        assert pretty_field(" Leader:", "No") in pretty


def answered_elsewhere(control: FakeControl) -> None:
    """Another manager answers, and manager-1 was demoted: a node like any other."""
    control.self_node_id = ""
    control.nodes = [replace(n, role=m.NodeRole.WORKER) for n in control.nodes]


class TestNodeRm:
    def test_removes_each_and_prints_its_ref(self, shoal: Shoal, control: FakeControl) -> None:
        """Each removed node is printed as the user named it; --force is not sent unasked."""
        result = shoal("node", "rm", "worker-1")
        assert (result.code, result.out, result.err) == (0, "worker-1\n", "")
        assert control.node_removals == [("worker-1", False)]
        assert [n.id for n in control.nodes] == [MANAGER_NODE]

    @pytest.mark.parametrize("flag", ["-f", "--force"])
    def test_force_is_passed_through(self, shoal: Shoal, control: FakeControl, flag: str) -> None:
        """-f/--force reaches the server with each node, so a node that is up can be removed."""
        answered_elsewhere(control)
        result = shoal("node", "rm", flag, "manager-1", WORKER_NODE[:8])
        assert (result.code, result.lines) == (0, ["manager-1", WORKER_NODE[:8]])
        assert control.node_removals == [("manager-1", True), (WORKER_NODE[:8], True)]
        assert control.nodes == []

    def test_refusal_is_the_servers_message(self, shoal: Shoal, control: FakeControl) -> None:
        """A node the server will not remove without --force fails with the server's words."""
        answered_elsewhere(control)
        result = shoal("node", "rm", "manager-1")
        assert one_error_line(result) == (
            "Error: node manager-1 is not down:"
            " stop its agent first, or use --force to remove it anyway"
        )
        assert len(control.nodes) == 2

    def test_unknown_one_is_reported_and_the_rest_removed(
        self, shoal: Shoal, control: FakeControl
    ) -> None:
        """An unknown node gets an error line on stderr; the others are still removed; exit 1."""
        answered_elsewhere(control)
        result = shoal("node", "rm", "--force", "worker-1", "nope", MANAGER_NODE)
        assert one_error_line(result) == "Error: no such node: nope"
        assert result.lines == ["worker-1", MANAGER_NODE]
        assert control.nodes == []


def pretty_field(name: str, value: str) -> str:
    """A line of `node inspect --pretty`: the value where docker's tabs put it, at column 24."""
    return f"{name:<24}{value}".rstrip()


class TestNodeInspect:
    def test_document(self, shoal: Shoal) -> None:
        """A JSON array with docker's layout: Version.Index, RFC 3339 times, Spec with sorted
        Labels, lower-case Role and Availability, Description, Status with a lower-case
        State."""
        result = shoal("node", "inspect", "manager-1", WORKER_NODE[:5])
        assert result.code == 0
        manager, worker = json.loads(result.out)
        assert set(manager) == {
            "ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "Description", "Status",
            "ManagerStatus",
        }  # fmt: skip
        assert manager["ID"] == MANAGER_NODE
        assert manager["Version"] == {"Index": 12}
        assert manager["CreatedAt"] == "2024-05-16T22:52:44.991066Z"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", manager["UpdatedAt"])
        assert manager["Spec"] == {
            "Labels": {"ssd": "", "zone": "eu-1"},
            "Role": "manager",
            "Availability": "active",
        }
        assert list(manager["Spec"]["Labels"]) == ["ssd", "zone"]
        assert manager["Description"] == {
            "Hostname": "manager-1",
            "Platform": {"Architecture": "x86_64", "OS": "linux"},
            "Resources": {"NanoCPUs": 4_000_000_000, "MemoryBytes": 8_271_880_192},
            "Engine": {"EngineVersion": "28.0.0"},
            "Shoal": {"Version": "0.2.0", "Protocol": 2},
            "TLSInfo": {"TrustRootDigest": "", "Status": "Ready"},
        }
        assert manager["Status"] == {"State": "ready", "Message": "", "Addr": "10.0.0.1"}
        assert manager["ManagerStatus"] == {
            "Leader": True,
            "Reachability": "reachable",
            "Addr": "10.0.0.1:7462",
        }
        assert worker["ID"] == WORKER_NODE
        assert "ManagerStatus" not in worker
        assert (worker["Spec"]["Role"], worker["Spec"]["Availability"]) == ("worker", "drain")
        assert worker["Spec"]["Labels"] == {}
        assert worker["Status"] == {"State": "down", "Message": "heartbeat failure", "Addr": ""}
        assert worker["Description"]["TLSInfo"]["Status"] == "NeedsRejoin"

    def test_self_is_the_node_of_the_manager_answering(self, shoal: Shoal) -> None:
        """`self` names the node the answering manager runs on."""
        result = shoal("node", "inspect", "self")
        assert [node["ID"] for node in json.loads(result.out)] == [MANAGER_NODE]

    def test_pretty(self, shoal: Shoal) -> None:
        """--pretty: docker's human layout, values aligned at column 24; labels sorted, a bare
        key for an empty value; the time as Go prints it; memory in binary units."""
        result = shoal("node", "inspect", "--pretty", "manager-1")
        assert result.code == 0
        assert result.lines == [
            pretty_field("ID:", MANAGER_NODE),
            "Labels:",
            " - ssd",
            " - zone=eu-1",
            pretty_field("Hostname:", "manager-1"),
            pretty_field("Joined at:", "2024-05-16 22:52:44.991066 +0000 UTC"),
            "Status:",
            pretty_field(" State:", "Ready"),
            pretty_field(" Availability:", "Active"),
            pretty_field(" Address:", "10.0.0.1"),
            "Manager Status:",
            pretty_field(" Address:", "10.0.0.1:7462"),
            pretty_field(" Raft Status:", "Reachable"),
            pretty_field(" Leader:", "Yes"),
            "Platform:",
            pretty_field(" Operating System:", "linux"),
            pretty_field(" Architecture:", "x86_64"),
            "Resources:",
            pretty_field(" CPUs:", "4"),
            pretty_field(" Memory:", "7.704GiB"),
            pretty_field("Engine Version:", "28.0.0"),
            pretty_field("Shoal Version:", "0.2.0"),
            pretty_field("TLS Status:", "Ready"),
        ]
        assert result.lines[0] == f"ID:                     {MANAGER_NODE}"

    def test_pretty_leaves_out_what_is_unset(self, shoal: Shoal) -> None:
        """Without labels or an address those lines are left out; a status message is shown;
        several nodes are separated by a blank line."""
        lines = shoal("node", "inspect", "--pretty", "manager-1", "worker-1").lines
        blank = lines.index("")
        assert lines[blank + 1 :] == [
            pretty_field("ID:", WORKER_NODE),
            pretty_field("Hostname:", "worker-1"),
            pretty_field("Joined at:", "2024-05-16 22:52:44.991066 +0000 UTC"),
            "Status:",
            pretty_field(" State:", "Down"),
            pretty_field(" Message:", "Heartbeat failure"),
            pretty_field(" Availability:", "Drain"),
            "Platform:",
            " Operating System:",
            " Architecture:",
            "Resources:",
            pretty_field(" CPUs:", "0"),
            " Memory:",
            pretty_field("Engine Version:", "27.3.1"),
            "Shoal Version:",
            pretty_field("TLS Status:", "NeedsRejoin"),
        ]

    @pytest.mark.parametrize("pretty", [(), ("--pretty",)])
    def test_unknown_node(self, shoal: Shoal, pretty: tuple[str, ...]) -> None:
        """Any unknown node fails the command with one line and prints nothing."""
        result = shoal("node", "inspect", *pretty, "manager-1", "nope")
        assert one_error_line(result) == "Error: no such node: nope"
        assert result.out == ""


class TestNodePs:
    def test_defaults_to_self(self, shoal: Shoal, control: FakeControl) -> None:
        """Without NODE, the tasks of the node the answering manager runs on, with the columns
        and order of `service ps`."""
        result = shoal("node", "ps")
        assert result.code == 0
        assert result.lines == [
            "ID             NAME                                IMAGE                NODE        "
            "DESIRED STATE   CURRENT STATE           ERROR   PORTS",
            f"taskmon10000   monitor.{MANAGER_NODE}   prom/node-exporter   manager-1   "
            "Running         Running 2 hours ago",
            "task1new0000   web.1                               nginx:1.25           manager-1   "
            "Running         Running 3 minutes ago",
        ]
        assert control.calls == ["ListNodes", "ListTasks"]

    def test_each_node_in_turn(self, shoal: Shoal) -> None:
        """Several nodes: each node's tasks in turn, in the order given, under one header; a
        slot seen on an earlier node is not indented as its history."""
        result = shoal("node", "ps", "worker-1", "self")
        assert result.code == 0
        assert [line.split()[:2] for line in result.lines[1:]] == [
            ["taskmon20000", f"monitor.{WORKER_NODE}"],
            ["task1old0000", "web.1"],
            ["taskmon10000", f"monitor.{MANAGER_NODE}"],
            ["task1new0000", "web.1"],
        ]
        assert result.lines[2].endswith('Failed 40 minutes ago   "task: non-zero exit (137): ki…"')

    def test_quiet_no_trunc_and_json(self, shoal: Shoal) -> None:
        """-q prints the task IDs alone, in full with --no-trunc; --format json one object per
        task with `service ps`'s keys."""
        quiet = shoal("node", "ps", "-q", "--no-trunc", WORKER_NODE)
        assert quiet.lines == [MONITOR_ON_WORKER, "task1old0000000000000000a"]
        records = [json.loads(line) for line in shoal("node", "ps", "--format", "json").lines]
        assert [(r["ID"], r["Name"], r["Node"]) for r in records] == [
            ("taskmon10000", f"monitor.{MANAGER_NODE}", "manager-1"),
            ("task1new0000", "web.1", "manager-1"),
        ]
        assert set(records[0]) == {
            "ID", "Name", "Image", "Node", "DesiredState", "CurrentState", "Error", "Ports",
        }  # fmt: skip

    def test_unknown_node_is_reported_and_the_rest_listed(self, shoal: Shoal) -> None:
        """An unknown node gets an error line; the other nodes' tasks are still listed; exit
        1."""
        result = shoal("node", "ps", "-q", "nope", "worker-1")
        assert one_error_line(result) == "Error: no such node: nope"
        assert result.lines == ["taskmon20000", "task1old0000"]

    def test_only_unknown_nodes_print_no_table(self, shoal: Shoal) -> None:
        """When no node could be listed there is no empty table, only the error."""
        result = shoal("node", "ps", "nope")
        assert one_error_line(result) == "Error: no such node: nope"
        assert result.out == ""
