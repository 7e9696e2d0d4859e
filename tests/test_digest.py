"""The daily digest: figures equal to store queries, everything escaped, sent once per org and day.

The store is seeded with known rows (one hostile app name among them), the digest is built and
sent through a real SMTP server (aiosmtpd on loopback), and the received email is parsed.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from test_mailer import SmtpSink, free_port
from typer.testing import CliRunner

from oauthwatch.config import NotifySettings, OrgSettings, Settings, SmtpSettings, StoreSettings
from oauthwatch.notify.digest import build_digest
from oauthwatch.notify.digest_data import DayWindow
from oauthwatch.notify.digest_send import (
    STALE_CLAIM,
    claim,
    complete,
    digest_due,
    release,
    send_digest,
    send_due_digests,
)
from oauthwatch.store import open_store
from oauthwatch.store import schema as s
from oauthwatch.store.writes import ensure_org, upsert

DAY = date(2026, 11, 27)
EVIL = "<script>alert(1)</script>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _settings(url: str, port: int = 25, tz: str = "UTC", **notify) -> Settings:
    org = OrgSettings(
        name="acme",
        login_url="https://acme.example.com",
        flow="client_credentials",
        client_id="x",
        client_secret_env="UNUSED",
        digest_to=["lead@example.com"],
    )
    smtp = SmtpSettings(
        host="127.0.0.1", port=port, security="none", sender="ow@example.com", timeout_seconds=3
    )
    return Settings(
        store=StoreSettings(url=url),
        notify=NotifySettings(
            email_to=["all@example.com"],
            digest_timezone=tz,
            dashboard_url="http://dash.example:8501",
            smtp=smtp,
            **notify,
        ),
        orgs=[org],
    )


def _login(
    i: int,
    when: datetime,
    app: str,
    ok: bool,
    *,
    ip: str = "198.51.100.7",
    country: str = "US",
    status: str | None = None,
    source: str = "login_history",
) -> dict:
    return {
        "org": "acme",
        "source": source,
        "natural_id": f"0Ya{source[:3]}{i:012d}",
        "login_time": when,
        "user_id": f"005{i % 5:015d}",
        "username": f"u{i % 5}@example.com",
        "login_type": "Remote Access 2.0",
        "status": "Success" if ok else (status or "Invalid Password"),
        "success": ok,
        "application": app,
        "source_ip": ip,
        "country_iso": country,
        "ingested_at": when,
    }


def seed(engine) -> None:
    """Seven baseline days of steady traffic, then a day with an unknown app, a new country and failures."""
    rows: list[dict] = []
    i = 0
    start = datetime.combine(DAY, time(0), tzinfo=UTC)
    for back in range(1, 9):
        for k in range(10 + back):
            i += 1
            rows.append(
                _login(i, start - timedelta(days=back) + timedelta(minutes=37 * k), "Data Loader", k % 5 != 0)
            )
    for k in range(30):
        i += 1
        rows.append(
            _login(
                i,
                start + timedelta(minutes=40 * k),
                "Data Loader",
                k % 3 != 0,
                status="Failed: IP Address Not Allowed",
            )
        )
    for k in range(12):
        i += 1
        rows.append(
            _login(i, start + timedelta(hours=2, minutes=k), EVIL, True, ip="203.0.113.9", country="DE")
        )
    # The same day seen by another source must not be counted twice (one primary source).
    rows.append(_login(i + 1, start + timedelta(hours=3), "Data Loader", False, source="login_event"))
    now = start + timedelta(days=1, hours=7)
    with engine.begin() as conn:
        ensure_org(conn, "acme")
        upsert(conn, s.logins, rows, key=["org", "source", "natural_id"])
        upsert(
            conn,
            s.connected_apps,
            [
                {
                    "org": "acme",
                    "app_id": "0H4000000000001AAA",
                    "name": EVIL,
                    "admin_approved_only": False,
                    "ip_relaxation": "BYPASS",
                    "refresh_token_policy": "infinite",
                    "scopes": ["full", "api"],
                    "certificate_expires_at": now + timedelta(days=5),
                    "fingerprint": "f1",
                    "first_seen": start + timedelta(hours=1),
                    "last_seen": now,
                },
                {
                    "org": "acme",
                    "app_id": "0H4000000000002AAA",
                    "name": "Data Loader",
                    "admin_approved_only": True,
                    "ip_relaxation": "ENFORCE",
                    "refresh_token_policy": "specific_lifetime:1:DAYS",
                    "scopes": ["api"],
                    "certificate_expires_at": None,
                    "fingerprint": "f2",
                    "first_seen": start - timedelta(days=30),
                    "last_seen": now,
                },
            ],
            key=["org", "app_id"],
        )
        upsert(
            conn,
            s.oauth_token_snapshots,
            [
                {
                    "org": "acme",
                    "snapshot_day": DAY,
                    "user_id": f"005{u:015d}",
                    "app_name": EVIL,
                    "created_date": start + timedelta(hours=2, minutes=u),
                    "use_count": 1,
                    "seen_at": now,
                }
                for u in range(3)
            ]
            + [
                {
                    "org": "acme",
                    "snapshot_day": DAY - timedelta(days=1),
                    "user_id": f"005{u:015d}",
                    "app_name": EVIL,
                    "created_date": start + timedelta(hours=2, minutes=u),
                    "use_count": 1,
                    "seen_at": now,
                }
                for u in range(3)
            ],
            key=["org", "snapshot_day", "user_id", "app_name", "created_date"],
        )
        alert = {
            "detector": "new_app",
            "severity": "high",
            "org": "acme",
            "subject_type": "app",
            "subject": EVIL,
            "explanation": "first logins",
            "count": 1,
            "status": "open",
        }
        conn.execute(
            s.alerts.insert(),
            [
                {
                    **alert,
                    "dedupe_key": "a1",
                    "title": f"New app {EVIL}",
                    "first_seen": start + timedelta(hours=2),
                    "last_seen": start + timedelta(hours=2),
                },
                {
                    **alert,
                    "dedupe_key": "a2",
                    "detector": "spray",
                    "severity": "medium",
                    "title": "Old spray",
                    "first_seen": start - timedelta(days=3),
                    "last_seen": start - timedelta(days=2),
                },
                {
                    **alert,
                    "dedupe_key": "a4",
                    "title": "Opened this morning",
                    "first_seen": now - timedelta(hours=1),
                    "last_seen": now - timedelta(hours=1),
                },
                {
                    **alert,
                    "dedupe_key": "a3",
                    "title": "Resolved thing",
                    "status": "resolved",
                    "first_seen": start - timedelta(days=3),
                    "last_seen": start - timedelta(days=3),
                },
            ],
        )
        conn.execute(
            s.coverage.insert(),
            [
                {
                    "org": "acme",
                    "source": "login_history",
                    "day": DAY,
                    "status": "complete",
                    "rows": 42,
                    "updated_at": now,
                },
                {
                    "org": "acme",
                    "source": "event_log_files",
                    "day": DAY,
                    "status": "partial",
                    "rows": 1,
                    "updated_at": now,
                },
                {
                    "org": "acme",
                    "source": "oauth_tokens",
                    "day": DAY + timedelta(days=1),
                    "status": "complete",
                    "rows": 6,
                    "updated_at": now,
                },
            ],
        )
        conn.execute(
            s.collector_runs.insert(),
            [
                {
                    "org": "acme",
                    "source": "login_history",
                    "started_at": now - timedelta(minutes=5),
                    "finished_at": now - timedelta(minutes=4),
                    "outcome": "ok",
                    "error": None,
                },
                {
                    "org": "acme",
                    "source": "event_log_files",
                    "started_at": now - timedelta(days=2),
                    "finished_at": now - timedelta(days=2),
                    "outcome": "failed",
                    "error": "INSUFFICIENT_ACCESS: grant View Event Log Files",
                },
                {
                    "org": "acme",
                    "source": "login_events",
                    "started_at": now - timedelta(minutes=5),
                    "finished_at": now - timedelta(minutes=5),
                    "outcome": "skipped",
                    "error": None,
                },
            ],
        )
        conn.execute(
            s.org_limits.insert(),
            [
                {
                    "org": "acme",
                    "read_at": now - timedelta(hours=1),
                    "name": "DailyApiRequests",
                    "max": 15000,
                    "remaining": 14000,
                },
                {"org": "acme", "read_at": now, "name": "DailyApiRequests", "max": 15000, "remaining": 13500},
            ],
        )


def _count(engine, start: datetime, end: datetime, *extra) -> int:
    t = s.logins
    q = select(func.count()).where(
        t.c.org == "acme",
        t.c.source == "login_history",
        t.c.login_time >= start,
        t.c.login_time < end,
        *extra,
    )
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


NOW = datetime.combine(DAY + timedelta(days=1), time(7), tzinfo=UTC)


def test_figures_equal_store_queries_and_names_are_escaped(store) -> None:
    seed(store)
    settings = _settings("unused")
    d = build_digest(store, settings, "acme", DAY, now=NOW)
    w = DayWindow.of(DAY, "UTC")
    events = _count(store, w.start, w.end)
    failures = _count(store, w.start, w.end, s.logins.c.success.is_(False))
    baseline = _count(store, w.baseline_start, w.start)
    assert (events, failures) == (42, 10)
    assert (d.data.events, d.data.failures) == (events, failures)
    assert d.data.baseline_events_avg == pytest.approx(baseline / 7)
    assert [x.events for x in d.data.daily] == [
        _count(store, *(lambda x: (x.start, x.end))(w.shifted(-b))) for b in range(7, -1, -1)
    ]
    assert d.data.top_reasons[0].name == "Failed: IP Address Not Allowed"
    assert d.data.top_reasons[0].count == 10
    assert [a.name for a in d.data.busiest_apps] == ["Data Loader", EVIL]
    assert {a.name for a in d.data.growing_apps} == {"Data Loader", EVIL}
    assert d.data.new_apps == [EVIL]
    assert d.data.new_countries == ["DE"]
    assert d.data.new_networks == ["203.0.113.0/24"]
    assert d.data.new_connected_apps == [EVIL]
    assert d.data.new_grants == 3  # the same grant seen on two snapshot days counts once
    assert [a.title for a in d.data.new_alerts] == [f"New app {EVIL}"]
    assert [a.title for a in d.data.open_alerts] == ["Opened this morning", "Old spray"]
    findings = {f.finding.split(" (")[0] for f in d.data.posture if f.app == EVIL}
    assert {
        "refresh tokens are valid until revoked",
        "IP restrictions relaxed",
        "all users may self-authorize",
        "has the full scope",
    } <= findings
    assert any(f.finding.startswith("JWT certificate expires") for f in d.data.posture)
    assert d.data.coverage_complete is False
    health = {h.source: h for h in d.data.health}
    assert health["login_history"].coverage == "complete"
    assert not health["login_history"].lagging
    assert health["event_log_files"].lagging
    assert "INSUFFICIENT_ACCESS" in (health["event_log_files"].error or "")
    assert health["oauth_tokens"].coverage == f"collected since {DAY + timedelta(days=1)}"
    assert health["login_events"].coverage == "not tracked"
    assert not health["login_events"].lagging, "skipped on purpose (not licensed) is not lagging"
    assert health["setup_audit_trail"].lagging, "never ran"
    assert d.data.api_used_share == pytest.approx(1500 / 15000)

    assert EVIL not in d.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in d.html
    assert "<script" not in d.html.lower()
    assert EVIL in d.text  # plain text is text: shown as is, never interpreted
    assert re.search(r'data-metric="events">42<', d.html)
    assert "http://dash.example:8501/alerts?org=acme&amp;alert=" in d.html
    day_link = f"http://dash.example:8501/?org=acme&amp;range=custom&amp;start={DAY}&amp;end={DAY}"
    assert f'href="{day_link}"' in d.html, "the Overview (the root page) opened on the reported day"
    assert "collection incomplete" in d.subject
    assert all(png.startswith(PNG_MAGIC) for png in d.images.values())
    assert len(d.images) == 2
    for cid in d.images:
        assert f'src="cid:{cid}"' in d.html
    assert "http" not in re.sub(r'href="http://dash\.example:8501[^"]*"', "", d.html).replace(
        "http://dash.example:8501", ""
    ), "no external resources besides dashboard links"


def test_local_day_follows_the_digest_timezone(sqlite_store) -> None:
    seed(sqlite_store)
    utc = build_digest(sqlite_store, _settings("unused"), "acme", DAY, now=NOW).data
    tokyo = build_digest(sqlite_store, _settings("unused", tz="Asia/Kolkata"), "acme", DAY, now=NOW).data
    w = DayWindow.of(DAY, "Asia/Kolkata")
    assert w.start == datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
    assert tokyo.events == _count(sqlite_store, w.start, w.end)
    assert tokyo.events != utc.events


@pytest.fixture
def smtp_sink():
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    yield sink, port
    ctl.stop()


def test_sent_digest_is_received_parsed_and_sent_once_across_restarts(tmp_path, smtp_sink) -> None:
    sink, port = smtp_sink
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    seed(engine)
    settings = _settings(url, port)
    first = send_digest(engine, settings, "acme", DAY)
    assert first.status == "sent"
    assert first.recipients == ("lead@example.com",)
    assert send_digest(engine, settings, "acme", DAY).status == "already_sent"
    engine.dispose()
    restarted = open_store(url)  # a new process: only the store remembers
    assert send_digest(restarted, settings, "acme", DAY).status == "already_sent"
    assert len(sink.messages) == 1

    msg = sink.messages[0]
    assert msg["Message-ID"] == first.message_id
    assert sink.envelopes[0][1] == ["lead@example.com"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "events:       42" in text
    assert 'data-metric="failures">10<' in html
    assert "&lt;script&gt;" in html
    assert "<script" not in html.lower()
    images = {
        p["Content-ID"].strip("<>"): p.get_content()
        for p in msg.walk()
        if p.get_content_type() == "image/png"
    }
    assert len(images) == 2
    assert all(v.startswith(PNG_MAGIC) for v in images.values())
    assert all(f"cid:{cid}" in html for cid in images)
    with restarted.connect() as conn:
        row = conn.execute(select(s.digests_sent)).one()
    assert row.message_id == first.message_id
    assert row.recipients == ["lead@example.com"]
    restarted.dispose()


def test_failed_send_releases_the_claim(tmp_path, smtp_sink) -> None:
    sink, port = smtp_sink
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    seed(engine)
    down = send_digest(engine, _settings(url, free_port()), "acme", DAY)
    assert down.status == "failed"
    assert "notify.smtp" in (down.error or "")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.digests_sent)).scalar_one() == 0
    assert send_digest(engine, _settings(url, port), "acme", DAY).status == "sent"
    assert len(sink.messages) == 1


def test_a_stale_claim_is_taken_over_but_a_fresh_one_is_not(store) -> None:
    t0 = datetime(2026, 11, 28, 7, tzinfo=UTC)
    assert claim(store, "acme", DAY, ["a@example.com"], now=t0)
    assert not claim(store, "acme", DAY, ["a@example.com"], now=t0 + timedelta(minutes=1))
    assert claim(store, "acme", DAY, ["a@example.com"], now=t0 + STALE_CLAIM + timedelta(seconds=1))
    complete(store, "acme", DAY, "<id@example.com>")
    assert not claim(store, "acme", DAY, ["a@example.com"], now=t0 + 3 * STALE_CLAIM), "a sent day stays sent"
    release(store, "acme", DAY)  # only unsent claims are released
    assert not claim(store, "acme", DAY, ["a@example.com"], now=t0 + 4 * STALE_CLAIM)


def test_concurrent_claims_let_exactly_one_sender_through(store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    t0 = datetime(2026, 11, 28, 7, tzinfo=UTC)
    with ThreadPoolExecutor(max_workers=6) as pool:
        wins = list(pool.map(lambda _: claim(store, "acme", DAY, ["a@example.com"], now=t0), range(6)))
    assert wins.count(True) == 1


def test_digest_is_due_after_the_local_time(tmp_path, smtp_sink) -> None:
    _, port = smtp_sink
    settings = _settings("unused", port, tz="Europe/Paris", digest_time=time(8, 0))
    assert digest_due(settings, datetime(2026, 11, 28, 6, 59, tzinfo=UTC)) is None  # 07:59 in Paris
    assert digest_due(settings, datetime(2026, 11, 28, 7, 0, tzinfo=UTC)) == date(2026, 11, 27)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    seed(engine)
    settings = _settings(url, port, tz="Europe/Paris", digest_time=time(8, 0))
    assert send_due_digests(engine, settings, datetime(2026, 11, 28, 6, 0, tzinfo=UTC)) == []
    out = send_due_digests(engine, settings, datetime(2026, 11, 28, 7, 5, tzinfo=UTC))
    assert [(o.org, o.day, o.status) for o in out] == [("acme", DAY, "sent")]
    again = send_due_digests(engine, settings, datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    assert [o.status for o in again] == ["already_sent"]


def test_cli_writes_self_contained_html_and_sends(tmp_path, smtp_sink) -> None:
    import typer

    from oauthwatch.notify import commands

    sink, port = smtp_sink
    db = tmp_path / "store.db"
    seed(open_store(f"sqlite:///{db}"))
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{db}"\n[notify]\nemail_to = ["all@example.com"]\n'
        f'[notify.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        '[[orgs]]\nname = "acme"\nlogin_url = "https://acme.example.com"\nflow = "client_credentials"\n'
        'client_id = "x"\nclient_secret_env = "UNUSED"\n'
    )
    app = typer.Typer()
    app.callback()(lambda: None)
    commands.register(app)
    runner = CliRunner()
    out = tmp_path / "digest.html"
    res = runner.invoke(app, ["digest", "-c", str(cfg), "--date", DAY.isoformat(), "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "cid:" not in html
    assert html.count("data:image/png;base64,") == 2
    res = runner.invoke(app, ["digest", "-c", str(cfg), "--date", DAY.isoformat()])
    assert res.exit_code == 0
    assert "events:       42" in res.output
    res = runner.invoke(app, ["digest", "-c", str(cfg), "--date", DAY.isoformat(), "--send"])
    assert res.exit_code == 0
    assert "sent" in res.output
    res = runner.invoke(app, ["digest", "-c", str(cfg), "--date", DAY.isoformat(), "--send"])
    assert "already sent" in res.output
    assert len(sink.messages) == 1
    assert sink.envelopes[0][1] == ["all@example.com"]
    res = runner.invoke(app, ["digest", "-c", str(cfg), "--date", "yesterday"])
    assert res.exit_code == 2
    assert "2026-11-28" in res.output


def test_digest_of_an_empty_store_says_so_instead_of_failing(sqlite_store) -> None:
    d = build_digest(sqlite_store, _settings("unused"), "acme", DAY, now=NOW)
    assert (d.data.events, d.data.failures, d.data.has_history) == (0, 0, False)
    assert "No logins were stored before this day" in d.html
    assert "No authentications on this day." in d.html
    assert "API budget: no limits reading stored yet" in d.text
    assert len(d.images) == 1, "the daily chart only; no apps to chart"
    assert d.data.coverage_complete is False
    assert all(h.coverage == "not tracked" and h.lagging for h in d.data.health)
