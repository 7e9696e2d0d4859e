"""The OAuth endpoints around the token call: authorize (web server + PKCE), revoke, introspect,
userinfo and the identity URL.

The authorize page is a deliberately small HTML form (username, password, Allow): enough for a
browser test or a script to walk the web-server flow, with every echoed value escaped.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from oauthwatch.simulator.api.responses import json_response, oauth_error, sf_error
from oauthwatch.simulator.data import sessions
from oauthwatch.simulator.oauth.common import CODE_TTL_MS, client_auth

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext

_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
)

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Login | Salesforce</title></head>
<body><h1>Allow access?</h1><p>{app} is asking to access your data in this org.</p>{message}
<form method="post" action="/services/oauth2/authorize">{hidden}
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit" name="approve" value="1">Allow</button></form></body></html>"""


def _callbacks(app: dict[str, Any]) -> list[str]:
    return [u.strip() for u in (app.get("CallbackUrl") or "").splitlines() if u.strip()]


def _error_page(status: int, error: str, description: str) -> HTMLResponse:
    body = f"<!doctype html><html><body><h1>error={html.escape(error)}</h1><p>{html.escape(description)}</p></body></html>"
    return HTMLResponse(body, status_code=status)


def _redirect(uri: str, params: dict[str, str | None]) -> RedirectResponse:
    sep = "&" if "?" in uri else "?"
    return RedirectResponse(
        uri + sep + urlencode({k: v for k, v in params.items() if v is not None}), status_code=302
    )


async def authorize(request: Request) -> Response:
    """GET shows the login+approve form; POST checks the password and redirects with a code."""
    ctx: OrgContext = request.app.state.ctx
    data: dict[str, str] = dict(request.query_params)
    if request.method == "POST":
        data.update({k: str(v) for k, v in (await request.form()).items()})
    app = sessions.app_by_key(ctx.conn, data.get("client_id"))
    if app is None:
        return _error_page(400, "invalid_client_id", "client identifier invalid")
    redirect_uri = data.get("redirect_uri") or ""
    if redirect_uri not in _callbacks(app):
        return _error_page(400, "redirect_uri_mismatch", "redirect_uri must match configuration")
    state = data.get("state")
    if data.get("response_type") != "code":
        return _redirect(
            redirect_uri,
            {
                "error": "unsupported_response_type",
                "error_description": "response type not supported",
                "state": state,
            },
        )
    if "web_server" not in app["FlowList"]:
        return _redirect(
            redirect_uri,
            {"error": "invalid_request", "error_description": "flow not enabled", "state": state},
        )
    if app["IsPkceRequired"] and not data.get("code_challenge"):
        return _redirect(
            redirect_uri,
            {
                "error": "invalid_request",
                "error_description": "missing required code challenge",
                "state": state,
            },
        )
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(data[k])}">' for k in _PARAMS if data.get(k)
    )
    if request.method == "GET":
        return HTMLResponse(_PAGE.format(app=html.escape(app["Label"]), hidden=hidden, message=""))
    user = sessions.user_by_name(ctx.conn, data.get("username"))
    password = data.get("password") or ""
    if user is None or not user.get("Password") or password != user["Password"] or not user["IsActive"]:
        msg = "<p role='alert'>Please check your username and password. If you still can't log in, contact your Salesforce administrator.</p>"
        return HTMLResponse(
            _PAGE.format(app=html.escape(app["Label"]), hidden=hidden, message=msg), status_code=401
        )
    if not data.get("approve"):
        return _redirect(
            redirect_uri,
            {"error": "access_denied", "error_description": "end-user denied authorization", "state": state},
        )
    code = sessions.new_code()
    extra = {
        "redirect_uri": redirect_uri,
        "code_challenge": data.get("code_challenge"),
        "code_challenge_method": data.get("code_challenge_method") or "S256",
    }
    with ctx.lock:
        sessions.store_token(
            ctx.conn,
            code,
            "code",
            app,
            user["Id"],
            sessions.wire_scopes(app),
            ttl_ms=CODE_TTL_MS,
            extra=extra,
        )
        ctx.conn.commit()
    return _redirect(redirect_uri, {"code": code, "state": state})


async def revoke(request: Request) -> Response:
    """POST (form) or GET (query) ``token=``: 200 with an empty body, or 400 ``invalid_token``."""
    ctx: OrgContext = request.app.state.ctx
    token = request.query_params.get("token")
    if request.method == "POST":
        token = str((await request.form()).get("token") or token or "")
    if not token:
        return oauth_error("unsupported_token_type", "token type not supported")
    with ctx.lock:
        ok = sessions.revoke(ctx.conn, token)
    return Response(status_code=200) if ok else oauth_error("invalid_token", "invalid token")


def _bearer(request: Request) -> sessions.Session | None:
    ctx: OrgContext = request.app.state.ctx
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("bearer", "oauth") or not token:
        token = request.query_params.get("oauth_token", "")
    sess, _ = sessions.session_for(ctx.conn, token.strip()) if token else (None, None)
    return sess


def _identity(ctx: OrgContext, user: dict[str, Any]) -> dict[str, Any]:
    uid, base = user["Id"], ctx.base_url
    return {
        "sub": ctx.identity_url(uid),
        "user_id": uid,
        "organization_id": ctx.org_id,
        "preferred_username": user["Username"],
        "nickname": (user["Username"] or "").split("@")[0],
        "name": user["Name"],
        "email": user["Email"],
        "email_verified": True,
        "given_name": user["FirstName"],
        "family_name": user["LastName"],
        "zoneinfo": user["TimeZoneSidKey"] or "GMT",
        "photos": {"picture": f"{base}/profilephoto/005/F", "thumbnail": f"{base}/profilephoto/005/T"},
        "profile": f"{base}/{uid}",
        "picture": f"{base}/profilephoto/005/F",
        "address": {"country": "US"},
        "is_salesforce_integration_user": False,
        "urls": {
            "enterprise": f"{base}/services/Soap/c/{{version}}/{ctx.org_id[:15]}",
            "rest": f"{base}/services/data/v{{version}}/",
            "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
            "query": f"{base}/services/data/v{{version}}/query/",
            "metadata": f"{base}/services/Soap/m/{{version}}/{ctx.org_id[:15]}",
            "profile": f"{base}/{uid}",
        },
        "active": bool(user["IsActive"]),
        "user_type": user["UserType"] or "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "updated_at": "2024-01-01T00:00:00Z",
        "is_app_installed": True,
    }


def _unauthorized() -> Response:
    return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")


async def userinfo(request: Request) -> Response:
    """GET/POST /services/oauth2/userinfo: OIDC claims of the token's user."""
    ctx: OrgContext = request.app.state.ctx
    sess = _bearer(request)
    user = sessions.user_by_id(ctx.conn, sess.user_id) if sess else None
    return json_response(_identity(ctx, user)) if user else _unauthorized()


async def identity_url(request: Request) -> Response:
    """GET /id/<orgId>/<userId>: the identity service (own identity only)."""
    ctx: OrgContext = request.app.state.ctx
    sess = _bearer(request)
    if sess is None:
        return _unauthorized()
    if (
        request.path_params["user_id"][:15] != sess.user_id[:15]
        or request.path_params["org_id"][:15] != ctx.org_id[:15]
    ):
        return oauth_error("invalid_request", "user id does not match the token", 403)
    user = sessions.user_by_id(ctx.conn, sess.user_id)
    if user is None:
        return _unauthorized()
    body = _identity(ctx, user)
    body.update(
        id=body["sub"],
        asserted_user=True,
        username=user["Username"],
        display_name=user["Name"],
        last_modified_date="2024-01-01T00:00:00.000+0000",
    )
    return json_response(body)


async def introspect(request: Request) -> Response:
    """POST /services/oauth2/introspect (RFC 7662); an app may introspect only its own tokens."""
    ctx: OrgContext = request.app.state.ctx
    form = {k: str(v) for k, v in (await request.form()).items()}
    key, secret = client_auth(request, form)
    app = sessions.app_by_key(ctx.conn, key)
    if app is None:
        return oauth_error("invalid_client_id", "client identifier invalid", 401)
    if secret != app["ConsumerSecret"]:
        return oauth_error("invalid_client", "invalid client credentials", 401)
    row = sessions.token_row(ctx.conn, form.get("token") or "")
    now = sessions.now_ms()
    if (
        row is None
        or row["Kind"] == "code"
        or row["AppId"] != app["AppId"]
        or row["Revoked"]
        or (row["ExpiresAt"] is not None and row["ExpiresAt"] <= now)
    ):
        return json_response({"active": False})
    user = sessions.user_by_id(ctx.conn, row["UserId"]) or {"Username": None}
    body: dict[str, Any] = {
        "active": True,
        "scope": row["Scopes"],
        "client_id": app["ConsumerKey"],
        "username": user["Username"],
        "sub": ctx.identity_url(row["UserId"]),
        "token_type": "access_token" if row["Kind"] == "access" else "refresh_token",
        "iat": row["IssuedAt"] // 1000,
        "nbf": row["IssuedAt"] // 1000,
    }
    if row["ExpiresAt"] is not None:
        body["exp"] = row["ExpiresAt"] // 1000
    return json_response(body)


def routes(ctx: OrgContext) -> list[Route]:
    """Routes of the identity side of OAuth."""
    return [
        Route("/services/oauth2/authorize", authorize, methods=["GET", "POST"]),
        Route("/services/oauth2/revoke", revoke, methods=["GET", "POST"]),
        Route("/services/oauth2/userinfo", userinfo, methods=["GET", "POST"]),
        Route("/services/oauth2/introspect", introspect, methods=["POST"]),
        Route("/id/{org_id}/{user_id}", identity_url, methods=["GET", "POST"]),
    ]
