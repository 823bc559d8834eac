"""The layers stay apart: nothing in manager/ imports agent/ but the one module that composes
the manager with its own node, and common/ imports neither (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSITION = ROOT / "manager" / "local_node.py"


def imported(path: Path) -> set[str]:
    """The top-level packages path imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules("manager"), ids=lambda p: str(p.relative_to(ROOT)))
def test_manager_reaches_the_agent_only_through_its_composition(path: Path) -> None:
    if path != COMPOSITION:
        assert "agent" not in imported(path)


@pytest.mark.parametrize(
    "path",
    [p for p in modules("common") if "api" not in p.relative_to(ROOT).parts],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_common_depends_on_no_role(path: Path) -> None:
    assert not imported(path) & {"agent", "manager", "cli"}


def test_the_composition_is_there() -> None:
    assert "agent" in imported(COMPOSITION)
