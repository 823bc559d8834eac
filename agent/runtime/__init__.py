"""How the agent reaches a container engine: one protocol, a docker-py adapter and a fake."""
