"""The org's setup, planned in memory from the seed: users, profiles, apps, grants.

The plan is pure (no database): the builder writes it once, and the live ticker rebuilds the same
plan from the build parameters kept in ``_State`` to continue the same traffic. Everything is drawn
from ``random.Random`` seeded with the seed and a label, so adding one kind of record never shifts
the values of another.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from oauthwatch.simulator.data.clock import DAY_MS, from_ms
from oauthwatch.simulator.data.ids import make_id
from oauthwatch.simulator.generate import geo, names
from oauthwatch.simulator.generate.keys import certificate_pem, rsa_key

_TOKEN_CHARS = string.ascii_letters + string.digits


@dataclass
class User:
    idx: int
    id: str
    username: str
    first: str
    last: str
    tz: str
    region: int
    profile: int  # index in names.PROFILES
    active: bool
    kind: str  # human | admin | integration | service
    created_ms: int
    office_ip: str
    office_net: int
    home_ip: str
    home_net: int
    mobile_net: int
    browser: str
    platform: str
    phone: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def email(self) -> str:
        return self.username


@dataclass
class App:
    idx: int
    spec: names.AppSpec
    id: str
    menu_item_id: str
    consumer_key: str
    consumer_secret: str
    callback: str
    created_ms: int
    modified_ms: int
    ips: tuple[tuple[str, int], ...]  # (address, geo network index) its servers call from
    service_users: list[int] = field(default_factory=list)
    cert_pem: str | None = None
    cert_not_after_ms: int | None = None

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def kind(self) -> str:
        return self.spec.kind


@dataclass
class Grant:
    user: int
    app: int
    created_ms: int
    prior_uses: int
    last_used_ms: int  # before the window (or creation)
    state: str  # active | dormant | stale
    access_token: str
    delete_token: str
    request_token: str


@dataclass
class Plan:
    seed: int
    start_ms: int
    end_ms: int
    org_id: str
    org_name: str
    my_domain: str
    users: list[User]
    apps: list[App]
    grants: list[Grant]
    profile_ids: list[str]
    profile_permset_ids: list[str]
    permset_ids: dict[str, str]
    assignments: dict[str, list[int]]  # permission set name → user indexes
    passwords: dict[int, str]
    admin: int  # index of the interactive admin user
    oauthwatch_user: int  # integration (JWT + client-credentials run-as) user

    @property
    def login_host(self) -> str:
        return f"{self.my_domain}.my.salesforce.com"

    @property
    def email_domain(self) -> str:
        return f"{self.my_domain}.example.com"


def rng_for(seed: int, label: str) -> random.Random:
    """A generator for one purpose: independent of every other purpose."""
    return random.Random(f"{seed}:{label}")


_TOKEN_TABLE = bytes(ord(_TOKEN_CHARS[i % len(_TOKEN_CHARS)]) for i in range(256))


def opaque(rng: random.Random, prefix: str, length: int) -> str:
    """An opaque token (letters and digits) drawn from ``rng``: stable for a seed."""
    return prefix + rng.randbytes(length).translate(_TOKEN_TABLE).decode()


def _weighted(rng: random.Random, items: list, weights: list[int]):  # noqa: ANN202 - generic helper
    return rng.choices(items, weights=weights, k=1)[0]


def _app_specs(count: int) -> list[names.AppSpec]:
    specs = list(names.APPS[: max(1, count)])
    extra = count - len(specs)
    for i in range(max(0, extra)):
        label = names.EXTRA_USER_APP_NAMES[i % len(names.EXTRA_USER_APP_NAMES)]
        if i >= len(names.EXTRA_USER_APP_NAMES):
            label = f"{label} {i // len(names.EXTRA_USER_APP_NAMES) + 1}"
        cloud = geo.by_kind("cloud")
        specs.append(
            names.AppSpec(
                label,
                "user",
                ("web_server", "refresh_token"),
                ("Api", "RefreshToken"),
                networks=(geo.NETWORKS[cloud[i % len(cloud)]].cidr,),
                rate=0.05,
                adoption=0.06,
            )
        )
    return specs


def make_plan(*, seed: int, users: int, apps: int, start_ms: int, end_ms: int) -> Plan:
    """The whole setup of the org for these build parameters (deterministic).

    The setup depends on the window only through its first and last day, so an org built up to 10:00
    and ticked live to 12:00 holds the same logins as one built up to 12:00 the same day.
    """
    real_start, real_end = start_ms, end_ms
    start_ms, end_ms = start_ms - start_ms % DAY_MS, end_ms - end_ms % DAY_MS + DAY_MS
    org_name, my_domain = names.ORG_NAMES[seed % len(names.ORG_NAMES)]
    org_id = make_id("00D", 1_000_000 + seed % 1_000_000)
    specs = _app_specs(apps)
    n_service = (
        sum(1 for s in specs if s.kind == "integration")
        + 1
        + (2 if any(s.kind == "legacy" for s in specs) else 0)
    )
    n_humans = max(5, users - n_service)
    email_domain = f"{my_domain}.example.com"

    profile_ids = [make_id("00e", 300 + i) for i in range(len(names.PROFILES))]
    profile_permset_ids = [make_id("0PS", 500 + i) for i in range(len(names.PROFILES))]
    permset_ids = {n: make_id("0PS", 900 + i) for i, (n, _label) in enumerate(names.PERMISSION_SETS)}
    pidx = {p[0]: i for i, p in enumerate(names.PROFILES)}

    urng = rng_for(seed, "users")
    regions = names.REGIONS
    weights = [r.weight for r in regions]
    out: list[User] = []
    used: set[str] = set()
    org_birth = start_ms - 900 * DAY_MS

    def add_user(first: str, last: str, kind: str, profile: int, region: int, active: bool = True) -> User:
        base = f"{first}.{last}".lower().replace("é", "e").replace(" ", "")
        uname, n = f"{base}@{email_domain}", 1
        while uname in used:
            n += 1
            uname = f"{base}{n}@{email_domain}"
        used.add(uname)
        reg = regions[region]
        office_net = geo.index(reg.office)
        home_net = geo.index(urng.choice(reg.isp))
        desk = _weighted(urng, list(names.DESKTOPS), [d[2] for d in names.DESKTOPS])
        phone = _weighted(urng, [p[0] for p in names.PHONES], [p[1] for p in names.PHONES])
        idx = len(out)
        user = User(
            idx=idx,
            id=make_id("005", 4000 + idx),
            username=uname,
            first=first,
            last=last,
            tz=reg.tz,
            region=region,
            profile=profile,
            active=active,
            kind=kind,
            created_ms=org_birth + urng.randrange(0, 850 * DAY_MS),
            office_ip=geo.NETWORKS[office_net].address(urng.randrange(2, 250)),
            office_net=office_net,
            home_ip=geo.NETWORKS[home_net].address(urng.randrange(1, 60_000)),
            home_net=home_net,
            mobile_net=geo.index(reg.mobile),
            browser=desk[0],
            platform=desk[1],
            phone=phone,
        )
        out.append(user)
        return user

    api_only = pidx["Minimum Access - API Only Integrations"]
    ow_user = add_user("OAuthwatch", "Integration", "integration", api_only, 0)
    n_admins = max(2, n_humans // 25)
    for i in range(n_humans):
        first = names.FIRST[(i * 7 + seed) % len(names.FIRST)]
        last = names.LAST[(i * 13 + seed * 3 + i // len(names.FIRST)) % len(names.LAST)]
        region = _weighted(urng, list(range(len(regions))), weights)
        if i < n_admins:
            kind, profile = "admin", pidx["System Administrator"]
        else:
            kind = "human"
            profile = _weighted(
                urng,
                [pidx["Sales User"], pidx["Support Agent"], pidx["Standard User"], pidx["Read Only"]],
                [45, 25, 25, 5],
            )
        active = i < n_admins or urng.random() > 0.02
        add_user(first, last, kind, profile, region, active)
    admin = out[1]

    arng = rng_for(seed, "apps")
    app_list: list[App] = []
    for i, spec in enumerate(specs):
        created = start_ms - arng.randrange(40, 800) * DAY_MS - arng.randrange(DAY_MS)
        ips = []
        for cidr in spec.networks:
            ni = geo.index(cidr)
            for _ in range(3 if spec.kind == "integration" else 6):
                ips.append((geo.NETWORKS[ni].address(arng.randrange(2, 250)), ni))
        app = App(
            idx=i,
            spec=spec,
            id=make_id("0H4", 700 + i),
            menu_item_id=make_id("0DS", 700 + i),
            consumer_key=opaque(arng, "3MVG9", 80),
            consumer_secret="".join(arng.choice("0123456789ABCDEF") for _ in range(64)),
            callback=(
                "http://localhost:1717/callback"
                if spec.kind in ("oauthwatch", "dataloader")
                else f"https://{names.full_name(spec.label).lower()}.example.net/oauth/callback"
            ),
            created_ms=created,
            modified_ms=created + arng.randrange(0, max(1, start_ms - created)),
            ips=tuple(ips),
        )
        if "jwt" in spec.flows and spec.cert_days_left is not None:
            key = rsa_key(f"{seed}:oauthwatch" if spec.kind == "oauthwatch" else f"{seed}:apps")
            not_after = end_ms + spec.cert_days_left * DAY_MS
            app.cert_pem = certificate_pem(
                key,
                names.full_name(spec.label),
                from_ms(not_after - 730 * DAY_MS),
                from_ms(not_after),
                1000 + i,
            )
            app.cert_not_after_ms = not_after - not_after % 1000
        if spec.kind == "integration":
            svc = add_user(spec.label.split()[0], "Integration", "service", api_only, 0)
            app.service_users.append(svc.idx)
        elif spec.kind == "legacy":
            for who in ("Quotes", "Quotes Batch"):
                svc = add_user(who, "Service", "service", pidx["Standard User"], 2)
                app.service_users.append(svc.idx)
        elif spec.kind == "oauthwatch":
            app.service_users.append(ow_user.idx)
        app_list.append(app)

    humans = [u for u in out if u.kind in ("human", "admin")]
    assignments: dict[str, list[int]] = {n: [] for n, _ in names.PERMISSION_SETS}
    assignments["OAuthwatch_Integration"].append(ow_user.idx)
    for app in app_list:
        if app.kind == "integration":
            assignments["Integration_Apps"].extend(app.service_users)
        if app.kind == "legacy":
            assignments["Legacy_Quote_Access"].extend(app.service_users)
    assignments["Data_Loader_Users"].extend(u.idx for u in humans if u.kind == "admin" or u.idx % 40 == 3)
    assignments["Sales_Productivity_Apps"].extend(u.idx for u in humans if u.profile == pidx["Sales User"])
    assignments["Mobile_Users"].extend(u.idx for u in humans if u.idx % 3 == 0)

    grants = _plan_grants(seed, start_ms, end_ms, out, app_list, assignments)
    prng = rng_for(seed, "passwords")
    passwords = {u.idx: opaque(prng, "Ow!", 13) for u in out}
    return Plan(
        seed=seed,
        start_ms=real_start,
        end_ms=real_end,
        org_id=org_id,
        org_name=org_name,
        my_domain=f"{my_domain}-{seed}",
        users=out,
        apps=app_list,
        grants=grants,
        profile_ids=profile_ids,
        profile_permset_ids=profile_permset_ids,
        permset_ids=permset_ids,
        assignments=assignments,
        passwords=passwords,
        admin=admin.idx,
        oauthwatch_user=ow_user.idx,
    )


def _plan_grants(
    seed: int,
    start_ms: int,
    end_ms: int,
    users: list[User],
    apps: list[App],
    assignments: dict[str, list[int]],
) -> list[Grant]:
    """Who has authorized which app, since when, and how much they used it before the window."""
    rng = rng_for(seed, "grants")
    grants: list[Grant] = []
    for app in apps:
        spec = app.spec
        if spec.kind == "integration" and "refresh_token" in spec.flows:
            holders = list(app.service_users)
        elif spec.kind == "dataloader":
            holders = list(assignments["Data_Loader_Users"])
        elif spec.kind in ("user", "mobile"):
            pool = users
            if spec.permission_set == "Sales_Productivity_Apps":
                allowed = set(assignments["Sales_Productivity_Apps"])
                pool = [u for u in users if u.idx in allowed]
            holders = [
                u.idx
                for u in pool
                if u.kind in ("human", "admin")
                and rng.random() < spec.adoption * (1.6 if pool is not users else 1)
            ]
        else:
            continue
        for uidx in holders:
            user = users[uidx]
            roll = rng.random()
            if not user.active or roll < 0.03:
                state = "stale"
            elif roll < 0.06:
                state = "dormant"
            else:
                state = "active"
            if state == "active" and rng.random() < 0.05:
                created = start_ms + rng.randrange(0, max(1, end_ms - start_ms))
            else:
                created = max(user.created_ms, app.created_ms) + rng.randrange(DAY_MS, 200 * DAY_MS)
                created = min(created, start_ms - (120 if state == "stale" else 70) * DAY_MS)
            if state == "stale":
                last = start_ms - rng.randrange(95, 300) * DAY_MS
                last = max(last, created + DAY_MS)
                last = min(last, end_ms - 91 * DAY_MS)
            elif state == "dormant":
                last = end_ms - rng.randrange(35, 85) * DAY_MS
                last = max(last, created + DAY_MS)
            else:
                last = created
            days_before = max(0, (min(last, start_ms) - created) // DAY_MS)
            per_day = spec.rate * (24 if spec.kind == "integration" else 5)
            prior = int(days_before * per_day * rng.uniform(0.4, 1.1)) + 1 if created < start_ms else 0
            grants.append(
                Grant(
                    user=uidx,
                    app=app.idx,
                    created_ms=created,
                    prior_uses=prior,
                    last_used_ms=last,
                    state=state,
                    access_token=opaque(rng, "5Aep861", 80),
                    delete_token=opaque(rng, "5Aep861", 80),
                    request_token=opaque(rng, "aPrx", 60),
                )
            )
    return grants
