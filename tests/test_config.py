"""Configuration: a wrong file gets a message naming the key, the problem and an example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oauthwatch.config import ConfigError, load_settings

GOOD = """
[store]
url = "sqlite:///data/ow.db"

[[orgs]]
name = "prod"
login_url = "https://acme.my.salesforce.com/"
client_id = "3MVGexample"
username = "oauthwatch@acme.com"
private_key_file = "keys/prod.key"

[[orgs]]
name = "sandbox"
login_url = "https://test.salesforce.com"
flow = "client_credentials"
client_id = "3MVGother"
client_secret_env = "SANDBOX_SECRET"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "oauthwatch.toml"
    p.write_text(text)
    return p


def test_good_file_loads_with_paths_resolved(tmp_path):
    s = load_settings(write(tmp_path, GOOD))
    prod = s.org("prod")
    assert prod.login_url == "https://acme.my.salesforce.com"
    assert prod.private_key_file == tmp_path / "keys" / "prod.key"
    assert s.store.url == f"sqlite:///{tmp_path / 'data' / 'ow.db'}"
    assert [o.name for o in s.selected_orgs()] == ["prod", "sandbox"]


def test_env_overrides_store_and_org_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("OAUTHWATCH_STORE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("OAUTHWATCH_ORG_PROD_API_VERSION", "v61.0")
    s = load_settings(write(tmp_path, GOOD))
    assert s.store.url == "postgresql+psycopg://u@h/db"
    assert s.org("prod").api_version == "61.0"


def test_secret_comes_from_env_and_never_prints(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_SECRET", "s3cr3t-value-123")
    org = load_settings(write(tmp_path, GOOD)).org("sandbox")
    secret = org.client_secret()
    assert secret is not None
    assert secret.get_secret_value() == "s3cr3t-value-123"
    assert "s3cr3t" not in repr(org) + str(secret)


def test_missing_secret_env_names_the_setting_not_its_value(tmp_path, monkeypatch):
    monkeypatch.delenv("SANDBOX_SECRET", raising=False)
    org = load_settings(write(tmp_path, GOOD)).org("sandbox")
    with pytest.raises(
        ConfigError, match="the environment variable named by client_secret_env is not set"
    ) as info:
        org.client_secret()
    assert "SANDBOX_SECRET" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("https://acme.my.salesforce.com/", "http://acme"),
            r"orgs\[prod\]\.login_url: must be an https:// URL",
        ),
        (
            GOOD.replace('flow = "client_credentials"', 'flow = "magic"'),
            r"orgs\[sandbox\]\.flow: Input should be",
        ),
        (GOOD.replace('username = "oauthwatch@acme.com"\n', ""), r"orgs\[prod\]: flow 'jwt' needs username"),
        (GOOD + "\n[collect]\nintervl_seconds = 5\n", r"collect\.intervl_seconds: is not a known key"),
        (GOOD.replace('name = "sandbox"', 'name = "prod"'), "org names must be unique"),
        ("[store\nurl=", "not valid TOML"),
    ],
)
def test_wrong_config_gets_actionable_message(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected) as err:
        load_settings(write(tmp_path, text))
    assert "A correct file looks like" in str(err.value)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_cli_prints_message_not_traceback(tmp_path):
    bad = write(tmp_path, GOOD.replace("https://acme.my.salesforce.com/", "ftp://x"))
    proc = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "config", "show", "--config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "login_url" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_show_masks_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_SECRET", "s3cr3t-value-123")
    proc = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "config", "show", "--config", str(write(tmp_path, GOOD))],
        capture_output=True,
        text=True,
        check=True,
    )
    shown = json.loads(proc.stdout)
    assert shown["orgs"][1]["client_secret_env"] == "********** (set)"  # names like a secret: never in clear
    assert "SANDBOX_SECRET" not in proc.stdout
    assert "s3cr3t" not in proc.stdout


def test_db_upgrade_command(tmp_path):
    cfg = write(tmp_path, '[store]\nurl = "sqlite:///s.db"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "db", "upgrade", "--config", str(cfg)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "-> 0001" in proc.stdout or "->" in proc.stdout
    assert (tmp_path / "s.db").exists()
