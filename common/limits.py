"""Bounds on what a client may store, so that no one request makes the manager, a node or an
engine do unbounded work, and checks that refuse what no Linux string can hold (NUL)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from common.errors import InvalidArgument

# Docker's for service, network and container names: they become DNS labels.
MAX_NAME = 63
# RFC 1123's for a whole host name.
MAX_HOSTNAME = 253
# An image reference: docker's name (255) with room for a tag and a digest.
MAX_IMAGE = 512
MAX_LABEL_KEY = 256
MAX_LABEL_VALUE = 4096
# The kernel's MAX_ARG_STRLEN less its NUL: longer arguments and env entries cannot be exec'd.
MAX_ARG = 128 * 1024 - 1
# PATH_MAX less its NUL.
MAX_PATH = 4095
MAX_CONSTRAINT = 1024
MAX_TEMPLATE = 1024
# User names, signal names, subnets, references: short words.
MAX_WORD = 256
# A service spec as protobuf: what one service may cost the store and every session it goes down.
MAX_SPEC_BYTES = 256 * 1024
# A secret's and a config's data: Swarm's limits (swarmkit's MaxSecretSize and MaxConfigSize),
# checked by the manager on every write and by the client before it reads more than that.
MAX_SECRET_BYTES = 500 * 1024
MAX_CONFIG_BYTES = 1000 * 1024


def max_data_bytes(config: bool) -> int:
    return MAX_CONFIG_BYTES if config else MAX_SECRET_BYTES


def check_text(field: str, value: str, limit: int) -> None:
    """InvalidArgument naming field when value is longer than limit or holds a NUL byte."""
    if len(value) > limit:
        raise InvalidArgument(f"{field} is {len(value)} characters long: the limit is {limit}")
    if "\0" in value:
        raise InvalidArgument(f"{field} holds a NUL byte")


def check_each(field: str, values: Iterable[str], limit: int) -> None:
    for value in values:
        check_text(field, value, limit)


def check_labels(field: str, labels: Mapping[str, str]) -> None:
    for key, value in labels.items():
        check_text(f"{field} key", key, MAX_LABEL_KEY)
        check_text(f"{field} {key!r}", value, MAX_LABEL_VALUE)
