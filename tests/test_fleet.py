"""Workers sharing the orgs through the store (docs/deploy.md, "Workers"), on a fixed clock.

The leases on real PostgreSQL: shares split without overlap, a new worker takes load off the
others, a silent worker's orgs are claimed once its leases expire (and it stops trusting them
before that), a stopped worker hands over at once. On SQLite a second worker is refused. And the
configuration of many orgs: a folder of per-org files, per-org intervals, sources and thresholds.
"""

from __future__ import annotations

import itertools
import textwrap
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st

from oauthwatch.config import OrgSettings, Settings, StoreSettings, load_settings
from oauthwatch.errors import ConfigError
from oauthwatch.fleet import Fleet, FleetError
from oauthwatch.service import Service
from oauthwatch.store import leases, open_store
from tests.dashboard_helpers import run_page  # imports AppTest, so the app is served on loopback

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
ORGS = [f"org{i}" for i in range(1, 6)]


def _settings(url: str, lease: int = 10, interval: int = 60) -> Settings:
    orgs = [
        OrgSettings(
            name=n,
            login_url="https://x.example.com",
            flow="client_credentials",
            client_id="c",
            client_secret_env="UNUSED",
        )
        for n in ORGS
    ]
    return Settings.model_validate(
        {
            "store": StoreSettings(url=url),
            "collect": {"interval_seconds": interval, "jitter_seconds": 0, "lease_seconds": lease},
            "orgs": orgs,
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _holders(engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return {row["org"]: row["worker"] for row in leases.leases(conn)}


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)  # several workers: PostgreSQL only
def test_workers_divide_the_orgs_rebalance_and_take_over(store, store_url) -> None:
    settings, clock = _settings(store_url), Clock()
    a, b = (Fleet(store, settings, worker=w, clock=clock) for w in ("a", "b"))
    a.start()
    b.start()
    a.balance()
    b.balance()
    assert (len(a.held), len(b.held)) == (3, 2), "ceil(5 / 2) each, the rest to the other"
    assert a.held | b.held == set(ORGS)
    assert not a.held & b.held

    c = Fleet(store, settings, worker="c", clock=clock)
    c.start()
    assert c.balance() == ([], []), "nothing free yet: the others hold it all"
    assert a.balance() == ([], ["org3"]), "a gives back what it holds beyond its new share, ceil(5 / 3)"
    b.balance()
    c.balance()
    assert {w.worker: len(w.held) for w in (a, b, c)} == {"a": 2, "b": 2, "c": 1}
    assert _holders(store) == {o: w.worker for w in (a, b, c) for o in w.held}

    # b goes silent (killed): a and c renew, b does not
    b_orgs = set(b.held)
    clock.advance(8)
    a.renew()
    c.renew()
    assert not any(b.holds(o) for o in b_orgs), "b stops trusting its leases before they run out"
    assert all(a.holds(o) for o in a.held)
    clock.advance(3)  # b's leases (10 s) have expired; a's and c's have not
    a.balance()
    c.balance()
    assert a.held | c.held == set(ORGS)
    assert not a.held & c.held
    assert b_orgs <= a.held | c.held
    with store.connect() as conn:
        assert leases.live_workers(conn, clock(), a.ttl) == ["a", "c"]

    a.stop()  # a clean stop hands over at once, without waiting for the lease
    assert set(_holders(store).values()) == {None, "c"}
    c.balance()
    assert c.held == set(ORGS)


class _Worker:
    """One in-process ``oauthwatch run`` worker whose collect stage only records what it collected."""

    def __init__(
        self, engine, settings: Settings, name: str, log: list[tuple[str, str, float, float]]
    ) -> None:
        self.name, self.log = name, log
        self.fleet = Fleet(engine, settings, worker=name)
        self.stop = threading.Event()
        stages = (("collect", self._collect),)
        self.service = Service(settings, engine, stop=self.stop, stages=stages, digests=False,
                               pause_seconds=0.5, fleet=self.fleet)  # fmt: skip
        self.thread = threading.Thread(target=self.service.run, name=f"worker-{name}", daemon=True)
        self.thread.start()

    def _collect(self, settings: Settings, engine, stop: threading.Event) -> None:
        for org in settings.orgs:
            started = time.monotonic()
            time.sleep(0.05)
            self.log.append((self.name, org.name, started, time.monotonic()))

    def collected(self, since: float = 0.0) -> set[str]:
        return {org for w, org, started, _ in list(self.log) if w == self.name and started >= since}

    def kill(self) -> None:
        """Gone without a word, as after SIGKILL: no lease given back, no last beat."""
        self.fleet.stop = lambda: None  # type: ignore[method-assign]
        self.stop.set()
        self.thread.join(10)


def _until(cond, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)  # several workers: PostgreSQL only
def test_a_worker_joining_a_running_fleet_takes_a_share_and_a_dead_ones_share_is_taken_over(
    store, store_url
) -> None:
    """Running services, not just their leases: in-process workers on one PostgreSQL store, a 3 s
    lease and a 10 s interval, each org due every half second so that every worker collects often."""
    settings = _settings(store_url, lease=3, interval=10)
    log: list[tuple[str, str, float, float]] = []
    a, b = _Worker(store, settings, "a", log), _Worker(store, settings, "b", log)
    workers = [a, b]
    try:
        _until(lambda: a.collected() | b.collected() == set(ORGS), 15, "a and b to collect every org")

        joined = time.monotonic()
        c = _Worker(store, settings, "c", log)
        workers.append(c)
        shares = lambda: sorted(Counter(w for w in _holders(store).values() if w).items())  # noqa: E731
        _until(lambda: shares() == [("a", 2), ("b", 2), ("c", 1)], 15, "the orgs spread over a, b and c")
        _until(lambda: c.collected() == c.fleet.held, 10, "c to collect what it holds")
        c_orgs = set(c.fleet.held)
        first_by_c = min(t for w, org, t, _ in log if w == "c" and org in c_orgs)
        assert first_by_c - joined < 10, "c collected its share within one interval of joining"
        assert not (a.collected(since=first_by_c + 1) | b.collected(since=first_by_c + 1)) & c_orgs, (
            "a and b left c's share to c"
        )

        b_orgs = set(b.fleet.held)
        b.kill()
        killed = time.monotonic()
        _until(lambda: b_orgs <= a.collected(since=killed) | c.collected(since=killed), 10,
               "b's orgs collected by the survivors")  # fmt: skip
        taken = {org: min(t for w, o, t, _ in log if o == org and w != "b" and t >= killed) for org in b_orgs}
        assert max(taken.values()) - killed < 10, f"taken over within one interval: {taken}"
        assert max(taken.values()) - killed >= 2, "not before b's lease could have run out (3 s)"
        assert set(_holders(store).values()) == {"a", "c"}
    finally:
        for w in workers:
            w.stop.set()
        for w in workers:
            w.thread.join(10)

    # never two workers on one org at once: each org's collections, in time order, never overlap
    for org in ORGS:
        runs = sorted((t0, t1, w) for w, o, t0, t1 in log if o == org)
        for (_, end, w1), (start, _, w2) in itertools.pairwise(runs):
            assert w1 == w2 or end <= start, f"{org} collected by {w1} and {w2} at once"


def test_a_second_worker_on_sqlite_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    settings = _settings(url)
    clock = Clock()
    first = Fleet(engine, settings, worker="first", clock=clock)
    first.start()
    first.balance()
    assert first.held == set(ORGS), "the one SQLite worker holds every org"
    clock.advance(60)
    assert first.holds("org1"), "and trusts its hold even when its renewals are late"
    with pytest.raises(FleetError, match=r"SQLite allows one worker.*PostgreSQL"):
        Fleet(engine, settings, worker="second").start()
    first.stop()
    again = Fleet(engine, settings, worker="again")
    again.start()  # the lock went with the first worker
    again.stop()
    engine.dispose()


def test_orgs_from_a_folder_with_their_own_interval_sources_and_thresholds(tmp_path: Path) -> None:
    (tmp_path / "orgs.d").mkdir()
    (tmp_path / "orgs.d" / "acme-uat.toml").write_text(
        textwrap.dedent(
            """\
            login_url = "https://acme--uat.sandbox.my.salesforce.com"
            client_id = "c"
            username = "ow@acme.com.uat"
            private_key_file = "keys/uat.key"
            interval_seconds = 3600
            sources = ["login_history"]

            [detect.spray]
            min_failures = 50
            """
        )
    )
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(
        'orgs_dir = "orgs.d"\n\n[detect.spray]\nmin_failures = 20\nwindow_minutes = 30\n\n'
        '[[orgs]]\nname = "prod"\nlogin_url = "https://acme.my.salesforce.com"\nclient_id = "c"\n'
        'username = "ow@acme.com"\nprivate_key_file = "prod.key"\n'
    )
    settings = load_settings(cfg)
    assert [o.name for o in settings.orgs] == ["prod", "acme-uat"], "the file's stem names the org"
    uat, prod = settings.org("acme-uat"), settings.org("prod")
    assert uat.private_key_file == tmp_path / "orgs.d" / "keys" / "uat.key", "relative to its own file"
    assert (settings.interval(uat), settings.interval(prod)) == (3600, 900)
    assert uat.sources == ["login_history"]
    assert settings.detector("spray", "acme-uat") == {"min_failures": 50, "window_minutes": 30}
    assert settings.detector("spray", "prod") == {"min_failures": 20, "window_minutes": 30}
    assert settings.lease_seconds() == 60


def test_a_lease_longer_than_half_an_interval_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text("[collect]\ninterval_seconds = 60\nlease_seconds = 40\n")
    with pytest.raises(ConfigError, match=r"lease_seconds \(40\) must be at most half"):
        load_settings(cfg)
    cfg.write_text('orgs_dir = "missing"\n')
    with pytest.raises(ConfigError, match=r"orgs_dir .* is not a folder"):
        load_settings(cfg)


def _seed_fleet(engine, now: datetime) -> None:
    """Two workers (one dead), three orgs: one fine, one failing, one held by the dead worker."""
    from sqlalchemy import insert

    from oauthwatch.store import schema as s

    beat = {"host": "h", "pid": 1, "started_at": now - timedelta(hours=1), "state": "running"}
    with engine.begin() as conn:
        conn.execute(insert(s.fleet_workers), [
            {**beat, "worker": "h:1:aa", "beat_at": now},
            {**beat, "worker": "h:2:bb", "beat_at": now - timedelta(minutes=5)},
        ])  # fmt: skip
        conn.execute(insert(s.org_leases), [
            {"org": o, "worker": w, "acquired_at": now, "expires_at": now + timedelta(seconds=e)}
            for o, w, e in (("fine", "h:1:aa", 30), ("broken", "h:1:aa", 30), ("orphan", "h:2:bb", -240))
        ])  # fmt: skip
        for org in ("fine", "broken", "orphan"):
            conn.execute(insert(s.orgs).values(name=org, created_at=now))
        conn.execute(insert(s.collector_runs), [
            {"org": "fine", "source": "login_history", "started_at": now - timedelta(minutes=2),
             "finished_at": now - timedelta(minutes=1), "outcome": "ok", "error": None},
            {"org": "orphan", "source": "login_history", "started_at": now - timedelta(minutes=50),
             "finished_at": now - timedelta(minutes=40), "outcome": "ok", "error": None},
            {"org": "broken", "source": "login_history", "started_at": now - timedelta(minutes=2),
             "finished_at": now - timedelta(minutes=1), "outcome": "failed", "error": "auth: invalid_grant"},
        ])  # fmt: skip


def test_status_and_the_collection_page_show_the_fleet_failing_orgs_first(
    tmp_path: Path, monkeypatch
) -> None:
    import json
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 's.db'}"
    engine = open_store(url)
    _seed_fleet(engine, datetime.now(UTC))
    engine.dispose()
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f'[store]\nurl = "{url}"\n\n[detect.collection_health]\nlag_minutes = 30\n')
    out = subprocess.run([sys.executable, "-m", "oauthwatch", "status", "-c", str(cfg), "--format", "json"],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    fleet = json.loads(out.stdout)["fleet"]
    assert [(w["worker"], w["health"], w["orgs"]) for w in fleet["workers"]] == [
        ("h:1:aa", "running", 2),
        ("h:2:bb", "stale", 0),
    ]
    rows = [(o["org"], o["failing"], o["lease"], o["worker"]) for o in fleet["orgs"]]
    assert rows == [
        ("broken", True, "held", "h:1:aa"),  # failed and never collected: the worst
        ("orphan", True, "expired", "h:2:bb"),  # lagging 40 min > 30, held by a dead worker
        ("fine", False, "held", "h:1:aa"),
    ]
    assert "login_history: failed (auth: invalid_grant)" in fleet["orgs"][0]["problems"]
    assert fleet["orgs"][1]["problems"] == "lagging 40 min"
    text = subprocess.run([sys.executable, "-m", "oauthwatch", "status", "-c", str(cfg)],
                          capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    assert text.index("broken") < text.index("orphan") < text.index("fine  ")

    monkeypatch.delenv("OAUTHWATCH_CONFIG", raising=False)
    monkeypatch.setenv("OAUTHWATCH_STORE_URL", url)
    monkeypatch.chdir(tmp_path)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        at = run_page("collection")
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()
    orgs = next(d.value for d in at.dataframe if "lease" in d.value.columns)
    assert list(orgs["org"]) == ["broken", "orphan", "fine"]
    assert list(orgs["failing"]) == [True, True, False]
    workers = next(d.value for d in at.dataframe if "health" in d.value.columns)
    assert list(workers["health"]) == ["running", "stale"]


def test_a_misspelt_detector_in_an_org_file_is_refused_with_the_closest_id(tmp_path: Path) -> None:
    from oauthwatch.detect.settings_check import check_detect_settings

    (tmp_path / "orgs.d").mkdir()
    (tmp_path / "orgs.d" / "uat.toml").write_text(
        'login_url = "https://x.example.com"\nclient_id = "c"\nflow = "client_credentials"\n'
        'client_secret_env = "UNUSED"\n\n[detect.password_spary]\nmin_failures = 5\n'
    )
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text('orgs_dir = "orgs.d"\n')
    with pytest.raises(
        ConfigError,
        match=r"orgs uat: detect.password_spary is not a detector id; did you mean 'password_spray'",
    ):
        check_detect_settings(load_settings(cfg))
