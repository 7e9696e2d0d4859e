"""Every package the code imports is declared in pyproject.toml and pinned in requirements.lock.

A package that arrives only as another one's dependency (rich via typer, zeep via
simple-salesforce) works until that other package drops it; declaring it makes the need visible.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"oauthwatch", "collectors", "dashboard", "tests", "bench", "conftest", "factories", "simorg"}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports(*roots: str) -> set[str]:
    found: set[str] = set()
    for root in roots:
        for path in (ROOT / root).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return {
        m
        for m in found
        if m not in sys.stdlib_module_names and m not in FIRST_PARTY and not m.startswith("test_")
    }


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    known = md.packages_distributions()
    return {m: {d.lower().replace("_", "-") for d in known.get(m, [])} for m in modules}


def test_every_imported_package_is_declared_and_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    dev = runtime | {_name(r) for r in project["optional-dependencies"]["dev"]}
    pinned = {
        _name(line): line.split("==", 1)[1].strip()
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    problems = []
    for scope, roots, declared in (
        ("dependencies", ("oauthwatch", "collectors", "dashboard"), runtime),
        ("dev extras", ("tests", "bench"), dev),
    ):
        for module, dists in sorted(_distributions(_imports(*roots)).items()):
            if not dists:
                problems.append(f"{module}: imported but not installed")
            elif not dists & declared:
                problems.append(f"{module}: imported, but {sorted(dists)} is not in the project's {scope}")
            elif not dists & set(pinned):
                problems.append(f"{module}: {sorted(dists)} is not pinned in requirements.lock")
    assert not problems, "\n".join(problems)
    assert {"rich", "numpy", "zeep"} <= runtime
