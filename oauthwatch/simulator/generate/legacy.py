"""The legacy password flow incident: an integration falls back to the OAuth Username-Password flow.

A JWT (or client-credentials) integration breaks, and someone "fixes" it with a script that logs
in as the integration user with its password and security token: the OAuth Username-Password
flow, which sends the password on every login and cannot use MFA (the ``legacy_flow`` detector's
reason to exist). The app never used that flow before, so the first use is worth an alert, unlike
the org's known legacy tools that use it every day. The script runs for two hours from the app's
usual servers, a login every few minutes, all successful.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from oauthwatch.simulator.generate import geo
from oauthwatch.simulator.generate.incidents import MIN, Incident, NotApplicable, _integration
from oauthwatch.simulator.generate.plan import App, Plan
from oauthwatch.simulator.generate.traffic import REMOTE, SUB_PASSWORD


def _target(plan: Plan) -> App:
    """An integration that never uses the password flow, and not the one ``runaway_integration``
    picks (two incidents on one app would read as one)."""
    busy = _integration(plan, "client_credentials")
    apps = [
        a
        for a in plan.apps
        if a.kind == "integration" and "password" not in a.spec.flows and a is not busy and a.service_users
    ]
    if not apps:
        raise NotApplicable("the org has no second integration app: build it with --apps 4 or more")
    return sorted(apps, key=lambda a: ("jwt" not in a.spec.flows, a.idx))[0]


def legacy_password_flow(plan: Plan, rng: random.Random, at: int) -> Incident:
    app = _target(plan)
    user = plan.users[app.service_users[0]]
    end = at + 2 * 60 * MIN
    events, t = [], at
    while t < end:
        ip = app.ips[rng.randrange(len(app.ips))][0]
        events.append((t, user.id, REMOTE, SUB_PASSWORD, "Success", ip, "Unknown", "Unknown",
                       "login.salesforce.com", app.label))  # fmt: skip
        t += 3 * MIN + rng.randrange(4 * MIN)
    return Incident(
        "legacy_password_flow", at, end, app.label, [user.username], sorted({e[5] for e in events}),
        app.spec.networks[0] if app.spec.networks else None, geo.NETWORKS[app.ips[0][1]].iso, "legacy_flow",
        f"{app.label} logged in {len(events)} times in two hours with the OAuth Username-Password flow, as "
        f"{user.username}: a fallback script sending the integration user's password, a flow the app "
        "never used before.",
        events,
    )  # fmt: skip


BUILDERS: dict[str, Callable[[Plan, random.Random, int], Incident]] = {
    "legacy_password_flow": legacy_password_flow,
}
