"""The Docker Engine API's swarm subset (v1.41) on the manager, so the docker CLI, docker-py and
`docker stack deploy` drive Shoal unchanged. Handlers turn docker's JSON into the domain types
(shapes/) and call the Control servicer's own methods (backend.py): one set of rules for both
APIs. Served over the Control API's mutual TLS (server.py)."""

from __future__ import annotations

from manager.docker_api.backend import Backend
from manager.docker_api.server import DEFAULT_PORT, DockerApiServer

__all__ = ["DEFAULT_PORT", "Backend", "DockerApiServer"]
