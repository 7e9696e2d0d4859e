"""The daily digest: figures equal to store queries, everything escaped, sent once per org and day.

The store is seeded with known rows (one hostile app name among them), the digest is built and
sent through a real SMTP server (aiosmtpd on loopback), and the received email is parsed.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

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
from tests.factories import DIGEST_DAY as DAY
from tests.factories import EVIL_APP as EVIL
from tests.factories import digest_settings, seed_digest_day
from tests.smtp_helpers import SmtpSink, free_port

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
    seed_digest_day(store)
    settings = digest_settings("unused")
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
    seed_digest_day(sqlite_store)
    utc = build_digest(sqlite_store, digest_settings("unused"), "acme", DAY, now=NOW).data
    tokyo = build_digest(
        sqlite_store, digest_settings("unused", tz="Asia/Kolkata"), "acme", DAY, now=NOW
    ).data
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
    seed_digest_day(engine)
    settings = digest_settings(url, port)
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
    seed_digest_day(engine)
    down = send_digest(engine, digest_settings(url, free_port()), "acme", DAY)
    assert down.status == "failed"
    assert "notify.smtp" in (down.error or "")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.digests_sent)).scalar_one() == 0
    assert send_digest(engine, digest_settings(url, port), "acme", DAY).status == "sent"
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
    settings = digest_settings("unused", port, tz="Europe/Paris", digest_time=time(8, 0))
    assert digest_due(settings, datetime(2026, 11, 28, 6, 59, tzinfo=UTC)) is None  # 07:59 in Paris
    assert digest_due(settings, datetime(2026, 11, 28, 7, 0, tzinfo=UTC)) == date(2026, 11, 27)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    seed_digest_day(engine)
    settings = digest_settings(url, port, tz="Europe/Paris", digest_time=time(8, 0))
    assert send_due_digests(engine, settings, datetime(2026, 11, 28, 6, 0, tzinfo=UTC)) == []
    out = send_due_digests(engine, settings, datetime(2026, 11, 28, 7, 5, tzinfo=UTC))
    assert [(o.org, o.day, o.status) for o in out] == [("acme", DAY, "sent")]
    again = send_due_digests(engine, settings, datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    assert [o.status for o in again] == ["already_sent"]


def test_cli_writes_self_contained_html_and_sends(tmp_path, smtp_sink) -> None:
    import typer

    from oauthwatch.cli import digest

    sink, port = smtp_sink
    db = tmp_path / "store.db"
    seed_digest_day(open_store(f"sqlite:///{db}"))
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{db}"\n[notify]\nemail_to = ["all@example.com"]\n'
        f'[notify.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        '[[orgs]]\nname = "acme"\nlogin_url = "https://acme.example.com"\nflow = "client_credentials"\n'
        'client_id = "x"\nclient_secret_env = "UNUSED"\n'
    )
    app = typer.Typer()
    app.callback()(lambda: None)
    app.add_typer(digest.app)
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
    d = build_digest(sqlite_store, digest_settings("unused"), "acme", DAY, now=NOW)
    assert (d.data.events, d.data.failures, d.data.has_history) == (0, 0, False)
    assert "No logins were stored before this day" in d.html
    assert "No authentications on this day." in d.html
    assert "API budget: no limits reading stored yet" in d.text
    assert len(d.images) == 1, "the daily chart only; no apps to chart"
    assert d.data.coverage_complete is False
    assert all(h.coverage == "not tracked" and h.lagging for h in d.data.health)
