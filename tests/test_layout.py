"""The package's rooms and the one direction of their imports (``docs/architecture.md``).

Every ``import`` of a tracekit module is checked, the lazy ones inside functions too:
a lazy import hides a dependency from the import-time checks but not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tracekit"

NEUTRAL = {"errors", "exit_codes", "_version", "yamlfile", "fileio", "extras"}
"""Small top-level modules every room may import; they import no room."""

ALLOWED = {
    "trace": {"store"},
    "store": set(),
    "stats": set(),
    "analysis": {"store", "stats"},
    "decisions": {"analysis", "stats", "store"},
    "present": {"analysis", "decisions", "stats", "store"},
    "sim": {"trace", "store"},
    "spark": {"analysis", "decisions", "stats", "store"},
}
"""The rooms each room may import (``cli``, ``tracekit/__init__.py`` and ``__main__``
may import any)."""

CONTENT_MODEL = (
    "tracekit.present.render.sections",
    "tracekit.present.render.sketch",
    "tracekit.present.report",
)
"""The section model, the sparkline and the Report protocol: standard-library-only
leaves at import that the result objects of ``analysis``, ``decisions`` and ``sim``
describe themselves with (their renderings call ``present``'s renderers). The one
edge against the flow."""


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "tracekit":
                found.extend(f"tracekit.{alias.name}" for alias in node.names)
            elif node.module.startswith("tracekit."):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.startswith("tracekit."))
    return found


def test_imports_point_one_way() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        room = _room(module)
        for target in _imports(path):
            target_room = _room(target)
            if room in ("cli", "", "__main__") or target_room == room:
                continue
            if room in NEUTRAL:
                if target_room not in NEUTRAL:
                    wrong.append(f"{module} imports {target}")
                continue
            if target_room in NEUTRAL or target_room in ALLOWED.get(room, set()):
                continue
            if room in ("analysis", "decisions", "sim") and target.startswith(CONTENT_MODEL):
                continue
            wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_every_module_is_in_a_room() -> None:
    top_level = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert top_level <= NEUTRAL
    rooms = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert rooms == {*ALLOWED, "cli"}
