"""The allowlist API and its CLI verbs: add (replace), list, remove, validation, expiry, NULL org."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from oauthwatch.detect.allowlist import (
    AllowlistError,
    add_entry,
    approved,
    list_entries,
    parse_expiry,
    remove_entry,
)


def test_add_replace_list_remove(store) -> None:
    a = add_entry(store, "Data Loader", owner="ops@example.com", ip_ranges=["192.0.2.7/24"], countries=["us"])
    b = add_entry(store, "Data Loader", org="prod", integration_users=["etl@example.com"])
    assert a != b
    again = add_entry(
        store, "Data Loader", owner="new-owner@example.com"
    )  # every-org entry replaced, not duplicated
    assert again == a
    entries = list_entries(store)
    assert [(e.org, e.owner) for e in entries] == [(None, "new-owner@example.com"), ("prod", None)]
    assert list_entries(store, org="prod")[1].integration_users == ("etl@example.com",)
    assert list_entries(store, org="dev")[0].org is None  # the all-org entry applies to every org
    assert remove_entry(store, a) == 1
    assert remove_entry(store, "Data Loader", org="prod") == 1
    assert list_entries(store) == []
    assert remove_entry(store, 12345) == 0


def test_ranges_and_countries_are_normalised_and_validated(sqlite_store) -> None:
    add_entry(sqlite_store, "Billing Sync", ip_ranges=["192.0.2.7/24", "2001:db8::1/48"], countries=[" de "])
    [e] = list_entries(sqlite_store)
    assert e.ip_ranges == ("192.0.2.0/24", "2001:db8::/48")
    assert e.countries == ("DE",)
    with pytest.raises(AllowlistError, match="CIDR"):
        add_entry(sqlite_store, "X", ip_ranges=["192.0.2.999/24"])
    with pytest.raises(AllowlistError, match="two-letter"):
        add_entry(sqlite_store, "X", countries=["Germany"])
    with pytest.raises(AllowlistError, match="empty"):
        add_entry(sqlite_store, "  ")


def test_expiry(sqlite_store) -> None:
    now = datetime.now(UTC)
    add_entry(sqlite_store, "Old Tool", expires_at=now - timedelta(days=1))
    add_entry(sqlite_store, "New Tool", expires_at=now + timedelta(days=1))
    assert [e.app_name for e in list_entries(sqlite_store, include_expired=False)] == ["New Tool"]
    entries = list_entries(sqlite_store)
    assert approved(entries, "new tool", now) is not None
    assert approved(entries, "Old Tool", now) is None
    assert parse_expiry("2026-12-31") == datetime(2026, 12, 31, tzinfo=UTC)


def test_cli_allow_and_alerts_verbs(tmp_path, monkeypatch) -> None:
    from oauthwatch.cli.main import app

    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    monkeypatch.setenv("OAUTHWATCH_CONFIG", str(cfg))
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "allow",
            "add",
            "Data Loader",
            "--owner",
            "ops@example.com",
            "--ip-range",
            "192.0.2.0/24",
            "--country",
            "us",
            "--expires",
            "2099-01-01",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["allow", "list", "--format", "json"])
    rows = json.loads(r.output)
    assert rows[0]["app_name"] == "Data Loader"
    assert rows[0]["countries"] == "US"
    assert rows[0]["active"] is True
    r = runner.invoke(app, ["allow", "add", "X", "--ip-range", "not-a-range"])
    assert r.exit_code != 0
    assert "CIDR" in r.output
    r = runner.invoke(app, ["alerts", "--status", "all", "--format", "csv"])
    assert r.exit_code == 0
    assert r.output.startswith("id,status,severity")
    r = runner.invoke(app, ["alerts", "ack", "42"])
    assert r.exit_code == 1
    r = runner.invoke(app, ["allow", "remove", "Data Loader"])
    assert r.exit_code == 0
    assert "removed 1 entry" in r.output
