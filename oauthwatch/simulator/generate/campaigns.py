"""The 2025 campaigns as local-org scenarios, with their ground truth.

- ``token_theft`` (the Salesloft Drift / Gainsight pattern): a trusted vendor app's refresh tokens,
  stolen from the vendor, are replayed for its grant holders (an admin among them when one holds a
  grant) from the campaign's published infrastructure: reconnaissance from an AWS address, then
  exports from a DigitalOcean host and Tor exits, with scripted user agents
  (``python-requests/2.32.4``, ``Salesforce-Multi-Org-Fetcher/1.0``). Licensed orgs also get an
  API anomaly security event from the first replay's address.
- ``fake_dataloader`` (UNC6040): a user on the phone with "IT support" authorises an app called
  "Data Loader" that is not Salesforce's (another id, never installed by an admin) through the
  device flow, and it pulls data from a VPN exit.

The addresses are the public indicators in oauthwatch/hunt/lists/campaigns-2025.ioc. The theft's
API calls are staged too (:mod:`oauthwatch.simulator.generate.theft_calls`): reconnaissance
(``/sobjects``, describe, ``SELECT COUNT()``, ``/limits``), Bulk API 2.0 export jobs and one job
deleted right after it finished, in the ApiTotalUsage event log files and the Bulk job listings;
the ground truth counts them (``api_calls_staged: true``, ``api_calls``, ``bulk_jobs``,
``deleted_jobs``). They are all the calls the replayed sessions make: the org derives no calls of
the vendor's usual kind from the thief's refreshes, so ``api_calls`` is every ApiTotalUsage row
from the thief's addresses.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable

from oauthwatch.simulator.data import staged
from oauthwatch.simulator.data.clock import HOUR_MS
from oauthwatch.simulator.data.ids import make_id, to15
from oauthwatch.simulator.generate.incidents import MIN, Incident, NotApplicable
from oauthwatch.simulator.generate.names import full_name
from oauthwatch.simulator.generate.plan import Plan, opaque
from oauthwatch.simulator.generate.theft_calls import theft_calls
from oauthwatch.simulator.generate.traffic import REMOTE, SUB_REFRESH

RECON_IP = "44.215.108.109"  # AWS
EXFIL_IP = "208.68.36.90"  # DigitalOcean
TOR_IPS = ("185.220.101.33", "185.220.101.133", "192.42.116.20")
VPN_IP = "23.144.160.67"  # a Mullvad exit in the shipped network table
UA_RECON, UA_FETCH = "python-requests/2.32.4", "Salesforce-Multi-Org-Fetcher/1.0"
# LoginHistory has no documented LoginSubType for the device flow (docs/hunting.md); the local org
# labels it like this (UNCONFIRMED), and oauthwatch recognises any sub-type naming "device".
SUB_DEVICE = "OAuth Device Flow"


def token_theft(plan: Plan, rng: random.Random, at: int) -> Incident:
    """Stolen refresh tokens of the vendor app with the most active grants, replayed by the thief."""
    by_app: dict[int, list] = {}
    for g in plan.grants:
        if g.state == "active" and plan.apps[g.app].kind == "user" and plan.users[g.user].active:
            by_app.setdefault(g.app, []).append(g)
    if not by_app:
        raise NotApplicable(
            "the org has no vendor app with active user grants: build it with more apps (--apps)"
        )
    app_idx = max(by_app, key=lambda a: (len(by_app[a]), -a))
    app = plan.apps[app_idx]
    grants = sorted(by_app[app_idx], key=lambda g: (plan.users[g.user].kind != "admin", g.user))[:3]
    victims = [plan.users[g.user] for g in grants]
    events = []
    for k, u in enumerate(victims):  # reconnaissance: one refresh per victim from AWS
        events.append((at + k * 2 * MIN, u.id, REMOTE, SUB_REFRESH, "Success", RECON_IP, UA_RECON, "Unknown",
                       "login.salesforce.com", app.label))  # fmt: skip
    t = at + 20 * MIN
    for _ in range(9):  # exports: DigitalOcean and Tor, a scripted fetcher
        u = victims[rng.randrange(len(victims))]
        ip = rng.choice((EXFIL_IP, *TOR_IPS))
        events.append(
            (
                t,
                u.id,
                REMOTE,
                SUB_REFRESH,
                "Success",
                ip,
                UA_FETCH,
                "Unknown",
                "login.salesforce.com",
                app.label,
            )
        )
        t += rng.randrange(3 * MIN, 7 * MIN)
    theft = theft_calls(rng, app_id=app.id, app_name=app.label, users=[(u.id, u.username) for u in victims],
                        recon=(at, RECON_IP), exports=(at + 22 * MIN, (EXFIL_IP, *TOR_IPS)))  # fmt: skip
    # Every address the thief used, for logins or for API calls: a Tor exit can carry calls only.
    ips = sorted({e[5] for e in events} | {c.client_ip for c in theft.calls})
    end = max(t, *(c.t for c in theft.calls))

    def configure(conn: sqlite3.Connection) -> None:
        staged.stage(conn, theft.calls, theft.jobs)

    return Incident(
        "token_theft", at, end, app.label, [u.username for u in victims], ips, None, None, "app_risky_network",
        f"{app.label}'s refresh tokens, stolen from the vendor, replayed for {len(victims)} grant holder(s) "
        f"({', '.join(u.username for u in victims)}): reconnaissance from AWS {RECON_IP} with {UA_RECON} "
        f"({theft.recon_calls} API calls: /sobjects, describe, SELECT COUNT(), /limits), then "
        f"{len(events) - len(victims)} refreshes from DigitalOcean {EXFIL_IP} and Tor exits with {UA_FETCH} "
        f"and {len(theft.jobs)} Bulk API export jobs ({theft.export_calls} calls), the last one deleted two "
        "minutes after it finished. api_calls_staged: true.",
        events, configure,
        extra={"api_calls": len(theft.calls), "recon_calls": theft.recon_calls, "export_calls": theft.export_calls,
               "bulk_jobs": [j.id for j in theft.jobs], "bulk_rows": sum(j.records for j in theft.jobs),
               "deleted_jobs": theft.deleted, "app_id": app.id},
        calls_staged=True,
    )  # fmt: skip


def fake_dataloader(plan: Plan, rng: random.Random, at: int) -> Incident:
    """A user authorises a lookalike "Data Loader" through the device flow; it pulls data over a VPN."""
    people = [u for u in plan.users if u.kind in ("human", "admin") and u.active]
    if not people:
        raise NotApplicable("the org has no active human users: build it with more users (--users)")
    victim = people[rng.randrange(len(people))]
    label = "Data Loader"
    number = 870 + (at // MIN) % 100_000
    app_id, menu_id = make_id("0H4", number), make_id("0DS", number)
    key, secret = opaque(rng, "3MVG9", 80), "".join(rng.choice("0123456789ABCDEF") for _ in range(64))
    events = [(at, victim.id, REMOTE, SUB_DEVICE, "Success", victim.office_ip, victim.browser, victim.platform,
               plan.login_host, label)]  # fmt: skip
    events += [
        (at + (5 + 4 * k) * MIN, victim.id, REMOTE, SUB_REFRESH, "Success", VPN_IP, UA_RECON, "Unknown",
         "login.salesforce.com", label)
        for k in range(6)
    ]  # fmt: skip

    def configure(conn: sqlite3.Connection) -> None:
        # never installed: no ConnectedApplication row, only the app the user authorised
        if conn.execute("SELECT 1 FROM _AppConfig WHERE AppId = ?", (app_id,)).fetchone():
            return
        conn.execute(
            "INSERT INTO _AppConfig (AppId, Label, FullName, ContactEmail, ConsumerKey, ConsumerSecret, CallbackUrl, Scopes, Flows,"
            " IsAdminApproved, IpRelaxation, RefreshTokenPolicy, Kind) VALUES (?,?,?,?,?,?,?,?,?,0,'ENFORCE','infinite','user')",
            (app_id, label, full_name(label) + "_2", "it-support@help-desk.example.net", key, secret,
             "https://login.salesforce.com/services/oauth2/success", json.dumps(["Api", "RefreshToken"]),
             json.dumps(["device", "refresh_token"])),
        )  # fmt: skip
        conn.execute(
            'INSERT INTO "AppMenuItem" VALUES (?,?,?,?,?,?,?,?,?,?)',
            (
                menu_id,
                to15(app_id),
                full_name(label) + "_2",
                label,
                "Data Loader",
                "ConnectedApplication",
                1,
                1,
                0,
                None,
            ),
        )
        h = "".join(rng.choice("0123456789abcdef") for _ in range(96))  # the device flow's grant
        conn.execute(
            'INSERT INTO "OauthToken" ("Id","AccessToken","AppMenuItemId","AppName","CreatedDate","DeleteToken",'
            '"LastUsedDate","RequestToken","UseCount","UserId") VALUES (NULL,?,?,?,?,?,?,?,1,?)',
            (f"5Aep861{h[:40]}", menu_id, label, at, f"5Aep861{h[40:80]}", at, f"aPrx{h[80:]}", victim.id),
        )

    return Incident(
        "fake_dataloader", at, at + HOUR_MS, label, [victim.username], [VPN_IP], None, None, "app_imitation",
        f"{victim.username} authorised a lookalike 'Data Loader' ({to15(app_id)}, never installed) through the "
        f"device flow during a vishing call; it refreshed 6 times from a VPN exit ({VPN_IP}) with {UA_RECON}.",
        events, configure,
    )  # fmt: skip


BUILDERS: dict[str, Callable[[Plan, random.Random, int], Incident]] = {
    "token_theft": token_theft,
    "fake_dataloader": fake_dataloader,
}
