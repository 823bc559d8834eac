"""This node's part of the cluster networks: engine bridge networks joined by VXLAN, the virtual
IPs' NAT rules and the isolation between networks."""
