"""Labels as the command line gives them: `KEY=VALUE`, or `KEY` alone for an empty value."""

from __future__ import annotations

import argparse


def parse(text: str) -> tuple[str, str]:
    """An argparse type: docker's `--label` and `--label-add` values."""
    key, _, value = text.partition("=")
    if not key:
        raise argparse.ArgumentTypeError(f"invalid label {text!r}: expected KEY[=VALUE]")
    return key, value
