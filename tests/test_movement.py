"""Data movement per app: ApiTotalUsage calls grouped by resource, object, user and address, with
the app's baseline; on both stores, and from the local org's event log files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from oauthwatch.movement.app_usage import app_movement
from oauthwatch.store import schema
from oauthwatch.store.writes import ensure_org, upsert
from tests.localorg_helpers import local_org_config as _config
from tests.simorg import LocalOrg, local_org, make_local_org, org_template  # noqa: F401

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


def _call(
    n: int,
    t: datetime,
    resource: str,
    entity: str = "",
    family: str = "REST",
    user: str = "005A",
    ip: str = "3.5.140.10",
) -> dict:
    return {
        "org": "acme", "request_id": f"r{n}", "event_time": t, "connected_app_id": "0H4000000000001AAA",
        "connected_app_name": "Drift", "client_name": "", "api_family": family, "status_code": "200", "user_id": user,
        "api_resource": resource, "entity_name": entity, "http_method": "GET", "client_ip": ip,
    }  # fmt: skip


def test_movement_groups_calls_and_compares_with_the_baseline(store) -> None:
    rows = [_call(i, T0 - timedelta(days=1 + i % 7), "/v62.0/query", "Account") for i in range(14)]  # 2 a day
    rows += [
        _call(100 + i, T0 + timedelta(minutes=i), "/v62.0/query", "Case", user="005B", ip="185.220.101.33")
        for i in range(20)
    ]
    rows += [
        _call(200 + i, T0 + timedelta(minutes=i), "/v62.0/jobs/query", "Contact", family="Bulk", user="005B")
        for i in range(5)
    ]
    rows += [_call(300, T0, "/v62.0/sobjects", "", user="005A")]
    rows += [
        {
            **_call(400, T0, "/v62.0/query", "Lead"),
            "connected_app_id": "0H4000000000002AAA",
            "connected_app_name": "Other",
        }
    ]
    with store.begin() as conn:
        ensure_org(conn, "acme")
        upsert(conn, schema.api_usage_events, rows, key=["org", "request_id"])
    m = app_movement(store, "acme", "0H4000000000001", T0, T0 + timedelta(days=1))
    assert m.calls == 26
    assert m.by_family == {"REST": 21, "Bulk": 5}
    assert m.baseline_calls == 2.0
    assert m.ratio == 13.0
    assert m.query_calls == 25
    assert m.by_resource[0] == {"api_family": "REST", "http_method": "GET", "api_resource": "/v62.0/query",
                                "entity_name": "Case", "calls": 20, "users": 1}  # fmt: skip
    assert m.by_user == [{"user_id": "005B", "calls": 25}, {"user_id": "005A", "calls": 1}]
    assert m.by_client_ip[0] == {"client_ip": "185.220.101.33", "calls": 20}
    assert app_movement(store, "acme", "Drift", T0, T0 + timedelta(days=1)).calls == 26, "by name too"


def test_movement_from_the_local_orgs_event_log_files(local_org: LocalOrg, tmp_path: Path) -> None:  # noqa: F811
    from collectors.run.runner import collect_once
    from oauthwatch.config import load_settings
    from oauthwatch.store import open_store

    cfg = _config(local_org, tmp_path / "store.db")
    cfg.write_text(cfg.read_text().replace('sources = ["login_history"]', 'sources = ["event_log_files"]'))
    settings = load_settings(cfg)
    for res in collect_once(settings):
        assert res.outcome in ("ok", "partial"), res
    engine = open_store(settings.store.url)
    e, h = schema.api_usage_events, schema.api_usage_hourly
    with engine.connect() as conn:
        app, first, last = conn.execute(
            select(e.c.connected_app_name, func.min(e.c.event_time), func.max(e.c.event_time))
            .where(e.c.connected_app_name != "")
            .group_by(e.c.connected_app_name)
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        hourly = conn.execute(select(func.sum(h.c.requests)).where(h.c.connected_app_name == app)).scalar()
    m = app_movement(engine, "local", app, first, last + timedelta(seconds=1))
    assert m.calls == hourly, "per-call rows and hourly cells reconcile"
    assert all(r["api_resource"] for r in m.by_resource), "every call names its resource"
    assert any(r["entity_name"] for r in m.by_resource)
    assert sum(r["calls"] for r in m.by_resource) == m.calls
    assert all(r["client_ip"] for r in m.by_client_ip)


def test_the_digest_shows_each_apps_data_movement_against_its_baseline(sqlite_store) -> None:
    from oauthwatch.notify.digest import build_digest
    from tests.factories import digest_settings as _settings

    day = T0.date()
    rows = [_call(i, T0 - timedelta(days=1 + i % 7), "/v62.0/query", "Account") for i in range(14)]  # 2 a day
    rows += [
        _call(100 + i, T0 + timedelta(minutes=i), "/v62.0/jobs/query", "Case", family="Bulk")
        for i in range(30)
    ]
    with sqlite_store.begin() as conn:
        ensure_org(conn, "acme")
        upsert(conn, schema.api_usage_events, rows, key=["org", "request_id"])
    d = build_digest(sqlite_store, _settings("unused"), "acme", day, now=T0 + timedelta(days=1))
    [m] = d.data.data_movement
    assert (m.name, m.calls, m.baseline_avg, m.bulk_calls, m.query_calls) == ("Drift", 30, 2.0, 30, 30)
    assert m.top_objects == "Case 30"
    assert "Data movement (API calls)" in d.html
    assert "DATA MOVEMENT" in d.text
    assert any("Drift" in ln and "bulk 30, query 30; Case 30" in ln for ln in d.text.splitlines())
