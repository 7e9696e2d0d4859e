"""The product's import graph: no cycle between modules, and the package rules hold.

The graph is read from the source (the AST), not by importing anything. Two views:

- **module-level imports** (outside functions, outside ``if TYPE_CHECKING:``) are what Python runs
  when a module is loaded; a cycle among them makes the import order matter and breaks sooner or
  later with a half-initialised module. There must be none.
- **every import** (function-level ones included, type-only ones excluded) is what a package
  depends on; a lazy import cannot hide a dependency the rules below forbid.

The rules, and why:

- the foundation (``oauthwatch.errors``, ``rules``, ``secrets``, ``secret_settings``,
  ``time_bounds``) imports nothing of the product outside itself, so every package can use it;
- ``oauthwatch.store`` imports only the foundation: the store is below everything that reads or
  writes it;
- the local org (``oauthwatch.simulator``) and the collectors meet only on the wire: neither imports
  the other (the local org imports only ``oauthwatch.errors``);
- ``collectors`` read the orgs and write the store: they import only the foundation, the store,
  the configuration and the command-line value checks they share with the CLI (``cli_checks``);
- detection never imports notification: the lifecycle writes the outbox that notify drains;
- the dashboard reads the store and never calls Salesforce: it imports neither ``collectors`` nor
  the local org;
- ``oauthwatch.cli`` is the top: only ``python -m oauthwatch`` imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("oauthwatch", "collectors", "dashboard")


def _modules() -> dict[str, Path]:
    out = {}
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:  # Alembic's scripts, loaded by file path, not imported
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(name: str, path: Path, known: dict[str, Path] | set[str] = MODULES) -> list[tuple[str, bool]]:
    """(imported product module, at module level?) for every import in the file.

    ``from package import name`` counts as importing the submodule when ``name`` is one (``known``).
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def target(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        return ".".join([*base, *([node.module] if node.module else [])])

    def visit(nodes: list[ast.stmt] | list[ast.AST], module_level: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, module_level)
                continue
            if isinstance(node, ast.Import):
                found.extend((a.name, module_level) for a in node.names if a.name.split(".")[0] in PACKAGES)
            elif isinstance(node, ast.ImportFrom):
                base = target(node)
                if base.split(".")[0] in PACKAGES:
                    for alias in node.names:
                        sub = f"{base}.{alias.name}"
                        found.append((sub if sub in known else base, module_level))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(list(ast.iter_child_nodes(node)), False)
            else:
                visit(list(ast.iter_child_nodes(node)), module_level)

    visit(ast.parse(path.read_text(encoding="utf-8")).body, True)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_relative_lazy_and_type_only_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "oauthwatch" / "demo_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    source = pkg / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from oauthwatch.store import schema\n"
        "if TYPE_CHECKING:\n    from collectors import runner\n"
        "def later():\n    import dashboard.app\n"
    )
    found = _imports(
        "oauthwatch.demo_pkg.mod", source, {"oauthwatch.demo_pkg.sibling", "oauthwatch.store.schema"}
    )
    assert ("oauthwatch.demo_pkg.sibling", True) in found
    assert ("oauthwatch.store.schema", True) in found
    assert ("dashboard.app", False) in found
    assert not any(m.startswith("collectors") for m, _ in found)


def test_no_import_cycle_among_module_level_imports() -> None:
    edges = {
        name: {m for m, top in imports if top and m in MODULES and m != name}
        for name, imports in GRAPH.items()
    }
    cycles = _cycles(edges)
    assert not cycles, "import cycles (module level): " + "; ".join(" <-> ".join(c) for c in cycles)


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "oauthwatch" and len(parts) > 1 else parts[0]


# The bottom layer: helpers that import nothing of the product above them, so anything may use them.
FOUNDATION = {
    "oauthwatch.errors",
    "oauthwatch.rules",
    "oauthwatch.secret_settings",
    "oauthwatch.secrets",
    "oauthwatch.time_bounds",
}
# package -> the only other product packages it may import
ONLY: dict[str, set[str]] = {
    **{name: FOUNDATION for name in FOUNDATION},
    "oauthwatch.store": FOUNDATION,
    "oauthwatch.simulator": {"oauthwatch.errors"},
    # cli_checks: the --since bounds, which collect_once applies too
    "collectors": FOUNDATION | {"oauthwatch.store", "oauthwatch.config", "oauthwatch.cli_checks"},
}
# package -> packages it must never import (anything else is allowed)
FORBIDDEN: dict[str, set[str]] = {
    "dashboard": {"collectors", "oauthwatch.simulator"},
    "oauthwatch.detect": {"oauthwatch.notify"},  # alerts reach notify through the outbox table
}


# (importing module, imported package) pairs that break a rule knowingly, each with its reason.
# None today: the dashboard's revoke button reaches Salesforce through oauthwatch.response.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _violations(graph: dict[str, list[tuple[str, bool]]]) -> list[str]:
    out = set()
    for name, imports in graph.items():
        src = _package(name)
        for module, _ in imports:
            dst = _package(module)
            if dst == src or (name, dst) in EXCEPTIONS:
                continue
            if dst == "oauthwatch.cli" and name != "oauthwatch.__main__":
                out.add(f"{name} imports {module}: only `python -m oauthwatch` loads the CLI")
            if src in ONLY and dst not in ONLY[src]:
                allowed = ", ".join(sorted(ONLY[src])) or "no other product package"
                out.add(f"{name} imports {module}: {src} may import only {allowed}")
            if dst in FORBIDDEN.get(src, ()):
                out.add(f"{name} imports {module}: {src} never imports {dst}")
    return sorted(out)


def test_the_rules_catch_a_forbidden_import() -> None:
    graph = {
        "collectors.run.runner": [("oauthwatch.simulator.server", False)],
        "dashboard.data": [("collectors.api.client", True)],
        "oauthwatch.detect.base": [("oauthwatch.cli.main", False)],
        "oauthwatch.store.schema": [("oauthwatch.rules.times", True)],
    }
    assert _violations(graph) == [
        "collectors.run.runner imports oauthwatch.simulator.server: collectors may import only "
        + ", ".join(sorted(ONLY["collectors"])),
        "dashboard.data imports collectors.api.client: dashboard never imports collectors",
        "oauthwatch.detect.base imports oauthwatch.cli.main: only `python -m oauthwatch` loads the CLI",
    ]


def test_package_import_rules() -> None:
    problems = _violations(GRAPH)
    assert not problems, "\n".join(problems)
