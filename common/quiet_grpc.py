"""gRPC's C core writes its own lines to stderr (`E1206 ... add_port.cc:83] Failed to add
port`), ahead of Shoal's one-line errors. It reads GRPC_VERBOSITY once, when it loads, so each
command's entry point sets it before importing anything that imports grpc."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

ENV = "GRPC_VERBOSITY"


def wants_debug(argv: Sequence[str]) -> bool:
    """Whether the command line asks for `--log-level debug`, read before argparse runs (argparse
    comes with the command's module, which already imports grpc)."""
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return any(a == "--log-level=debug" or (a, b) == ("--log-level", "debug") for a, b in pairs)


def launch(module: str) -> Any:
    """Quiet gRPC (a GRPC_VERBOSITY the user set is kept), then run module's main()."""
    if "grpc" in sys.modules:
        raise RuntimeError(f"grpc was loaded before {module}'s entry point could quiet it")
    if wants_debug(sys.argv[1:]):
        os.environ[ENV] = "DEBUG"
    else:
        os.environ.setdefault(ENV, "NONE")
    return importlib.import_module(module).main()
