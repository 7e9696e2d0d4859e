"""The dashboard side of the stolen-token features: network classes of addresses, the ranked grant
inventory, and revoking an app's grants behind the login with a confirmation naming each grant.

Revoking from the dashboard needs all of: ``[response] allow_revoke = true``, a signed-in user
(the dashboard's OIDC login, docs/dashboard.md) and an explicit confirmation of the dry run's exact
list; exactly the confirmed grants are revoked, and each action is recorded with the signed-in
user's email, like `oauthwatch revoke` records the CLI's user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import pandas as pd
import streamlit as st

from dashboard import actions, data, ui

if TYPE_CHECKING:
    from oauthwatch.intel.networks import NetworkIndex
    from oauthwatch.response.revoke import RevokeReport

TTL = 60


@st.cache_resource(show_spinner=False, ttl=600)
def _networks_for(url: str) -> NetworkIndex:
    from oauthwatch.intel.networks import network_index

    return network_index(data.engine())


def with_network_class(df: pd.DataFrame, column: str = "source_ip") -> pd.DataFrame:
    """``df`` with ``network_class`` (hosting | vpn | tor | other) and ``provider`` for ``column``."""
    if df.empty or column not in df:
        return df
    index = _networks_for(data.settings().store.url)
    classes = {ip: index.classify(ip) for ip in df[column].dropna().unique()}
    pos = cast(int, df.columns.get_loc(column)) + 1  # column names are unique: an int position
    out = df.copy()
    out.insert(
        pos, "network_class", out[column].map(lambda ip: classes[ip].kind if ip in classes else "other")
    )
    out.insert(pos + 1, "provider", out[column].map(lambda ip: classes[ip].provider if ip in classes else ""))
    return out


def evidence_networks(evidence: dict) -> pd.DataFrame:
    """The addresses an alert's evidence names (``ip``, ``ips``, ``source_ip``…), with their class."""
    import ipaddress

    found: list[str] = []
    for key, value in evidence.items():
        if "ip" not in key.lower() or not isinstance(value, str):
            continue
        for part in value.replace(";", ",").split(","):
            part = part.strip()
            try:
                ipaddress.ip_address(part)
            except ValueError:
                continue
            if part not in found:
                found.append(part)
    return with_network_class(pd.DataFrame({"source_ip": found})) if found else pd.DataFrame()


@st.cache_data(ttl=TTL, show_spinner=False)
def inventory(orgs: tuple[str, ...], app: str | None = None) -> pd.DataFrame:
    """The ranked grant inventory (riskiest first), one row per grant with its reason in words."""
    from oauthwatch.grants.inventory import inventory as build
    from oauthwatch.store.writes import utcnow

    rows = [r.as_row() for org in orgs or (None,) for r in build(data.engine(), utcnow(), org=org, app=app)]
    return pd.DataFrame(rows).sort_values("score", ascending=False, kind="stable") if rows else pd.DataFrame()


def show_inventory(orgs: tuple[str, ...], app: str | None, key: str) -> None:
    """The ranked grants as a table (riskiest first)."""
    inv = inventory(orgs, app)
    if inv.empty:
        st.info("No OauthToken snapshot yet: enable the oauth_tokens source and run `oauthwatch collect`.")
        return
    st.dataframe(
        inv,
        key=key,
        hide_index=True,
        column_order=["score", "app", "app_kind", "user", "profile", "state", "permissions", "scopes", "refresh_policy",
                      "ip_relaxation", "installed", "last_used", "use_count", "reason"],
    )  # fmt: skip


def _outcomes(report: RevokeReport) -> pd.DataFrame:
    return pd.DataFrame(
        [{"outcome": o.outcome, "user": o.grant.username or o.grant.user_id, "created": o.grant.created,
          "last_used": o.grant.last_used, "use_count": o.grant.use_count, "answer": o.answer}
         for o in report.outcomes]
    )  # fmt: skip


def revoke_panel(orgs: tuple[str, ...], app: str) -> None:
    """Revoke ``app``'s grants: a dry run listing them, then a confirmation naming each one."""
    st.subheader("Revoke this app's grants")
    settings = data.settings()
    who = actions.actor()
    if not settings.response.allow_revoke:
        st.info("Revoking is off: set `[response] allow_revoke = true` (docs/incident-response.md). "
                "`oauthwatch revoke --app APP --dry-run` lists the grants from the command line.")  # fmt: skip
        return
    if who == "dashboard":
        st.info("Revoking from the dashboard needs the dashboard's login (OIDC, docs/dashboard.md); "
                "from the command line: `oauthwatch revoke --app APP`.")  # fmt: skip
        return
    org = st.selectbox("Org", list(orgs), key="revoke_org") if len(orgs) > 1 else (orgs[0] if orgs else None)
    if not org:
        return
    from oauthwatch.response.revoke import revoke_in_org

    if st.button(f"List the live grants of {app} (dry run)", key="revoke_plan"):
        plan = revoke_in_org(data.engine(), settings, org, app=app, dry_run=True, by=who, via="dashboard")
        st.session_state["revoke_plan"] = (org, app, plan)
    saved = st.session_state.get("revoke_plan")
    if not saved or saved[:2] != (org, app):
        return
    plan = saved[2]
    st.dataframe(_outcomes(plan), key="revoke_plan_table", hide_index=True)
    names = [o.grant.username or o.grant.user_id for o in plan.outcomes if o.outcome == "dry_run"]
    if not names:
        st.success("No live grant to revoke.")
        return
    confirm = st.checkbox(
        ui.esc(
            f"Revoke these {len(names)} grant(s) of {plan.app_name} ({plan.app_id}) in {org}: {', '.join(names)}"
        ),
        key="revoke_confirm",
    )
    if confirm and st.button("Revoke now", type="primary", key="revoke_go"):
        hashes = frozenset(o.grant.token_hash for o in plan.outcomes if o.outcome == "dry_run")
        done = revoke_in_org(data.engine(), settings, org, app=plan.app_id, dry_run=False, by=who,
                             via="dashboard", confirmed=hashes)  # fmt: skip
        del st.session_state["revoke_plan"]
        st.write(done.summary())
        st.dataframe(_outcomes(done), key="revoke_done_table", hide_index=True)
        inventory.clear()


@st.cache_data(ttl=TTL, show_spinner=False)
def movement(orgs: tuple[str, ...], app: str, start: object, end: object) -> list:
    """Each org's data movement for ``app`` over the window (oauthwatch.movement)."""
    from oauthwatch.movement.app_usage import app_movement

    return [app_movement(data.engine(), org, app, start, end) for org in orgs or tuple(data.orgs())]  # type: ignore[arg-type]


def show_movement(orgs: tuple[str, ...], app: str, start: object, end: object) -> None:
    """What the app's API calls touched in the window, against its baseline (the 7 windows before)."""
    for m in movement(orgs, app, start, end):
        if not m.calls and not m.baseline_calls:
            continue
        base = f"{m.baseline_calls:,.0f}" if m.baseline_calls else "none"
        ui.metric_row(
            [
                (f"API calls ({m.org})", f"{m.calls:,}", None, "off"),
                ("Baseline (same span, avg of 7 before)", base, None, "off"),
                ("× baseline", f"{m.ratio:.1f}" if m.ratio is not None else "–", None, "off"),
                ("Query calls", f"{m.query_calls:,}", None, "off"),
                ("Bulk calls", f"{m.by_family.get('Bulk', 0):,}", None, "off"),
            ]
        )
        if m.bulk_jobs or m.baseline_bulk_rows:
            ui.metric_row(
                [
                    ("Bulk jobs", f"{m.bulk_jobs:,}", None, "off"),
                    ("Rows they processed", f"{m.bulk_rows:,}", None, "off"),
                    ("Baseline rows (avg of 7 before)", f"{m.baseline_bulk_rows:,.0f}", None, "off"),
                    ("Deleted jobs", f"{m.bulk_deleted:,}", None, "off"),
                ]
            )
            st.dataframe(pd.DataFrame(m.jobs), key=f"move_jobs_{m.org}", hide_index=True)
        if m.exported is not None:
            ui.metric_row(
                [
                    ("Rows exported", f"{m.exported.rows:,}", None, "off"),
                    ("Bytes exported", f"{m.exported.bytes:,}", None, "off"),
                    ("Baseline rows (avg of 7 before)", f"{m.baseline_exported_rows:,.0f}", None, "off"),
                ]
            )
            st.dataframe(pd.DataFrame(m.exported.by_user), key=f"move_export_users_{m.org}", hide_index=True)
        st.caption("; ".join(f"{figure.replace('_', ' ')}: {src}" for figure, src in m.sources.items()))
        st.dataframe(pd.DataFrame(m.by_resource), key=f"move_res_{m.org}", hide_index=True)
        c1, c2 = st.columns(2)
        c1.dataframe(pd.DataFrame(m.by_user), key=f"move_users_{m.org}", hide_index=True)
        c2.dataframe(
            with_network_class(pd.DataFrame(m.by_client_ip), "client_ip"),
            key=f"move_ips_{m.org}",
            hide_index=True,
        )
