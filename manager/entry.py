"""The `manager` console script: gRPC quieted before the command loads (common/quiet_grpc.py)."""

from __future__ import annotations

from typing import Any

from common.quiet_grpc import launch


def main() -> Any:
    return launch("manager.main")
