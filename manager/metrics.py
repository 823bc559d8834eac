"""The manager's Prometheus metrics, in a registry of its own (several managers share a process in
tests). Label values are bounded: states, methods and codes, never an object's ID."""

from __future__ import annotations

from time import monotonic

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Store commits are fsyncs: from a fraction of a millisecond to a slow disk's second.
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_OBJECT_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)
# From a task's creation to its node: one pass is milliseconds, a task waiting for room minutes.
_PLACEMENT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0)
# How much later than the period an agent's message came: none is on time.
_LATENESS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class ManagerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.nodes = Gauge(
            "shoal_nodes", "Nodes by state and availability.", ["state", "availability"], registry=r
        )
        self.tasks = Gauge("shoal_tasks", "Tasks by observed state.", ["state"], registry=r)
        self.services = Gauge("shoal_services", "Services by mode.", ["mode"], registry=r)
        self.updates = Gauge(
            "shoal_service_updates",
            "Services by the state of their last rolling update (none: never updated).",
            ["state"],
            registry=r,
        )
        self.nodes_down = Counter("shoal_nodes_marked_down", "Times a node went down.", registry=r)
        self.scheduler_passes = Counter(
            "shoal_scheduler_passes", "Placement passes over pending tasks.", registry=r
        )
        self.placement_latency = Histogram(
            "shoal_scheduler_placement_latency_seconds",
            "From a task's creation to its placement on a node.",
            buckets=_PLACEMENT_BUCKETS,
            registry=r,
        )
        self.unplaceable = Gauge(
            "shoal_scheduler_unplaceable_tasks",
            "Pending tasks no node can take (the reason is in `service ps`).",
            registry=r,
        )
        self.commit_latency = Histogram(
            "shoal_store_commit_duration_seconds",
            "Time to write a store transaction to disk.",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )
        self.commit_objects = Histogram(
            "shoal_store_commit_objects",
            "Objects written per store transaction.",
            buckets=_OBJECT_BUCKETS,
            registry=r,
        )
        self.sessions = Gauge("shoal_dispatcher_sessions", "Agent sessions open.", registry=r)
        self.returning = Gauge(
            "shoal_dispatcher_nodes_returning",
            "Nodes that were up when this manager began leading, until its wait for them to"
            " reconnect ends; a silence of theirs counts only once this is 0.",
            registry=r,
        )
        self.heartbeat_lateness = Histogram(
            "shoal_dispatcher_heartbeat_lateness_seconds",
            "How long past the heartbeat period an agent's next message came.",
            buckets=_LATENESS_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "shoal_control_requests",
            "Control API requests by method and status code.",
            ["method", "code"],
            registry=r,
        )
        self.request_latency = Histogram(
            "shoal_control_request_duration_seconds",
            "Control API request latency by method.",
            ["method"],
            registry=r,
        )
        # The manager's server ties it to its election (always 1 for one manager on SQLite).
        self.leader = Gauge(
            "shoal_manager_leader", "1 while this manager is the leader.", registry=r
        )

    def committed(self, seconds: float, objects: int) -> None:
        self.commit_latency.observe(seconds)
        self.commit_objects.observe(objects)

    def agent_message(self, kind: str | None, previous: float, period: float) -> float:
        """An agent's message of this kind came; its previous one came at previous (monotonic)
        and it owes one every period. Returns when this one came."""
        at = monotonic()
        if kind == "heartbeat":
            self.heartbeat_lateness.observe(max(0.0, at - previous - period))
        return at
