"""The repository's shape: test modules stand alone (shared code lives in helper modules), and no
product module passes 400 lines.

A test module that imports another one runs that module's tests' imports and fixtures as a side
effect and couples two test files; what they share belongs in ``conftest.py``, ``factories.py``,
``simorg.py`` or a ``*_helpers.py`` module.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_test_module_imports_another_test_module():
    offenders = []
    for path in sorted(TESTS.glob("*.py")):
        for module in _imported_modules(path):
            last = module.split(".")[-1]
            if last.startswith("test_") and (module.startswith("tests.") or "." not in module):
                offenders.append(f"{path.name} imports {module}")
    assert not offenders, "move what they share into a helper module:\n" + "\n".join(offenders)


def test_the_check_sees_an_import_of_a_test_module(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text("from tests.test_digest import seed\nimport test_mailer\nfrom tests import factories\n")
    assert _imported_modules(sample) == {"tests.test_digest", "test_mailer", "tests"}


ROOT = TESTS.parent
PRODUCT = ("oauthwatch", "collectors", "dashboard")
MAX_LINES = 400


def test_no_product_module_is_over_400_lines():
    """Small single-purpose modules (CONTRIBUTING.md, "Style"); generated migrations are exempt."""
    too_long = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.relative_to(ROOT).parts:
                continue
            lines = len(path.read_text().splitlines())
            if lines > MAX_LINES:
                too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not too_long, f"split these modules (at most {MAX_LINES} lines each):\n" + "\n".join(too_long)
