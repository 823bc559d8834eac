"""How the fake Control finds an object by the ref a client gives, as the manager does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import grpc

from common import model as m

Named = TypeVar("Named", m.Service, m.Node)


def resolved(
    what: str,
    ref: str,
    objects: Sequence[Named],
    name_of: Callable[[Named], str],
    unique_name: bool,
    context: grpc.ServicerContext,
) -> Named:
    """As the manager resolves: full ID, then name (hostnames may repeat, so unique_name makes
    two of one name ambiguous; service names are unique), then an unambiguous ID prefix."""
    if not ref:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"no {what} given")
    for candidate in objects:
        if candidate.id == ref:
            return candidate
    named = [o for o in objects if name_of(o) == ref]
    if named and not unique_name:
        return named[0]
    found = named or [o for o in objects if o.id.startswith(ref)]
    if not found:
        context.abort(grpc.StatusCode.NOT_FOUND, f"no such {what}: {ref}")
    if len(found) > 1:
        context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, f"{what} {ref} is ambiguous ({len(found)} matches)"
        )
    return found[0]
