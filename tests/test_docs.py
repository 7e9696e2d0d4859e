"""The docs are tested: every setting and every command is documented, links resolve, and the
container files install exactly what the lock pins (there is no Docker engine to build with here).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from oauthwatch import config

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DOC = ROOT / "docs" / "configuration.md"


def _sections(text: str) -> dict[str, set[str]]:
    """``## `[name]` `` headings → the keys in the first column of the table under each."""
    out: dict[str, set[str]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^## `\[+([a-z.]+)\]+`", line)
        if m:
            current = m.group(1)
            out[current] = set()
        elif line.startswith("## "):
            current = None
        elif current and (k := re.match(r"^\| `([a-z_]+)` \|", line)):
            out[current].add(k.group(1))
    return out


def _models() -> dict[str, type[BaseModel]]:
    """Every settings table, by its TOML name, found by walking the Settings model."""
    found: dict[str, type[BaseModel]] = {}

    def walk(prefix: str, model: type[BaseModel]) -> None:
        for name, field in model.model_fields.items():
            ann = field.annotation
            inner = getattr(ann, "__args__", (ann,))
            for t in inner:
                if isinstance(t, type) and issubclass(t, BaseModel):
                    key = f"{prefix}.{name}" if prefix else name
                    found[key] = t
                    walk(key, t)

    walk("", config.Settings)
    return found


def test_every_setting_is_documented_and_nothing_else() -> None:
    docs = _sections(CONFIG_DOC.read_text())
    models = _models()
    assert set(models) == {
        "store",
        "store.retention",
        "collect",
        "detect",
        "notify",
        "notify.smtp",
        "hunt",
        "hunt.lists",
        "response",
        "orgs",
    }
    problems = []
    for section, model in models.items():
        documented = docs.get(section)
        if documented is None:
            problems.append(f"docs/configuration.md has no '## `[{section}]`' section")
            continue
        for key in sorted(set(model.model_fields) - documented):
            f = model.model_fields[key]
            default = "required" if f.is_required() else f"`{f.get_default(call_default_factory=True)}`"
            problems.append(
                f"[{section}] {key} is missing; add: | `{key}` | {default} | {f.description or '…'} |"
            )
        for key in sorted(documented - set(model.model_fields)):
            problems.append(f"[{section}] {key} is documented but is no setting any more")
    assert not problems, "\n".join(problems)


def _commands() -> list[str]:
    import typer

    from oauthwatch.cli.main import app

    def walk(group: typer.core.TyperGroup, prefix: str) -> list[str]:
        names = []
        for name, command in group.commands.items():
            if isinstance(command, typer.core.TyperGroup):
                names += walk(command, f"{prefix}{name} ")
            else:
                names.append(prefix + name)
        return names

    return walk(typer.main.get_command(app), "")


def test_every_cli_command_is_documented() -> None:
    text = CONFIG_DOC.read_text()
    commands = _commands()
    assert {"run", "digest", "demo", "health", "db upgrade"} <= set(commands)
    missing = [c for c in commands if f"`oauthwatch {c}`" not in text and f"`{c}`" not in text]
    assert not missing, f"commands missing from docs/configuration.md's Commands table: {missing}"


def test_the_readme_starts_with_the_two_commands_and_its_links_resolve() -> None:
    text = (ROOT / "README.md").read_text()
    first_code = re.search(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
    assert first_code is not None
    commands = [line.split("#")[0].strip() for line in first_code.group(1).splitlines()]
    assert commands[:2] == ["make demo", "make test"], "the two commands come first"
    for doc in ("docs/configuration.md", "docs/deploy.md", "docs/connect.md", "docs/detectors.md"):
        assert f"({doc})" in text, f"README links {doc}"
    broken = []
    for md in [ROOT / "README.md", ROOT / "docs" / "deploy.md", CONFIG_DOC]:
        for target in re.findall(r"\]\(([^)#\s]+)\)", md.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not (md.parent / target).exists():
                broken.append(f"{md.name}: {target}")
    assert not broken, broken
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert len(images) >= 2, "a tour with screenshots of the dashboard and the digest"
    for img in images:
        size = (ROOT / img).stat().st_size
        assert size < 400_000, f"{img} is {size} bytes: keep screenshots small"


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_dockerfile_is_pinned_slim_non_root_and_installs_only_the_lock() -> None:
    text = _dockerfile()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base is not None
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+|python@sha256:[0-9a-f]{64}", base.group(1)), (
        base.group(1)
    )
    assert all(line.split()[1].startswith("${PYTHON_IMAGE}") for line in re.findall(r"^FROM .*$", text, re.M))
    installs = re.findall(r"pip install ([^\n\\&]+)", text)
    assert [i.strip() for i in installs] == ["-r /src/requirements.lock", "--no-deps /src"], installs
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user
    assert user[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*CMD \[\"oauthwatch\", \"health\"\]", text, re.M)
    # Every package pyproject ships is copied into the build context and not ignored.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    ignore = (ROOT / ".dockerignore").read_text()
    for pkg in packages:
        assert re.search(rf"^COPY {pkg} /src/{pkg}$", text, re.M), f"Dockerfile copies {pkg}/"
        assert f"!{pkg}/" in ignore, f".dockerignore lets {pkg}/ through"
    for f in ("requirements.lock", "pyproject.toml", "README.md"):
        assert f"!{f}" in ignore


def _compose_services(text: str) -> dict[str, str]:
    """The services: block split per service (a careful check: PyYAML is not a dependency)."""
    assert "\t" not in text, "YAML forbids tabs"
    body = text.split("\nservices:\n", 1)[1].split("\nvolumes:\n", 1)[0]
    parts = re.split(r"^  ([a-z]+):\n", body, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_compose_runs_postgres_the_service_and_the_dashboard() -> None:
    """And an optional Prometheus (a compose profile) scraping the service's metrics port."""
    text = (ROOT / "compose.yaml").read_text()
    services = _compose_services(text)
    assert set(services) == {"db", "service", "dashboard", "prometheus"}
    assert re.search(r"image: postgres:\d+\.\d+", services["db"]), "PostgreSQL pinned to a minor version"
    assert "pg_isready" in services["db"]
    assert 'command: ["run", "--metrics-port", "9464"' in services["service"]
    assert "profiles: [metrics]" in services["prometheus"], "the Prometheus example is optional"
    assert 'targets: ["service:9464"]' in text
    assert '["CMD", "oauthwatch", "health"]' in services["service"]
    assert "stop_signal: SIGTERM" in services["service"]
    assert 'command: ["dashboard"' in services["dashboard"]
    assert '"127.0.0.1:8501:8501"' in services["dashboard"], "published on loopback only"
    assert "_stcore/health" in services["dashboard"]
    for name in ("service", "dashboard"):
        assert "<<: *oauthwatch" in services[name]
    anchor = text.split("x-oauthwatch: &oauthwatch\n", 1)[1].split("\nservices:", 1)[0]
    assert "OAUTHWATCH_STORE_URL: postgresql+psycopg://" in anchor
    assert "condition: service_healthy" in anchor
    assert "POSTGRES_PASSWORD:?" in text, "no default database password"


@pytest.mark.parametrize("doc", ["deploy.md", "configuration.md"])
def test_docs_name_no_machine_paths(doc: str) -> None:
    text = (ROOT / "docs" / doc).read_text()
    assert not re.search(r"(?<![\w.])/(?:work|tmp/ow)[/\w-]*", text)
