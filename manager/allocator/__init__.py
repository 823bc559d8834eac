"""Cluster resources a task needs before and at placement: published ports, virtual IPs, and
each node's slice of the networks its tasks join."""
