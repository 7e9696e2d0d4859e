"""An ``api_version`` older than the queries need is refused when the configuration is read.

Each source declares the lowest version its queries work with (and the field that needs it); the
configuration check takes the highest among the org's sources and ``check``'s own queries.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from collectors.sources.registry import SOURCES, min_api_version
from oauthwatch.config import ConfigError, load_settings


def write(tmp_path: Path, api_version: str, sources: list[str] | None = None) -> Path:
    (tmp_path / "k.pem").write_text("not read by the configuration check")
    extra = f"sources = {sources!r}\n" if sources is not None else ""
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n\n[[orgs]]\nname = "acme"\n'
        'login_url = "https://login.salesforce.com"\nflow = "jwt"\nclient_id = "x"\nusername = "u@example.com"\n'
        f'private_key_file = "{tmp_path / "k.pem"}"\napi_version = "{api_version}"\n{extra}'
    )
    return cfg


def test_every_source_declares_its_floor() -> None:
    for name, cls in SOURCES.items():
        version, why = cls.min_api_version
        assert version >= 20.0, name
        assert why, f"{name} does not say which object or field needs {version}"


def test_too_old_for_the_default_sources_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, "58.0"))
    msg = str(err.value)
    assert "api_version 58.0 is below 60.0" in msg
    assert "ExtlClntAppGlobalOauthSettings.certificate" in msg
    assert 'set api_version = "62.0"' in msg


def test_the_floor_follows_the_configured_sources(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"api_version 58\.0 is below 59\.0.*OptionsAppIssueJwtTokenEnabled"
    ):
        load_settings(write(tmp_path, "58.0", ["connected_apps"]))
    sources = ["login_history", "oauth_tokens"]
    assert min_api_version(sources)[0] == 45.0  # check's own permission query is the highest here
    assert load_settings(write(tmp_path, "45.0", sources)).orgs[0].api_version == "45.0"
    with pytest.raises(ConfigError, match=r"api_version 44\.0 is below 45\.0.*PermissionSetGroupId"):
        load_settings(write(tmp_path, "44.0", sources))


def test_check_refuses_to_run_on_a_too_old_version(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "check", "--config", str(write(tmp_path, "40.0"))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "api_version 40.0 is below 60.0" in proc.stderr
