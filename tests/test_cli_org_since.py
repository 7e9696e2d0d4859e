"""``--org`` and ``--since`` are checked before they reach the store or Salesforce (issue:
hardening, items 8 and 9). ``--org '<img src=x onerror=alert(7)>'`` used to become an org in the
store; ``--since 0001-01-01`` ran hundreds of thousands of coverage queries and ``--since
9999-12-31`` logged an OverflowError and exited 0."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select

from oauthwatch.cli_checks import SINCE_LIMIT, check_org, check_org_name, parse_since
from oauthwatch.config import ConfigError, load_settings
from oauthwatch.store import schema
from tests.import_files import ui_file, write

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
EVIL = "<img src=x onerror=alert(7)>"
ORG = (
    '[[orgs]]\nname = "prod"\nlogin_url = "https://127.0.0.1:9"\nflow = "client_credentials"\n'
    'client_id = "x"\nclient_secret_env = "OW_TEST_UNSET_SECRET"\n'
)


def _config(tmp_path: Path, store_url: str) -> Path:
    return write(tmp_path / "oauthwatch.toml", f'[store]\nurl = "{store_url}"\n\n{ORG}')


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oauthwatch", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


def said(out: subprocess.CompletedProcess[str]) -> str:
    """stderr as one line (click draws long usage errors in a wrapped box)."""
    return " ".join(out.stderr.replace("│", " ").split())


def _orgs(store_url: str) -> list[str]:
    eng = create_engine(store_url)
    try:
        if not inspect(eng).has_table("orgs"):
            return []
        with eng.connect() as conn:
            return list(conn.execute(select(schema.orgs.c.name)).scalars())
    finally:
        eng.dispose()


@pytest.mark.parametrize("org", [EVIL, "", "-prod", "a" * 81, "pr od", "prod\n", "x;DROP TABLE orgs"])
def test_org_names_follow_the_configuration_pattern(org: str) -> None:
    with pytest.raises(ConfigError, match="is not an org name"):
        check_org_name(org)


def test_import_refuses_an_org_name_of_the_wrong_shape(tmp_path: Path, store_url: str) -> None:
    cfg = _config(tmp_path, store_url)
    f = write(tmp_path / "ui.csv", ui_file(3))
    out = _cli(tmp_path, "import-csv", str(f), "--org", EVIL, "-c", str(cfg), "--create-org")
    assert out.returncode == 2, out.stdout
    assert "is not an org name" in said(out)
    assert "Traceback" not in out.stderr
    assert _orgs(store_url) == []


def test_import_into_an_unconfigured_org_needs_the_flag(tmp_path: Path, store_url: str) -> None:
    cfg = _config(tmp_path, store_url)
    f = write(tmp_path / "ui.csv", ui_file(3))
    out = _cli(tmp_path, "import-csv", str(f), "--org", "prd", "-c", str(cfg))
    assert out.returncode == 2
    assert "org 'prd' is not in the configuration (configured: prod); did you mean 'prod'?" in said(out)
    assert _orgs(store_url) == []
    ok = _cli(tmp_path, "import-csv", str(f), "--org", "prd", "-c", str(cfg), "--create-org")
    assert ok.returncode == 0, ok.stderr
    assert _orgs(store_url) == ["prd"]


def test_other_verbs_check_the_org_shape(tmp_path: Path) -> None:
    cfg = _config(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    for verb in (["status"], ["detect"], ["collect", "--once"]):
        out = _cli(tmp_path, *verb, "--org", EVIL, "-c", str(cfg))
        assert out.returncode == 2, (verb, out.stderr)
        assert "is not an org name" in said(out)
        assert "Traceback" not in out.stderr


def test_check_org_units() -> None:
    settings = load_settings(None)
    with pytest.raises(ConfigError, match="not in the configuration"):
        check_org(settings, "prod")
    assert check_org(settings, "prod", create=True) == "prod"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0001-01-01", "outside what Salesforce can hold"),
        ("9999-12-31", "outside what Salesforce can hold"),
        ("2027-01-01", "is in the future"),
        ("2025-01-01", f"more than {SINCE_LIMIT.days} days ago"),
        ("yesterday", "use a date (2026-11-01)"),
    ],
)
def test_since_is_bounded(value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        parse_since(value, NOW)


def test_since_within_bounds() -> None:
    assert parse_since("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T08:30:00Z", NOW) == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
def test_collect_since_out_of_bounds_is_exit_2_before_any_work(
    tmp_path: Path, store_url: str, value: str
) -> None:
    cfg = _config(tmp_path, store_url)
    out = _cli(tmp_path, "collect", "--since", value, "-c", str(cfg))
    assert out.returncode == 2, out.stderr
    assert "outside what Salesforce can hold" in said(out)
    assert "Traceback" not in out.stderr
    assert "OverflowError" not in out.stderr
