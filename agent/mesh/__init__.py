"""The routing mesh on one node: the manager's ingress view as netfilter NAT rules."""
