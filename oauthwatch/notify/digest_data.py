"""What the daily digest says, as plain numbers read from the store (no rendering here).

One local day (in ``notify.digest_timezone``) is compared with the seven days before it. Logins
are counted from the org's primary login source only (docs/architecture.md, decision 5) and straight from ``logins``
with exact local-day bounds, so every figure in the digest equals a simple store query and time
zones with half-hour offsets are not rounded to UTC hours.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, case, func, select

from oauthwatch.config import ConfigError
from oauthwatch.rules.network import network_of
from oauthwatch.rules.times import as_utc as _utc
from oauthwatch.store import schema as s
from oauthwatch.store.retention import pruned_before

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from oauthwatch.config import OrgSettings, Settings

BASELINE_DAYS = 7
NETWORK_LOOKBACK_DAYS = 30
TOP = 5
LIST_LIMIT = 20
MIN_GROWTH_EVENTS = 10  # an app needs this many events on the day to count as growing
GROWTH_FACTOR = 1.2  # and at least this multiple of its daily average


@dataclass(frozen=True)
class DayWindow:
    """A local calendar day as UTC bounds, and the baseline days before it."""

    day: date
    timezone: str
    start: datetime
    end: datetime

    @classmethod
    def of(cls, day: date, timezone: str) -> DayWindow:
        tz = zone(timezone)
        start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
        return cls(day, timezone, start, end)

    def shifted(self, days: int) -> DayWindow:
        return DayWindow.of(self.day + timedelta(days=days), self.timezone)

    @property
    def baseline_start(self) -> datetime:
        return self.shifted(-BASELINE_DAYS).start


@dataclass(frozen=True)
class DayCount:
    day: date
    events: int
    failures: int


@dataclass(frozen=True)
class Ranked:
    """A name with its count on the day and its daily average over the baseline."""

    name: str
    count: int
    baseline_avg: float

    @property
    def change(self) -> float | None:
        """Relative change against the baseline average (None when there is no baseline)."""
        return None if self.baseline_avg == 0 else self.count / self.baseline_avg - 1


@dataclass(frozen=True)
class AlertLine:
    id: int
    severity: str
    detector: str
    subject: str
    title: str
    status: str
    first_seen: datetime
    last_seen: datetime
    count: int
    url: str


@dataclass(frozen=True)
class Finding:
    app: str
    finding: str
    kind: str = ""  # Connected App / External Client App


@dataclass(frozen=True)
class SourceHealth:
    source: str
    coverage: str
    last_run_at: datetime | None
    last_outcome: str | None
    last_ok_at: datetime | None
    lagging: bool
    error: str | None


@dataclass
class DigestData:
    """Everything the digest shows for one org and one local day."""

    org: str
    window: DayWindow
    login_source: str
    generated_at: datetime
    events: int = 0
    failures: int = 0
    baseline_events_avg: float = 0.0
    baseline_failures_avg: float = 0.0
    has_history: bool = False
    daily: list[DayCount] = field(default_factory=list)
    top_reasons: list[Ranked] = field(default_factory=list)
    busiest_apps: list[Ranked] = field(default_factory=list)
    growing_apps: list[Ranked] = field(default_factory=list)
    new_apps: list[str] = field(default_factory=list)
    new_connected_apps: list[str] = field(default_factory=list)
    new_grants: int = 0
    new_grants_by_app: list[tuple[str, int]] = field(default_factory=list)
    new_countries: list[str] = field(default_factory=list)
    new_networks: list[str] = field(default_factory=list)
    new_alerts: list[AlertLine] = field(default_factory=list)
    open_alerts: list[AlertLine] = field(default_factory=list)
    open_alert_total: int = 0
    posture: list[Finding] = field(default_factory=list)
    health: list[SourceHealth] = field(default_factory=list)
    coverage_complete: bool = False
    api_max: int | None = None
    api_remaining: int | None = None
    api_read_at: datetime | None = None
    data_movement: list[Any] = field(default_factory=list)  # movement.app_usage.AppDay per app
    app_kinds: dict[str, str] = field(default_factory=dict)  # app name → Connected App / External Client App

    def kinded(self, name: str) -> str:
        """An app's name with its kind, as every app the digest lists is shown."""
        kind = self.app_kinds.get(name)
        return f"{name} ({kind})" if kind else name

    def kinded_list(self, names: list[str]) -> list[str]:
        return [self.kinded(n) for n in names]

    pruned_before: datetime | None = None  # raw logins before this were pruned (store.retention)

    @property
    def from_rollups(self) -> bool:
        """The day or its baseline reaches before the pruned horizon: the counts come from the rollups."""
        return self.pruned_before is not None and self.window.baseline_start < self.pruned_before

    @property
    def failure_rate(self) -> float:
        return self.failures / self.events if self.events else 0.0

    @property
    def api_used_share(self) -> float | None:
        if not self.api_max or self.api_remaining is None:
            return None
        return (self.api_max - self.api_remaining) / self.api_max


def zone(name: str) -> ZoneInfo:
    """The time zone called ``name``, or a ConfigError naming the setting."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f'notify.digest_timezone: unknown time zone {name!r}; use an IANA name such as "Europe/Paris"'
        ) from None


def local_yesterday(timezone: str, now: datetime | None = None) -> date:
    """Yesterday's date in ``timezone`` (the day a digest sent now reports on)."""
    now = now or datetime.now(UTC)
    return (now.astimezone(zone(timezone)) - timedelta(days=1)).date()


def alert_url(dashboard_url: str, org: str, alert_id: int) -> str:
    """A link to one alert on the dashboard's Alerts page."""
    return f"{dashboard_url.rstrip('/')}/alerts?{urlencode({'org': org, 'alert': alert_id})}"


def page_url(dashboard_url: str, page: str, **params: str) -> str:
    """A link to a dashboard page with its filters as query parameters."""
    query = f"?{urlencode(params)}" if params else ""
    return f"{dashboard_url.rstrip('/')}/{page}{query}"


def collect_digest_data(
    engine: Engine, settings: Settings, org: OrgSettings, day: date, *, now: datetime | None = None
) -> DigestData:
    """Read every figure of one org's digest for the local ``day`` from the store."""
    from oauthwatch.movement.app_usage import day_movement
    from oauthwatch.notify.digest_state import collection_health, posture_findings
    from oauthwatch.rules.thresholds import Thresholds

    w = DayWindow.of(day, settings.notify.digest_timezone)
    d = DigestData(
        org=org.name, window=w, login_source=org.primary_login_source, generated_at=now or datetime.now(UTC)
    )
    with engine.connect() as conn:
        d.pruned_before = pruned_before(conn, org.name)
        _volumes(conn, d)
        if not d.from_rollups:  # first sightings need the raw history, gone before the horizon
            _firsts(conn, d)
        _alerts(conn, d, settings.notify.dashboard_url)
        posture_findings(conn, d, Thresholds.from_settings(lambda n: settings.detector(n, org.name)))
        collection_health(conn, d, org, settings)
        d.data_movement = day_movement(conn, org.name, w.start, w.end, w.baseline_start)
    return d


def _logins_in(d: DigestData, start: datetime, end: datetime) -> Any:
    t = s.logins
    return and_(t.c.org == d.org, t.c.source == d.login_source, t.c.login_time >= start, t.c.login_time < end)


def _volumes(conn: Connection, d: DigestData) -> None:
    """The day's and the baseline's counts: from the raw logins, or from the hourly rollup (same
    primary source, same counts) when the raw logins of those days were pruned."""
    w = d.window
    if d.from_rollups:
        t: Any = s.login_rollup_hourly
        at, weight, scope = t.c.hour, t.c.events, [t.c.org == d.org]
    else:
        t = s.logins
        at, weight, scope = t.c.login_time, 1, [t.c.org == d.org, t.c.source == d.login_source]

    def within(lo: datetime, hi: datetime) -> Any:
        return and_(*scope, at >= lo, at < hi)

    count = func.coalesce(func.sum(weight), 0) if d.from_rollups else func.count()
    fail = func.coalesce(func.sum(case((t.c.success.is_(False), weight), else_=0)), 0)
    for back in range(BASELINE_DAYS, -1, -1):
        dw = w.shifted(-back)
        ev, fl = conn.execute(select(count, fail).where(within(dw.start, dw.end))).one()
        d.daily.append(DayCount(dw.day, int(ev), int(fl)))
    d.events, d.failures = d.daily[-1].events, d.daily[-1].failures
    base = d.daily[:-1]
    d.baseline_events_avg = sum(x.events for x in base) / BASELINE_DAYS
    d.baseline_failures_avg = sum(x.failures for x in base) / BASELINE_DAYS
    d.has_history = d.from_rollups or (
        conn.execute(select(at).where(*scope, at < w.start).limit(1)).first() is not None
    )

    def grouped(col: Any, *extra: Any) -> tuple[dict[str, int], dict[str, int]]:
        out: list[dict[str, int]] = []
        for lo, hi in ((w.start, w.end), (w.baseline_start, w.start)):
            key = func.coalesce(col, "")
            q = select(key, count).where(within(lo, hi), *extra).group_by(key)
            out.append({str(k): int(n) for k, n in conn.execute(q)})
        return out[0], out[1]

    day_r, base_r = grouped(t.c.status, t.c.success.is_(False))
    d.top_reasons = _rank(day_r, base_r)[:TOP]
    day_a, base_a = grouped(t.c.application)
    apps = _rank(day_a, base_a)
    d.busiest_apps = apps[:TOP]
    growing = [a for a in apps if a.count >= MIN_GROWTH_EVENTS and a.count >= GROWTH_FACTOR * a.baseline_avg]
    growing.sort(key=lambda a: (-(a.count - a.baseline_avg) / (a.baseline_avg + 1), a.name))
    d.growing_apps = growing[:TOP]


def _rank(day: dict[str, int], base: dict[str, int]) -> list[Ranked]:
    rows = [Ranked(k or "(none)", n, base.get(k, 0) / BASELINE_DAYS) for k, n in day.items()]
    rows.sort(key=lambda r: (-r.count, r.name))
    return rows


def _firsts(conn: Connection, d: DigestData) -> None:
    t, w = s.logins, d.window
    for col, target in ((t.c.application, d.new_apps), (t.c.country_iso, d.new_countries)):
        seen_today = select(col).where(_logins_in(d, w.start, w.end), col.is_not(None), col != "").distinct()
        q = (
            select(col)
            .where(t.c.org == d.org, t.c.source == d.login_source, col.in_(seen_today))
            .group_by(col)
            .having(func.min(t.c.login_time) >= w.start)
            .order_by(col)
        )
        target.extend(str(v) for (v,) in conn.execute(q))
    ips_today = {
        str(v)
        for (v,) in conn.execute(
            select(t.c.source_ip).where(_logins_in(d, w.start, w.end), t.c.source_ip.is_not(None)).distinct()
        )
    }
    before = {
        str(v)
        for (v,) in conn.execute(
            select(t.c.source_ip)
            .where(
                _logins_in(d, w.start - timedelta(days=NETWORK_LOOKBACK_DAYS), w.start),
                t.c.source_ip.is_not(None),
            )
            .distinct()
        )
    }
    known = {n for n in map(network_of, before) if n}
    fresh = {n for n in map(network_of, ips_today) if n and n not in known}
    d.new_networks = sorted(fresh, key=lambda n: (ipaddress.ip_network(n).version, ipaddress.ip_network(n)))
    ca = s.connected_apps
    d.new_connected_apps = [
        str(n)
        for (n,) in conn.execute(
            select(ca.c.name)
            .where(ca.c.org == d.org, ca.c.first_seen >= w.start, ca.c.first_seen < w.end)
            .order_by(ca.c.name)
        )
    ]
    g = s.oauth_token_snapshots
    grants = (
        select(g.c.app_name, g.c.user_id, g.c.created_date)
        .where(g.c.org == d.org, g.c.created_date >= w.start, g.c.created_date < w.end)
        .distinct()
        .subquery()
    )
    by_app = conn.execute(
        select(grants.c.app_name, func.count())
        .group_by(grants.c.app_name)
        .order_by(func.count().desc(), grants.c.app_name)
    ).all()
    d.new_grants_by_app = [(str(a), int(n)) for a, n in by_app]
    d.new_grants = sum(n for _, n in d.new_grants_by_app)


_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def _alerts(conn: Connection, d: DigestData, dashboard_url: str) -> None:
    """New alerts: first seen on the day. Still open: every other alert open now (also today's),
    since whoever reads the digest in the morning acts on what is open when it arrives."""
    a, w = s.alerts, d.window

    def line(r: Any) -> AlertLine:
        return AlertLine(
            id=int(r.id),
            severity=r.severity,
            detector=r.detector,
            subject=r.subject,
            title=r.title,
            status=r.status,
            first_seen=_utc(r.first_seen),
            last_seen=_utc(r.last_seen),
            count=int(r.count),
            url=alert_url(dashboard_url, d.org, int(r.id)),
        )

    new = [
        line(r)
        for r in conn.execute(
            select(a).where(a.c.org == d.org, a.c.first_seen >= w.start, a.c.first_seen < w.end)
        )
    ]
    new.sort(key=lambda x: (_SEVERITY_ORDER.get(x.severity, 9), x.first_seen, x.id))
    d.new_alerts = new
    new_ids = {x.id for x in new}
    opened = [
        line(r)
        for r in conn.execute(select(a).where(a.c.org == d.org, a.c.status == "open"))
        if int(r.id) not in new_ids
    ]
    opened.sort(key=lambda x: (_SEVERITY_ORDER.get(x.severity, 9), -x.last_seen.timestamp(), x.id))
    d.open_alert_total = len(opened)
    d.open_alerts = opened[:LIST_LIMIT]
