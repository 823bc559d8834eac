"""manager.scheduler: where pending tasks go, and why a task cannot go anywhere."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from common.constraints import parse
from common.model import Availability, Node, NodeDescription, NodeState, Resources, Task, TaskState
from manager.scheduler import Demand, NodeInfo, schedule
from tests.unit.builders import node, task


def pending(count: int, service_id: str = "svc1", prefix: str = "t") -> list[Task]:
    return [task(f"{prefix}{i}", i, service_id=service_id) for i in range(1, count + 1)]


def infos(*nodes: Node, load: dict[str, dict[str, int]] | None = None) -> list[NodeInfo]:
    """NodeInfos for nodes; load gives per node the live task count per service."""
    load = load or {}
    return [NodeInfo(n, Counter(load.get(n.id, {}))) for n in nodes]


class TestSpreading:
    def test_replicas_spread_evenly(self) -> None:
        """Six replicas over three empty nodes: two each."""
        decision = schedule(pending(6), infos(node("a"), node("b"), node("c")))
        assert decision.reasons == {}
        assert Counter(decision.placements.values()) == {"a": 2, "b": 2, "c": 2}

    def test_uneven_count_differs_by_at_most_one(self) -> None:
        """Seven replicas over three nodes: 3/2/2, the extra one on the lowest node ID."""
        decision = schedule(pending(7), infos(node("c"), node("a"), node("b")))
        assert Counter(decision.placements.values()) == {"a": 3, "b": 2, "c": 2}

    def test_deterministic_order_by_node_id(self) -> None:
        """With equal load, tasks go to nodes in node-ID order, whatever order the nodes come in."""
        decision = schedule(pending(3), infos(node("n3"), node("n1"), node("n2")))
        assert decision.placements == {"t1": "n1", "t2": "n2", "t3": "n3"}

    def test_same_input_same_output(self) -> None:
        """Scheduling the same input twice gives the same placements."""
        first = schedule(pending(10), infos(node("x"), node("y"), node("z")))
        second = schedule(pending(10), infos(node("x"), node("y"), node("z")))
        assert first == second

    def test_fewest_tasks_of_the_service_wins_over_total_load(self) -> None:
        """A node busy with other services still wins when it has fewer of this service."""
        nodes = infos(
            node("a"),
            node("b"),
            load={"a": {"svc1": 1}, "b": {"other": 5}},
        )
        decision = schedule(pending(1), nodes)
        assert decision.placements == {"t1": "b"}

    def test_then_fewest_tasks_overall(self) -> None:
        """With equal counts of the service, the node with fewer tasks overall wins."""
        nodes = infos(
            node("a"),
            node("b"),
            load={"a": {"svc1": 1, "other": 3}, "b": {"svc1": 1, "other": 1}},
        )
        decision = schedule(pending(1), nodes)
        assert decision.placements == {"t1": "b"}

    def test_then_node_id(self) -> None:
        """With equal counts of the service and overall, the lowest node ID wins."""
        nodes = infos(
            node("b"),
            node("a"),
            load={"a": {"other": 2}, "b": {"other": 2}},
        )
        assert schedule(pending(1), nodes).placements == {"t1": "a"}

    def test_placements_count_for_the_next_task_in_the_batch(self) -> None:
        """A node that just got a task is less attractive to the next one in the same batch."""
        nodes = infos(node("a"), node("b"), load={"b": {"svc1": 1}})
        decision = schedule(pending(3), nodes)
        # t1 fills a up to b; t2 then ties and goes to a by ID; t3 goes to b.
        assert decision.placements == {"t1": "a", "t2": "a", "t3": "b"}

    def test_placements_of_one_service_count_overall_for_another(self) -> None:
        """A task of another service placed earlier in the batch counts in a node's total load."""
        batch = [task("x1", 1, service_id="svcX"), task("y1", 1, service_id="svcY")]
        decision = schedule(batch, infos(node("a"), node("b")))
        assert decision.placements == {"x1": "a", "y1": "b"}

    def test_other_services_do_not_block_spreading(self) -> None:
        """Two services of three replicas over three nodes: each service one task per node."""
        batch = pending(3, "svcA", "a") + pending(3, "svcB", "b")
        decision = schedule(batch, infos(node("n1"), node("n2"), node("n3")))
        for prefix in ("a", "b"):
            placed = [n for t, n in decision.placements.items() if t.startswith(prefix)]
            assert sorted(placed) == ["n1", "n2", "n3"]

    def test_node_info_total(self) -> None:
        """NodeInfo.build counts a node's live tasks per service, and total sums them."""
        info = NodeInfo.build(
            node("a"),
            [task("1", service_id="s1"), task("2", service_id="s1"), task("3", service_id="s2")],
        )
        assert info.tasks_by_service == Counter({"s1": 2, "s2": 1})
        assert info.total == 3


class TestExclusion:
    def test_not_ready_nodes_get_nothing(self) -> None:
        """Only READY nodes receive tasks."""
        nodes = infos(
            node("down", state=NodeState.DOWN),
            node("unknown", state=NodeState.UNKNOWN),
            node("disconnected", state=NodeState.DISCONNECTED),
            node("ready"),
        )
        decision = schedule(pending(4), nodes)
        assert set(decision.placements.values()) == {"ready"}
        assert len(decision.placements) == 4

    def test_paused_and_drained_nodes_get_nothing(self) -> None:
        """Only ACTIVE nodes receive new tasks; PAUSE and DRAIN are skipped."""
        nodes = infos(
            node("paused", availability=Availability.PAUSE),
            node("drained", availability=Availability.DRAIN),
            node("active"),
        )
        decision = schedule(pending(3), nodes)
        assert set(decision.placements.values()) == {"active"}

    def test_reason_counts_nodes_per_filter(self) -> None:
        """The reason counts, per filter, the nodes it excluded, in filter order."""
        nodes = infos(
            node("paused", availability=Availability.PAUSE),
            node("down", state=NodeState.DOWN),
            node("drained", availability=Availability.DRAIN),
        )
        decision = schedule(pending(1), nodes)
        assert decision.placements == {}
        assert decision.reasons == {
            "t1": "no suitable node (1 node not ready; 2 nodes not available for new tasks)"
        }

    def test_singular_and_plural(self) -> None:
        """One node is 'node', several are 'nodes'."""
        one = schedule(pending(1), infos(node("a", state=NodeState.DOWN)))
        assert one.reasons["t1"] == "no suitable node (1 node not ready)"
        two = schedule(
            pending(1),
            infos(
                node("a", availability=Availability.DRAIN),
                node("b", availability=Availability.PAUSE),
            ),
        )
        assert two.reasons["t1"] == "no suitable node (2 nodes not available for new tasks)"

    def test_a_node_failing_several_filters_counts_once(self) -> None:
        """A node both down and drained is counted by the first filter it fails only."""
        nodes = infos(node("a", state=NodeState.DOWN, availability=Availability.DRAIN))
        assert schedule(pending(1), nodes).reasons["t1"] == "no suitable node (1 node not ready)"

    def test_empty_cluster(self) -> None:
        """With no nodes at all, every task says so."""
        decision = schedule(pending(2), [])
        assert decision.placements == {}
        assert decision.reasons == {
            "t1": "no suitable node (no nodes in the cluster)",
            "t2": "no suitable node (no nodes in the cluster)",
        }

    def test_no_reason_for_placed_tasks(self) -> None:
        """Every task is either placed or has a reason, never both."""
        decision = schedule(pending(3), infos(node("a")))
        assert set(decision.placements) == {"t1", "t2", "t3"}
        assert decision.reasons == {}

    def test_nothing_pending(self) -> None:
        """No pending tasks: an empty decision."""
        decision = schedule([], infos(node("a")))
        assert decision.placements == {}
        assert decision.reasons == {}


GiB = 1 << 30


def sized(node_id: str, *, cpus: int = 2, memory: int = 4 * GiB, **labels: str) -> Node:
    """A ready, active node with resources and labels."""
    return replace(
        node(node_id),
        labels=labels,
        description=NodeDescription(
            hostname=f"host-{node_id}",
            resources=Resources(nano_cpus=cpus * 10**9, memory_bytes=memory),
        ),
    )


def wanting(count: int, *, memory: int = 0, cpus: float = 0) -> list[Task]:
    reservations = Resources(nano_cpus=round(cpus * 10**9), memory_bytes=memory)
    return [replace(t, reservations=reservations) for t in pending(count)]


def demand(*constraints: str, max_per_node: int = 0) -> dict[str, Demand]:
    return {"svc1": Demand(tuple(parse(c) for c in constraints), max_per_node)}


class TestConstraints:
    def test_only_matching_nodes_take_tasks(self) -> None:
        """node.labels.zone==b keeps tasks on the nodes labelled zone=b."""
        nodes = infos(sized("a", zone="a"), sized("b1", zone="b"), sized("b2", zone="b"))
        decision = schedule(pending(4), nodes, demand("node.labels.zone==b"))
        assert set(decision.placements.values()) == {"b1", "b2"}

    def test_not_equal_and_hostname_and_role(self) -> None:
        """!= excludes; node.hostname and node.role match the node's own fields."""
        nodes = infos(sized("a"), sized("b"))
        assert set(
            schedule(pending(2), nodes, demand("node.hostname!=host-a")).placements.values()
        ) == {"b"}
        assert schedule(pending(1), nodes, demand("node.role==manager")).placements == {}

    def test_the_reason_counts_nodes_per_filter(self) -> None:
        """The reason names each constraint and resource that excluded nodes, and how many."""
        nodes = infos(
            sized("a", zone="a"), sized("b", zone="a"), sized("c", zone="a"),
            sized("d", zone="b", memory=GiB), sized("e", zone="b", memory=GiB),
        )  # fmt: skip
        decision = schedule(wanting(1, memory=2 * GiB), nodes, demand("node.labels.zone==b"))
        assert decision.reasons["t1"] == (
            "no suitable node (constraint node.labels.zone==b excluded 3 nodes;"
            " insufficient memory on 2 nodes)"
        )

    def test_services_of_one_batch_each_keep_to_their_own_constraints(self) -> None:
        """What readiness and constraints say of a node is worked out once per batch and
        shared: services with the same constraint, another one, or none each get the nodes
        theirs allow, and a node that is down gets none of them."""
        nodes = infos(
            sized("a1", zone="a", disk="ssd"),
            sized("a2", zone="a"),
            sized("b1", zone="b", disk="ssd"),
            replace(sized("a3", zone="a", disk="ssd"), state=NodeState.DOWN),
        )
        zone_a = (parse("node.labels.zone==a"),)
        demands = {
            "first-a": Demand(zone_a),
            "ssd": Demand((parse("node.labels.disk==ssd"),)),
            "second-a": Demand(zone_a),
            "a-ssd": Demand((*zone_a, parse("node.labels.disk==ssd"))),
        }
        batch = [
            *pending(4, "first-a", "fa"),
            *pending(4, "ssd", "s"),
            *pending(4, "any", "n"),
            *pending(4, "second-a", "sa"),
            *pending(2, "a-ssd", "as"),
        ]
        decision = schedule(batch, nodes, demands)
        assert decision.reasons == {}
        by_service: dict[str, set[str]] = {}
        for t in batch:
            by_service.setdefault(t.service_id, set()).add(decision.placements[t.id])
        assert by_service == {
            "first-a": {"a1", "a2"},
            "ssd": {"a1", "b1"},
            "any": {"a1", "a2", "b1"},
            "second-a": {"a1", "a2"},
            "a-ssd": {"a1"},
        }


class TestResources:
    def test_reservations_fill_a_node(self) -> None:
        """With 4 GiB per node and 1.5 GiB per task, a node takes two; the fifth task waits."""
        decision = schedule(wanting(5, memory=3 * GiB // 2), infos(sized("a"), sized("b")))
        assert sorted(Counter(decision.placements.values()).values()) == [2, 2]
        assert decision.reasons["t5"] == "no suitable node (insufficient memory on 2 nodes)"

    def test_what_live_tasks_hold_counts(self) -> None:
        """A node whose live tasks reserve most of its CPUs takes no more than fits."""
        busy = NodeInfo(sized("a", cpus=2), reserved=Resources(nano_cpus=15 * 10**8))
        decision = schedule(wanting(1, cpus=1), [busy])
        assert decision.reasons["t1"] == "no suitable node (insufficient cpu on 1 node)"


class TestMaxPerNode:
    def test_a_limit_of_one_per_node(self) -> None:
        """--replicas-max-per-node 1 on 2 nodes: 2 placed, the third says why not."""
        decision = schedule(pending(3), infos(sized("a"), sized("b")), demand(max_per_node=1))
        assert sorted(decision.placements.values()) == ["a", "b"]
        assert (
            decision.reasons["t3"] == "no suitable node (max replicas per node reached on 2 nodes)"
        )


class TestSpread:
    def test_spread_over_label_values_first(self) -> None:
        """Zone a has 3 nodes and zone b one: 4 tasks spread over the zones (2 and 2), not over
        the nodes (which would put 3 in zone a)."""
        nodes = infos(
            sized("a1", zone="a"),
            sized("a2", zone="a"),
            sized("a3", zone="a"),
            sized("b1", zone="b"),
        )
        spread = {"svc1": Demand(spread=("zone",))}
        decision = schedule(pending(4), nodes, spread)
        per_zone = Counter("b" if n == "b1" else "a" for n in decision.placements.values())
        assert per_zone == {"a": 2, "b": 2}

    def test_nodes_without_the_label_form_a_group(self) -> None:
        """A node with no value for the key counts as a group of its own."""
        nodes = infos(sized("a1", zone="a"), sized("a2", zone="a"), sized("x"))
        decision = schedule(pending(2), nodes, {"svc1": Demand(spread=("zone",))})
        assert "x" in decision.placements.values()


def pinned(task_id: str, node_id: str, *, memory: int = 0) -> Task:
    """A pending task made for one node, as a global service's are."""
    made = task(task_id, node_id=node_id, state=TaskState.PENDING)
    return replace(made, reservations=Resources(memory_bytes=memory))


class TestPinned:
    def test_goes_to_its_node_even_when_others_are_emptier(self) -> None:
        """The spread order does not apply: its node is the only candidate."""
        nodes = infos(sized("a"), sized("b"), load={"b": {"svc1": 3, "other": 4}})
        assert schedule([pinned("g1", "b")], nodes).placements == {"g1": "b"}

    def test_its_node_not_fitting_is_counted_as_one_node(self) -> None:
        """The filters judge its node alone; the others, with room to spare, are not counted."""
        nodes = infos(sized("a"), sized("b", memory=GiB), sized("c"))
        decision = schedule([pinned("g1", "b", memory=2 * GiB)], nodes)
        assert decision.placements == {}
        assert decision.reasons == {"g1": "no suitable node (insufficient memory on 1 node)"}

    def test_constraints_and_readiness_still_apply(self) -> None:
        """Every filter judges its node, and the reason names the one that failed."""
        down = replace(sized("d", zone="a"), state=NodeState.DOWN)
        nodes = infos(sized("a", zone="a"), sized("b", zone="b"), down)
        decision = schedule(
            [pinned("g1", "b"), pinned("g2", "d")], nodes, demand("node.labels.zone==a")
        )
        assert decision.reasons == {
            "g1": "no suitable node (constraint node.labels.zone==a excluded 1 node)",
            "g2": "no suitable node (1 node not ready)",
        }

    def test_a_node_not_in_the_cluster(self) -> None:
        """Its node left (or never joined): the reason says so rather than counting nodes."""
        decision = schedule([pinned("g1", "gone")], infos(sized("a")))
        assert decision.reasons == {"g1": "no suitable node (its node is not in the cluster)"}
        empty = schedule([pinned("g1", "gone")], [])
        assert empty.reasons == {"g1": "no suitable node (its node is not in the cluster)"}

    def test_counts_for_the_tasks_after_it(self) -> None:
        """A pinned placement counts towards max-per-node and spread for later tasks."""
        nodes = infos(sized("a1", zone="a"), sized("b1", zone="b"), sized("b2", zone="b"))
        spread = {"svc1": Demand(spread=("zone",), max_per_node=1)}
        decision = schedule([pinned("g1", "a1"), *pending(1), pinned("g2", "a1")], nodes, spread)
        # Zone a already holds g1, so t1 goes to zone b; a1 is then full for g2.
        assert decision.placements == {"g1": "a1", "t1": "b1"}
        assert decision.reasons == {
            "g2": "no suitable node (max replicas per node reached on 1 node)"
        }


class TestBatches:
    def test_a_reason_reflects_placements_made_since_it_was_last_given(self) -> None:
        """A node failing on cpu for svc1 fails on memory once another service took the memory:
        a node is counted under the first filter it fails, as things stand at the task's turn."""
        nodes = infos(sized("a", cpus=1))
        hungry = Resources(nano_cpus=2 * 10**9, memory_bytes=GiB)
        first, second = (replace(t, reservations=hungry) for t in pending(2))
        other = replace(task("o1", service_id="svc2"), reservations=Resources(memory_bytes=4 * GiB))
        decision = schedule([first, other, second], nodes)
        assert decision.placements == {"o1": "a"}
        assert decision.reasons == {
            "t1": "no suitable node (insufficient cpu on 1 node)",
            "t2": "no suitable node (insufficient memory on 1 node)",
        }

    def test_tasks_of_a_service_need_not_come_together(self) -> None:
        """Interleaved services: each placement still counts for the next, whoever it was for."""
        batch = [
            t
            for pair in zip(pending(3, "svcA", "a"), pending(3, "svcB", "b"), strict=True)
            for t in pair
        ]
        decision = schedule(batch, infos(node("n1"), node("n2"), node("n3")))
        assert decision.placements == {
            "a1": "n1", "b1": "n2", "a2": "n3", "b2": "n1", "a3": "n2", "b3": "n3",
        }  # fmt: skip

    def test_same_service_with_other_reservations_shares_the_counts(self) -> None:
        """Tasks of one service with different reservations (mid-update) still spread as one."""
        small, big = Resources(memory_bytes=GiB), Resources(memory_bytes=2 * GiB)
        batch = [
            replace(t, reservations=r) for t, r in zip(pending(4), [small, big] * 2, strict=True)
        ]
        decision = schedule(batch, infos(sized("a"), sized("b")))
        assert Counter(decision.placements.values()) == {"a": 2, "b": 2}
