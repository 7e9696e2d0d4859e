"""The SOAP Metadata API calls simple-salesforce's ``sf.mdapi`` sends for the org's apps.

Only ``listMetadata`` and ``readMetadata`` of type ``ConnectedApp`` (what a monitor needs: scopes,
callback URL, certificate, admin approval, consumer key, IP relaxation, refresh token policy,
session policy, assigned profiles and permission sets) and of the External Client App types
(:mod:`oauthwatch.simulator.api.metadata_eca`) are answered. The consumer secret is never
returned, as in Salesforce. Only a user with Modify Metadata Through Metadata API Functions or
Modify All Data may call it (docs/salesforce-behaviour.md, 1.1). Anything else gets a SOAP fault.
Requests are parsed with the standard library's expat parser, which refuses entity expansion attacks.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oauthwatch.simulator.api import metadata_eca
from oauthwatch.simulator.api.metadata_xml import assignments
from oauthwatch.simulator.api.metadata_xml import el as _el
from oauthwatch.simulator.data import sessions
from oauthwatch.simulator.data.permissions import METADATA_API

if TYPE_CHECKING:
    from oauthwatch.simulator.api.context import OrgContext

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
MD = "http://soap.sforce.com/2006/04/metadata"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_NS = {"s": SOAPENV, "m": MD}


def _envelope(body: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns="{MD}"'
        f' xmlns:xsi="{XSI}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
    )


def fault(code: str, message: str) -> Response:
    """A SOAP fault (HTTP 500), as the Metadata API sends for errors."""
    body = (
        f'<soapenv:Fault xmlns:sf="urn:fault.tooling.soap.sforce.com"><faultcode>sf:{escape(code)}</faultcode>'
        f"<faultstring>{escape(code)}: {escape(message)}</faultstring></soapenv:Fault>"
    )
    return Response(_envelope(body), status_code=500, media_type="text/xml; charset=utf-8")


def _ok(body: str) -> Response:
    return Response(_envelope(body), media_type="text/xml; charset=utf-8")


def _iso(ms: int | None) -> str:
    when = dt.datetime.fromtimestamp((ms or 0) / 1000, tz=dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _assigned(ctx: OrgContext, app_id: str) -> tuple[list[str], list[str]]:
    """(profile names, permission set names) the app is assigned to."""
    pairs = assignments(ctx.conn, app_id)
    return [p for _, _, p in pairs if p], [n for _, n, p in pairs if not p and n]


def connected_app_xml(ctx: OrgContext, app: dict[str, Any]) -> str:
    """One ``ConnectedApp`` record (never the consumer secret)."""
    run_as = sessions.user_by_id(ctx.conn, app.get("ClientCredentialUserId"))
    flows = json.loads(app["Flows"] or "[]")
    scopes = "".join(_el("scopes", s) for s in json.loads(app["Scopes"] or "[]"))
    oauth = (
        _el("callbackUrl", app["CallbackUrl"] or "")
        + _el("certificate", app["CertificatePem"])
        + _el("consumerKey", app["ConsumerKey"])
        + _el("isAdminApproved", bool(app["IsAdminApproved"]))
        + _el("isClientCredentialEnabled", "client_credentials" in flows)
        + _el("isPkceRequired", bool(app["IsPkceRequired"]))
        + _el("isSecretRequiredForRefreshToken", bool(app["IsSecretRequiredForRefreshToken"]))
        + _el("oauthClientCredentialUser", run_as["Username"] if run_as else None)
        + scopes
    )
    policy = _el("ipRelaxation", app["IpRelaxation"]) + _el("refreshTokenPolicy", app["RefreshTokenPolicy"])
    session = _el("sessionLevel", app["SessionLevel"] or "STANDARD")
    if app["SessionLevel"] == "HIGH_ASSURANCE":
        session = _el("policyAction", "RaiseSessionLevel") + session
    profiles, permsets = _assigned(ctx, app["AppId"])
    return (
        '<records xsi:type="ConnectedApp">'
        + _el("fullName", app["FullName"])
        + _el("contactEmail", app["ContactEmail"] or "")
        + _el("label", app["Label"])
        + f"<oauthConfig>{oauth}</oauthConfig><oauthPolicy>{policy}</oauthPolicy>"
        + "".join(_el("permissionSetName", p) for p in permsets)
        + "".join(_el("profileName", p) for p in profiles)
        + f"<sessionPolicy>{session}</sessionPolicy></records>"
    )


def _read(ctx: OrgContext, op: ET.Element) -> Response:
    kind = op.findtext("m:type", default="", namespaces=_NS)
    full_names = [e.text or "" for e in op.findall("m:fullNames", _NS)]
    if kind in metadata_eca.TYPES:
        records = metadata_eca.read(ctx, kind, full_names)
    elif kind != "ConnectedApp":
        return fault("INVALID_TYPE", f"This type of metadata is not available for this organization: {kind}")
    else:
        records = []
        for full_name in full_names:
            app = sessions.one(
                ctx.conn,
                "SELECT * FROM _AppConfig WHERE FullName = ? AND Model = 'ConnectedApp'",
                (full_name,),
            )
            if app is not None:
                records.append(connected_app_xml(ctx, app))
    return _ok(f"<readMetadataResponse><result>{''.join(records)}</result></readMetadataResponse>")


def _list(ctx: OrgContext, op: ET.Element) -> Response:
    kinds = [q.findtext("m:type", default="", namespaces=_NS) for q in op.findall("m:queries", _NS)]
    out = [r for kind in kinds if kind in metadata_eca.TYPES for r in metadata_eca.listed(ctx, kind)]
    if "ConnectedApp" in kinds:
        for app in sessions.rows(
            ctx.conn,
            """SELECT a.AppId, a.FullName, c.CreatedDate, c.CreatedById, c.LastModifiedDate, c.LastModifiedById,
                      cu.Name AS CreatedByName, mu.Name AS ModifiedByName
               FROM _AppConfig a LEFT JOIN "ConnectedApplication" c ON c.Id = a.AppId
               LEFT JOIN "User" cu ON cu.Id = c.CreatedById LEFT JOIN "User" mu ON mu.Id = c.LastModifiedById
               WHERE a.Model = 'ConnectedApp' ORDER BY a.FullName""",
        ):
            out.append(
                "<result>"
                + _el("createdById", app["CreatedById"] or "")
                + _el("createdByName", app["CreatedByName"] or "")
                + _el("createdDate", _iso(app["CreatedDate"]))
                + _el("fileName", f"connectedApps/{app['FullName']}.connectedApp")
                + _el("fullName", app["FullName"])
                + _el("id", app["AppId"])
                + _el("lastModifiedById", app["LastModifiedById"] or "")
                + _el("lastModifiedByName", app["ModifiedByName"] or "")
                + _el("lastModifiedDate", _iso(app["LastModifiedDate"]))
                + _el("manageableState", "unmanaged")
                + _el("type", "ConnectedApp")
                + "</result>"
            )
    return _ok(f"<listMetadataResponse>{''.join(out)}</listMetadataResponse>")


async def soap(request: Request) -> Response:
    """POST /services/Soap/m/<version>[/<orgId>]: listMetadata / readMetadata for the org's apps."""
    from oauthwatch.simulator.api.budget import count_call

    ctx: OrgContext = request.app.state.ctx
    try:
        root = ET.fromstring(await request.body())  # noqa: S314 - expat refuses entity expansion
    except ET.ParseError:
        return fault("INVALID_XML", "the request is not well-formed XML")
    session_id = root.findtext("s:Header/m:SessionHeader/m:sessionId", default="", namespaces=_NS).strip()
    body = root.find("s:Body", _NS)
    with ctx.lock:
        sess, problem = sessions.session_for(ctx.conn, session_id) if session_id else (None, None)
        if sess is None:
            return fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
        if problem == "API_CURRENTLY_DISABLED":
            return fault("API_CURRENTLY_DISABLED", "API is disabled for this User")
        if count_call(ctx, sess.app_label) is None:
            return fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if not sess.permissions & set(METADATA_API):
            return fault(
                "INSUFFICIENT_ACCESS",
                "use of the Metadata API requires a user with the ModifyAllData or ModifyMetadata permissions",
            )
        op = body[0] if body is not None and len(body) else None
        if op is not None and op.tag == f"{{{MD}}}readMetadata":
            return _read(ctx, op)
        if op is not None and op.tag == f"{{{MD}}}listMetadata":
            return _list(ctx, op)
    name = op.tag.split("}")[-1] if op is not None else "(none)"
    return fault("INVALID_OPERATION", f"the local org answers listMetadata and readMetadata only, not {name}")


def routes(ctx: OrgContext) -> list[Route]:
    """Metadata SOAP routes."""
    return [
        Route("/services/Soap/m/{version}", soap, methods=["POST"]),
        Route("/services/Soap/m/{version}/", soap, methods=["POST"]),
        Route("/services/Soap/m/{version}/{org_id}", soap, methods=["POST"]),
    ]
