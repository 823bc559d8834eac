"""Docker's rule for the names of services and networks: they become DNS labels and container
name prefixes."""

from __future__ import annotations

import re

from common.errors import InvalidArgument

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")


def check_name(kind: str, name: str) -> None:
    """InvalidArgument unless name is a valid name for a kind ("service", "network")."""
    if not _NAME.match(name):
        raise InvalidArgument(
            f"invalid {kind} name {name!r}: use 1-63 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )
