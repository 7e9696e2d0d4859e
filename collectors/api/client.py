"""The one way collectors talk to Salesforce: simple-salesforce plus retries, budget and streaming.

A source never sees HTTP. It asks :class:`SalesforceClient` for pages of a SOQL query, a count, a
file download or the limits, and gets either data or a typed error that says what to do next:

- :class:`RetriableError` was retried with backoff and still failed (5xx, timeouts, drops);
- :class:`QueryLocatorExpired`: the server forgot the cursor; restart the query from the checkpoint;
- :class:`ObjectNotAvailable`: the org has no such object (not licensed): skip the source;
- :class:`BudgetExhausted` (from :mod:`collectors.api.budget`): stop collecting for now;
- ``AuthError`` (from :mod:`collectors.auth`): the token could not be renewed;
- :class:`SalesforceCallError`: anything else, with Salesforce's errorCode and message.

Every response's ``Sforce-Limit-Info`` goes into the governor and every call is counted, so the
ledger's API-call figures are ours, not estimates. JSON bodies are parsed with orjson (pages of
2,000 LoginHistory rows are the hot path), files are streamed to disk in chunks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import requests
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from collectors.api.budget import BudgetExhausted, BudgetGovernor

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

    from collectors.auth import TokenProvider

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH_SIZE = 2000  # Salesforce's maximum page size; 50 pages per 100k rows
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              requests.exceptions.ContentDecodingError)  # fmt: skip


class SalesforceCallError(Exception):
    """Salesforce refused a call for a reason retrying will not fix."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" + (f" (HTTP {status})" if status else ""))
        self.code, self.message, self.status = code, message, status


class RetriableError(SalesforceCallError):
    """A transient failure that outlived every retry."""


class LengthMismatch(requests.exceptions.ChunkedEncodingError):
    """A downloaded file's size differs from the length its record states (retried as a drop is)."""


class QueryLocatorExpired(SalesforceCallError):
    """INVALID_QUERY_LOCATOR: the query must start again from the last checkpoint."""


class ObjectNotAvailable(SalesforceCallError):
    """INVALID_TYPE: the object does not exist in this org (usually: not licensed)."""


@dataclass
class Page:
    """One page of a SOQL result."""

    records: list[dict[str, Any]]
    total_size: int
    done: bool


def _error_of(exc: SalesforceError) -> tuple[str, str]:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode", content.get("error", ""))), str(content.get("message", ""))
    return "", str(content or exc)[:300]


class SalesforceClient:
    """A per-org client over one token, with retries, one re-authentication and the budget.

    Usage::

        client = SalesforceClient(provider_for(org), budget=BudgetGovernor())
        for page in client.query_pages("SELECT Id FROM LoginHistory"):
            ...
    """

    def __init__(
        self,
        provider: TokenProvider,
        *,
        budget: BudgetGovernor | None = None,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self.budget = budget or BudgetGovernor()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._sf: Salesforce | None = None

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce instance on the current token."""
        if self._sf is None:
            self._sf = self.provider.salesforce()
        return self._sf

    @property
    def calls(self) -> int:
        return self.budget.calls

    def _renew(self) -> None:
        stale = self.provider.token()
        self.provider.renew(stale)
        self._sf = self.provider.salesforce()

    def _with_retries(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        """Run ``fn(sf)`` (one HTTP call) with backoff on transient failures and one re-auth."""
        renewals = 0
        attempt = 0
        while True:
            self.budget.check()
            err: Exception  # what the last transient failure was, for the log and the final error
            try:
                result = fn(self.sf)
                return result
            except SalesforceExpiredSession as exc:
                # One renewal per call; the provider itself raises AuthError (with cause and
                # fix) when a freshly issued token is refused too.
                if renewals >= 2:
                    raise SalesforceCallError(
                        "INVALID_SESSION_ID", f"session refused after renewal while {what}", 401
                    ) from exc
                log.info("session expired while %s; renewing the token", what)
                self._renew()
                renewals += 1
                continue
            except SalesforceRefusedRequest as exc:
                code, msg = _error_of(exc)
                if code == "REQUEST_LIMIT_EXCEEDED":
                    self.budget.limit_exceeded(msg)
                if code:
                    raise SalesforceCallError(code, msg, 403) from exc
                err = exc  # an error body cut short: we cannot tell what it said, so ask again
            except SalesforceMalformedRequest as exc:
                code, msg = _error_of(exc)
                if code == "INVALID_QUERY_LOCATOR":
                    raise QueryLocatorExpired(code, msg, 400) from exc
                if code == "INVALID_TYPE":
                    raise ObjectNotAvailable(code, msg, 400) from exc
                if code and code != "QUERY_TIMEOUT":
                    raise SalesforceCallError(code, msg, 400) from exc
                err = exc  # QUERY_TIMEOUT, or an error body cut short: try again
            except SalesforceError as exc:
                status = int(getattr(exc, "status", 0) or 0)
                code, msg = _error_of(exc)
                if status < 500:
                    raise SalesforceCallError(code or f"HTTP_{status}", msg, status) from exc
                err = exc
            except _TRANSIENT as exc:
                err = exc
            except orjson.JSONDecodeError as exc:  # a body cut short on the wire
                err = exc
            attempt += 1
            if attempt > self.retries:
                raise RetriableError("RETRIES_EXHAUSTED", f"{what}: {err!s}"[:500]) from err
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            log.info(
                "%s failed (%s); retry %d/%d in %.1fs", what, type(err).__name__, attempt, self.retries, delay
            )
            self._sleep(delay)

    def _call(self, sf: Salesforce, method: str, url: str, **kw: Any) -> requests.Response:
        self.budget.charge()
        resp = sf._call_salesforce(method, url, timeout=self.timeout, **kw)
        self.budget.observe(resp.headers.get("Sforce-Limit-Info"))
        return resp

    def _get_json(self, url: str, what: str, **kw: Any) -> Any:
        return self._with_retries(what, lambda sf: orjson.loads(self._call(sf, "GET", url, **kw).content))

    def _url(self, sf: Salesforce, relative: str) -> str:
        return f"https://{sf.sf_instance}{relative}"

    # -- the API sources use ------------------------------------------------------------------
    def query_pages(
        self, soql: str, *, batch_size: int = BATCH_SIZE, all_rows: bool = False
    ) -> Iterator[Page]:
        """Every page of ``soql``, fetched lazily (``Sforce-Query-Options: batchSize``)."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        endpoint = "queryAll/" if all_rows else "query/"
        body = self._with_retries(
            "querying",
            lambda sf: orjson.loads(
                self._call(sf, "GET", sf.base_url + endpoint, params={"q": soql}, headers=headers).content
            ),
        )
        while True:
            yield Page(body.get("records", []), int(body.get("totalSize", 0)), bool(body.get("done", True)))
            nxt = body.get("nextRecordsUrl")
            if body.get("done", True) or not nxt:
                return

            def next_page(sf: Salesforce, nxt: str = nxt) -> dict[str, Any]:
                result: dict[str, Any] = orjson.loads(
                    self._call(sf, "GET", self._url(sf, nxt), headers=headers).content
                )
                return result

            body = self._with_retries("fetching the next page", next_page)

    def query(self, soql: str, **kw: Any) -> Iterator[dict[str, Any]]:
        """Every record of ``soql``, page by page."""
        for page in self.query_pages(soql, **kw):
            yield from page.records

    def count(self, soql: str) -> int:
        """``totalSize`` of a ``SELECT COUNT() …`` query."""
        page = next(self.query_pages(soql))
        return page.total_size

    def describe(self, sobject: str) -> dict[str, Any]:
        """GET /sobjects/<sobject>/describe: the object's fields with their names and labels."""
        return self._with_retries(
            f"describing {sobject}",
            lambda sf: orjson.loads(
                self._call(sf, "GET", f"{sf.base_url}sobjects/{sobject}/describe/").content
            ),
        )

    def limits(self) -> dict[str, Any]:
        """GET /limits: every limit as ``{name: {"Max": n, "Remaining": n, …}}``."""
        body = self._with_retries(
            "reading limits", lambda sf: orjson.loads(self._call(sf, "GET", sf.base_url + "limits/").content)
        )
        daily = body.get("DailyApiRequests") if isinstance(body, dict) else None
        if isinstance(daily, dict) and "Max" in daily and "Remaining" in daily:
            self.budget.observe_limits(int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"]))
        return body

    def download(
        self, relative_url: str, dest: Path, *, expected_size: int | None = None, chunk: int = 1 << 16
    ) -> int:
        """Stream a blob (an EventLogFile ``LogFile``) to ``dest``; returns the bytes written.

        The whole download is retried on a drop or a short body (``expected_size`` is the
        record's ``LogFileLength``), so a half-written file is never parsed.
        """

        def fetch(sf: Salesforce) -> int:
            resp = self._call(sf, "GET", self._url(sf, relative_url), stream=True)
            tmp = dest.with_suffix(dest.suffix + ".part")
            size = 0
            try:
                with tmp.open("wb") as fh:
                    for block in resp.iter_content(chunk):
                        fh.write(block)
                        size += len(block)
            finally:
                resp.close()
            expected = expected_size if expected_size is not None else resp.headers.get("Content-Length")
            if expected is not None and int(expected) != size:
                tmp.unlink(missing_ok=True)
                raise LengthMismatch(f"got {size} of {expected} bytes")
            tmp.replace(dest)
            return size

        return self._with_retries(f"downloading {relative_url}", fetch)

    def bulk_query_start(self, soql: str) -> str:
        """Create a Bulk API 2.0 query job for ``soql``; its id (the org starts preparing results)."""
        job = self._with_retries(
            "creating a bulk query job",
            lambda sf: orjson.loads(
                self._call(
                    sf,
                    "POST",
                    sf.bulk2_url + "query",
                    data=orjson.dumps(
                        {"operation": "query", "query": soql, "columnDelimiter": "COMMA", "lineEnding": "LF"}
                    ),
                ).content
            ),
        )
        return str(job["id"])

    def bulk_query_csv(
        self,
        soql: str,
        dest_dir: Path,
        *,
        max_records: int = 50_000,
        poll: float = 0.5,
        job_id: str | None = None,
    ) -> Iterator[Path]:
        """Run ``soql`` as a Bulk API 2.0 query job (or wait for ``job_id``, already created for it)
        and yield each result page as a CSV file."""
        if job_id is None:
            job_id = self.bulk_query_start(soql)
        delay = poll
        while True:
            state = self.bulk_get(f"query/{job_id}")
            if state.get("state") == "JobComplete":
                break
            if state.get("state") in ("Failed", "Aborted"):
                raise SalesforceCallError(
                    "BULK_JOB_" + str(state["state"]).upper(), str(state.get("errorMessage", ""))
                )
            self._sleep(delay)
            delay = min(5.0, delay * 1.5)
        locator: str | None = None
        n = 0
        while True:
            n += 1
            dest = dest_dir / f"bulk-{job_id}-{n:05d}.csv"
            params = {"maxRecords": str(max_records)} | ({"locator": locator} if locator else {})

            def fetch(sf: Salesforce, dest: Path = dest, params: dict[str, str] = params) -> str | None:
                resp = self._call(
                    sf,
                    "GET",
                    sf.bulk2_url + f"query/{job_id}/results",
                    params=params,
                    stream=True,
                    headers={"Accept": "text/csv"},
                )
                with dest.open("wb") as fh:
                    for block in resp.iter_content(1 << 16):
                        fh.write(block)
                nxt = resp.headers.get("Sforce-Locator")
                return None if nxt in (None, "", "null") else nxt

            locator = self._with_retries("downloading bulk results", fetch)
            yield dest
            if locator is None:
                return

    def bulk_get(self, path: str) -> Any:
        """GET a Bulk API 2.0 resource under ``jobs/`` (a job's info, a job listing page) as JSON."""
        read = lambda sf: orjson.loads(self._call(sf, "GET", sf.bulk2_url + path).content)  # noqa: E731
        return self._with_retries(f"reading jobs/{path}", read)

    def read_metadata(self, metadata_type: str, full_names: list[str]) -> list[Any]:
        """Metadata API readMetadata through simple-salesforce's ``mdapi`` (SOAP, zeep)."""

        def read(sf: Salesforce) -> list[Any]:
            self.budget.charge()
            out: list[Any] = []
            for i in range(0, len(full_names), 10):  # readMetadata takes at most 10 names
                got = getattr(sf.mdapi, metadata_type).read(full_names[i : i + 10])
                out.extend(got if isinstance(got, list) else [got])
            return out

        return self._with_retries(f"reading {metadata_type} metadata", read)

    def list_metadata(self, metadata_type: str) -> list[Any]:
        """Metadata API listMetadata for one type (full names of every component)."""

        def listing(sf: Salesforce) -> list[Any]:
            self.budget.charge()
            query = sf.mdapi._client.get_type("ns0:ListMetadataQuery")(type=metadata_type)
            return list(sf.mdapi.list_metadata([query]) or [])

        return self._with_retries(f"listing {metadata_type} metadata", listing)


__all__ = [
    "BATCH_SIZE",
    "BudgetExhausted",
    "ObjectNotAvailable",
    "Page",
    "QueryLocatorExpired",
    "RetriableError",
    "SalesforceCallError",
    "SalesforceClient",
]
