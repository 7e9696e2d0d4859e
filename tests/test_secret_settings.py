"""A secret pasted where a setting only names it is never echoed or stored (issue: hardening, item 2).

``client_secret_env = "<the secret itself>"`` used to come back in the error ("environment variable
<secret> is not set"), and from there in the logs, ``collector_runs.error`` and the Collection page.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from oauthwatch.config import ConfigError, load_settings
from oauthwatch.secret_settings import mask_url
from oauthwatch.secrets import redact
from oauthwatch.store import schema

HEX_SECRET = "A3F9C2E1B7D4F6A8C0E2B4D6F8A1C3E5B7D9F2A4C6E8B0D1F3A5C7E9B2D4F6A8"
ODD_SECRET = "k9s+Vq/7xR2mPz==.tok3n-paste"
WEBHOOK = "https://hooks.slack.com/services/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42"


def _config(tmp_path: Path, secret_env: str, store: str | None = None) -> Path:
    p = tmp_path / "oauthwatch.toml"
    url = store or f"sqlite:///{tmp_path / 's.db'}"
    p.write_text(
        f'[store]\nurl = "{url}"\n\n'
        f'[notify]\nwebhook_url = "{WEBHOOK}"\n\n'
        '[[orgs]]\nname = "prod"\nlogin_url = "https://127.0.0.1:9"\nflow = "client_credentials"\n'
        f'client_id = "3MVGexample"\nclient_secret_env = "{secret_env}"\n'
    )
    return p


def test_a_pasted_secret_that_is_no_variable_name_is_refused_without_quoting_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_config(tmp_path, ODD_SECRET))
    msg = str(info.value)
    assert "orgs[prod].client_secret_env: is not an environment variable name" in msg
    assert ODD_SECRET not in msg
    assert "k9s" not in msg


def test_a_pasted_secret_shaped_like_a_name_never_shows(
    tmp_path: Path, store, store_url: str, caplog
) -> None:
    cfg = _config(tmp_path, HEX_SECRET, store_url)
    settings = load_settings(cfg)
    with pytest.raises(ConfigError) as info:
        settings.org("prod").client_secret()
    assert HEX_SECRET not in str(info.value)
    assert "client_secret_env is not set" in str(info.value)
    assert redact(f"boom {HEX_SECRET} boom") == "boom ********** boom"  # registered at load

    from collectors.run.runner import collect_once

    caplog.set_level(logging.DEBUG)
    results = collect_once(settings, engine=store)
    assert results
    assert all(r.outcome == "failed" for r in results)
    with store.connect() as conn:
        errors = [e or "" for e in conn.execute(select(schema.collector_runs.c.error)).scalars()]
    assert errors
    assert all("client_secret_env" in e for e in errors), errors
    assert not any(HEX_SECRET in e for e in errors)
    assert HEX_SECRET not in caplog.text


def test_config_show_masks_every_secret_bearing_value(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "SF_CLIENT_SECRET")
    out = subprocess.run(
        [sys.executable, "-m", "oauthwatch", "config", "show", "--config", str(cfg)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    shown = json.loads(out.stdout)
    assert shown["notify"]["webhook_url"] == "https://hooks.slack.com/**********"
    assert shown["orgs"][0]["client_secret_env"] == "********** (set)"
    assert "xoxbSuperSecretHookToken42" not in out.stdout
    assert "SF_CLIENT_SECRET" not in out.stdout


def test_mask_url_keeps_only_scheme_and_host() -> None:
    assert mask_url(WEBHOOK) == "https://hooks.slack.com/**********"
    assert mask_url("https://example.com") == "https://example.com"
    assert mask_url("http://127.0.0.1:8080/hook?token=abc") == "http://127.0.0.1:8080/**********"
    assert mask_url("not a url") == "**********"
