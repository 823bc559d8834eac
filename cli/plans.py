"""`--dry-run` output: where each task would go, or why it could not, like `nomad job plan`."""

from __future__ import annotations

from cli.answers import PlannedTask
from common.model import ServiceSpec

PLAN_INCOMPLETE = 2
"""Exit code of --dry-run when some task would not be placed."""


def show(spec: ServiceSpec, planned: list[PlannedTask]) -> int:
    """Print the plan; exit code 0 when every task would be placed, 2 when some would not."""
    for task in planned:
        where = task.reason or f"would run on {task.node}"
        name = f"{spec.name}.{task.slot}" if task.slot else f"{spec.name} on {task.node}"
        print(f"{name}: {where}")
    unplaced = sum(1 for t in planned if t.reason)
    print(f"{len(planned) - unplaced} of {len(planned)} tasks would be placed; nothing was changed")
    return PLAN_INCOMPLETE if unplaced else 0
