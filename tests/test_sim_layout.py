"""The local org's package layering: no import cycles, each package imports only the layers below it.

``data`` ← ``soql`` / ``generate`` ← ``api`` ← ``oauth`` ← the top-level modules that assemble a
running org. The graph is read from the source (every ``import``, function-level ones included),
so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import oauthwatch.simulator

ROOT = Path(oauthwatch.simulator.__file__).parent
PREFIX = "oauthwatch.simulator"
# what each package may import from the others (top-level modules may import anything)
ALLOWED = {
    "data": set(),
    "soql": {"data"},
    "generate": {"data"},
    "api": {"data", "soql", "generate"},
    "oauth": {"data", "generate", "api"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join((PREFIX, *parts))] = path
    return out


def _type_only_nodes(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids.update(id(n) for n in ast.walk(node))
    return ids


def _edges(mods: dict[str, Path]) -> dict[str, set[tuple[str, bool]]]:
    """module → {(imported module, runtime?)} for imports inside the simulator."""
    edges: dict[str, set[tuple[str, bool]]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = _type_only_nodes(tree)
        found: set[tuple[str, bool]] = set()
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.append(sub if sub in mods else node.module)
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith(PREFIX)]
            found.update((t, id(node) not in type_only) for t in targets if t != name)
        edges[name] = found
    return edges


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 or (len(parts) == 3 and parts[2] in ALLOWED) else None


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_module_is_seen() -> None:
    mods = _modules()
    assert {f"{PREFIX}.{p}" for p in ALLOWED} <= set(mods)
    assert len(mods) > 40


def test_no_runtime_import_cycle() -> None:
    edges = _edges(_modules())
    runtime = {m: {t for t, rt in e if rt} for m, e in edges.items()}
    assert _cycle(runtime) is None, " → ".join(_cycle(runtime) or [])


def test_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_packages_import_only_the_layers_below() -> None:
    wrong = []
    for module, targets in _edges(_modules()).items():
        src = _package(module)
        if src is None:
            continue
        for target, _runtime in targets:
            dst = _package(target)
            if dst is None and target != PREFIX:
                wrong.append(f"{module} imports top-level {target}")
            elif dst is not None and dst != src and dst not in ALLOWED[src]:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_module_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
