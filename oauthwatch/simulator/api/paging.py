"""Query pages, computed off the event loop, with the next page prepared while the client reads.

A client paging LoginHistory alternates: the server builds a page, then idles while the client
parses it. Building page N+1 in a worker thread as soon as page N is sent overlaps the two, which
is most of the serving rate on a small machine. Pages are also gzipped there (zlib releases the
GIL), because Salesforce compresses REST responses for clients that send ``Accept-Encoding: gzip``. Pages are kept (as bytes) in a small LRU keyed by
locator, so a client that retries a page after a dropped connection gets the same page again,
as it would from Salesforce, even though its locator has moved on. Memory stays flat: at most
``max_pages`` rendered pages are kept, whatever the size of the org.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson

Key = tuple[str, str]  # (locator, api version)


Page = tuple[bytes, bytes, Key | None]  # body, its gzip, key of the next page
GZIP_LEVEL = 1  # Salesforce gzips REST responses when asked; level 1 is ~100 MB/s and 8-10x smaller


class PagePipeline:
    """Runs ``QueryService.run``/``more`` in threads and prefetches one page ahead of the client."""

    def __init__(self, service: Callable[[], Any], *, max_pages: int = 6, workers: int = 2) -> None:
        self._service = service
        self._max = max_pages
        self._pages: OrderedDict[Key, Page] = OrderedDict()
        self._pending: dict[Key, Future[Page]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="query-page")

    @staticmethod
    def _render(body: dict[str, Any], version: str) -> Page:
        nxt = body.get("nextRecordsUrl")
        data = orjson.dumps(body)
        return (
            data,
            gzip.compress(data, GZIP_LEVEL, mtime=0),
            ((nxt.rsplit("/", 1)[1], version) if nxt else None),
        )

    def _compute(self, key: Key) -> Page:
        try:
            page = self._render(self._service().more(key[0], api_version=key[1]), key[1])
            with self._lock:
                self._pages[key] = page
                self._pages.move_to_end(key)
                while len(self._pages) > self._max:
                    self._pages.popitem(last=False)
            return page
        finally:
            with self._lock:
                self._pending.pop(key, None)

    def _prefetch(self, key: Key | None) -> None:
        if key is None:
            return
        with self._lock:
            if key in self._pages or key in self._pending:
                return
            fut: Future[Page] = Future()
            self._pending[key] = fut

        def job() -> None:
            try:
                fut.set_result(self._compute(key))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the page
                fut.set_exception(exc)

        self._pool.submit(job)

    def _served(self, page: Page) -> Page:
        self._prefetch(page[2])  # exactly one page ahead of what the client has
        return page

    async def first(
        self, soql: str, *, include_deleted: bool, batch_size: int, version: str, viewer: Any = None
    ) -> Page:
        """The first page of ``soql`` as ``viewer`` sees it (raises the query layer's SoqlError)."""

        def run() -> Page:
            body = self._service().run(
                soql,
                include_deleted=include_deleted,
                batch_size=batch_size,
                api_version=version,
                viewer=viewer,
            )
            return self._render(body, version)

        return self._served(await asyncio.get_running_loop().run_in_executor(self._pool, run))

    async def page(self, locator: str, version: str) -> Page:
        """The page at ``locator`` (already built, being built, or built now)."""
        key = (locator, version)
        with self._lock:
            page = self._pages.get(key)
            fut = self._pending.get(key)
        if page is None and fut is not None:
            page = await asyncio.wrap_future(fut)
        if page is None:
            page = await asyncio.get_running_loop().run_in_executor(self._pool, self._compute, key)
        return self._served(page)

    def forget(self) -> None:
        """Drop every kept page (locators were expired on purpose)."""
        with self._lock:
            self._pages.clear()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
