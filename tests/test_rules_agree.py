"""The dashboard, the digest and the detectors tell the same story about one store.

Posture, stale grants and lagging sources are each judged once (oauthwatch.rules); this seeds a
store with every kind of case, configures non-default thresholds, and checks that the
dashboard's queries, the digest and the detectors' findings name the same apps, grants and
sources.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from oauthwatch.config import DetectSettings, OrgSettings, Settings, StoreSettings
from oauthwatch.detect.runner import run_all
from oauthwatch.notify.digest_data import collect_digest_data
from oauthwatch.rules.thresholds import Thresholds
from oauthwatch.store import queries_ops as ops
from oauthwatch.store import schema
from oauthwatch.store.queries import Window
from oauthwatch.store.writes import upsert
from tests.factories import seed_store

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
RELAXED = {"Refresh Relaxed": "ENFORCE_RELAXREFRESH", "Second Factor": "BYPASS_2FACTOR"}


@pytest.fixture
def settings(store_url: str) -> Settings:
    return Settings(
        store=StoreSettings(url=store_url),
        detect=DetectSettings(
            **{
                "posture": {"cert_days": 5, "changed_days": 0},
                "stale_grants": {"days": 60},
                "collection_health": {"lag_minutes": 20},
            }
        ),
        orgs=[
            OrgSettings(
                name="acme",
                login_url="https://acme.example.com",
                flow="client_credentials",
                client_id="x",
                client_secret_env="UNUSED",
                sources=["login_history", "oauth_tokens", "connected_apps", "setup_audit_trail"],
            )
        ],
    )


def _more_apps(store) -> None:
    with store.begin() as conn:
        upsert(
            conn,
            schema.connected_apps,
            [
                {
                    "org": "acme",
                    "app_id": f"0H400000000000{i}BBB",
                    "name": name,
                    "admin_approved_only": True,
                    "ip_relaxation": relax,
                    "refresh_token_policy": "zero",
                    "scopes": ["Api"],
                    "certificate_expires_at": None,
                    "fingerprint": name,
                    "first_seen": NOW - timedelta(days=60),
                    "last_seen": NOW,
                }
                for i, (name, relax) in enumerate(RELAXED.items())
            ],
            key=["org", "app_id"],
            update=None,
        )


def test_dashboard_digest_and_detectors_agree(store, settings):
    seed_store(store, org="acme", days=3, now=NOW)
    _more_apps(store)
    thresholds = Thresholds.from_settings(settings.detector)
    findings = run_all(
        store, settings, now=NOW, only=["posture", "stale_grants", "collection_health"]
    ).findings

    # Posture: one (app, check) set for the detector, the dashboard's Apps table and the digest.
    detector = {(f.subject, f.evidence["check"]) for f in findings if f.detector == "posture"}
    assert {("Second Factor", "ip_bypass"), ("Refresh Relaxed", "ip_bypass")} <= detector
    assert ("Jenkins CI", "cert_expiry") not in detector, "expires in 10 days; cert_days is 5"
    w = Window(NOW - timedelta(days=1), NOW, ("acme",))
    apps = ops.apps_overview(store, w, thresholds=thresholds, now=NOW).set_index("app")
    dashboard = {(app, label) for app, text in apps["posture"].items() for label in text.split("; ") if text}
    digest_data = collect_digest_data(store, settings, settings.orgs[0], date(2026, 3, 3), now=NOW)
    digest = {(f.app, f.finding) for f in digest_data.posture}
    assert dashboard - {(a, "policy not collected") for a in apps.index} == digest
    assert {app for app, _ in digest} == {app for app, _ in detector}
    assert len(digest) == len(detector)

    # Stale grants: the Tokens page's stale flag counts what the detector alerts on, per app.
    grants = ops.classify_grants(ops.latest_grants(store, ("acme",)), w, now=NOW, thresholds=thresholds)
    page = grants[grants["stale"]].groupby("app_name").size().to_dict()
    alerted = {f.subject: f.evidence["stale_grants"] for f in findings if f.detector == "stale_grants"}
    assert page
    assert page == alerted

    # Lagging: the Collection page, the digest and the detector name the same sources.
    lag = ops.source_lag(store, ("acme",), now=NOW, thresholds=thresholds)
    on_page = set(lag.loc[lag["lagging"], "source"])
    in_digest = {h.source for h in digest_data.health if h.lagging}
    raised = {f.subject for f in findings if f.detector == "collection_health" and "lag" in f.dedupe_key}
    assert on_page == in_digest == raised == {"setup_audit_trail", "connected_apps"}
