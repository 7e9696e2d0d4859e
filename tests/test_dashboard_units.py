"""The dashboard's pure parts: figures (on fig.data), safe CSV, Status texts, access rules, filters,
the incident summary and the CLI verb's command line."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from dashboard import charts
from dashboard.auth import auth_configured, is_loopback, user_allowed
from dashboard.export import neutralize, safe_csv
from dashboard.filters import build_context
from dashboard.launch import streamlit_command
from dashboard.status_texts import GENERIC, explain
from dashboard.summary import incident_summary
from oauthwatch.store.queries import Window

T0 = pd.Timestamp("2026-03-01 22:00", tz="UTC")


def hourly(rows):
    return pd.DataFrame(rows, columns=["hour", "application", "events", "failures"])


def test_daily_by_groups_local_days_and_stacks_by_app():
    df = hourly(
        [
            (T0, "A", 5, 1),
            (T0 + pd.Timedelta(hours=1), "A", 3, 0),
            (T0 + pd.Timedelta(hours=3), "B", 2, 2),
        ]
    )
    utc = charts.daily_by(df, "application", "UTC")
    assert [t.name for t in utc.data] == ["A", "B"]
    assert list(utc.data[0].x) == ["2026-03-01", "2026-03-01"] or sorted(set(utc.data[0].x)) == ["2026-03-01"]
    assert sum(utc.data[0].y) == 8
    tokyo = charts.daily_by(df, "application", "Asia/Tokyo")  # 22:00 UTC is the next day in Tokyo
    assert set(tokyo.data[0].x) == {"2026-03-02"}
    assert utc.layout.barmode == "stack"


def test_day_buckets_are_labelled_utc():
    df = hourly([(pd.Timestamp("2026-03-01", tz="UTC"), "A", 10, 1)])
    df.attrs["bucket"] = "day"
    fig = charts.daily_by(df, "application", "Asia/Tokyo")
    assert list(fig.data[0].x) == ["2026-03-01"]
    assert fig.layout.xaxis.title.text == "day (UTC)"


def test_failures_over_time_has_counts_and_rate():
    df = hourly([(T0, "A", 10, 2), (T0, "B", 10, 3), (T0 + pd.Timedelta(hours=1), "A", 4, 0)])
    fig = charts.failures_over_time(df, "UTC")
    bars, rate = fig.data
    assert list(bars.y) == [5, 0]
    assert list(rate.y) == [25.0, 0.0]
    assert rate.yaxis == "y2"
    assert charts.failures_over_time(df.iloc[0:0], "UTC").data == ()


def test_share_and_top_bar():
    flows = pd.DataFrame(
        {"login_subtype": ["OAuth Refresh Token", "", "OAuth Refresh Token"], "events": [3, 1, 2]}
    )
    pie = charts.share(flows, "login_subtype", "Flow mix")
    assert list(pie.data[0].labels) == ["OAuth Refresh Token", "(not reported)"]
    assert list(pie.data[0].values) == [5, 1]
    df = pd.DataFrame({"ip": [f"10.0.0.{i}" for i in range(30)], "failures": range(30)})
    bar = charts.top_bar(df, "ip", "failures", "By IP", top=5)
    assert list(bar.data[0].y) == ["10.0.0.25", "10.0.0.26", "10.0.0.27", "10.0.0.28", "10.0.0.29"]
    assert bar.data[0].orientation == "h"


def test_origins_map_bubbles_and_offline_geometry_settings():
    ips = pd.DataFrame(
        {
            "source_ip": ["1.1.1.1", "1.1.1.2", "2.2.2.2"],
            "country": ["United States", "United States", "Japan"],
            "city": ["Ashburn", "Ashburn", "Tokyo"],
            "latitude": [39.0, 39.0, 35.7],
            "longitude": [-77.5, -77.5, 139.7],
            "events": [10, 30, 5],
            "failures": [0, 10, 5],
        }
    )
    fig = charts.origins_map(ips)
    geo = fig.data[0]
    assert geo.type == "scattergeo"
    assert len(geo.lat) == 2  # Ashburn's two IPs are one bubble
    assert list(geo.marker.color) == [100.0, 25.0]  # Tokyo first (sorted by country), then Ashburn
    assert fig.layout.geo.resolution == 110
    assert charts.origins_map(ips.iloc[0:0]).data == ()


def test_timeline_overlays_audit_events():
    tl = pd.DataFrame({"t": [T0, T0 + pd.Timedelta(minutes=1)], "events": [5, 7], "failures": [1, 7]})
    audit = pd.DataFrame(
        {"created_date": [T0], "action": ["changedIp"], "display": ["Changed IP relaxation"]}
    )
    fig = charts.timeline(tl, audit, "UTC")
    names = [t.name for t in fig.data]
    assert names == ["succeeded", "failed", "setup change"]
    assert list(fig.data[0].y) == [4, 0]
    assert "Changed IP relaxation" in fig.data[2].text[0]


def test_coverage_calendar_colours_each_state():
    cov = pd.DataFrame(
        {
            "org": ["a"] * 3,
            "source": ["login_history"] * 3,
            "day": [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)],
            "status": ["complete", "missing", "partial"],
            "rows": [10, 0, 3],
        }
    )
    fig = charts.coverage_calendar(cov)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"complete", "missing", "partial"}
    assert by_name["missing"].marker.color == charts.COVERAGE_COLORS["missing"]
    assert list(by_name["missing"].x) == ["2026-03-02"]


def test_safe_csv_neutralizes_formulas_only_in_text():
    df = pd.DataFrame(
        {
            "username": ['=HYPERLINK("http://evil")', "+1-555", "-2", "@SUM(A1)", "\tx", "\rx", "alice"],
            "events": [1, 2, 3, 4, 5, 6, -7],
        }
    )
    rows = list(csv.reader(io.StringIO(safe_csv(df).decode(), newline="")))
    assert rows[0] == ["username", "events"]
    assert [r[0] for r in rows[1:]] == [
        '\'=HYPERLINK("http://evil")',
        "'+1-555",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "alice",
    ]
    assert rows[-1][1] == "-7"  # numbers stay numbers
    assert neutralize(5) == 5
    assert safe_csv(pd.DataFrame({"=x": ["a"]})).startswith(b"'=x")


def test_status_texts_are_case_insensitive_with_a_fallback():
    meaning, fix = explain("INVALID PASSWORD")
    assert "password" in meaning.lower()
    assert "spray" in fix
    assert explain("Failed: Invalid Code Verifier")[1].startswith(
        "Make the client send the same code_verifier"
    )
    assert explain("Something new") == GENERIC
    for status in (
        "Restricted IP",
        "Failed: Signature Invalid",
        "Failed: Invalid Timestamp",
        "User is Inactive",
    ):
        assert explain(status) != GENERIC


def test_access_rules():
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert not is_loopback("localhost")  # a name, not a loopback literal: resolved by whoever runs it
    assert not is_loopback("0.0.0.0")  # noqa: S104 - checking that it is refused
    assert not is_loopback("192.0.2.1")
    assert user_allowed("Ann@Example.com", ["ann@example.com"])
    assert user_allowed("bob@acme.example", ["@acme.example"])
    assert not user_allowed("bob@evil.example", ["@acme.example", "ann@example.com"])
    assert not user_allowed(None, ["@acme.example"])
    assert not auth_configured({})
    assert not auth_configured({"auth": {"client_id": "x"}})
    assert auth_configured(
        {"auth": {"redirect_uri": "https://dash.example/oauth2callback", "cookie_secret": "s" * 32}}
    )


def test_build_context_ranges_and_zones():
    now = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    ctx = build_context("All orgs", "7d", "UTC", now=now)
    assert ctx.orgs == ()
    assert ctx.window.end == datetime(2026, 3, 10, 16, tzinfo=UTC)
    assert ctx.window.end - ctx.window.start == timedelta(days=7)
    one = build_context("prod", "24h", "Nowhere/Invalid", now=now)
    assert one.orgs == ("prod",)
    assert one.tz == "UTC"
    custom = build_context(None, "custom", "Asia/Tokyo", date(2026, 3, 5), date(2026, 3, 1))
    assert custom.window.start == datetime(2026, 2, 28, 15, tzinfo=UTC)  # Mar 1 00:00 in Tokyo
    assert custom.window.end == datetime(2026, 3, 5, 15, tzinfo=UTC)  # end of Mar 5 in Tokyo
    assert "(Asia/Tokyo)" in custom.label()


def test_incident_summary():
    w = Window(datetime(2026, 3, 1, 8, tzinfo=UTC), datetime(2026, 3, 1, 9, tzinfo=UTC), ("acme",))
    tl = pd.DataFrame({"t": [T0, T0 + pd.Timedelta(minutes=1)], "events": [3, 5], "failures": [3, 5]})
    bd = {"source_ip": pd.DataFrame({"source_ip": ["185.220.101.4"], "events": [8], "failures": [8]})}
    audit = pd.DataFrame(
        {"created_date": [T0], "created_by": ["admin@acme.example"], "display": ["Changed IP relaxation"]}
    )
    alert = {"id": 7, "severity": "high", "title": "Password spray", "status": "open"}
    text = incident_summary(w, {"source_ip": "185.220.101.4"}, tl, bd, audit, alert, "Europe/Paris")
    assert "Alert #7 [high] Password spray" in text
    assert "Logins: 8, failed: 8 (100.0%)" in text
    assert "IPs: 185.220.101.4 (8, 8 failed)" in text
    assert "Users: none" in text
    assert "admin@acme.example: Changed IP relaxation" in text


def test_streamlit_command_is_local_headless_and_private():
    cmd = streamlit_command(8600, "127.0.0.1")
    args = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert cmd[2:4] == ["streamlit", "run"]
    assert cmd[4].endswith("dashboard/app.py")
    assert args["--server.port"] == "8600"
    assert args["--server.address"] == "127.0.0.1"
    assert args["--server.headless"] == "true"
    assert args["--browser.gatherUsageStats"] == "false"
    assert args["--server.enableStaticServing"] == "true"


def test_cli_refuses_a_public_address_without_login(tmp_path, monkeypatch):
    from oauthwatch.cli.main import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    result = CliRunner().invoke(app, ["dashboard", "--config", str(cfg), "--address", "0.0.0.0"])  # noqa: S104 - refused
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without login" in result.output


@pytest.mark.parametrize("bad", ["nope.toml"])
def test_cli_reports_a_missing_config(tmp_path, bad):
    from oauthwatch.cli.main import app
    from oauthwatch.config import ConfigError

    result = CliRunner().invoke(app, ["dashboard", "--config", str(tmp_path / bad)])
    assert isinstance(result.exception, ConfigError)
    assert "does not exist" in str(result.exception)


def test_world_geometry_is_shipped():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "dashboard" / "static" / "topojson" / "world_110m.json"
    topo = json.loads(path.read_text())
    assert topo["type"] == "Topology"
    assert {"land", "countries", "coastlines"} <= set(topo["objects"])


def test_clicked_spike_becomes_an_investigate_window():
    from types import SimpleNamespace

    from dashboard.ui import spike_target

    fig = SimpleNamespace(data=[SimpleNamespace(name="Data Loader"), SimpleNamespace(name="Jenkins CI")])
    event = SimpleNamespace(selection=SimpleNamespace(points=[{"x": "2026-03-02", "curve_number": 1}]))
    target = spike_target(fig, event, "Asia/Tokyo")
    assert target == {
        "from": "2026-03-01T15:00:00+00:00",
        "to": "2026-03-02T15:00:00+00:00",
        "application": "Jenkins CI",
    }
    assert spike_target(fig, SimpleNamespace(selection=SimpleNamespace(points=[])), "UTC") is None


def test_markdown_escaping_of_login_data():
    from dashboard.ui import esc

    assert esc("[click](http://evil.example)") == r"\[click\]\(http\://evil\.example\)"
    assert esc("**bold** `code` :material/warning:") == r"\*\*bold\*\* \`code\` \:material/warning\:"
    assert esc("line1\nline2") == "line1 line2"
    assert esc("Data Loader") == "Data Loader"
