"""What an API call did, from its ApiTotalUsage resource and method: reconnaissance, export, deletion.

ApiTotalUsage logs each call's ``API_RESOURCE`` (``/v62.0/sobjects``, ``/v62.0/sobjects/Account/describe``,
``/v62.0/jobs/query/750…``), ``HTTP_METHOD`` and ``API_FAMILY`` (docs/salesforce-behaviour.md §8).
The 2025 token-theft campaigns read like this in it: listing the objects, describing them, counting
their rows (a ``/query`` call on the object) and reading the limits, then creating Bulk API query
jobs, downloading their results, and deleting the job. The detectors, the per-app data movement
and the digest classify calls with these functions, so they agree on what an export is.
"""

from __future__ import annotations

import re

RECON_KINDS = ("list_objects", "describe", "limits", "count_query")
EXPORT_KINDS = ("bulk_query_create", "bulk_results")
_VERSION = r"(?:/services/data)?/v\d+\.\d+"
_PATTERNS = (
    ("list_objects", re.compile(_VERSION + r"/sobjects/?$", re.I)),
    ("describe", re.compile(_VERSION + r"/sobjects/[^/]+/describe/?$", re.I)),
    ("limits", re.compile(_VERSION + r"/limits/?$", re.I)),
    ("query", re.compile(_VERSION + r"/query(?:all)?(?:/.*)?$", re.I)),
    ("bulk_results", re.compile(_VERSION + r"/jobs/query/[A-Za-z0-9]{15,18}/results(?:/.*)?$", re.I)),
    ("bulk_job", re.compile(_VERSION + r"/jobs/(?:query|ingest)/[A-Za-z0-9]{15,18}/?$", re.I)),
    ("bulk_query_list", re.compile(_VERSION + r"/jobs/query/?$", re.I)),
)
_JOB_ID = re.compile(r"/jobs/(?:query|ingest)/(750[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?)\b")


def call_kind(resource: str, method: str, entity: str = "") -> str:
    """One of the kinds above, ``bulk_query_create``, ``bulk_job_read``, ``bulk_job_delete`` or ``other``.

    A ``/query`` call naming an object counts as a count query: ApiTotalUsage does not log the
    SOQL, and the campaigns' ``SELECT COUNT()`` calls are such calls; a query without an object is
    ``query``.
    """
    method = (method or "").upper()
    for kind, pattern in _PATTERNS:
        if not pattern.match(resource or ""):
            continue
        if kind == "query":
            return "count_query" if entity else "query"
        if kind == "bulk_job":
            return "bulk_job_delete" if method == "DELETE" else "bulk_job_read"
        if kind == "bulk_query_list":
            return "bulk_query_create" if method == "POST" else "other"
        return kind
    return "other"


def is_export(kind: str) -> bool:
    """Whether a call of this kind reads data out in bulk (a query job created, results downloaded)."""
    return kind in EXPORT_KINDS


def job_id_of(resource: str) -> str | None:
    """The 15-character id of the Bulk job a resource names (``…/jobs/query/750…``), or None."""
    m = _JOB_ID.search(resource or "")
    return m.group(1)[:15] if m else None
