"""Cluster networks on the manager's side: address plans, node slices, what each node is sent."""
