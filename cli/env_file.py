"""`--env-file`: docker's format, read by the client. KEY=VALUE lines (the value verbatim),
`#` comments and blank lines skipped, and a bare KEY taking its value from the client's own
environment (left out when unset there)."""

from __future__ import annotations

import argparse
import os

_SPACE = " \t"


def read(path: str) -> list[str]:
    """An argparse type: the file's entries, in order."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise argparse.ArgumentTypeError(f"{path} is not valid UTF-8") from None
    entries = []
    for number, raw in enumerate(lines, start=1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, has_value, value = line.partition("=")
        if not key:
            raise argparse.ArgumentTypeError(f"{path}:{number}: no variable name")
        if any(c in key for c in _SPACE):
            raise argparse.ArgumentTypeError(f"{path}:{number}: variable {key!r} has whitespace")
        if has_value:
            entries.append(f"{key}={value}")
        elif key in os.environ:
            entries.append(f"{key}={os.environ[key]}")
    return entries
