"""The login model: who authenticates through which app, when, from where, and how it fails.

Traffic is generated one hour at a time from a generator seeded by (seed, hour), so any hour can
be produced again on its own: the history builder, the live ticker and the tests all see the same
events. Volume is drawn per group of alike actors (one app in one time zone) with a Poisson count
scaled by the local hour and weekday, then spread over members, so an hour costs time in proportion
to its events, not to the number of users.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from oauthwatch.simulator.data.clock import HOUR_MS
from oauthwatch.simulator.generate import geo, names
from oauthwatch.simulator.generate.plan import Plan

# Event tuple layout (kept as tuples: millions of them are made).
T, USER, APP, LTYPE, SUB, STATUS, IP, NET, BROWSER, PLATFORM, URL, TLS = range(12)

REMOTE = "Remote Access 2.0"
UI_TYPE = "Application"
SUB_WEB = "OAuth Web Server"
SUB_REFRESH = "OAuth Refresh Token"
SUB_PASSWORD = "OAuth Username-Password"  # noqa: S105 - a LoginSubType label
SUB_CC = "OAuth Client Credentials"
SUB_UI = "UI Username-Password"


def _rhythm(kind: str) -> list[float]:
    """Activity factor per (weekday, local hour), index weekday * 24 + hour, Monday = 0."""
    out = []
    for wd in range(7):
        weekend = wd >= 5
        for h in range(24):
            if kind == "work":
                f = (
                    1.0
                    if 9 <= h <= 16
                    else 0.55
                    if h in (8, 17)
                    else 0.18
                    if h in (7, 18, 19)
                    else 0.06
                    if h in (20, 21)
                    else 0.015
                )
                f *= 0.07 if weekend else 1.0
            elif kind == "awake":
                f = 1.0 if 8 <= h <= 21 else 0.45 if h in (7, 22) else 0.05
                f *= 0.55 if weekend else 1.0
            else:  # always-on integrations, busier while the business works
                f = 1.5 if 8 <= h <= 18 else 1.0
                f *= 0.65 if weekend else 1.0
            out.append(f)
    return out


RHYTHMS = {k: _rhythm(k) for k in ("work", "awake", "always")}

FAILURES: dict[str, tuple[tuple[float, str], ...]] = {
    "jwt": ((0.003, "Failed: Signature Invalid"), (0.004, "Failed: Invalid Timestamp")),
    "cc": ((0.002, "Failed: OAuth API access disabled"), (0.003, "Failed: IP Address Not Allowed")),
    "refresh": ((0.005, "Failed: Invalid Token"),),
    "web": ((0.006, "Failed: Invalid Callback URL"),),
    "pkce": ((0.012, "Failed: Invalid Code Verifier"),),
    "password": (
        (0.03, "Invalid Password"),
        (0.036, "Failed: API security token required"),
        (0.038, "Password Lockout"),
        (0.041, "Restricted IP"),
    ),
    "ui": (
        (0.04, "Invalid Password"),
        (0.043, "Password Lockout"),
        (0.045, "Restricted IP"),
        (0.048, "Failed: Computer activation required"),
    ),
}


def status(rng: random.Random, table: str) -> str:
    r = rng.random()
    for limit, text in FAILURES[table]:
        if r < limit:
            return text
    return "Success"


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal for large ones)."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))


@dataclass
class Group:
    """Actors that behave alike: one kind of traffic, one app, one time zone."""

    kind: str  # jwt | cc | vendor | mobile | dataloader | legacy | integration_refresh | ui | inactive
    app: int  # -1 for browser logins
    region: int
    members: list[int]
    rate: float  # logins per member per hour at rhythm factor 1
    rhythm: str


class Traffic:
    """Hour-by-hour login generator for one plan."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.seed = plan.seed
        self.groups: list[Group] = []
        self._offsets: dict[tuple[int, int], int] = {}
        self._zones = [ZoneInfo(r.tz) for r in names.REGIONS]
        humans = [u for u in plan.users if u.kind in ("human", "admin")]
        scale = max(0.05, len(humans) / 290)
        self.login_host = plan.login_host
        self.grant_created: dict[tuple[int, int], int] = {}
        self.creations: dict[int, list[tuple[int, int, int]]] = {}
        for app in plan.apps:
            spec = app.spec
            if spec.kind == "integration":
                kind = (
                    "jwt"
                    if "jwt" in spec.flows
                    else "cc"
                    if "client_credentials" in spec.flows
                    else "integration_refresh"
                )
                self.groups.append(
                    Group(kind, app.idx, 0, list(app.service_users), spec.rate * scale, "always")
                )
            elif spec.kind == "legacy":
                self.groups.append(
                    Group("legacy", app.idx, 2, list(app.service_users), spec.rate * scale / 2, "work")
                )
        by_key: dict[tuple[int, int], list[int]] = {}
        for g in plan.grants:
            app = plan.apps[g.app]
            user = plan.users[g.user]
            if g.state != "active" or app.kind not in ("user", "mobile", "dataloader"):
                continue
            by_key.setdefault((g.app, user.region), []).append(g.user)
            if g.created_ms >= plan.start_ms:
                self.grant_created[(g.user, g.app)] = g.created_ms
                hour = g.created_ms - g.created_ms % HOUR_MS
                self.creations.setdefault(hour, []).append((g.created_ms, g.user, g.app))
        for (aidx, region), members in sorted(by_key.items()):
            app = plan.apps[aidx]
            kind = "vendor" if app.kind == "user" else app.kind
            rhythm = "awake" if app.kind == "mobile" else "work"
            self.groups.append(Group(kind, aidx, region, members, app.spec.rate, rhythm))
        for region in range(len(names.REGIONS)):
            active = [u.idx for u in humans if u.region == region and u.active]
            inactive = [u.idx for u in humans if u.region == region and not u.active]
            if active:
                self.groups.append(Group("ui", -1, region, active, 0.16, "work"))
            if inactive:
                self.groups.append(Group("inactive", -1, region, inactive, 0.004, "work"))
        self._nets = geo.NETWORKS

    def _how(self, region: int, hour_ms: int) -> int:
        key = (region, hour_ms)
        how = self._offsets.get(key)
        if how is None:
            local = datetime.fromtimestamp(hour_ms / 1000, tz=UTC).astimezone(self._zones[region])
            how = local.weekday() * 24 + local.hour
            if len(self._offsets) > 200_000:
                self._offsets.clear()
            self._offsets[key] = how
        return how

    def expected(self, group: Group, hour_ms: int) -> float:
        """Mean number of logins of ``group`` in the hour starting at ``hour_ms``."""
        return group.rate * len(group.members) * RHYTHMS[group.rhythm][self._how(group.region, hour_ms)]

    def hour(self, hour_ms: int, *, scale: float = 1.0, salt: int = 0) -> list[tuple]:
        """Every login of the hour starting at ``hour_ms``, ordered by time (deterministic)."""
        rng = random.Random(self.seed * 1_000_003 + (hour_ms // HOUR_MS) * 31 + salt)
        events: list[tuple] = []
        for group in self.groups:
            n = poisson(rng, self.expected(group, hour_ms) * scale)
            members = group.members
            size = len(members)
            rand = rng.random
            for _ in range(n):
                uidx = members[int(rand() * size)]
                t = hour_ms + int(rand() * HOUR_MS)
                created = self.grant_created.get((uidx, group.app))
                if created is not None and t <= created:
                    continue
                events.append(self._emit(group.kind, rng, t, uidx, group.app))
        for created, uidx, aidx in self.creations.get(hour_ms, ()):
            events.append(self._web_server(rng, created, uidx, aidx))
        events.sort(key=_time)
        return events

    # --- one login of each kind ---------------------------------------------------------------
    def _emit(self, kind: str, rng: random.Random, t: int, uidx: int, aidx: int) -> tuple:
        plan = self.plan
        user = plan.users[uidx]
        if kind == "ui" or kind == "inactive":
            ip, net = self._user_ip(rng, user, t)
            st = "User is Inactive" if kind == "inactive" else status(rng, "ui")
            return (
                t,
                uidx,
                -1,
                UI_TYPE,
                SUB_UI,
                st,
                ip,
                net,
                user.browser,
                user.platform,
                self.login_host,
                self._tls(rng),
            )
        app = plan.apps[aidx]
        if kind in ("jwt", "cc", "integration_refresh", "legacy"):
            ip, net = app.ips[int(rng.random() * len(app.ips))]
            if kind == "jwt":
                sub, st = None, status(rng, "jwt")
            elif kind == "cc":
                sub, st = SUB_CC, status(rng, "cc")
            elif kind == "legacy":
                sub, st = SUB_PASSWORD, status(rng, "password")
            else:
                sub, st = SUB_REFRESH, status(rng, "refresh")
            url = "login.salesforce.com" if (aidx + uidx) % 3 else self.login_host
            return (t, uidx, aidx, REMOTE, sub, st, ip, net, "Unknown", "Unknown", url, 1 if aidx % 2 else 0)
        if kind == "vendor":
            if rng.random() < 0.05:
                return self._web_server(rng, t, uidx, aidx)
            ip, net = app.ips[int(rng.random() * len(app.ips))]
            return (
                t,
                uidx,
                aidx,
                REMOTE,
                SUB_REFRESH,
                status(rng, "refresh"),
                ip,
                net,
                "Unknown",
                "Unknown",
                "login.salesforce.com",
                0,
            )
        if kind == "mobile":
            if rng.random() < 0.02:
                return self._web_server(rng, t, uidx, aidx)
            ip, net = self._mobile_ip(rng, user, t)
            platform = "iPhone" if "iOS" in app.label else "Android 14"
            return (
                t,
                uidx,
                aidx,
                REMOTE,
                SUB_REFRESH,
                status(rng, "refresh"),
                ip,
                net,
                "Unknown",
                platform,
                self.login_host,
                0,
            )
        # dataloader: desktop Java client on the admin's machine
        ip, net = self._user_ip(rng, user, t)
        r = rng.random()
        if r < 0.15:
            sub, st = SUB_PASSWORD, status(rng, "password")
        elif r < 0.4:
            sub, st = SUB_WEB, status(rng, "web")
        else:
            sub, st = SUB_REFRESH, status(rng, "refresh")
        return (t, uidx, aidx, REMOTE, sub, st, ip, net, "Unknown", user.platform, "login.salesforce.com", 1)

    def _web_server(self, rng: random.Random, t: int, uidx: int, aidx: int) -> tuple:
        """The authorization-code login a user makes in the browser when approving an app."""
        user = self.plan.users[uidx]
        app = self.plan.apps[aidx]
        ip, net = self._user_ip(rng, user, t)
        st = status(rng, "pkce" if app.spec.pkce else "web")
        return (t, uidx, aidx, REMOTE, SUB_WEB, st, ip, net, user.browser, user.platform, self.login_host, 0)

    def _user_ip(self, rng: random.Random, user: object, t: int) -> tuple[str, int]:
        r = rng.random()
        if r < 0.001:  # travelling: a hotel or airport in another region (rare: real trips are rare)
            region = names.REGIONS[rng.randrange(len(names.REGIONS))]
            ni = geo.index(region.isp[0])
            return self._nets[ni].address(rng.randrange(60_000)), ni
        if r < 0.62:
            return user.office_ip, user.office_net  # type: ignore[attr-defined]
        return user.home_ip, user.home_net  # type: ignore[attr-defined]

    def _mobile_ip(self, rng: random.Random, user: object, t: int) -> tuple[str, int]:
        r = rng.random()
        if r < 0.6:
            ni = user.mobile_net  # type: ignore[attr-defined]
            return self._nets[ni].address(rng.randrange(60_000)), ni
        return self._user_ip(rng, user, t)

    def _tls(self, rng: random.Random) -> int:
        return 0 if rng.random() < 0.86 else 1


def _time(event: tuple) -> int:
    return event[0]
