"""Salesforce-shaped HTTP responses: JSON bodies, REST error lists and OAuth error objects.

Every endpoint of the local org (REST, Bulk, OAuth, admin) answers through these, so the shapes a
client parses are written once.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

JSON = "application/json;charset=UTF-8"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialised with orjson (fast enough for 2,000-record pages)."""
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=JSON)


def sf_error(status: int, code: str, message: str, *, fields: list[str] | None = None) -> Response:
    """Salesforce's REST error: always a JSON list of ``{"message","errorCode"[,"fields"]}``."""
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return json_response([item], status)


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    """Salesforce's OAuth error body: ``{"error","error_description"}`` (HTTP 400 by default)."""
    return json_response({"error": error, "error_description": description}, status)
