"""The org's daily API request budget: counted per UTC day in ``_State`` (``api_usage``).

Every REST, Bulk and Metadata call counts once against ``--api-limit`` (default 15,000, a
Developer Edition org's allocation), per org and per connected app (for ``limits/``'s
``DailyApiRequests`` entries). A spent budget refuses calls with 403 REQUEST_LIMIT_EXCEEDED and
does not count them. An admin may override the limit with ``_State`` key ``api_limit``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext


def usage(ctx: OrgContext) -> dict[str, Any]:
    """Today's API usage (UTC day of the org clock): ``{"day", "total", "apps": {label: n}}``."""
    today = dt.datetime.fromtimestamp(ctx.org_now_ms() / 1000, tz=dt.UTC).date().isoformat()
    raw = ctx.state_get("api_usage")
    data = json.loads(raw) if raw else {}
    if data.get("day") != today:
        data = {"day": today, "total": 0, "apps": {}}
    return data


def api_limit(ctx: OrgContext) -> int:
    """The daily API request limit (``--api-limit``; an admin may override it in ``_State``)."""
    raw = ctx.state_get("api_limit")
    return int(raw) if raw and raw.isdigit() else ctx.api_limit


def count_call(ctx: OrgContext, app_label: str) -> tuple[int, int] | None:
    """Count one API call; None when the daily budget is spent (the call is refused, not counted)."""
    data, limit = usage(ctx), api_limit(ctx)
    if data["total"] >= limit:
        return None
    data["total"] += 1
    data["apps"][app_label] = data["apps"].get(app_label, 0) + 1
    ctx.state_set("api_usage", json.dumps(data))
    return data["total"], limit


def limit_header(used: int, limit: int) -> dict[str, str]:
    """``Sforce-Limit-Info``, in the form simple-salesforce parses into ``sf.api_usage``."""
    return {"Sforce-Limit-Info": f"api-usage={used}/{limit}"}
