"""The one error hierarchy: domain code raises these; only the gRPC edges map them to codes."""

from __future__ import annotations


class ShoalError(Exception):
    """Root of every error Shoal raises on purpose. The message is one line, fit for a user."""


class NotFound(ShoalError):
    pass


class InvalidArgument(ShoalError):
    pass


class Conflict(ShoalError):
    """The object changed since it was read, or the request clashes with one that exists."""


class StaleVersion(Conflict):
    """A write that named a version of the object other than the stored one: someone changed it
    since the caller read it (Docker's "update out of sequence")."""


class Unauthenticated(ShoalError):
    pass


class PermissionDenied(ShoalError):
    pass


class NodeRemoved(PermissionDenied):
    """A valid node certificate whose node is no longer in the cluster: it was removed, and
    must join again. The one answer on which an agent removes what it has on its host."""


class FailedPrecondition(ShoalError):
    """The system is not in a state the request can be served in, e.g. versions that differ
    too much; retrying as it is will fail again."""


class NodePromoted(FailedPrecondition):
    """The node is a manager now, and its agent holds a worker's certificate: the host goes on
    as a manager process."""


class Unavailable(ShoalError):
    """A peer (manager, engine) did not answer; retrying later may succeed."""


class ResourceExhausted(ShoalError):
    """A limit was reached (too many calls from one peer, or at once); retry later."""
