"""The `--no-routing-mesh` flag `manager serve` and `agent` share."""

from __future__ import annotations

import argparse
import os

# Several nodes in one network namespace (tests, `make demo`) would fight over its chains:
# setting this to 0 turns the mesh off for every daemon started with it in its environment.
ENV = "SHOAL_ROUTING_MESH"


def add(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-routing-mesh",
        action="store_true",
        default=os.environ.get(ENV, "1") == "0",
        help="leave this host's netfilter alone: published ingress ports do not answer here"
        f" (default when ${ENV}=0; for nodes that share a network namespace)",
    )
