"""The agent's Prometheus metrics, in a registry of its own (several agents share a process in
tests, and the manager's own node shares the manager's). Labels are operations and states, never
a task's or container's ID."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# Engine calls: an inspect is milliseconds, a create-and-start a fraction of a second, a pull more.
_ENGINE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Writing rules: an iptables-restore or a few `ip` commands.
_SYNC_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.task_transitions = Counter(
            "shoal_agent_task_state_transitions",
            "Task states this agent reported, by the state reached.",
            ["state"],
            registry=r,
        )
        self.engine_latency = Histogram(
            "shoal_agent_engine_request_duration_seconds",
            "Docker engine API calls by operation.",
            ["operation"],
            buckets=_ENGINE_BUCKETS,
            registry=r,
        )
        self.engine_errors = Counter(
            "shoal_agent_engine_request_errors",
            "Docker engine API calls that failed, by operation.",
            ["operation"],
            registry=r,
        )
        self.container_starts = Counter(
            "shoal_agent_container_starts", "Containers created and started.", registry=r
        )
        self.container_start_failures = Counter(
            "shoal_agent_container_start_failures",
            "Containers the engine failed to create or start.",
            registry=r,
        )
        self.reconnects = Counter(
            "shoal_agent_session_reconnects",
            "Sessions with the manager opened again after one was lost.",
            registry=r,
        )
        self.session_failures = Counter(
            "shoal_agent_session_failures",
            "Tries to hold a session with the manager that failed (unreachable, refused).",
            registry=r,
        )
        self.sync_latency = Histogram(
            "shoal_agent_rules_sync_duration_seconds",
            "Time to bring the host's rules in line with the manager's view.",
            ["rules"],
            buckets=_SYNC_BUCKETS,
            registry=r,
        )
        self.sync_failures = Counter(
            "shoal_agent_rules_sync_failures",
            "Rule syncs that failed (and will be retried), by kind of rules.",
            ["rules"],
            registry=r,
        )
        self.dns_queries = Counter(
            "shoal_agent_dns_queries",
            "Name queries from containers, by outcome (answered here, or forwarded).",
            ["outcome"],
            registry=r,
        )
