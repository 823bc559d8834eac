"""Registry credentials at rest: sealed with the cluster's data key into the service they were
given with, and opened only to go down a session with an assignment that pulls with them."""

from __future__ import annotations

import json
from dataclasses import asdict

import structlog

from common.errors import InvalidArgument
from common.model import RegistryAuth, Service
from manager.data_key import DataKey
from manager.store import ReadView

log = structlog.get_logger("registry_auth")


def _bound_to(service_id: str) -> str:
    # Bytes copied onto another service fail to open instead of lending it these credentials.
    return f"service/{service_id}/registry-auth"


def seal(key: DataKey, service_id: str, auth: RegistryAuth) -> bytes:
    return key.seal(json.dumps(asdict(auth)).encode(), _bound_to(service_id))


def unseal(key: DataKey, service: Service) -> RegistryAuth | None:
    """The service's credentials; None when it has none, or when they do not open (logged,
    without a detail: the task then pulls without them and the registry says why)."""
    if not service.sealed_registry_auth:
        return None
    try:
        fields = json.loads(key.open(service.sealed_registry_auth, _bound_to(service.id)))
        return RegistryAuth(**fields)
    except (InvalidArgument, ValueError, TypeError):
        log.warning("registry credentials do not open", service_id=service.id)
        return None


class Lookup:
    """A service's registry credentials by its ID, opened from the store when asked."""

    def __init__(self, store: ReadView, key: DataKey) -> None:
        self._store = store
        self._key = key

    def __call__(self, service_id: str) -> RegistryAuth | None:
        service = self._store.get(Service, service_id)
        return None if service is None else unseal(self._key, service)
