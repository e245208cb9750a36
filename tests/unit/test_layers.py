"""The house keeps its shape: imports run one way, bottom to top, and no module imports
itself back through others (README, "What each part is").

    schemas  ←  projections  ←  streams  ←  hub

Every import counts, including those inside functions: a lazy import is still a
dependency. Read from the source with ``ast``, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("schemas", "projections", "streams", "hub")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in LAYERS:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (``from a import b`` counts ``a.b`` when that is
    a module, else ``a``)."""
    tree = ast.parse(path.read_text(), str(path))
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(p, m, set(mods)) for m, p in mods.items()}


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_imports_run_one_way() -> None:
    climbing = sorted(
        f"{m} imports {t}" for m, ts in _graph().items() for t in ts if _layer(t) > _layer(m)
    )
    assert climbing == []


def test_no_module_imports_itself_back() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append([*trail[trail.index(t) :], t] if t in trail else [m, t])
            elif t not in state:
                visit(t, [*trail, t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_the_checker_sees_a_climbing_import(tmp_path: Path) -> None:
    """The checker itself: a lower module importing a higher one is found."""
    src = tmp_path / "low.py"
    src.write_text("from hub.config import Settings\nimport projections.store\n")
    known = {"hub.config", "projections.store", "projections"}
    assert _imports(src, "schemas.low", known) == {"hub.config", "projections.store"}


def test_no_production_module_is_over_400_lines() -> None:
    big = {
        m: n for m, p in _modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert big == {}
