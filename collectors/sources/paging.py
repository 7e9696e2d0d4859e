"""Reading pages: small lists read whole (restarted if their locator expires), big ones prefetched.

The org renders page n+1 while this process parses and stores page n (:func:`prefetch`); a list
kept only in memory is simply read again from the start when its query locator expires
(:func:`fetch_all`), since a restart cannot duplicate anything.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from collectors.api.client import QueryLocatorExpired

if TYPE_CHECKING:
    from collectors.sources.base import Context

log = logging.getLogger(__name__)

T = TypeVar("T")


def fetch_all(ctx: Context, soql: str, *, tries: int = 5, **kw: Any) -> list[dict[str, Any]]:
    """Every record of a small query (apps, file lists, user lookups), read again from the start
    if its query locator expires midway: a restart cannot duplicate what is only kept in memory."""
    for attempt in range(tries):
        try:
            return list(ctx.client.query(soql, **kw))
        except QueryLocatorExpired:
            if attempt == tries - 1:
                raise
            log.info("%s: query locator expired; reading the list again", ctx.org)
    return []


def prefetch(pages: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``pages`` while a thread already fetches the next ones.

    The org renders page n+1 while this process parses and stores page n; both sides work at once
    instead of waiting for each other. Errors surface in order, at the page they happened on.
    """

    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    quit_ = threading.Event()

    def pump() -> None:
        try:
            for item in pages:
                while not quit_.is_set():
                    try:
                        q.put(("item", item), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if quit_.is_set():
                    return
            q.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            q.put(("error", exc))

    t = threading.Thread(target=pump, name="prefetch", daemon=True)
    t.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        quit_.set()
