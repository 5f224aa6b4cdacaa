"""The package's folders are its architecture: imports point one way, the top level stays small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scripts" / "playbook"
GROUND = {"errors", "ports", "settings", "config", "schemas", "patterns", "sanitize", "_process", "runsummary"}
STAGES = ("cli", "demo", "intake", "planning", "delivery", "topology", "checks", "adapters")
# stage -> stages it may import (besides itself and the ground modules)
MAY_IMPORT: dict[str, set[str]] = {
    "cli": {"demo", "intake", "planning", "delivery", "topology", "checks", "adapters"},
    "demo": {"intake", "planning", "delivery", "topology", "checks", "adapters"},
    "intake": {"planning", "delivery", "topology", "checks", "adapters"},
    "delivery": {"planning", "topology", "checks", "adapters"},
    "planning": {"topology", "checks", "adapters"},
    "topology": {"checks", "adapters"},
    "checks": set(),
    "adapters": set(),
    "ground": set(),
}


def _owner(module: str) -> str:
    if module == "playbook.__main__":  # `python -m playbook` is the CLI's entry point
        return "cli"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in STAGES:
        return parts[1]
    return "ground"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("playbook"):
            if node.module == "playbook":
                found += [f"playbook.{alias.name}" for alias in node.names]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("playbook")]
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        out.append((".".join(rel.parts).removesuffix(".__init__"), path))
    return out


def test_top_level_holds_only_the_ground() -> None:
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top
    assert set(top) - {"__init__", "__main__"} <= GROUND
    for stage in STAGES:
        if stage == "topology" and not (PACKAGE / stage).exists():
            continue
        init = PACKAGE / stage / "__init__.py"
        assert init.is_file(), stage
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), f"{stage} says what it owns"


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_imports_point_one_way(module: str, path: Path) -> None:
    owner = _owner(module)
    allowed = MAY_IMPORT[owner] | {owner, "ground"}
    for imported in _imports(path):
        if imported in ("playbook", "playbook.__version__"):
            continue
        target = _owner(imported)
        assert target in allowed, f"{module} ({owner}) imports {imported} ({target})"


def test_ground_imports_no_stage() -> None:
    for module, path in _modules():
        if _owner(module) == "ground":
            assert all(_owner(i) == "ground" for i in _imports(path)), module
