"""The manager daemon: cluster state, orchestration, scheduling and the agents' sessions."""
