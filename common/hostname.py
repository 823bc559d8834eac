"""Node host names as RFC 1123 has them: dotted labels of letters, digits and hyphens."""

from __future__ import annotations

import re

MAX_NAME = 253
MAX_LABEL = 63
# Letters and digits, hyphens inside; the length of each label is checked apart.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.IGNORECASE)


def hostname_problem(name: str) -> str | None:
    """Why name is not a valid host name, or None when it is."""
    if not name:
        return "a host name is required"
    if len(name) > MAX_NAME:
        return f"a host name has at most {MAX_NAME} characters"
    for label in name.split("."):
        if not label or len(label) > MAX_LABEL:
            return f"each dot-separated part of a host name has 1 to {MAX_LABEL} characters"
        if not _LABEL.fullmatch(label):
            return (
                "a host name holds letters, digits and hyphens"
                " (not at the start or end of a part) between dots"
            )
    return None
